// SPDX-License-Identifier: GPL-2.0
/*
 * hashwall.bpf.c — per-app network verdicts decided in the kernel.
 *
 * Every verdict comes from maps that userspace filled BEFORE the connection: the approved
 * executables (identity = kernel dev + inode, present only while the file's SHA-256 matched) and
 * the per-process trust that the fork/exec/exit tracepoints keep true. No hook ever waits for
 * userspace, so the first connect() of a one-shot client is decided right.
 *
 * Concerns in this object: the cgroup hooks (connect4/6, sendmsg4/6, sock_create), lineage
 * (fork/exec/exit), reporting (ring buffer + dedup LRU), and socket trust (sockets.h: bind4/6,
 * the socket storage and the closing iterators). Shared structs: hashwall.h.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "hashwall.h"
#include "inode_key.h"
#include "rules_app.h"
#include "dns.h"
#include "identity_iter.h"

char LICENSE[] SEC("license") = "GPL";

#define SOCK_DGRAM_ 2
#define SOCK_RAW_ 3
#define AF_INET_ 2
#define AF_INET6_ 10
#define IPPROTO_ICMP_ 1
#define IPPROTO_ICMPV6_ 58

/* Approved executables: identity → app. Present only while the file's hash matched. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, HW_MAX_APPS);
	__type(key, struct hw_exe_key);
	__type(value, struct hw_app_val);
} hw_approved SEC(".maps");

/* Per-process trust keyed by tgid; kept true by the lineage tracepoints. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, HW_MAX_PROCS);
	__type(key, __u32);
	__type(value, struct hw_proc_val);
} hw_procs SEC(".maps");

/* Run-time switches (element 0). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct hw_settings);
} hw_settings SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, HW_CNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} hw_counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, HW_RINGBUF_BYTES);
} hw_events SEC(".maps");

/* One report per app + destination + hook per dedup window, so a retry loop cannot flood. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, HW_MAX_DEDUP);
	__type(key, struct hw_dedup_key);
	__type(value, __u64);
} hw_dedup SEC(".maps");

/*
 * What each process was exec'd as, so a report can name an app that already exited: the path
 * given to execve, or for an interpreter the script it runs (flags HW_EVF_SCRIPT).
 */
struct hw_exec_info {
	__u32 flags;       /* HW_EVF_* */
	__u32 reason;      /* for an untrusted interpreter: HW_REASON_INTERPRETER or _UNRESOLVED */
	__u32 script_hash; /* dedup: one report per script, not per interpreter */
	__u32 detail;      /* with a trust-guard reason (HW_REASON_ENV, ...): its detail */
	char path[HW_PATH_LEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, HW_MAX_PROCS);
	__type(key, __u32);
	__type(value, struct hw_exec_info);
} hw_exec_paths SEC(".maps");

/* Approved scripts by absolute path, and by (folder identity, bare name). See hashwall.h. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, HW_MAX_SCRIPTS);
	__type(key, struct hw_script_key);
	__type(value, struct hw_script_val);
} hw_scripts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, HW_MAX_SCRIPTS);
	__type(key, struct hw_script_rel_key);
	__type(value, struct hw_script_val);
} hw_scripts_rel SEC(".maps");

/* Scratch for exec-time work off the 512-byte stack. */
struct hw_exec_scratch {
	struct hw_exec_info info;
	char arg[HW_PATH_LEN];
	struct hw_script_rel_key rel;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct hw_exec_scratch);
} hw_exec_scratch SEC(".maps");

/* Trust that cannot be borrowed: argv grammar, exec environment, tampering (own headers). */
#include "argv_grammar.h"
#include "exec_env.h"
#include "lineage.h"
/* Defined below with the other reports (event_begin/event_submit come after the guards). */
static __always_inline void hw_report_taint(__u32 tgid, const struct hw_exe_key *key,
					    __u32 vector);
#include "tamper.h" /* clears a written process's lineage: after lineage.h */
#include "rules_via.h" /* [[rule]] via: needs lineage.h and dns.h */
#include "verdict_cache.h"

