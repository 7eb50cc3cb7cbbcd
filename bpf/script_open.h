/* SPDX-License-Identifier: GPL-2.0 */
/*
 * script_open.h — a script is trusted by the file the interpreter opens, not by its path string
 * (issue 13, vector 4a).
 *
 * At exec the script found on the command line (or the #! path) only makes the process PENDING:
 * hw_script_watch (task storage of the process's leader) remembers the approved identity and the path. The open syscall tracepoints then
 * decide in the kernel, with no daemon round trip: every successful open whose file name matches
 * the path must yield exactly the approved inode, with the times it was hashed with (stale.h).
 * The first match makes the process trusted; any mismatch (a bind mount over the path in a user
 * namespace, a folder renamed and refilled, a file changed through a mapping) refuses trust for
 * the rest of this exec, even after an earlier match (an interpreter that opens the script twice
 * cannot be fed the approved file first and another one second). Opens of other files (shared
 * libraries, modules) decide nothing. Until the match the process is not trusted at all.
 *
 * Matching the name: an absolute path must be opened by exactly that string. A bare relative
 * name (`x.py`, `./x.py`, resolved at exec through the working folder) matches an open of that
 * string or of any path ending in "/x.py": python opens `$PWD/./x.py`. A wrong guess can only
 * refuse trust (the inode decides), never grant it.
 *
 * Cost for every other process on the host: one task-storage lookup at enter and one at exit of
 * each open (bench/script_open.ts measures it with bpf_stats).
 *
 * Included by hashwall.bpf.c after its maps; uses stale.h.
 */
#ifndef HW_SCRIPT_OPEN_H
#define HW_SCRIPT_OPEN_H

#define HW_SW_PENDING 0
#define HW_SW_TRUSTED 1
#define HW_SW_REFUSED 2

/* The script a pending or decided interpreter process runs (kernel only). */
struct hw_script_watch {
	struct hw_exe_key key; /* the approved script's identity */
	__u32 app_id;
	__u32 flags;    /* HW_APP_* of the script's app */
	__u32 state;    /* HW_SW_* */
	__u32 name_off; /* relative: offset of the bare name in path; absolute: HW_PATH_LEN */
	__u32 name_len; /* relative: length of the bare name */
	__u32 _pad;
	char path[HW_PATH_LEN]; /* as found at exec, NUL-padded */
};

/*
 * Task storage on the thread group leader: the lookup every open on the host pays is a pointer
 * walk from the (hot) current task, cheaper than a hash lookup by tgid (bench/script_open.ts:
 * ~150 ns at enter with a hash map here), and the entry dies with the process by itself.
 */
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct hw_script_watch);
} hw_script_watch SEC(".maps");

/* The current process's script watch, or NULL (the one lookup every open on the host pays). */
static __always_inline struct hw_script_watch *hw_watch_of_current(void)
{
	struct task_struct *t = bpf_get_current_task_btf();
	return bpf_task_storage_get(&hw_script_watch, t->group_leader, 0, 0);
}

/* Threads of watched processes inside an open syscall: pid_tgid → user pointer of the name. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, __u64);
} hw_open_names SEC(".maps");

struct hw_open_scratch {
	char name[HW_PATH_LEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct hw_open_scratch);
} hw_open_scratch SEC(".maps");

/* At every exec: a new program, so no script watch carries over (p leads its group now). */
static __always_inline void hw_script_forget(struct task_struct *p)
{
	bpf_task_storage_delete(&hw_script_watch, p);
}

/*
 * At exec of an interpreter whose script `path` (as found on the command line) is approved as
 * `sv`: makes the process pending. Returns the exec-info reason a connect meanwhile reports.
 */
