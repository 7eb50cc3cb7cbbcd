/* SPDX-License-Identifier: GPL-2.0 */
/*
 * tamper.h — a trusted process whose memory or executable link another process changes loses
 * its trust at that moment, for good (until it execs a new image):
 *
 *   ptrace      sys_exit_ptrace: the tracer's newest tracee (attach/seize), or the caller itself
 *               (traceme); the connect hooks also refuse a process traced right now
 *   process_vm_writev   sys_enter/exit_process_vm_writev: the target, resolved in the caller's
 *               pid namespace at the entry, tainted at the exit when bytes were written
 *   pidfd_getfd sys_enter/exit_pidfd_getfd: the pidfd's process, when the call returned an fd
 *               (a shared memory file, a socket: the process's own objects in other hands)
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
	/* A trusted process may hold sockets its trust opened: the report makes the daemon close
	 * them (sockets.h closes every record whose tgid is in hw_tainted). */
	struct hw_proc_val *pv = bpf_map_lookup_elem(&hw_procs, &tgid);
	if (pv)
		hw_report_taint(tgid, &pv->trust_key, vector);
	bpf_map_delete_elem(&hw_procs, &tgid);
	bpf_map_delete_elem(&hw_lineage, &tgid);
	hw_verdict_epoch_bump(); /* a via verdict cached for it rested on that lineage */
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

/*
 * A tampering call in flight on this thread (process_vm_writev, pidfd_getfd): the target named at
 * the syscall's entry, tainted at its exit only if the call succeeded. Tainting at the entry would
 * let any user untrust any process with a call the kernel then refuses (EPERM): revocation as a
 * weapon. Task storage, not a shared map, so no flood of calls can push an entry out.
 */
struct hw_tamper_call {
	__u32 target;
	__u32 vector;
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct hw_tamper_call);
} hw_tamper_calls SEC(".maps");

static __always_inline void hw_tamper_arm(__u32 target, __u32 vector)
{
	__u32 me = bpf_get_current_pid_tgid() >> 32;
	if (!target || target == me)
		return;
	struct task_struct *cur = bpf_get_current_task_btf();
	struct hw_tamper_call *c = bpf_task_storage_get(&hw_tamper_calls, cur, 0,
							BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!c) {
		hw_taint_from(target, vector, me); /* no memory: the check must not be skipped */
		return;
	}
	c->target = target;
	c->vector = vector;
}

SEC("tracepoint/syscalls/sys_enter_process_vm_writev")
int hw_vm_writev(struct trace_event_raw_sys_enter *ctx)
{
	s32 vpid = (s32)ctx->args[0];
	struct task_struct *t = bpf_task_from_vpid(vpid);
	if (!t)
		return 0;
	__u32 target = t->tgid;
	bpf_task_release(t);
	hw_tamper_arm(target, HW_TAMPER_VM_WRITE);
	return 0;
}

#define HW_PIDFS_MAGIC 0x50494446

/* pidfd_getfd(pidfd, fd, 0): the target is the process the pidfd refers to. */
SEC("tracepoint/syscalls/sys_enter_pidfd_getfd")
int hw_getfd_enter(struct trace_event_raw_sys_enter *ctx)
{
	int pidfd = (int)ctx->args[0];
	struct task_struct *cur = (struct task_struct *)bpf_get_current_task();
	struct fdtable *fdt = BPF_CORE_READ(cur, files, fdt);
	if (!fdt || pidfd < 0 || pidfd >= BPF_CORE_READ(fdt, max_fds))
		return 0;
	struct file **fds = BPF_CORE_READ(fdt, fd);
	struct file *f = NULL;
	if (bpf_probe_read_kernel(&f, sizeof(f), &fds[pidfd]) || !f)
		return 0;
	struct inode *ino = BPF_CORE_READ(f, f_inode);
	if (BPF_CORE_READ(ino, i_sb, s_magic) != HW_PIDFS_MAGIC)
		return 0;
	/* pidfs keeps the struct pid in the inode (older layouts: the file's private data). */
	struct pid *pid = BPF_CORE_READ(ino, i_private);
	if (!pid)
		pid = BPF_CORE_READ(f, private_data);
	if (!pid)
		return 0;
	hw_tamper_arm(BPF_CORE_READ(pid, numbers[0].nr), HW_TAMPER_GETFD);
	return 0;
}

/* The exit of process_vm_writev and of pidfd_getfd: taint the armed target if the call worked. */
SEC("tracepoint/syscalls/sys_exit_process_vm_writev")
int hw_tamper_call_exit(struct trace_event_raw_sys_exit *ctx)
{
	struct task_struct *cur = bpf_get_current_task_btf();
	struct hw_tamper_call *c = bpf_task_storage_get(&hw_tamper_calls, cur, 0, 0);
	if (!c || !c->target)
		return 0;
	__u32 target = c->target, vector = c->vector;
	c->target = 0;
	/* process_vm_writev: bytes written (0: nothing); pidfd_getfd: the new fd (0 is one). */
	long ret = ctx->ret;
	if (ret > 0 || (ret == 0 && vector == HW_TAMPER_GETFD))
		hw_taint_from(target, vector, bpf_get_current_pid_tgid() >> 32);
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
