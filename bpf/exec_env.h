/* SPDX-License-Identifier: GPL-2.0 */
/*
 * exec_env.h — an exec that would be trusted is checked for what could run other code inside it
 * before its first instruction: injection variables in its environment (LD_PRELOAD for every
 * binary, PYTHONPATH and friends for the matching interpreter, unless the app's allow_env names
 * them) and a tracer already attached. The table of variables is a map written from
 * src/policy/interpreters.ts.
 *
 * Runs only for execs that would be trusted (the exec hook runs for every exec on the host): a
 * bounded walk over mm->env_start..env_end; an environment too large to read whole is not
 * trusted (fail closed).
 */
#ifndef HW_EXEC_ENV_H
#define HW_EXEC_ENV_H

/* Per app id: interpreter kind and allow_env bits. Absent: kind other, nothing allowed. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, HW_MAX_APPS);
	__type(key, __u32);
	__type(value, struct hw_app_exec);
} hw_app_exec SEC(".maps");

/* Injection variables by name. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, struct hw_env_key);
	__type(value, struct hw_env_val);
} hw_env_vars SEC(".maps");

#define HW_ENV_CHUNK 1024

/*
 * Matched as a prefix (bash's exported functions, BASH_FUNC_NAME%%): the hw_env_vars entry of that
 * family is this prefix alone (src/policy/interpreters.ts).
 */
#define ENV_BASH_FUNC "BASH_FUNC_"
#define ENV_BASH_FUNC_LEN 10

struct hw_env_scratch {
	struct hw_env_key key;
	char chunk[HW_ENV_CHUNK];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct hw_env_scratch);
} hw_env_scratch SEC(".maps");

struct hw_env_walk {
	unsigned long ptr, end;
	__u32 kind_bit;
	__u32 allow;
	__u32 found; /* 0: clean; else bit + 1 of the variable found, or HW_ENV_TOO_LARGE + 1 */
};

/* The kind of an app id (0 when the app has no entry). */
static __always_inline __u32 hw_app_kind(__u32 app_id)
{
	struct hw_app_exec *x = bpf_map_lookup_elem(&hw_app_exec, &app_id);
	return x ? x->kind : HW_KIND_OTHER;
}

static __always_inline __u32 hw_app_env_allow(__u32 app_id)
{
	struct hw_app_exec *x = bpf_map_lookup_elem(&hw_app_exec, &app_id);
	return x ? x->env_allow : 0;
}

static long hw_env_step(__u32 i, struct hw_env_walk *w)
{
	__u32 zero = 0;
	struct hw_env_scratch *sc = bpf_map_lookup_elem(&hw_env_scratch, &zero);
	if (!sc) {
		w->found = HW_ENV_TOO_LARGE + 1;
		return 1;
	}
	if (w->ptr >= w->end)
		return 1; /* every string seen */
	long n = bpf_probe_read_user_str(sc->key.name, HW_ENV_NAME_LEN, (const void *)w->ptr);
	if (n <= 0) {
		w->found = HW_ENV_TOO_LARGE + 1;
		return 1;
	}
	unsigned long next = w->ptr + n;
	if (n == HW_ENV_NAME_LEN) {
		/* A long string: find its end chunk by chunk (bounded). */
		unsigned long q = w->ptr + HW_ENV_NAME_LEN - 1;
		int done = 0;
		for (int c = 0; c < 16; c++) {
			long m = bpf_probe_read_user_str(sc->chunk, HW_ENV_CHUNK, (const void *)q);
			if (m <= 0)
				break;
			if (m < HW_ENV_CHUNK) {
				q += m;
				done = 1;
				break;
			}
			q += HW_ENV_CHUNK - 1;
		}
		if (!done) {
			w->found = HW_ENV_TOO_LARGE + 1;
			return 1;
		}
		next = q;
	}
	w->ptr = next;
	/*
	 * NAME=value: the name must end with '=' inside the compared bytes to be one of ours. One
	 * family is matched by prefix, whatever its length: bash defines a function NAME from every
	 * BASH_FUNC_NAME%%=() {...} before the script's first line, and a function shadows the
	 * builtin or command of that name (`echo`, `:`) inside the trusted shell itself.
	 */
	int eq = -1;
	const char *bf = ENV_BASH_FUNC;
	int pre = 1;
#pragma unroll
	for (int j = 0; j < ENV_BASH_FUNC_LEN; j++) {
		if (sc->key.name[j] != bf[j]) {
			pre = 0;
			break;
		}
	}
	if (pre)
		eq = ENV_BASH_FUNC_LEN;
	for (int j = 1; j < HW_ENV_NAME_LEN && eq < 0; j++) {
		if (sc->key.name[j] == '=') {
			eq = j;
			break;
		}
		if (sc->key.name[j] == 0)
			break;
	}
	if (eq < 0)
		return 0;
	for (int j = 1; j < HW_ENV_NAME_LEN; j++)
		if (j >= eq)
			sc->key.name[j] = 0;
	struct hw_env_val *v = bpf_map_lookup_elem(&hw_env_vars, &sc->key);
	if (!v || !(v->kinds & (HW_ENV_ALL_KINDS | w->kind_bit)))
		return 0;
	if (v->bit < 31 && (w->allow & (1u << v->bit)))
		return 0;
	w->found = v->bit + 1;
	return 1;
}

/*
 * Whether the process just exec'd (current) may keep the trust it would get. Returns 0, or a
 * HW_REASON_* with *detail set (the variable's bit, HW_ENV_TOO_LARGE).
 */
static __always_inline __u32 hw_exec_guard(struct task_struct *p, __u32 kind, __u32 allow,
					   __u32 *detail)
{
	*detail = 0;
	if (p->ptrace)
		return HW_REASON_TRACED;
	/*
	 * A mount namespace owned by a user namespace other than the initial one was shaped by
	 * whoever made it, without privilege (unshare -r -m): a folder bind-mounted over /etc (its
	 * ld.so.preload, ld.so.cache, openssl.cnf) or over a library folder, or the approved file
	 * bind-mounted beside libraries of the caller's (RUNPATH $ORIGIN). The approved file is
	 * untouched, but the code its process runs is not only its own.
	 */
	if (BPF_CORE_READ(p, nsproxy, mnt_ns, user_ns, level) > 0)
		return HW_REASON_USERNS;
	struct hw_env_walk w = {};
	w.ptr = BPF_CORE_READ(p, mm, env_start);
	w.end = BPF_CORE_READ(p, mm, env_end);
	w.kind_bit = kind < HW_KIND_MAX ? 1u << kind : 0;
	w.allow = allow;
	long loops = bpf_loop(HW_ENV_MAX_VARS, hw_env_step, &w, 0);
	if (loops < 0 || (!w.found && w.ptr < w.end))
		w.found = HW_ENV_TOO_LARGE + 1; /* more strings than examined */
	if (!w.found)
		return 0;
	*detail = w.found - 1;
	return HW_REASON_ENV;
}

/*
 * hw_exec_guard() of the current task (exec runs in its context) as a global function: the
 * verifier checks it once per program instead of once per path that reaches it (issue 22).
 */
__noinline __u32 hw_exec_guard_cur(__u32 kind, __u32 allow, __u32 *detail)
{
	if (!detail)
		return HW_REASON_ENV; /* never: callers pass their own; fail closed */
	return hw_exec_guard(bpf_get_current_task_btf(), kind, allow, detail);
}

#endif /* HW_EXEC_ENV_H */