static __always_inline void count(__u32 idx)
{
	__u64 *c = bpf_map_lookup_elem(&hw_counters, &idx);
	if (c)
		*c += 1;
}

/* Kernel identity of a task's executable; zero for kernel threads. */
static __always_inline void exe_of(struct task_struct *task, struct hw_exe_key *key)
{
	struct file *f = BPF_CORE_READ(task, mm, exe_file);
	key->dev = 0;
	key->ino = 0;
	if (!f)
		return;
	hw_file_key(f, key);
}

/* 127.0.0.0/8, ::1 and ::ffff:127.0.0.0/104 (daddr is 16 bytes, v4 in the first 4). */
static __always_inline int is_loopback(__u8 family, const __u8 *daddr)
{
	if (family == 4)
		return daddr[0] == 127;
	if (family == 6) {
		__u64 hi, lo;
		__builtin_memcpy(&hi, daddr, 8);
		__builtin_memcpy(&lo, daddr + 8, 8);
		return hi == 0 && lo == bpf_cpu_to_be64(1);
	}
	return 0;
}

/* The per-CPU scratch reports are built in (struct hw_event_buf: too big for the stack). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct hw_event_buf);
} hw_event_scratch SEC(".maps");

/*
 * This CPU's report scratch, or NULL while a report is being built in it already (a report
 * interrupted on this CPU by another program that reports): the caller drops its report as lost.
 */
static __always_inline struct hw_event_buf *event_begin(void)
{
	__u32 zero = 0;
	struct hw_event_buf *b = bpf_map_lookup_elem(&hw_event_scratch, &zero);
	if (!b || b->busy)
		return NULL;
	b->busy = 1;
	return b;
}

/*
 * The head fields every report fills the same way: when, what, who, and the verdict. The caller
 * adds the peer (or event_no_peer) and the flags, rule and via fields its kind needs.
 */
static __always_inline void event_head(struct hw_event *e, __u64 now, const struct hw_exe_key *exe,
				       __u32 tgid, __u32 kind, __u32 verdict, __u32 reason)
{
	e->ts_ns = now;
	e->exe = *exe;
	e->tgid = tgid;
	e->uid = (__u32)bpf_get_current_uid_gid();
	e->kind = kind;
	e->verdict = verdict;
	e->reason = reason;
	e->via_app = 0;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
}

/* A report about a file or a process, not a connection: no peer address, port or protocol. */
static __always_inline void event_no_peer(struct hw_event *e)
{
	e->family = 0;
	e->proto = 0;
	e->dport = 0;
	__builtin_memset(e->daddr, 0, sizeof(e->daddr));
}

/*
 * Ancestors of the current task into a report: lineage[0] is the parent. Returns how many. A
 * global function: verified once per program, not once per report site (issue 22).
 */
__noinline __u64 hw_fill_lineage(struct hw_event_buf *b)
{
	if (!b)
		return 0; /* never: callers pass their scratch */
	struct task_struct *t = bpf_get_current_task_btf();
	__u32 depth = 0;
	for (int i = 0; i < HW_LINEAGE_DEPTH; i++) {
		t = BPF_CORE_READ(t, real_parent);
		if (!t)
			break;
		__u32 ptgid = BPF_CORE_READ(t, tgid);
		if (ptgid == 0)
			break;
		b->lineage[i].tgid = ptgid;
		b->lineage[i]._pad = 0;
		exe_of(t, &b->lineage[i].exe);
		BPF_CORE_READ_STR_INTO(&b->lineage[i].comm, t, comm);
		depth = i + 1;
		if (ptgid == 1)
			break;
	}
	b->head.depth = depth;
	return depth;
}

/*
 * Completes the report in `b` with the lineage of `task` and the path at `path` (kernel memory,
 * NUL-terminated; NULL for none), and writes only its used part to the ring buffer. Releases the
 * scratch. Returns 0, or < 0 when the ring had no room. `task` is always the current task (every
 * report is about the process in whose context the hook runs): hw_fill_lineage reads current.
 */
