// SPDX-License-Identifier: GPL-2.0
/*
 * identity.bpf.c — the kernel's own answer to "which identity is this?".
 *
 * Two iterators, run on demand by the daemon (never attached to any hook, so they cost nothing
 * outside a read of their iterator fd):
 * - hw_fd_idents (iter/task_file): for the daemon's own open fds, the keys the hooks compute.
 *   The daemon keeps each hashed file open until one pass has read its key, so what the kernel
 *   trusts is exactly the inode that was hashed, on any filesystem (btrfs subvolumes report an
 *   anonymous st_dev to stat, never seen by a hook).
 * - hw_task_exes (iter/task): every process's executable key (running processes at start, and
 *   the check that a pid still runs the file an approval is for).
 * Userspace narrows both to one process with the iterator link's pid filter; the tgid check
 * below is a second guard so a link without the filter reports nothing of other processes' fds.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "identity.h"

char LICENSE[] SEC("license") = "GPL";

/* The daemon's tgid, set before load. */
const volatile __u32 hw_self_tgid = 0;

SEC("iter/task_file")
int hw_fd_idents(struct bpf_iter__task_file *ctx)
{
	struct task_struct *task = ctx->task;
	struct file *file = ctx->file;
	if (!task || !file || task->tgid != hw_self_tgid)
		return 0;
	struct hw_fd_ident r = {};
	r.fd = ctx->fd;
	r.file.ino = BPF_CORE_READ(file, f_inode, i_ino);
	r.file.dev = BPF_CORE_READ(file, f_inode, i_sb, s_dev);
	struct dentry *d = BPF_CORE_READ(file, f_path.dentry);
	r.dir.ino = BPF_CORE_READ(d, d_inode, i_ino);
	r.dir.dev = BPF_CORE_READ(d, d_sb, s_dev);
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
	r.exe.ino = BPF_CORE_READ(exe, f_inode, i_ino);
	r.exe.dev = BPF_CORE_READ(exe, f_inode, i_sb, s_dev);
	bpf_seq_write(ctx->meta->seq, &r, sizeof(r));
	return 0;
}
