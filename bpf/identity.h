/* SPDX-License-Identifier: GPL-2.0 */
/*
 * identity.h — records of the identity iterators (bpf/identity.bpf.c), shared with userspace.
 *
 * The daemon asks the kernel for the identity of the very file it hashed: an `iter/task_file`
 * pass over its own open fds reports, per fd, the key the hooks compute for an executable
 * (`f_inode`: i_ino + hw_inode_dev, bpf/inode_key.h) and for a working directory (`d_inode`: the
 * same). The daemon never derives a key from `stat`: the kernel computing it through the same
 * helper as the hooks is what makes them agree. An `iter/task` pass reports the same key for
 * every process's executable (`mm->exe_file`).
 *
 * Mirrored once in ffi/identity_structs.ts; tests/unit/structs_layout_test.ts checks the mirror.
 * Same rules as hashwall.h: fixed-width types, explicit padding, sizes a multiple of 8.
 */
#ifndef HASHWALL_IDENTITY_H
#define HASHWALL_IDENTITY_H

#include "hashwall.h"

/* One open fd of the daemon and the kernel's keys for the file behind it. */
struct hw_fd_ident {
	__u32 fd;
	__u32 _pad;
	struct hw_exe_key file; /* hw_file_key(file): what exec hooks read */
	struct hw_exe_key dir;  /* hw_dentry_key(f_path.dentry): what the cwd lookup reads */
};

/* One process (thread-group leader) and its executable's kernel key. */
struct hw_task_exe {
	__u32 tgid;
	__u32 _pad;
	struct hw_exe_key exe; /* hw_file_key(mm->exe_file) */
};

_Static_assert(sizeof(struct hw_fd_ident) == 40, "hw_fd_ident layout");
_Static_assert(sizeof(struct hw_task_exe) == 24, "hw_task_exe layout");

#endif