static __always_inline long event_submit(struct hw_event_buf *b, struct task_struct *task,
					 const char *path)
{
	/* 64 bits all the way: a 32-bit copy's bound would not reach the register used below. */
	__u64 depth = hw_fill_lineage(b);
	if (depth > HW_LINEAGE_DEPTH) /* never: bounds the write below for the verifier */
		depth = HW_LINEAGE_DEPTH;
	__u32 off = depth * sizeof(struct hw_ancestor);
	long n = 0;
	if (path)
		n = bpf_probe_read_kernel_str((char *)b->lineage + off, HW_PATH_LEN, path);
	__u32 plen = n > 1 ? n - 1 : 0; /* without the NUL */
	if (plen > HW_PATH_LEN - 1)
		plen = HW_PATH_LEN - 1;
	b->head.path_len = plen;
	__u32 size = sizeof(b->head) + off + plen;
	if (size > HW_EVENT_MAX)
		size = HW_EVENT_MAX;
	/* No consumer wakeup: it costs ~11 us per event here; userspace drains on a timer. */
	long err = bpf_ringbuf_output(&hw_events, b, size, BPF_RB_NO_WAKEUP);
	b->busy = 0;
	if (err)
		count(HW_CNT_LOST);
	else
		count(HW_CNT_EVENTS);
	return err;
}

/*
 * A trusted process lost its trust to another one writing into it (tamper.h): kind HW_EV_TAINT,
 * the victim's tgid and trust key, the vector in `rule`; who wrote is the current task (comm,
 * uid). The daemon closes the sockets the victim's trust opened.
 */
static __always_inline void hw_report_taint(__u32 tgid, const struct hw_exe_key *key,
					    __u32 vector)
{
	struct hw_event_buf *b = event_begin();
	if (!b) {
		count(HW_CNT_LOST);
		return;
	}
	struct hw_event *e = &b->head;
	event_head(e, bpf_ktime_get_boot_ns(), key, tgid, HW_EV_TAINT, HW_VERDICT_DENY,
		   HW_REASON_INJECTED);
	event_no_peer(e);
	e->flags = 0;
	e->rule = vector;
	event_submit(b, bpf_get_current_task_btf(), NULL);
}

/* Writes one report to the ring buffer unless the dedup window suppresses it. */
static __always_inline void report(struct hw_settings *s, struct task_struct *task, __u32 tgid,
				   const struct hw_exe_key *exe, __u8 kind, __u8 verdict,
				   __u8 family, __u8 proto, const __u8 *daddr, __u16 dport,
				   __u32 reason, __u32 rule)
{
	struct hw_dedup_key dk = {};
	__u64 now = bpf_ktime_get_boot_ns();
	struct hw_exec_info *xi = bpf_map_lookup_elem(&hw_exec_paths, &tgid);

	dk.exe = *exe;
	dk.script_hash = xi ? xi->script_hash : 0;
	__builtin_memcpy(dk.daddr, daddr, 16);
	dk.dport = dport;
	dk.proto = proto;
	dk.kind = kind;
	__u64 *last = bpf_map_lookup_elem(&hw_dedup, &dk);
	if (last && now - *last < (__u64)s->dedup_ms * 1000000ULL) {
		count(HW_CNT_DEDUPED);
		return;
	}
	bpf_map_update_elem(&hw_dedup, &dk, &now, BPF_ANY);

	struct hw_event_buf *b = event_begin();
	if (!b) {
		count(HW_CNT_LOST);
		bpf_map_delete_elem(&hw_dedup, &dk);
		return;
	}
	struct hw_event *e = &b->head;
	event_head(e, now, exe, tgid, kind, verdict, reason);
	e->family = family;
	e->proto = proto;
	e->dport = dport;
	e->rule = rule;
	__builtin_memcpy(e->daddr, daddr, 16);

	const char *path = NULL;
	if (xi) {
		path = xi->path;
		e->flags = xi->flags;
		if (xi->reason &&
		    (reason == HW_REASON_UNKNOWN_APP || reason == HW_REASON_INTERPRETER ||
		     reason == HW_REASON_NOT_INHERITED)) {
			e->reason = xi->reason;
			if (xi->reason >= HW_REASON_ENV)
				e->rule = xi->detail; /* the variable, the tampering vector */
		}
		if (xi->flags & HW_EVF_VIA) {
			struct hw_proc_val *vp = bpf_map_lookup_elem(&hw_procs, &tgid);
			if (vp && vp->source == HW_TRUST_VIA)
				e->via_app = vp->app_id;
		}
	} else {
		e->flags = 0;
	}

	/* Forget the dedup mark when the ring is full, so the next attempt is reported. */
	if (event_submit(b, task, path))
		bpf_map_delete_elem(&hw_dedup, &dk);
}

