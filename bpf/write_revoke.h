/* SPDX-License-Identifier: GPL-2.0 */
/*
 * write_revoke.h — an approved file opened for writing loses its approval in the kernel, at the
 * open, before the open returns (issues 14, 20, 22: first write → revoked p99 ≤ 1 ms).
 *
 * hw_openat_exit runs at the exit of every openat/openat2/open/creat on the host (one program,
 * attached to the four tracepoints). It looks at the new fd's f_mode: a read-only open (the
 * common case) returns after that test, as it did when this program served only /proc/PID/mem
 * (tamper.h). A writable fd costs one hash lookup of its key (inode_key.h: the key the exec hook
 * computes, btrfs subvolume device included) in hw_write_watch, the identities the daemon
 * approved. On a hit:
 *   1. hw_write_watch[key].seq = now (boot ns), tgid = the opener — FIRST, so a daemon that
 *      hashed since before this moment and approves after sees it (AppControl.approve's guard);
 *   2. the hw_approved entry is deleted: every process trusting through it is denied from its
 *      next connect on, whatever it was doing before;
 *   3. if this open was the one that deleted it, one HW_EV_WRITE_OPEN report goes to the ring:
 *      the daemon turns the app red, closes its live sockets (sockets.h) and re-hashes it at the
 *      close (fanotify FAN_CLOSE_WRITE): same bytes → approved again.
 *
 * The kernel sees every fd opened for writing after the approval, through any name (another
 * hard link, a bind mount, /proc/self/fd, openat2, creat, O_TRUNC, an io_uring open: see
 * hw_uring_complete, which sees it just after the fd is installed). It does not see writes
 * through an fd opened BEFORE the approval, through a writable shared mapping made from such an
 * fd, or truncate(2) by path (no fd: resolving a path is not cheap in a tracepoint): fanotify
 * (src/integrity/watch.ts, FAN_MODIFY) stays the backstop for those, and bpf/stale.h refuses
 * trust at exec to a file whose times moved. Only a process allowed to open the file for
 * writing can trigger this, i.e. one that could already change it (and so revoke it) before.
 */
#ifndef HW_WRITE_REVOKE_H
#define HW_WRITE_REVOKE_H

/* Every identity the daemon approved → the newest writable open of it (hashwall.h). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, HW_MAX_WRITE_WATCH);
	__type(key, struct hw_exe_key);
	__type(value, struct hw_write_watch);
} hw_write_watch SEC(".maps");

/* One report of a revocation at a writable open (kind HW_EV_WRITE_OPEN; rule = the app id). */
static __always_inline void hw_report_write_open(struct task_struct *cur, __u32 tgid,
						 const struct hw_exe_key *key, __u32 app_id,
						 __u64 now)
{
	struct hw_event_buf *b = event_begin();
	if (!b) {
		count(HW_CNT_LOST);
		return;
	}
	struct hw_event *e = &b->head;
	event_head(e, now, key, tgid, HW_EV_WRITE_OPEN, HW_VERDICT_DENY, HW_REASON_WRITE_OPEN);
	event_no_peer(e);
	e->flags = 0;
	e->rule = app_id;
	/* No path: the daemon names the file by its identity. Drained on a timer (no wakeup). */
	event_submit(b, cur, NULL);
}

/*
 * A writable fd on `inode` (superblock `sb`, its `magic`): revoke its identity if the daemon
 * approved it (see above). The key is hw_file_key's, from loads the caller already made.
 */
static __always_inline void hw_write_revoke(struct inode *inode, struct super_block *sb,
					    __u64 magic, struct task_struct *cur)
{
	struct hw_exe_key key;
	key.ino = BPF_CORE_READ(inode, i_ino);
	key.dev = hw_inode_dev_sb(inode, sb, magic);
	struct hw_write_watch *w = bpf_map_lookup_elem(&hw_write_watch, &key);
	if (!w)
		return;
	__u64 now = bpf_ktime_get_boot_ns();
	__u32 tgid = BPF_CORE_READ(cur, tgid);
	/* 1: the guard's mark first (AppControl.approve reads it after writing the approval). */
	w->seq = now;
	w->tgid = tgid;
	w->count += 1;
	struct hw_app_val *a = bpf_map_lookup_elem(&hw_approved, &key);
	if (!a)
		return; /* revoked already (an earlier open, the daemon): the mark is what counts */
	__u32 app_id = a->app_id;
	/* 2: gone. Only the open whose delete removed it reports (concurrent opens race here). */
	if (bpf_map_delete_elem(&hw_approved, &key) == 0)
		hw_report_write_open(cur, tgid, &key, app_id, now);
}

