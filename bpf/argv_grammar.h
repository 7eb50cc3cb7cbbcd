/* SPDX-License-Identifier: GPL-2.0 */
/*
 * argv_grammar.h — which script an interpreter runs, read from its command line with a
 * per-interpreter grammar that lives in a map (written from src/policy/interpreters.ts).
 *
 * The walk fails closed: an option the grammar does not know, an option meaning "the code comes
 * from elsewhere" (-c, -e, -m, -, -s ...) or a command line too long to examine means "no
 * script", and the interpreter's own verdict (untrusted) applies. Options taking a value skip it
 * (attached or as the next argument), so `python3 -X dev -W ignore /x/tool.py` names tool.py and
 * `python3 -X /x/tool.py evil.py` names nothing the grammar would accept as the script.
 *
 * Included by hashwall.bpf.c; the walk runs only for execs of an approved interpreter.
 */
#ifndef HW_ARGV_GRAMMAR_H
#define HW_ARGV_GRAMMAR_H

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct hw_argv_key);
	__type(value, struct hw_argv_val);
} hw_argv_grammar SEC(".maps");

/* Scratch of the walk (off the 512-byte stack; one exec at a time per CPU). */
struct hw_argv_scratch {
	struct hw_argv_key key;
	char tmp[32]; /* must follow key: hw_argv_lookup copies through it */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct hw_argv_scratch);
} hw_argv_scratch SEC(".maps");

/* Result of classifying one option argument. */
#define HW_AC_FAIL 0 /* unknown: fail closed */

/*
 * Looks up (kind, the first `len` bytes of arg): the action, 0 when absent. One helper copy, no
 * per-byte loop: the verifier walks this for every option of every candidate form.
 */
static __always_inline __u32 hw_argv_lookup(struct hw_argv_key *k, __u32 kind, const char *arg,
					    int len)
{
	if (len < 0 || len > HW_ARG_OPT_LEN - 1)
		return 0;
	/* The key is followed by 32 spare bytes (hw_argv_scratch): a masked size stays in bounds. */
	char *tmp = (char *)(k + 1);
	__builtin_memset(tmp, 0, 32);
	__u32 l = (__u32)len & 31;
	if (l > 0)
		bpf_probe_read_kernel(tmp, l, arg);
	k->kind = kind;
	__builtin_memcpy(k->opt, tmp, sizeof(k->opt));
	struct hw_argv_val *v = bpf_map_lookup_elem(&hw_argv_grammar, k);
	return v ? v->action : 0;
}

/* Whether `val` (up to '=' or its end) is a listed value of a HW_ARG_CHECKED option. */
static __always_inline int hw_argv_value_ok(struct hw_argv_key *k, __u32 kind, const char *val)
{
	int len = -1;
	for (int i = 0; i < HW_ARG_OPT_LEN; i++) {
		if (val[i] == '=' || val[i] == 0) {
			len = i;
			break;
		}
	}
	return len > 0 && hw_argv_lookup(k, kind | HW_ARG_VALUES, val, len) == HW_ARG_FLAG;
}

/* State of a cluster walk (one bpf_loop callback: verified once, not once per letter). */
struct hw_cluster_walk {
	const char *arg;
	struct hw_argv_key *k;
	__u32 kind, kflags;
	__u32 result;
};

static long hw_cluster_step(__u32 j, struct hw_cluster_walk *cw)
{
	if (j >= HW_ARG_CLUSTER_MAX - 2) {
		cw->result = HW_AC_FAIL;
		return 1;
	}
	__u64 i = j + 2;
	/* Masked in the register used for indexing, so the verifier sees the bound. */
	asm volatile("%[i] &= 15" : [i] "+r"(i));
	const char *arg = cw->arg;
	char c = arg[i];
	if (c == 0) {
		cw->result = HW_ARG_FLAG; /* every letter was a flag */
		return 1;
	}
	char one[2] = {arg[0], c};
	__u32 act = hw_argv_lookup(cw->k, cw->kind, one, 2);
	if (act == HW_ARG_FLAG)
		return 0;
	if (act == HW_ARG_VALUE || act == HW_ARG_CHECKED) {
		if (arg[i + 1] == 0)
			cw->result = act;
		else if (!(cw->kflags & HW_ARGK_ATTACHED))
			cw->result = HW_AC_FAIL;
		else if (act == HW_ARG_CHECKED && !hw_argv_value_ok(cw->k, cw->kind, arg + i + 1))
			cw->result = HW_AC_FAIL;
		else
			cw->result = HW_ARG_FLAG;
		return 1;
	}
	cw->result = act == HW_ARG_CODE ? HW_ARG_CODE : HW_AC_FAIL;
	return 1;
}

