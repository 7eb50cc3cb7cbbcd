/* SPDX-License-Identifier: GPL-2.0 */
/*
 * stale.h — an approved file whose inode changed since it was hashed is not trusted (issue 13,
 * vector 6), and the reports of refused trust (kind HW_EV_EXEC) that make the daemon re-hash.
 *
 * Why times: a write through a shared mapping never raises FAN_MODIFY, so the watch cannot see
 * it; but the first write fault on a clean page runs file_update_time (page_mkwrite), which moves
 * mtime and ctime. Userspace stores the times of the same fstat that preceded the hash in
 * hw_app_val; here they are compared with the inode's as the kernel holds them.
 *
 * Included by hashwall.bpf.c after its maps (hw_approved, hw_exec_paths, hw_events, ...).
 */
#ifndef HW_STALE_H
#define HW_STALE_H

/* Multigrain timestamps (6.13+) keep the "ctime was queried" flag in bit 31 of i_ctime_nsec. */
#define HW_NSEC_MASK 0x3fffffffu

/* Older layouts of the inode times (CO-RE flavors: only the field names matter). */
struct inode___hw_v66 {
	struct timespec64 i_mtime;
	struct timespec64 __i_ctime;
} __attribute__((preserve_access_index));

struct inode___hw_v65 {
	struct timespec64 i_mtime;
	struct timespec64 i_ctime;
} __attribute__((preserve_access_index));

struct hw_times {
	__s64 mtime_sec;
	__s64 ctime_sec;
	__u32 mtime_nsec;
	__u32 ctime_nsec;
};

/* The inode's mtime and ctime, whatever this kernel calls the fields. */
static __always_inline void hw_inode_times(struct inode *ino, struct hw_times *t)
{
	if (bpf_core_field_exists(ino->i_ctime_sec)) {
		t->mtime_sec = BPF_CORE_READ(ino, i_mtime_sec);
		t->mtime_nsec = BPF_CORE_READ(ino, i_mtime_nsec);
		t->ctime_sec = BPF_CORE_READ(ino, i_ctime_sec);
		t->ctime_nsec = BPF_CORE_READ(ino, i_ctime_nsec);
	} else if (bpf_core_field_exists(((struct inode___hw_v66 *)ino)->__i_ctime)) {
		struct inode___hw_v66 *o = (void *)ino;
		t->mtime_sec = BPF_CORE_READ(o, i_mtime.tv_sec);
		t->mtime_nsec = BPF_CORE_READ(o, i_mtime.tv_nsec);
		t->ctime_sec = BPF_CORE_READ(o, __i_ctime.tv_sec);
		t->ctime_nsec = BPF_CORE_READ(o, __i_ctime.tv_nsec);
	} else {
		struct inode___hw_v65 *o = (void *)ino;
		t->mtime_sec = BPF_CORE_READ(o, i_mtime.tv_sec);
		t->mtime_nsec = BPF_CORE_READ(o, i_mtime.tv_nsec);
		t->ctime_sec = BPF_CORE_READ(o, i_ctime.tv_sec);
		t->ctime_nsec = BPF_CORE_READ(o, i_ctime.tv_nsec);
	}
	t->mtime_nsec &= HW_NSEC_MASK;
	t->ctime_nsec &= HW_NSEC_MASK;
}

/* Whether the inode's times differ from those recorded with the approval. */
static __always_inline int hw_times_differ(struct inode *ino, const struct hw_app_val *a,
					   struct hw_times *now)
{
	hw_inode_times(ino, now);
	return now->mtime_sec != a->mtime_sec || now->mtime_nsec != a->mtime_nsec ||
	       now->ctime_sec != a->ctime_sec || now->ctime_nsec != a->ctime_nsec;
}

/*
 * One report per (identity, reason, observed inode + ctime): a refused exec repeated in a loop
 * reports once, while every new change of the file reports again.
 */
struct hw_refusal_key {
	struct hw_exe_key exe; /* the approved identity the trust would have rested on */
	__u64 seen_ino;        /* the inode actually found */
	__s64 ctime_sec;
	__u32 ctime_nsec;
	__u32 reason;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct hw_refusal_key);
	__type(value, __u8);
} hw_refusals SEC(".maps");

/*
 * Reports refused trust (HW_EV_EXEC, verdict deny) for the current process: `exe` is the approved
 * identity concerned (the daemon re-hashes its app on HW_REASON_STALE), `path` what it ran.
 */
static __always_inline void hw_report_refusal(struct task_struct *task, __u32 tgid,
					      const struct hw_exe_key *exe, __u64 seen_ino,
					      const struct hw_times *t, __u32 reason,
					      const char *path, __u32 evflags)
{
	struct hw_refusal_key rk = {};
	__u8 one = 1;
	rk.exe = *exe;
	rk.seen_ino = seen_ino;
	rk.ctime_sec = t->ctime_sec;
	rk.ctime_nsec = t->ctime_nsec;
	rk.reason = reason;
	if (bpf_map_update_elem(&hw_refusals, &rk, &one, BPF_NOEXIST) != 0)
		return; /* reported already */

	struct hw_event_buf *b = event_begin();
	if (!b) {
		count(HW_CNT_LOST);
		bpf_map_delete_elem(&hw_refusals, &rk);
		return;
	}
	struct hw_event *e = &b->head;
	event_head(e, bpf_ktime_get_boot_ns(), exe, tgid, HW_EV_EXEC, HW_VERDICT_DENY, reason);
	event_no_peer(e);
	e->flags = evflags;
	e->rule = 0;

	if (event_submit(b, task, path))
		bpf_map_delete_elem(&hw_refusals, &rk);
}

/*
 * At exec: is the approval `a` of the exec'd file `key` stale? Then the caller treats the file
 * as unapproved (an interpreter then trusts no script either), and the daemon hears of it.
 */
static __always_inline int hw_exec_stale(struct task_struct *p, struct linux_binprm *bprm,
					 const struct hw_app_val *a, const struct hw_exe_key *key,
					 const char *path)
{
	struct hw_times now;
	struct inode *ino = BPF_CORE_READ(bprm, file, f_inode);
	if (!ino || !hw_times_differ(ino, a, &now))
		return 0;
	hw_report_refusal(p, p->tgid, key, key->ino, &now, HW_REASON_STALE, path, 0);
	return 1;
}

#endif /* HW_STALE_H */