/* The question of an outbound rule verdict (a global function takes at most 5 arguments). */
struct hw_rules_query {
	__u8 daddr[16];
	__u32 tgid;
	__u32 app_id;
	__u32 rule; /* out: the deciding rule's index */
	__u16 dport;
	__u8 proto;
	__u8 family;
};

/*
 * hw_rule_verdict() (the cached hw_via_app_verdict(), bpf/verdict_cache.h) as a global function:
 * the verifier checks it once per program, in isolation, instead of once per path of decide()
 * that reaches it.
 */
__noinline int hw_rules_verdict(struct hw_rules_query *q)
{
	if (!q)
		return HW_FLT_NONE;
	return hw_rule_verdict(q->tgid, q->app_id, q->proto, q->family, q->daddr, q->dport,
			       &q->rule);
}

/*
 * What decide() found, for the socket record an allowed connect/sendmsg writes (sockets.h), so
 * that write repeats none of the look-ups.
 */
struct hw_decision {
	struct hw_settings *s;
	struct hw_proc_val *pv; /* the caller's trust entry; NULL: unknown, or tainted just now */
	__u32 tgid;
	__u32 record; /* 0: the daemon or an exempt loopback destination, nothing to record */
	__u32 note;   /* a rule allowed it: note the socket for tc egress under note_rule */
	__u32 note_rule;
};

/*
 * The verdict for the current process sending to a destination: 1 allow, 0 deny (EPERM).
 * Trusted = a per-process entry whose approval is still in the approved map.
 */