/*
 * The action of an option argument `arg` (NUL-terminated, strlen `n`, in a HW_PATH_LEN buffer):
 * an exact entry; a long option with "=value"; a 4- or 2-character prefix entry; a short option
 * with its value attached; or a cluster of single-letter flags walked letter by letter.
 */
static __always_inline __u32 hw_argv_classify_inl(struct hw_argv_key *k, __u32 kind,
						  __u32 kflags, const char *arg, int n)
{
	__u32 act;
	if (n < HW_ARG_OPT_LEN) {
		act = hw_argv_lookup(k, kind, arg, n);
		if (act)
			return act == HW_ARG_PREFIX ? HW_ARG_FLAG : act;
	}
	if (arg[1] == '-') {
		/* --name=value: only an option known to take a value may carry one. */
		int eq = -1;
		for (int i = 2; i < HW_ARG_OPT_LEN; i++) {
			if (arg[i] == 0)
				break;
			if (arg[i] == '=') {
				eq = i;
				break;
			}
		}
		if (eq < 0)
			return HW_AC_FAIL;
		act = hw_argv_lookup(k, kind, arg, eq);
		return act == HW_ARG_VALUE ? HW_ARG_FLAG : HW_AC_FAIL;
	}
	if (n > 4 && hw_argv_lookup(k, kind, arg, 4) == HW_ARG_PREFIX)
		return HW_ARG_FLAG;
	act = hw_argv_lookup(k, kind, arg, 2);
	switch (act) {
	case HW_ARG_PREFIX:
		return HW_ARG_FLAG;
	case HW_ARG_VALUE:
		return (kflags & HW_ARGK_ATTACHED) ? HW_ARG_FLAG : HW_AC_FAIL; /* -Wignore */
	case HW_ARG_CHECKED: /* -Xdev */
		return (kflags & HW_ARGK_ATTACHED) && hw_argv_value_ok(k, kind, arg + 2)
			       ? HW_ARG_FLAG
			       : HW_AC_FAIL;
	case HW_ARG_CODE:
		return HW_ARG_CODE; /* -c'code', -mmodule */
	case HW_ARG_FLAG:
		break;
	default:
		return HW_AC_FAIL;
	}
	if (!(kflags & HW_ARGK_CLUSTER) || n > HW_ARG_CLUSTER_MAX)
		return HW_AC_FAIL;
	/* A cluster: -Bu is -B -u; a letter taking a value ends it (-uW ignore, -uWignore). */
	struct hw_cluster_walk cw = {.arg = arg, .k = k, .kind = kind, .kflags = kflags};
	bpf_loop(HW_ARG_CLUSTER_MAX - 2, hw_cluster_step, &cw, 0);
	return cw.result;
}

/* One argument buffer as the classifier sees it (a HW_PATH_LEN map-value buffer). */
struct hw_arg_buf {
	char s[HW_PATH_LEN];
};

/*
 * The classifier as a global function: the verifier checks it once, on its own, instead of once
 * per state of the walk's callback (that multiplied the object's load time).
 */
__attribute__((noinline)) __u32 hw_argv_classify(struct hw_argv_scratch *sc, __u32 kind,
						 __u32 kflags, struct hw_arg_buf *a, int n)
{
	if (!sc || !a)
		return HW_AC_FAIL;
	return hw_argv_classify_inl(&sc->key, kind, kflags, a->s, n);
}