static __always_inline __u32 hw_script_pending(struct task_struct *p,
					       const struct hw_script_val *sv, const char *path)
{
	struct hw_script_watch *w =
		bpf_task_storage_get(&hw_script_watch, p, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!w)
		return HW_REASON_SCRIPT_PENDING; /* no memory: stays untrusted */
	w->key = sv->key;
	w->app_id = sv->app_id;
	w->flags = sv->flags;
	w->state = HW_SW_PENDING;
	w->_pad = 0;
	bpf_probe_read_kernel(w->path, sizeof(w->path), path);
	if (w->path[0] == '/') {
		w->name_off = HW_PATH_LEN;
		w->name_len = 0;
	} else {
		__u32 off = (w->path[0] == '.' && w->path[1] == '/') ? 2 : 0;
		__u32 len = 0;
		for (int i = 0; i < HW_SCRIPT_NAME_LEN; i++) {
			if (w->path[(off + i) & (HW_PATH_LEN - 1)] == 0)
				break;
			len++;
		}
		w->name_off = off;
		w->name_len = len;
	}
	return HW_REASON_SCRIPT_PENDING;
}

/* Does the opened name (n bytes with its NUL, in buf) match the watched script's path? */
static __always_inline int hw_name_matches(const struct hw_script_watch *w, const char *buf,
					   long n)
{
	if (w->name_off >= HW_PATH_LEN) {
		/* Absolute: the same string, byte for byte. */
		for (int i = 0; i < HW_PATH_LEN; i++) {
			if (buf[i] != w->path[i])
				return 0;
			if (buf[i] == 0)
				return 1;
		}
		return 0;
	}
	long len = n - 1; /* without the NUL */
	long nl = w->name_len;
	if (nl <= 0 || nl >= HW_SCRIPT_NAME_LEN || len < nl)
		return 0;
	long start = len - nl;
	/* The name must be the whole string or follow a '/'. */
	if (start > 0 && buf[(start - 1) & (HW_PATH_LEN - 1)] != '/')
		return 0;
	for (int i = 0; i < HW_SCRIPT_NAME_LEN; i++) {
		if (i >= nl)
			break;
		if (buf[(start + i) & (HW_PATH_LEN - 1)] !=
		    w->path[(w->name_off + i) & (HW_PATH_LEN - 1)])
			return 0;
	}
	return 1;
}

/* The struct file behind fd in the current task's table, or NULL. */
static __always_inline struct file *hw_fd_file(struct task_struct *t, long fd)
{
	struct fdtable *fdt = BPF_CORE_READ(t, files, fdt);
	if (!fdt || fd < 0 || fd >= BPF_CORE_READ(fdt, max_fds))
		return NULL;
	struct file **fds = BPF_CORE_READ(fdt, fd);
	struct file *f = NULL;
	bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]);
	return f;
}

static __always_inline void hw_so_enter(const char *name)
{
	struct hw_script_watch *w = hw_watch_of_current();
	if (!w || w->state == HW_SW_REFUSED)
		return;
	__u64 id = bpf_get_current_pid_tgid();
	__u64 ptr = (__u64)name;
	bpf_map_update_elem(&hw_open_names, &id, &ptr, BPF_ANY);
}

/* Refuses trust for the rest of this exec: no entry in hw_procs, reason kept for reports. */
static __always_inline void hw_script_refuse(struct task_struct *t, __u32 tgid,
					     struct hw_script_watch *w, __u64 seen_ino,
					     const struct hw_times *times, __u32 reason)
{
	w->state = HW_SW_REFUSED;
	bpf_map_delete_elem(&hw_procs, &tgid);
	struct hw_exec_info *xi = bpf_map_lookup_elem(&hw_exec_paths, &tgid);
	if (xi)
		xi->reason = reason;
	hw_report_refusal(t, tgid, &w->key, seen_ino, times, reason, w->path, 0);
}