static __always_inline int decide(__u8 kind, __u8 family, __u8 proto, const __u8 *daddr,
				  __u16 dport, struct hw_decision *d)
{
	__u32 zero = 0;
	struct hw_settings *s = bpf_map_lookup_elem(&hw_settings, &zero);
	if (!s)
		return 1;
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	if (hw_is_daemon(s, tgid)) {
		count(HW_CNT_ALLOW);
		return 1;
	}
	if (s->allow_loopback && is_loopback(family, daddr)) {
		count(HW_CNT_LOOPBACK);
		return 1;
	}

	__u32 reason = HW_REASON_UNKNOWN_APP;
	struct hw_proc_val *pv = bpf_map_lookup_elem(&hw_procs, &tgid);
	if (pv && hw_trust_borrowed(pv, tgid))
		pv = NULL; /* traced right now by a stranger: the trust is gone */
	d->s = s;
	d->pv = pv;
	d->tgid = tgid;
	d->record = 1;
	if (pv) {
		struct hw_app_val *a = bpf_map_lookup_elem(&hw_approved, &pv->trust_key);
		if (a && a->app_id == pv->app_id) {
			/*
			 * A trusted app: the outbound [[rule]]s (its own and the general ones, first
			 * match) still apply, here rather than at tc egress so a denied connect gets
			 * EPERM at once. (Loopback got here only with allow_loopback = false: then it
			 * is judged like any destination.)
			 */
			struct hw_rules_query q = {};
			int v = HW_FLT_NONE;
			if (kind != HW_EV_SOCK_CREATE) {
				__builtin_memcpy(q.daddr, daddr, 16);
				q.tgid = tgid;
				q.app_id = pv->app_id;
				q.dport = dport;
				q.proto = proto;
				q.family = family;
				v = hw_rules_verdict(&q);
			}
			__u32 rule = q.rule;
			if (v == HW_FLT_DENY) {
				struct task_struct *task = bpf_get_current_task_btf();
				int deny = s->mode == HW_MODE_ENFORCING;
				count(deny ? HW_CNT_DENY : HW_CNT_ALLOW);
				/* Trusted via an ancestor app: the report names its own executable. */
				struct hw_exe_key who = pv->trust_key;
				if (pv->source == HW_TRUST_VIA)
					exe_of(task, &who);
				report(s, task, tgid, &who, kind,
				       deny ? HW_VERDICT_DENY : HW_VERDICT_ALLOW, family, proto, daddr,
				       dport, HW_REASON_RULE, rule);
				return !deny;
			}
			/*
			 * The note serves only tc egress, and tc never filters lo (src/kernel/filter.ts
			 * refuses it): a loopback destination needs none. Without a note tc would judge
			 * the flow by the general rules alone, stricter, never looser.
			 */
			if (v == HW_FLT_ALLOW && !is_loopback(family, daddr)) {
				d->note = 1;
				d->note_rule = rule;
			}
			count(HW_CNT_ALLOW);
			return 1;
		}
		reason = HW_REASON_REVOKED;
	}

	/* Unknown from here on: the slow path, taken once per app + destination per window. */
	count(HW_CNT_UNKNOWN);
	struct task_struct *task = bpf_get_current_task_btf();
	struct hw_exe_key exe;
	exe_of(task, &exe);
	if (reason == HW_REASON_UNKNOWN_APP) {
		struct hw_app_val *a = bpf_map_lookup_elem(&hw_approved, &exe);
		if (a)
			reason = (a->flags & HW_APP_INTERPRETER) ? HW_REASON_INTERPRETER
								 : HW_REASON_NOT_INHERITED;
	}
	int deny = s->mode == HW_MODE_ENFORCING;
	if (deny)
		count(HW_CNT_DENY);
	report(s, task, tgid, &exe, kind, deny ? HW_VERDICT_DENY : HW_VERDICT_ALLOW, family, proto,
	       daddr, dport, reason, 0);
	return !deny;
}

/* Socket trust (records written after an allowed connect/sendmsg) and the closing iterators. */
#include "sockets.h"

static __always_inline __u8 proto_of(__u32 type, __u32 protocol)
{
	if (protocol)
		return protocol;
	return type == SOCK_DGRAM_ ? IPPROTO_UDP : IPPROTO_TCP;
}

/*
 * The verdict, then on allow the socket's record and the tc note. The cookie is read once, and
 * only when something is written under it: a socket nothing recorded keeps cookie 0, which lets
 * its close skip the slot array (hw_sock_release).
 */
static __always_inline int decide_sock(struct bpf_sock_addr *ctx, __u8 kind, __u8 family,
				       const __u8 *daddr, __u16 port)
{
	struct hw_decision d = {};
	int ok = decide(kind, family, proto_of(ctx->type, ctx->protocol), daddr, port, &d);
	int record = ok && d.record;
	if (port != HW_DNS_PORT && !record && !d.note)
		return ok;
	__u64 cookie = bpf_get_socket_cookie(ctx);
	hw_dns_note_sock(cookie, port);
	if (d.note)
		hw_flt_note_socket(cookie, d.note_rule);
	if (record)
		hw_sock_note_conn(ctx->sk, cookie, d.s, d.pv, d.tgid);
	return ok;
}

static __always_inline int decide4(struct bpf_sock_addr *ctx, __u8 kind)
{
	__u8 daddr[16] = {};
	__u32 ip = ctx->user_ip4;
	__builtin_memcpy(daddr, &ip, 4);
	return decide_sock(ctx, kind, 4, daddr, bpf_ntohs((__u16)ctx->user_port));
}

