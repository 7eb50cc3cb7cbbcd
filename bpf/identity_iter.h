/* SPDX-License-Identifier: GPL-2.0 */
/*
 * identity_iter.h — the kernel's own answer to "which identity is this?" (programs, not types:
 * the record types are in identity.h). Included by hashwall.bpf.c, so the daemon gets these
 * programs with the object it loads anyway (each extra object costs a parse of the kernel's BTF
 * at load), and by identity.bpf.c, a stand-alone object for tests and tools.
 *
 * Two iterators, run on demand (never attached to a hook, so they cost nothing outside a read of
 * their iterator fd):
 * - hw_fd_idents (iter/task_file): for one process's open fds, the keys the hooks compute. The
 *   daemon keeps each hashed file open until one pass has read its key, so what the kernel
 *   trusts is exactly the inode that was hashed, on any filesystem (a btrfs subvolume reports an
 *   anonymous st_dev to stat, never seen by a hook).
 * - hw_task_exes (iter/task): every process's executable key (running processes at start, and
 *   the check that a pid still runs the file an approval is for).
 * Userspace narrows both to one process with the iterator link's pid filter
 * (bpf_iter_link_info.task.pid); only the daemon holds the program fds.
 */
#ifndef HASHWALL_IDENTITY_ITER_H
#define HASHWALL_IDENTITY_ITER_H

#include "identity.h"
#include "inode_key.h"

SEC("iter/task_file")
int hw_fd_idents(struct bpf_iter__task_file *ctx)
{
	struct task_struct *task = ctx->task;
	struct file *file = ctx->file;
	if (!task || !file)
		return 0;
	struct hw_fd_ident r = {};
	r.fd = ctx->fd;
	hw_file_key(file, &r.file);
	hw_dentry_key(BPF_CORE_READ(file, f_path.dentry), &r.dir);
	bpf_seq_write(ctx->meta->seq, &r, sizeof(r));
	return 0;
}

SEC("iter/task")
int hw_task_exes(struct bpf_iter__task *ctx)
{
	struct task_struct *task = ctx->task;
	if (!task || task->pid != task->tgid)
		return 0;
	struct file *exe = BPF_CORE_READ(task, mm, exe_file);
	if (!exe)
		return 0; /* kernel thread, or exiting */
	struct hw_task_exe r = {};
	r.tgid = task->tgid;
	hw_file_key(exe, &r.exe);
	bpf_seq_write(ctx->meta->seq, &r, sizeof(r));
	return 0;
}

#endif