static __always_inline void hw_so_exit(long ret)
{
	struct hw_script_watch *w = hw_watch_of_current();
	if (!w)
		return;
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32, zero = 0;
	__u64 *pp = bpf_map_lookup_elem(&hw_open_names, &id);
	if (!pp)
		return;
	const char *uname = (const char *)*pp;
	bpf_map_delete_elem(&hw_open_names, &id);
	if (ret < 0 || w->state == HW_SW_REFUSED)
		return;
	struct hw_open_scratch *sc = bpf_map_lookup_elem(&hw_open_scratch, &zero);
	if (!sc)
		return;
	__builtin_memset(sc->name, 0, sizeof(sc->name));
	/* Read after the kernel copied the name: what was opened, not what was meant. */
	long n = bpf_probe_read_user_str(sc->name, sizeof(sc->name), uname);
	if (n <= 0 || !hw_name_matches(w, sc->name, n))
		return;

	struct task_struct *t = bpf_get_current_task_btf();
	struct hw_times times = {};
	struct file *f = hw_fd_file(t, ret);
	struct inode *ino = f ? BPF_CORE_READ(f, f_inode) : NULL;
	if (!ino) {
		hw_script_refuse(t, tgid, w, 0, &times, HW_REASON_SCRIPT_MISMATCH);
		return;
	}
	struct hw_exe_key got = {};
	got.ino = BPF_CORE_READ(ino, i_ino);
	got.dev = hw_inode_dev(ino);
	if (got.ino != w->key.ino || got.dev != w->key.dev) {
		hw_inode_times(ino, &times);
		hw_script_refuse(t, tgid, w, got.ino, &times, HW_REASON_SCRIPT_MISMATCH);
		return;
	}
	struct hw_app_val *a = bpf_map_lookup_elem(&hw_approved, &w->key);
	if (!a || a->app_id != w->app_id) {
		hw_inode_times(ino, &times);
		hw_script_refuse(t, tgid, w, got.ino, &times, HW_REASON_REVOKED);
		return;
	}
	if (hw_times_differ(ino, a, &times)) {
		hw_script_refuse(t, tgid, w, got.ino, &times, HW_REASON_STALE);
		return;
	}
	if (w->state == HW_SW_TRUSTED)
		return;
	/*
	 * Grant only what exec left pending: anything that changed the reason since (a guard, a
	 * tracer or writer that took the trust away) keeps it untrusted.
	 */
	struct hw_exec_info *xi = bpf_map_lookup_elem(&hw_exec_paths, &tgid);
	if (!xi || xi->reason != HW_REASON_SCRIPT_PENDING)
		return;
	w->state = HW_SW_TRUSTED;
	struct hw_proc_val v = {};
	v.trust_key = w->key;
	v.app_id = w->app_id;
	v.flags = w->flags;
	v.source = HW_TRUST_OWN;
	v.from_tgid = tgid;
	bpf_map_update_elem(&hw_procs, &tgid, &v, BPF_ANY);
	xi->reason = 0;
	count(HW_CNT_EXEC_TRUSTED);
}

/* x86_64 syscall number of open(2); openat and openat2 carry the name in args[1]. */
#define HW_NR_OPEN 2

/*
 * One program per side, attached to sys_{enter,exit}_{open,openat,openat2}. The record of a
 * syscall tracepoint holds an int syscall number where raw_syscalls has a long id: read 32 bits.
 */
SEC("tracepoint/syscalls/sys_enter_openat")
int hw_script_open_enter(struct trace_event_raw_sys_enter *ctx)
{
	/* Two fixed-offset loads: the verifier refuses a ctx access at a computed offset. */
	unsigned long a0 = ctx->args[0];
	unsigned long a1 = ctx->args[1];
	asm volatile("" : "+r"(a0), "+r"(a1));
	hw_so_enter((const char *)((int)ctx->id == HW_NR_OPEN ? a0 : a1));
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_openat")
int hw_script_open_exit(struct trace_event_raw_sys_exit *ctx)
{
	hw_so_exit(ctx->ret);
	return 0;
}

#endif /* HW_SCRIPT_OPEN_H */