/* IPv6, with IPv4-mapped addresses (::ffff:a.b.c.d) reported and judged as IPv4. */
static __always_inline int decide6(struct bpf_sock_addr *ctx, __u8 kind)
{
	__u8 daddr[16] = {};
	__u32 w0 = ctx->user_ip6[0], w1 = ctx->user_ip6[1], w2 = ctx->user_ip6[2],
	      w3 = ctx->user_ip6[3];
	__u16 port = bpf_ntohs((__u16)ctx->user_port);
	__u8 family = 6;
	/* One call for both cases: two would inline the whole decision twice (program size). */
	if (w0 == 0 && w1 == 0 && w2 == bpf_htonl(0xffff)) {
		family = 4;
		__builtin_memcpy(daddr, &w3, 4);
	} else {
		__builtin_memcpy(daddr, &w0, 4);
		__builtin_memcpy(daddr + 4, &w1, 4);
		__builtin_memcpy(daddr + 8, &w2, 4);
		__builtin_memcpy(daddr + 12, &w3, 4);
	}
	return decide_sock(ctx, kind, family, daddr, port);
}

SEC("cgroup/connect4")
int hw_connect4(struct bpf_sock_addr *ctx)
{
	return decide4(ctx, HW_EV_CONNECT);
}

SEC("cgroup/connect6")
int hw_connect6(struct bpf_sock_addr *ctx)
{
	return decide6(ctx, HW_EV_CONNECT);
}

SEC("cgroup/sendmsg4")
int hw_sendmsg4(struct bpf_sock_addr *ctx)
{
	return decide4(ctx, HW_EV_SENDMSG);
}

SEC("cgroup/sendmsg6")
int hw_sendmsg6(struct bpf_sock_addr *ctx)
{
	return decide6(ctx, HW_EV_SENDMSG);
}

/*
 * Raw and ICMP datagram sockets (ping): judged when created, since their traffic may never pass
 * connect/sendmsg hooks. TCP/UDP sockets are judged at connect/sendmsg with a destination.
 */
SEC("cgroup/sock_create")
int hw_sock_create(struct bpf_sock *sk)
{
	__u32 type = sk->type, protocol = sk->protocol;
	int icmp_dgram = type == SOCK_DGRAM_ &&
			 (protocol == IPPROTO_ICMP_ || protocol == IPPROTO_ICMPV6_);
	if (type != SOCK_RAW_ && !icmp_dgram)
		return 1;
	__u8 daddr[16] = {};
	/* No destination yet: the loopback exemption cannot apply; family 0 marks "no address". */
	struct hw_decision d = {};
	return decide(HW_EV_SOCK_CREATE, 0, protocol ? protocol : 255, daddr, 0, &d);
}

/* fork: a child of a trusted process whose app has inherit = true is trusted too. */
SEC("tp_btf/sched_process_fork")
int BPF_PROG(hw_fork, struct task_struct *parent, struct task_struct *child)
{
	__u32 ptgid = parent->tgid, ctgid = child->tgid;
	if (ptgid == ctgid)
		return 0; /* a new thread shares its process's entry */
	struct hw_proc_val *pv = bpf_map_lookup_elem(&hw_procs, &ptgid);
	if (!pv || !(pv->flags & HW_APP_INHERIT) || child->ptrace) {
		/* A recycled tgid must not keep a dead process's trust. */
		bpf_map_delete_elem(&hw_procs, &ctgid);
	} else {
		struct hw_proc_val cv = *pv;
		cv.source = HW_TRUST_INHERITED;
		if (pv->source == HW_TRUST_OWN)
			cv.from_tgid = ptgid;
		bpf_map_update_elem(&hw_procs, &ctgid, &cv, BPF_ANY);
		count(HW_CNT_INHERITED);
	}
	hw_lineage_fork(ptgid, ctgid, pv);
	struct hw_exec_info *pp = bpf_map_lookup_elem(&hw_exec_paths, &ptgid);
	if (pp)
		bpf_map_update_elem(&hw_exec_paths, &ctgid, pp, BPF_ANY);
	return 0;
}