/* State of one walk, passed to the bpf_loop callback. */
struct hw_argv_walk {
	unsigned long ptr, end;
	char *arg; /* the caller's HW_PATH_LEN buffer (a map value): the candidate ends here */
	__u32 kind, kflags;
	int pending; /* 1: an option's value; 2: the script; 3: a value that must be listed */
	int result;  /* 1 script found, 0 none, -1 unreadable; HW_REASON_ARGV via *why */
	__u32 why;
};

static long hw_argv_step(__u32 i, struct hw_argv_walk *w)
{
	__u32 zero = 0;
	struct hw_argv_scratch *sc = bpf_map_lookup_elem(&hw_argv_scratch, &zero);
	char *arg = w->arg;
	if (!sc || !arg || w->ptr >= w->end) {
		w->result = 0;
		return 1;
	}
	__builtin_memset(arg, 0, HW_PATH_LEN);
	long n = bpf_probe_read_user_str(arg, HW_PATH_LEN, (const void *)w->ptr);
	if (n <= 0 || n >= HW_PATH_LEN) {
		w->result = -1; /* unreadable or too long to compare: fail closed */
		return 1;
	}
	w->ptr += n;
	if (i == 0)
		return 0; /* argv[0] */
	if (w->pending == 1) {
		w->pending = 0;
		return 0;
	}
	if (w->pending == 3) {
		w->pending = 0;
		if (hw_argv_value_ok(&sc->key, w->kind, arg))
			return 0;
		w->result = 0;
		w->why = HW_REASON_ARGV;
		return 1;
	}
	int opt = arg[0] == '-' || (arg[0] == '+' && (w->kflags & HW_ARGK_PLUS));
	if (w->pending == 2 || (!opt && !(w->kflags & HW_ARGK_SCRIPT_ONLY))) {
		w->result = 1;
		return 1;
	}
	if (!opt) {
		w->result = 0; /* java: a class name, not a file */
		return 1;
	}
	__u32 act = hw_argv_classify(sc, w->kind, w->kflags, (struct hw_arg_buf *)arg, (int)n - 1);
	switch (act) {
	case HW_ARG_FLAG:
		return 0;
	case HW_ARG_VALUE:
		w->pending = 1;
		return 0;
	case HW_ARG_CHECKED:
		w->pending = 3;
		return 0;
	case HW_ARG_END:
	case HW_ARG_SCRIPT:
		w->pending = 2;
		return 0;
	case HW_ARG_CODE:
		w->result = 0;
		return 1;
	default:
		w->result = 0;
		w->why = HW_REASON_ARGV;
		return 1;
	}
}

/*
 * Finds the script an approved interpreter of `kind` was given on its command line. Leaves it
 * in `arg` (a HW_PATH_LEN map-value buffer, zero-padded); returns 1 when found, 0 for none, -1
 * when argv cannot be read safely. *why gets HW_REASON_ARGV when an unknown option decided.
 */
static __always_inline int hw_argv_script(struct task_struct *p, char *arg, __u32 kind, __u32 *why)
{
	struct hw_argv_walk w = {};
	w.ptr = BPF_CORE_READ(p, mm, arg_start);
	w.end = BPF_CORE_READ(p, mm, arg_end);
	w.arg = arg;
	w.kind = kind;
	__u32 zero = 0;
	struct hw_argv_scratch *sc = bpf_map_lookup_elem(&hw_argv_scratch, &zero);
	if (!sc)
		return -1;
	__u32 kf = hw_argv_lookup(&sc->key, kind, w.arg, 0);
	w.kflags = kf & HW_ARGK_KNOWN ? kf : 0;
	long loops = bpf_loop(HW_ARG_MAX, hw_argv_step, &w, 0);
	if (loops < 0)
		return -1;
	if ((long)loops >= HW_ARG_MAX && w.result == 0 && w.ptr < w.end)
		w.why = HW_REASON_ARGV; /* more options than examined: fail closed */
	*why = w.why;
	return w.result;
}

#endif /* HW_ARGV_GRAMMAR_H */
