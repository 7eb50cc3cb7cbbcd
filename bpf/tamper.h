/* SPDX-License-Identifier: GPL-2.0 */
/*
 * tamper.h — a trusted process whose memory or executable link another process changes loses
 * its trust at that moment, for good (until it execs a new image):
 *
 *   ptrace      sys_exit_ptrace: the tracer's newest tracee (attach/seize), or the caller itself
 *               (traceme); the connect hooks also refuse a process traced right now
 *   process_vm_writev   sys_enter_process_vm_writev: the target, resolved in the caller's pid
 *               namespace
 *   /proc/PID/mem       sys_exit_openat/openat2/open/creat (one program, hw_openat_exit in
 *               write_revoke.h): an fd on a procfs "mem" file opened for writing (whatever path,
 *               symlink or dirfd led there); the target is the file's mm owner
 *   prctl(PR_SET_MM)    sys_enter_prctl: the caller (its exe link may now point anywhere)
 *
 * A tracer or writer trusted as the same app keeps the target's trust (an app debugging its own
 * workers), and a process writing its own memory is not an injection. Every tainted tgid is
 * remembered in hw_tainted so the /proc scan at start never re-trusts it (src/identity).
 *
 * The syscall tracepoints are global: each returns after a few loads for the common case (a
 * failed call, a read-only open, a prctl other than PR_SET_MM).
 */
#ifndef HW_TAMPER_H
#define HW_TAMPER_H

#define HW_PROC_SUPER_MAGIC 0x9fa0
#define HW_FMODE_WRITE 0x2
#define HW_PR_SET_MM 35
#define HW_NSEC_PER_TICK 10000000ULL /* USER_HZ = 100: the unit of /proc/PID/stat starttime */

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, HW_MAX_PROCS);
	__type(key, __u32);
	__type(value, struct hw_taint);
} hw_tainted SEC(".maps");

extern struct task_struct *bpf_task_from_vpid(s32 vpid) __ksym;
extern void bpf_task_release(struct task_struct *p) __ksym;

/*
 * Takes the trust of `tgid` away for good and says why in its later reports. Its lineage goes
 * too (lineage.h): a process another one wrote into is the writer's, so whatever it starts from
 * now on — even after an exec, which ends the taint — must not count as started by the apps
 * that created it (`only_via`, `via` rules), nor may its future children.
 */
static __always_inline void hw_taint(__u32 tgid, __u32 vector, __u32 by)
{
	struct hw_taint t = {.vector = vector, .by_tgid = by};
	bpf_map_update_elem(&hw_tainted, &tgid, &t, BPF_ANY);
	bpf_map_delete_elem(&hw_procs, &tgid);
	bpf_map_delete_elem(&hw_lineage, &tgid);
	struct hw_exec_info *xi = bpf_map_lookup_elem(&hw_exec_paths, &tgid);
	if (xi) {
		xi->reason = HW_REASON_INJECTED;
		xi->detail = vector;
	}
}

/* Taints `target` unless `by` is the same process or trusted as the same app. */
static __always_inline void hw_taint_from(__u32 target, __u32 vector, __u32 by)
{
	if (!target || target == by)
		return;
	struct hw_proc_val *tv = bpf_map_lookup_elem(&hw_procs, &target);
	if (tv) {
		struct hw_proc_val *bv = bpf_map_lookup_elem(&hw_procs, &by);
		if (bv && bv->app_id == tv->app_id)
			return;
	}
	hw_taint(target, vector, by);
}