/* FNV-1a of a NUL-terminated string in a HW_PATH_LEN buffer; never 0. */
static __always_inline __u32 fnv1a(const char *s)
{
	__u32 h = 2166136261u;
	for (int i = 0; i < HW_PATH_LEN; i++) {
		if (s[i] == 0)
			break;
		h = (h ^ (__u8)s[i]) * 16777619u;
	}
	return h ? h : 1;
}

/*
 * Looks up the candidate script in sc->arg: an absolute path by path, a bare name (optionally
 * "./name") in the process's working directory by (folder identity, name). NULL with *unresolved
 * set when the kernel cannot resolve it (a relative path with folders).
 */
static __always_inline struct hw_script_val *lookup_script(struct task_struct *p,
							   struct hw_exec_scratch *sc,
							   __u32 *unresolved)
{
	if (sc->arg[0] == '/')
		return bpf_map_lookup_elem(&hw_scripts, sc->arg);
	int off = (sc->arg[0] == '.' && sc->arg[1] == '/') ? 2 : 0;
	__builtin_memset(&sc->rel, 0, sizeof(sc->rel));
	for (int i = 0; i < HW_SCRIPT_NAME_LEN; i++) {
		char c = sc->arg[(i + off) & (HW_PATH_LEN - 1)];
		if (c == 0)
			break;
		if (c == '/' || i == HW_SCRIPT_NAME_LEN - 1) {
			*unresolved = 1;
			return NULL;
		}
		sc->rel.name[i] = c;
	}
	struct dentry *cwd = BPF_CORE_READ(p, fs, pwd.dentry);
	hw_dentry_key(cwd, &sc->rel.dir);
	return bpf_map_lookup_elem(&hw_scripts_rel, &sc->rel);
}

/*
 * hw_argv_script() of the current task (exec runs in its context) into sc->arg, as a global
 * function: verified once per program, not once per path of hw_exec (issue 22).
 */
__noinline int hw_argv_script_cur(struct hw_exec_scratch *sc, __u32 kind, __u32 *why)
{
	if (!sc || !why)
		return -1; /* never: fail closed */
	return hw_argv_script(bpf_get_current_task_btf(), sc->arg, kind, why);
}

#include "stale.h"
#include "script_open.h"
/* Revocation at a writable open, and the /proc/PID/mem check (tamper.h), in one open-exit program. */
#include "write_revoke.h"

/*
 * exec: decided again from the new binary's own identity. An approved interpreter is never
 * trusted by itself: the script it runs decides. A binary that is not an approved app keeps the
 * trust of an inheriting app the process held (bpf/lineage.h); otherwise the trust ends here.
 */
