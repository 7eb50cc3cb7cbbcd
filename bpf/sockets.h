/* SPDX-License-Identifier: GPL-2.0 */
/*
 * sockets.h — which trust each socket rests on, and closing the sockets whose trust ended.
 *
 * Included by hashwall.bpf.c after its maps and helpers (hw_settings, hw_procs, hw_approved,
 * exe_of, is_loopback): the programs here share the object's pinned maps.
 *
 *  - After a connect/sendmsg the hook allowed, hw_sock_note_conn() records the approved identity
 *    the process was trusted through (the trust key and app id of its hw_procs entry), keyed by the
 *    socket's cookie, and the record leaves at close (hw_sock_release). Socket-local storage
 *    allocates per socket with memory accounting and frees through RCU (~0.9 us per connect here,
 *    three times the budget of the whole hook), and a hash insert plus delete take a bucket lock
 *    each (~0.3 us each here). So a record lives in a slot of an array (hw_sock_slots) picked by
 *    the cookie's low bits: no lock, no allocation. Cookies are handed out in per-CPU runs, so
 *    live sockets rarely share a slot; a socket whose slot is taken (or contended, see
 *    hw_sock_claim) is recorded in the hash hw_sock_cookie instead, and when that is full in
 *    socket storage, so no socket goes unrecorded. Cookies are never reused within a boot, so a
 *    record that outlived its socket (a hook detached at its close; a hashed socket that took its
 *    freed slot on a reconnect) names no other socket.
 *  - bind() records into socket-local storage (hw_sock_trust), which is BPF_F_CLONE: every
 *    connection a trusted server accepts inherits its listener's record in the kernel, with no
 *    per-accept hook (passive-established sock_ops runs in softirq context, where the accepting
 *    process is not current anyway). A socket's storage, when it has one, wins over its cookie
 *    record.
 *  - In learning mode an unknown app's sockets are recorded too (HW_SOCK_UNKNOWN, its own
 *    executable), so a switch to enforcing can offer to close the live sockets of unapproved apps.
 *  - hw_iter_tcp / hw_iter_udp, run by the daemon after it filled hw_sock_revoke, destroy
 *    (bpf_sock_destroy) exactly the sockets whose record names a listed identity and write one
 *    struct hw_sock_closed per socket to the iterator's output. The socket's record decides, not
 *    whoever holds the fd now: passing it to another process (SCM_RIGHTS) does not save it.
 *
 * Shared structs: hashwall.h ("socket trust"). Userspace: src/kernel/sockets.ts.
 */
#ifndef HASHWALL_SOCKETS_H
#define HASHWALL_SOCKETS_H

#define HW_TCP_LISTEN_ 10

extern int bpf_sock_destroy(struct sock_common *sk) __ksym;

/* Socket-local storage: the trust each socket rests on. Cloned into accepted connections. */
struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC | BPF_F_CLONE);
	__type(key, int);
	__type(value, struct hw_sock_val);
} hw_sock_trust SEC(".maps");

/*
 * A socket record in hw_sock_slots: owned while `claims` is 1 by the socket whose cookie it holds
 * (0: free). Kernel-only (userspace never reads it).
 */
struct hw_sock_slot {
	__u64 claims; /* atomic: the try-lock of hw_sock_claim */
	__u64 cookie; /* the owning socket, 0 while free or being written */
	struct hw_sock_val v;
};

#define HW_SOCK_SLOTS 65536 /* power of 2: slot = cookie & (HW_SOCK_SLOTS - 1); 3 MiB */

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, HW_SOCK_SLOTS);
	__type(key, __u32);
	__type(value, struct hw_sock_slot);
} hw_sock_slots SEC(".maps");