SEC("tracepoint/syscalls/sys_exit_ptrace")
int hw_ptrace_exit(struct trace_event_raw_sys_exit *ctx)
{
	if (ctx->ret < 0)
		return 0;
	struct task_struct *cur = (struct task_struct *)bpf_get_current_task();
	__u32 me = BPF_CORE_READ(cur, tgid);
	/* PTRACE_TRACEME (or any call while traced): the tracer can now write into us. */
	if (BPF_CORE_READ(cur, ptrace)) {
		__u32 tracer = BPF_CORE_READ(cur, parent, tgid);
		hw_taint_from(me, HW_TAMPER_PTRACE, tracer);
	}
	/* attach/seize link the new tracee at the head of the tracer's list. */
	unsigned long head = (unsigned long)cur + bpf_core_field_offset(struct task_struct, ptraced);
	unsigned long first = (unsigned long)BPF_CORE_READ(cur, ptraced.next);
	if (!first || first == head)
		return 0;
	struct task_struct *tracee =
		(void *)(first - bpf_core_field_offset(struct task_struct, ptrace_entry));
	hw_taint_from(BPF_CORE_READ(tracee, tgid), HW_TAMPER_PTRACE, me);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_process_vm_writev")
int hw_vm_writev(struct trace_event_raw_sys_enter *ctx)
{
	__u32 me = bpf_get_current_pid_tgid() >> 32;
	s32 vpid = (s32)ctx->args[0];
	struct task_struct *t = bpf_task_from_vpid(vpid);
	if (!t)
		return 0;
	__u32 target = t->tgid;
	bpf_task_release(t);
	hw_taint_from(target, HW_TAMPER_VM_WRITE, me);
	return 0;
}

/*
 * An fd just opened for writing on procfs (the caller, hw_openat_exit in write_revoke.h, already
 * tested FMODE_WRITE and the superblock's magic): a "mem" file taints its mm's owner.
 */
static __always_inline void hw_mem_open(struct file *f, struct task_struct *cur)
{
	char name[4] = {};
	bpf_probe_read_kernel(name, sizeof(name), BPF_CORE_READ(f, f_path.dentry, d_name.name));
	if (name[0] != 'm' || name[1] != 'e' || name[2] != 'm' || name[3] != 0)
		return;
	struct mm_struct *mm = BPF_CORE_READ(f, private_data);
	__u32 target = BPF_CORE_READ(mm, owner, tgid);
	hw_taint_from(target, HW_TAMPER_PROC_MEM, BPF_CORE_READ(cur, tgid));
}

SEC("tracepoint/syscalls/sys_enter_prctl")
int hw_prctl(struct trace_event_raw_sys_enter *ctx)
{
	if (ctx->args[0] != HW_PR_SET_MM)
		return 0;
	/* Marked even when the call fails: a tgid that tried is never trusted from /proc. */
	__u32 me = bpf_get_current_pid_tgid() >> 32;
	hw_taint(me, HW_TAMPER_SET_MM, me);
	return 0;
}

/*
 * At a connect of a trusted process: is it traced right now by anything but a process trusted as
 * the same app? Then its trust is gone (and stays gone).
 */
static __always_inline int hw_trust_borrowed(struct hw_proc_val *pv, __u32 tgid)
{
	struct task_struct *t = bpf_get_current_task_btf();
	if (!t->ptrace)
		return 0;
	__u32 tracer = t->parent->tgid;
	struct hw_proc_val *tv = bpf_map_lookup_elem(&hw_procs, &tracer);
	if (tv && tv->app_id == pv->app_id)
		return 0;
	hw_taint(tgid, HW_TAMPER_PTRACE, tracer);
	return 1;
}

/* Whether `tgid` is the daemon that wrote the settings: same tgid and same start time. */
static __always_inline int hw_is_daemon(struct hw_settings *s, __u32 tgid)
{
	if (!tgid || tgid != s->daemon_tgid)
		return 0;
	struct task_struct *t = bpf_get_current_task_btf();
	__u64 start = t->group_leader->start_boottime;
	return (__u32)(start / HW_NSEC_PER_TICK) == s->daemon_start;
}

/* At exit of a thread group: the daemon's exemption ends with it; a taint ends with the tgid. */
static __always_inline void hw_tamper_exit(__u32 tgid)
{
	__u32 zero = 0;
	struct hw_settings *s = bpf_map_lookup_elem(&hw_settings, &zero);
	if (s && s->daemon_tgid == tgid)
		s->daemon_tgid = 0;
	bpf_map_delete_elem(&hw_tainted, &tgid);
}

#endif /* HW_TAMPER_H */