/*
 * A file just opened by the current process (`cur`): a writable fd on an approved identity revokes
 * it; a writable procfs "mem" taints its owner (tamper.h). Read-only opens return after one load.
 */
static __always_inline void hw_file_opened(struct file *f, struct task_struct *cur)
{
	if (!f || !(BPF_CORE_READ(f, f_mode) & HW_FMODE_WRITE))
		return;
	struct inode *inode = BPF_CORE_READ(f, f_inode);
	struct super_block *sb = BPF_CORE_READ(inode, i_sb);
	__u64 magic = BPF_CORE_READ(sb, s_magic);
	/* procfs files are never approved; /proc/PID/mem is tamper.h's. */
	if (magic == HW_PROC_SUPER_MAGIC)
		hw_mem_open(f, cur);
	else
		hw_write_revoke(inode, sb, magic, cur);
}

/*
 * Also attached to sys_exit_openat2, sys_exit_open and sys_exit_creat (src/kernel): one program
 * for every way to open, so the host pays one program per open, not four.
 */
SEC("tracepoint/syscalls/sys_exit_openat")
int hw_openat_exit(struct trace_event_raw_sys_exit *ctx)
{
	long fd = ctx->ret;
	if (fd < 0)
		return 0;
	struct task_struct *cur = (struct task_struct *)bpf_get_current_task();
	/* The common case, a read-only open, ends at the f_mode test (hw_fd_file: script_open.h). */
	hw_file_opened(hw_fd_file(cur, fd), cur);
	return 0;
}

/*
 * io_uring opens (IORING_OP_OPENAT/OPENAT2) make no open syscall: they are seen when their
 * completion is posted, in a thread of the submitting process (the submitter, an io-wq worker or
 * the SQPOLL thread, all sharing its fd table and ring). The new file is read from the fd the
 * completion reports, or from the ring's fixed-file slot for a direct open (file_slot set). Every
 * other completion on the host returns after the opcode test.
 */
#define HW_IORING_OP_OPENAT 18
#define HW_IORING_OP_OPENAT2 28
#define HW_IORING_FILE_INDEX_ALLOC (~0U)
#define HW_IO_FFS_MASK (~3UL) /* io_rsrc_node.file_ptr: low bits are FFS_NOWAIT | FFS_ISREG */

SEC("tp_btf/io_uring_complete")
int BPF_PROG(hw_uring_complete, struct io_ring_ctx *rctx, void *vreq, struct io_uring_cqe *cqe)
{
	struct io_kiocb *req = vreq;
	__u8 op = BPF_CORE_READ(req, opcode);
	if (op != HW_IORING_OP_OPENAT && op != HW_IORING_OP_OPENAT2)
		return 0;
	int res = BPF_CORE_READ(cqe, res);
	if (res < 0)
		return 0;
	struct task_struct *cur = (struct task_struct *)bpf_get_current_task();
	struct io_open *o = (void *)req; /* io_kiocb's first member: the command's own data */
	__u32 slot = BPF_CORE_READ(o, file_slot);
	if (!slot) {
		hw_file_opened(hw_fd_file(cur, res), cur);
		return 0;
	}
	/* A direct open: the file sits in the ring's fixed table (index res, or file_slot - 1). */
	__u32 idx = slot == HW_IORING_FILE_INDEX_ALLOC ? (__u32)res : slot - 1;
	struct io_ring_ctx *ring = BPF_CORE_READ(req, ctx);
	if (idx >= BPF_CORE_READ(ring, file_table.data.nr))
		return 0;
	struct io_rsrc_node **nodes = BPF_CORE_READ(ring, file_table.data.nodes);
	struct io_rsrc_node *node = NULL;
	if (bpf_probe_read_kernel(&node, sizeof(node), &nodes[idx]) || !node)
		return 0;
	unsigned long ptr = BPF_CORE_READ(node, file_ptr) & HW_IO_FFS_MASK;
	hw_file_opened((struct file *)ptr, cur);
	return 0;
}

#endif /* HW_WRITE_REVOKE_H */
