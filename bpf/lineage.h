/* SPDX-License-Identifier: GPL-2.0 */
/*
 * lineage.h — trust that follows what "trust its children" says, and grants that depend on who
 * started a program.
 *
 *   via         a process trusted through an app with inherit = true keeps that trust when it
 *               execs a binary that is not itself an approved app (HW_TRUST_VIA), as long as the
 *               exec carries no injection (the same guard as an approved exec: variables, a
 *               tracer). An approved app exec'd under it becomes that app instead.
 *   lineage     at fork, a child records the apps trusted among its ancestors (hw_lineage): the
 *               parent's own app when the parent is trusted, then the parent's record. Fixed at
 *               creation: re-parenting changes nothing.
 *   only_via    an approved app listed in hw_only_via is trusted at exec only when one of its
 *               starters is in the process's lineage.
 *
 * Costs on the host-wide paths: fork adds one lookup (and a delete for the child's key); exec of a
 * binary that is not approved adds one lookup of the process's old entry.
 */
#ifndef HW_LINEAGE_H
#define HW_LINEAGE_H

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, HW_MAX_PROCS);
	__type(key, __u32);
	__type(value, struct hw_lineage);
} hw_lineage SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, HW_MAX_APPS);
	__type(key, __u32);
	__type(value, struct hw_only_via);
} hw_only_via SEC(".maps");

/* Whether the trust in `pv` still rests on an approval in force. */
static __always_inline int hw_trust_holds(const struct hw_proc_val *pv)
{
	struct hw_app_val *a = bpf_map_lookup_elem(&hw_approved, &pv->trust_key);
	return a && a->app_id == pv->app_id;
}

/* fork: the child's lineage from its parent (`pv`: the parent's trust, or NULL). */
static __always_inline void hw_lineage_fork(__u32 ptgid, __u32 ctgid,
					    const struct hw_proc_val *pv)
{
	struct hw_lineage *pl = bpf_map_lookup_elem(&hw_lineage, &ptgid);
	int parent_app = pv && hw_trust_holds(pv);
	if (!pl && !parent_app) {
		/* A recycled tgid must not keep a dead process's lineage. */
		bpf_map_delete_elem(&hw_lineage, &ctgid);
		return;
	}
	struct hw_lineage cl = {};
	if (parent_app) {
		/* The parent's app first, then its own record shifted by one (the oldest falls off). */
		cl.apps[0] = pv->app_id;
		if (pl) {
#pragma unroll
			for (int i = 0; i < HW_VIA_MAX - 1; i++)
				cl.apps[i + 1] = pl->apps[i];
		}
	} else if (pl) {
		cl = *pl;
	}
	bpf_map_update_elem(&hw_lineage, &ctgid, &cl, BPF_ANY);
}

/* only_via: may `app_id` be trusted in process `tgid`? (No only_via for the app: yes.) */
static __always_inline int hw_via_allowed(__u32 tgid, __u32 app_id)
{
	struct hw_only_via *ov = bpf_map_lookup_elem(&hw_only_via, &app_id);
	if (!ov)
		return 1;
	struct hw_lineage *l = bpf_map_lookup_elem(&hw_lineage, &tgid);
	if (!l)
		return 0;
	for (int i = 0; i < HW_VIA_MAX; i++) {
		__u32 have = l->apps[i];
		if (!have)
			break;
		for (int j = 0; j < HW_VIA_MAX; j++) {
			__u32 want = ov->apps[j];
			if (!want)
				break;
			if (want == have)
				return 1;
		}
	}
	return 0;
}

/*
 * exec of something that is not an approved app (or an interpreter whose script is not one): keeps
 * the trust of an inheriting app the process held before this exec, unless the exec carries an
 * injection. `kind` is the interpreter kind for the environment check (HW_KIND_OTHER for a
 * binary). Returns 1 when the process stays trusted (its entry now says HW_TRUST_VIA).
 */
static __always_inline int hw_via_keep(struct task_struct *p, __u32 tgid, __u32 kind,
				       struct hw_exec_info *info)
{
	struct hw_proc_val *old = bpf_map_lookup_elem(&hw_procs, &tgid);
	if (!old || !(old->flags & HW_APP_INHERIT) || !hw_trust_holds(old))
		return 0;
	__u32 detail = 0;
	__u32 guard = hw_exec_guard_cur(kind, hw_app_env_allow(old->app_id), &detail);
	if (guard) {
		info->reason = guard;
		info->detail = detail;
		return 0;
	}
	old->source = HW_TRUST_VIA;
	return 1;
}

#endif /* HW_LINEAGE_H */