/*
 * Element 0: how many records hw_sock_cookie holds (atomic). While 0 — no slot was ever taken —
 * no hook touches that hash: a look into a large map costs a cache and TLB miss here (~0.3-0.5 us
 * under load), more than the whole slot path.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} hw_sock_hashed SEC(".maps");

static __always_inline int hw_sock_any_hashed(void)
{
	__u32 zero = 0;
	__u64 *n = bpf_map_lookup_elem(&hw_sock_hashed, &zero);
	return !n || *(volatile __u64 *)n != 0;
}

static __always_inline void hw_sock_count_hashed(__s64 d)
{
	__u32 zero = 0;
	__u64 *n = bpf_map_lookup_elem(&hw_sock_hashed, &zero);
	if (n)
		__sync_fetch_and_add(n, d);
}

/* Cookie of a connected/sending socket whose slot was taken -> its record; removed at release. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, HW_SOCK_COOKIE_MAX);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u64);
	__type(value, struct hw_sock_val);
} hw_sock_cookie SEC(".maps");

/* Identities whose sockets the next iterator run closes → HW_CLOSE_* reason. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, HW_SOCK_REVOKE_MAX);
	__type(key, struct hw_sock_rkey);
	__type(value, __u32);
} hw_sock_revoke SEC(".maps");

/* Element 0: struct hw_sock_ctl for the next iterator run. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct hw_sock_ctl);
} hw_sock_ctl SEC(".maps");

/* Whether socket records are off (close_on_revoke = false). */
static __always_inline int hw_sock_no_record(void)
{
	__u32 zero = 0;
	struct hw_sock_ctl *c = bpf_map_lookup_elem(&hw_sock_ctl, &zero);
	return !c || c->no_record;
}

/*
 * The record of the current process for a socket: trusted through `pv` (its hw_procs entry, the
 * identity it rests on whether or not it is still approved this instant: a revocation landing
 * between the hook's verdict and this write must still find the socket, and the daemon's second
 * pass does), or with no entry an unknown app, recorded only in learning mode (in enforcing its
 * connect was denied). Returns 0 when nothing is to be recorded.
 */
static __always_inline int hw_sock_val_of(struct hw_settings *s, struct hw_proc_val *pv,
					  __u32 tgid, __u32 extra, struct hw_sock_val *v)
{
	if (pv) {
		v->trust_key = pv->trust_key;
		v->app_id = pv->app_id;
		v->flags = HW_SOCK_TRUSTED | extra;
	} else {
		if (s->mode != HW_MODE_LEARNING)
			return 0;
		exe_of(bpf_get_current_task_btf(), &v->trust_key);
		v->app_id = 0;
		v->flags = HW_SOCK_UNKNOWN | extra;
	}
	v->tgid = tgid;
	v->uid = (__u32)bpf_get_current_uid_gid();
	return 1;
}

/* Writes `v` over an existing record, unless an unknown process would wash a trusted one. */
static __always_inline void hw_sock_overwrite(struct hw_sock_val *cur, const struct hw_sock_val *v)
{
	/* An unknown process using a trusted socket (a passed fd) does not wash its record. */
	if ((v->flags & HW_SOCK_UNKNOWN) && (cur->flags & HW_SOCK_TRUSTED))
		return;
	if (cur->tgid == v->tgid && cur->flags == v->flags && cur->app_id == v->app_id &&
	    cur->trust_key.ino == v->trust_key.ino && cur->trust_key.dev == v->trust_key.dev &&
	    cur->uid == v->uid)
		return; /* the same sender again (datagrams): no write */
	*cur = *v;
}

/* The slot `cookie` maps to. */
static __always_inline struct hw_sock_slot *hw_sock_slot_of(__u64 cookie)
{
	__u32 i = cookie & (HW_SOCK_SLOTS - 1);
	return bpf_map_lookup_elem(&hw_sock_slots, &i);
}

/*
 * Takes a free slot for `cookie`: an atomic add is the try-lock (a locked instruction, so also a
 * full barrier); whoever reads 1 back owns it, anyone else gives its add back and uses the hash.
 * Two sockets racing for one slot may both give up; neither is ever left unrecorded.
 */
static __always_inline int hw_sock_claim(struct hw_sock_slot *sl)
{
	if (*(volatile __u64 *)&sl->claims)
		return 0;
	__sync_fetch_and_add(&sl->claims, 1);
	if (*(volatile __u64 *)&sl->claims == 1)
		return 1;
	__sync_fetch_and_add(&sl->claims, -1);
	return 0;
}