SEC("tp_btf/sched_process_exec")
int BPF_PROG(hw_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	__u32 tgid = p->tgid, zero = 0;
	struct hw_exec_scratch *sc = bpf_map_lookup_elem(&hw_exec_scratch, &zero);
	if (!sc)
		return 0;
	const char *filename = BPF_CORE_READ(bprm, filename);
	const char *interp = BPF_CORE_READ(bprm, interp);
	sc->info.flags = 0;
	sc->info.reason = 0;
	sc->info.script_hash = 0;
	sc->info.detail = 0;
	bpf_map_delete_elem(&hw_tainted, &tgid); /* a new image: old tampering is gone with it */
	bpf_probe_read_kernel_str(sc->info.path, sizeof(sc->info.path), filename);

	struct hw_exe_key key;
	exe_of(p, &key);
	struct hw_app_val *a = bpf_map_lookup_elem(&hw_approved, &key);
	hw_script_forget(p);
	if (a && hw_exec_stale(p, bprm, a, &key, sc->info.path)) {
		a = NULL; /* changed since hashed (stale.h): unapproved until the daemon re-hashed */
		sc->info.reason = HW_REASON_STALE;
	}
	struct hw_proc_val v = {};
	struct hw_script_val *script = NULL;
	int trusted = 0;
	if (a && !(a->flags & HW_APP_INTERPRETER)) {
		v.trust_key = key;
		v.app_id = a->app_id;
		v.flags = a->flags;
		trusted = 1;
	} else if (a) {
		/* An interpreter: find its script (#! path, else the command line). */
		int found;
		__u32 why = 0;
		if (interp != filename) {
			__builtin_memset(sc->arg, 0, sizeof(sc->arg));
			found = bpf_probe_read_kernel_str(sc->arg, sizeof(sc->arg), filename) > 0;
		} else {
			found = hw_argv_script_cur(sc, hw_app_kind(a->app_id), &why);
		}
		__u32 unresolved = found < 0;
		if (found > 0) {
			bpf_probe_read_kernel(sc->info.path, sizeof(sc->info.path), sc->arg);
			sc->info.flags = HW_EVF_SCRIPT;
			sc->info.script_hash = fnv1a(sc->arg);
			struct hw_script_val *sv = lookup_script(p, sc, &unresolved);
			if (sv) {
				v.trust_key = sv->key;
				v.app_id = sv->app_id;
				v.flags = sv->flags;
				trusted = 1;
				script = sv;
			}
		}
		if (!trusted)
			sc->info.reason = unresolved ? HW_REASON_SCRIPT_UNRESOLVED
					  : why	       ? why
						       : HW_REASON_INTERPRETER;
	}
	if (trusted && a) {
		/* Nothing may run other code inside it: injection variables, a tracer. */
		__u32 kind = a->flags & HW_APP_INTERPRETER ? hw_app_kind(a->app_id) : HW_KIND_OTHER;
		__u32 guard = hw_exec_guard_cur(kind, hw_app_env_allow(v.app_id), &sc->info.detail);
		if (guard) {
			trusted = 0;
			sc->info.reason = guard;
		}
	}
	if (trusted && !hw_via_allowed(tgid, v.app_id)) {
		trusted = 0; /* only_via: none of its starters is among the ancestors */
		sc->info.reason = HW_REASON_NOT_VIA;
	}
	if (trusted && script) {
		/* A script: not trusted yet; the interpreter's open of it decides (script_open.h). */
		sc->info.reason = hw_script_pending(p, script, sc->arg);
		trusted = 0;
	}
	/*
	 * Not an approved app itself (a binary nobody approved, or an interpreter whose script is not
	 * approved), under an app with inherit: trusted via that app, guards permitting.
	 */
	int via = 0;
	if (!trusted && (!a || (a->flags & HW_APP_INTERPRETER)) &&
	    (sc->info.reason == 0 || sc->info.reason == HW_REASON_INTERPRETER ||
	     sc->info.reason == HW_REASON_SCRIPT_UNRESOLVED)) {
		__u32 kind = a ? hw_app_kind(a->app_id) : HW_KIND_OTHER;
		via = hw_via_keep(p, tgid, kind, &sc->info);
		if (via) {
			sc->info.flags |= HW_EVF_VIA;
			sc->info.reason = 0;
		}
	}
	bpf_map_update_elem(&hw_exec_paths, &tgid, &sc->info, BPF_ANY);
	if (trusted) {
		v.source = HW_TRUST_OWN;
		v.from_tgid = tgid;
		bpf_map_update_elem(&hw_procs, &tgid, &v, BPF_ANY);
		count(HW_CNT_EXEC_TRUSTED);
	} else if (!via) {
		bpf_map_delete_elem(&hw_procs, &tgid);
	}
	return 0;
}

/* exit of the whole thread group: forget the process. */
SEC("tp_btf/sched_process_exit")
int BPF_PROG(hw_exit, struct task_struct *p, bool group_dead)
{
	if (!group_dead)
		return 0;
	__u32 tgid = p->tgid;
	bpf_map_delete_elem(&hw_procs, &tgid);
	bpf_map_delete_elem(&hw_exec_paths, &tgid);
	bpf_map_delete_elem(&hw_lineage, &tgid);
	hw_tamper_exit(tgid);
	return 0;
}