/*
 * After an allowed connect/sendmsg: records on the socket the trust of the current process (see
 * hw_sock_val_of; the caller already left out the daemon and exempt loopback destinations:
 * anyone may connect there again at once, so closing them on revocation would protect nothing).
 * An existing record (storage, own slot, hash) is rewritten in place, so a send loop writes
 * nothing and an unknown app never washes a trusted record; a new one takes its slot if free.
 */
static __always_inline void hw_sock_note_conn(struct bpf_sock *sk, __u64 cookie,
					      struct hw_settings *s, struct hw_proc_val *pv,
					      __u32 tgid)
{
	if (!sk || !cookie || hw_sock_no_record())
		return;
	struct hw_sock_val v = {};
	if (!hw_sock_val_of(s, pv, tgid, 0, &v))
		return;
	/* A bound socket (or an accepted one) keeps its record in its storage. */
	struct hw_sock_val *cur = bpf_sk_storage_get(&hw_sock_trust, sk, 0, 0);
	if (cur) {
		hw_sock_overwrite(cur, &v);
		return;
	}
	struct hw_sock_slot *sl = hw_sock_slot_of(cookie);
	if (!sl)
		return;
	if (*(volatile __u64 *)&sl->cookie == cookie) {
		hw_sock_overwrite(&sl->v, &v); /* its own slot: connected or sending again */
		return;
	}
	cur = hw_sock_any_hashed() ? bpf_map_lookup_elem(&hw_sock_cookie, &cookie) : NULL;
	if (cur) {
		hw_sock_overwrite(cur, &v);
		return;
	}
	if (hw_sock_claim(sl)) {
		sl->v = v;
		*(volatile __u64 *)&sl->cookie = cookie; /* last: readers match on it */
		return;
	}
	if (!bpf_map_update_elem(&hw_sock_cookie, &cookie, &v, BPF_NOEXIST)) {
		hw_sock_count_hashed(1);
		return;
	}
	/* Recorded there meanwhile (another thread of the owner): rewrite that record. */
	cur = bpf_map_lookup_elem(&hw_sock_cookie, &cookie);
	if (cur) {
		hw_sock_overwrite(cur, &v);
		return;
	}
	/* The hash is full too: socket storage, so the socket is still found. */
	cur = bpf_sk_storage_get(&hw_sock_trust, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (cur)
		hw_sock_overwrite(cur, &v);
}

/* Drops the record of `cookie` from its slot or the hash (close, or destroyed by an iterator). */
static __always_inline void hw_sock_forget(__u64 cookie)
{
	struct hw_sock_slot *sl = hw_sock_slot_of(cookie);
	if (sl && *(volatile __u64 *)&sl->cookie == cookie) {
		*(volatile __u64 *)&sl->cookie = 0;
		__sync_fetch_and_add(&sl->claims, -1);
		return;
	}
	/* In the hash only when its slot was taken: a look first, a miss takes no lock. */
	if (hw_sock_any_hashed() && bpf_map_lookup_elem(&hw_sock_cookie, &cookie) &&
	    !bpf_map_delete_elem(&hw_sock_cookie, &cookie))
		hw_sock_count_hashed(-1);
}

/* bind: records a trusted (or, learning, unknown) server's listener in its storage. */
static __always_inline void hw_sock_note_bind(struct bpf_sock *sk)
{
	__u32 zero = 0;
	if (!sk || hw_sock_no_record())
		return;
	struct hw_settings *s = bpf_map_lookup_elem(&hw_settings, &zero);
	if (!s)
		return;
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	if (tgid == s->daemon_tgid)
		return;
	struct hw_sock_val v = {};
	if (!hw_sock_val_of(s, bpf_map_lookup_elem(&hw_procs, &tgid), tgid, HW_SOCK_BOUND, &v))
		return;
	struct hw_sock_val *cur =
		bpf_sk_storage_get(&hw_sock_trust, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (cur)
		hw_sock_overwrite(cur, &v);
}

/* bind: never denies; records a trusted (or, learning, unknown) server's listener. */
SEC("cgroup/bind4")
int hw_bind4(struct bpf_sock_addr *ctx)
{
	hw_sock_note_bind(ctx->sk);
	return 1;
}

SEC("cgroup/bind6")
int hw_bind6(struct bpf_sock_addr *ctx)
{
	hw_sock_note_bind(ctx->sk);
	return 1;
}

extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym;

/*
 * close of a socket of the cgroup: its record goes. A socket that never got a cookie was never
 * recorded under one (hw_sock_note_conn writes only under the cookie, and the connect hooks take
 * one only to write something): its slot, a cold line of a 3 MiB array, is not read. The cookie
 * is read as a field, since bpf_get_socket_cookie() would hand one out.
 */
SEC("cgroup/sock_release")
int hw_sock_release(struct bpf_sock *sk)
{
	struct sock *s = bpf_rdonly_cast(sk, bpf_core_type_id_kernel(struct sock));
	if (!s->__sk_common.skc_cookie.counter)
		return 1;
	hw_sock_forget(bpf_get_socket_cookie(sk));
	return 1;
}

/* Whether a socket's record is to close in this run, and why. */
static __always_inline int hw_sock_doomed(struct hw_sock_val *v, struct hw_sock_ctl *c,
					  __u32 *reason)
{
	/* Opened by a process another one has since written into (pidfd_getfd, ptrace, ...): the
	 * writer may hold a copy of the socket, or run its own code in the process. */
	if (bpf_map_lookup_elem(&hw_tainted, &v->tgid)) {
		*reason = HW_CLOSE_TAINTED;
		return 1;
	}
	struct hw_sock_rkey rk = {};
	rk.key = v->trust_key;
	rk.app_id = v->app_id;
	__u32 *r = bpf_map_lookup_elem(&hw_sock_revoke, &rk);
	if (r) {
		*reason = *r;
		return 1;
	}
	if (!c->unapproved)
		return 0;
	struct hw_app_val *a = bpf_map_lookup_elem(&hw_approved, &v->trust_key);
	if (v->flags & HW_SOCK_UNKNOWN) {
		/* approved since (learning → approve → enforcing): its sockets stay */
		if (a && !(a->flags & HW_APP_INTERPRETER))
			return 0;
	} else if (a && a->app_id == v->app_id) {
		return 0;
	}
	*reason = c->unapproved_reason;
	return 1;
}

/*
 * Closes (or, dry run, reports) one socket whose record is doomed; one output record each. A
 * closed socket's record is removed: an aborted UDP socket stays in the tables (unconnected), and
 * must neither be reported again by the next run nor keep a trust it lost; if its owner connects
 * it again, the connect hook judges and records it afresh.
 */
static __always_inline int hw_sock_close(struct seq_file *seq, struct sock_common *skc,
					 void *sk, struct hw_sock_val *v, __u8 proto)
{
	__u32 zero = 0, reason = 0;
	struct hw_sock_ctl *c = bpf_map_lookup_elem(&hw_sock_ctl, &zero);
	if (!c || !hw_sock_doomed(v, c, &reason))
		return 0;
	struct hw_sock_closed r = {};
	r.trust_key = v->trust_key;
	r.app_id = v->app_id;
	r.tgid = v->tgid;
	r.uid = v->uid;
	r.flags = v->flags;
	r.reason = reason;
	r.proto = proto;
	r.state = skc->skc_state;
	r.dport = bpf_ntohs(skc->skc_dport);
	r.sport = skc->skc_num;
	if (skc->skc_family == AF_INET6_) {
		__u32 d0 = skc->skc_v6_daddr.in6_u.u6_addr32[0];
		__u32 d1 = skc->skc_v6_daddr.in6_u.u6_addr32[1];
		__u32 d2 = skc->skc_v6_daddr.in6_u.u6_addr32[2];
		__u32 d3 = skc->skc_v6_daddr.in6_u.u6_addr32[3];
		__u32 s0 = skc->skc_v6_rcv_saddr.in6_u.u6_addr32[0];
		__u32 s1 = skc->skc_v6_rcv_saddr.in6_u.u6_addr32[1];
		__u32 s2 = skc->skc_v6_rcv_saddr.in6_u.u6_addr32[2];
		__u32 s3 = skc->skc_v6_rcv_saddr.in6_u.u6_addr32[3];
		if (d0 == 0 && d1 == 0 && d2 == bpf_htonl(0xffff)) {
			r.family = 4;
			__builtin_memcpy(r.daddr, &d3, 4);
			__builtin_memcpy(r.saddr, &s3, 4);
		} else {
			r.family = 6;
			__builtin_memcpy(r.daddr, &d0, 4);
			__builtin_memcpy(r.daddr + 4, &d1, 4);
			__builtin_memcpy(r.daddr + 8, &d2, 4);
			__builtin_memcpy(r.daddr + 12, &d3, 4);
			__builtin_memcpy(r.saddr, &s0, 4);
			__builtin_memcpy(r.saddr + 4, &s1, 4);
			__builtin_memcpy(r.saddr + 8, &s2, 4);
			__builtin_memcpy(r.saddr + 12, &s3, 4);
		}
	} else {
		__u32 d = skc->skc_daddr, sa = skc->skc_rcv_saddr;
		r.family = 4;
		__builtin_memcpy(r.daddr, &d, 4);
		__builtin_memcpy(r.saddr, &sa, 4);
	}
	if (c->dry_run) {
		r.result = HW_SOCK_RES_WOULD_CLOSE;
	} else {
		r.err = bpf_sock_destroy(skc);
		r.result = r.err ? HW_SOCK_RES_FAILED : HW_SOCK_RES_CLOSED;
		if (!r.err) {
			bpf_sk_storage_delete(&hw_sock_trust, sk);
			hw_sock_forget(bpf_get_socket_cookie(sk));
		}
	}
	bpf_seq_write(seq, &r, sizeof(r));
	return 0;
}

/* A socket's record: its storage (bound, accepted, or both maps full), else its slot or hash. */
static __always_inline struct hw_sock_val *hw_sock_record(void *sk)
{
	struct hw_sock_val *v = bpf_sk_storage_get(&hw_sock_trust, sk, 0, 0);
	if (v)
		return v;
	__u64 cookie = bpf_get_socket_cookie(sk);
	struct hw_sock_slot *sl = hw_sock_slot_of(cookie);
	if (sl && *(volatile __u64 *)&sl->cookie == cookie)
		return &sl->v;
	return bpf_map_lookup_elem(&hw_sock_cookie, &cookie);
}

/* Every TCP socket of the daemon's network namespace; listeners stay (they hold no peer). */
SEC("iter/tcp")
int hw_iter_tcp(struct bpf_iter__tcp *ctx)
{
	struct sock_common *skc = ctx->sk_common;
	if (!skc)
		return 0;
	struct tcp_sock *tp = bpf_skc_to_tcp_sock(skc);
	if (!tp)
		return 0; /* request and time-wait minisocks: no storage, nothing to abort */
	if (skc->skc_state == HW_TCP_LISTEN_)
		return 0;
	struct hw_sock_val *v = hw_sock_record(tp);
	if (!v)
		return 0;
	return hw_sock_close(ctx->meta->seq, skc, tp, v, IPPROTO_TCP);
}

/* Every UDP socket (connected or not) of the daemon's network namespace. */
SEC("iter/udp")
int hw_iter_udp(struct bpf_iter__udp *ctx)
{
	struct udp_sock *up = ctx->udp_sk;
	if (!up)
		return 0;
	struct sock *sk = (struct sock *)up;
	struct hw_sock_val *v = hw_sock_record(sk);
	if (!v)
		return 0;
	return hw_sock_close(ctx->meta->seq, &sk->__sk_common, sk, v, IPPROTO_UDP);
}

#endif /* HASHWALL_SOCKETS_H */
