/* SPDX-License-Identifier: GPL-2.0 */
/*
 * dns.h — hostnames in the kernel: DNS answers parsed where they reach the asking socket, kept
 * as (asking process, address) -> name, and the name rules (remote_host) the connect hooks apply.
 *
 * Flow, all in the kernel so the first connect after a lookup is judged by name:
 *  1. connect4/6 / sendmsg4/6 to port 53 note the socket's owner (hw_dns_note_sock).
 *  2. cgroup_skb egress: a query from such a socket is remembered by (cookie, DNS id) with the
 *     hash of its question (hw_dns_egress).
 *  3. cgroup_skb ingress: an answer from port 53 is accepted only when it answers a remembered
 *     query of the receiving socket with the same question; its A/AAAA records whose owner is in
 *     the question's CNAME chain become (tgid, address) -> question name, expiring with the TTL.
 *     Anything else (forged, truncated, looping) creates nothing and is counted.
 *  4. connect: hw_dns_app_verdict() adds the name rules of the names the caller resolved the
 *     address from to the address rules, first match in file order over both.
 *
 * Verifier budget: the name walk and the record loop run under bpf_loop (one step per byte or
 * record, fixed maxima), so the program's size does not grow with the limits.
 *
 * Needs vmlinux.h, bpf_helpers.h, bpf_endian.h, bpf_core_read.h, hashwall.h and rules_app.h.
 */
#ifndef HASHWALL_DNS_H
#define HASHWALL_DNS_H

#define HW_DNS_FNV_OFFSET 0xcbf29ce484222325ULL
#define HW_DNS_FNV_PRIME 0x100000001b3ULL
#define HW_DNS_ETH_P_IP 0x0800
#define HW_DNS_ETH_P_IPV6 0x86DD
/* bpf_loop bounds: a name is at most 255 wire bytes, plus the pointer jumps. */
#define HW_DNS_NAME_STEPS (HW_DNS_NAME_MAX + 2 + HW_DNS_MAX_PTRS + 2)

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, HW_DNS_SOCK_MAX);
	__type(key, __u64);
	__type(value, struct hw_dns_sock_val);
} hw_dns_socks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, HW_DNS_QUERY_MAX);
	__type(key, struct hw_dns_query_key);
	__type(value, struct hw_dns_query_val);
} hw_dns_queries SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, HW_DNS_ADDR_MAX);
	__type(key, struct hw_dns_addr_key);
	__type(value, struct hw_dns_addr_val);
} hw_dns_addrs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, HW_DNS_NAMES_MAX);
	__type(key, __u64);
	__type(value, struct hw_dns_name);
} hw_dns_names SEC(".maps");

/*
 * Element 0: the verdict epoch, bumped (never reset) whenever something a cached connect verdict
 * rests on changes outside the policy (bpf/verdict_cache.h): after every accepted answer wrote its
 * addresses, and when a taint clears a process's lineage (bpf/tamper.h).
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} hw_verdict_epoch SEC(".maps");

static __always_inline __u32 hw_verdict_epoch_now(void)
{
	__u32 zero = 0;
	__u64 *e = bpf_map_lookup_elem(&hw_verdict_epoch, &zero);
	return e ? (__u32) * (volatile __u64 *)e : 0;
}

/* After the change is written: a connect that read the old epoch caches under it, unused. */
static __always_inline void hw_verdict_epoch_bump(void)
{
	__u32 zero = 0;
	__u64 *e = bpf_map_lookup_elem(&hw_verdict_epoch, &zero);
	if (e)
		__sync_fetch_and_add(e, 1);
}

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, HW_DNS_CNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} hw_dns_stats SEC(".maps");

/* Parser state, off the 512-byte stack. Slot 0 egress, slot 1 ingress (softirq may preempt). */
struct hw_dns_scratch {
	__u8 pkt[HW_DNS_PKT_MAX];
	struct hw_dns_name name; /* the name being walked */
	struct hw_dns_addr_val val;
	__u64 chain[HW_DNS_MAX_CHAIN];
	__u64 fhash; /* forward FNV of the walked name: chain identity only */
	__u64 rhash;
	__u32 len;   /* valid bytes in pkt */
	__u32 pos;   /* walk: read position */
	__u32 end;   /* walk: offset just after the name where it was found */
	__u32 nlen;  /* walk: bytes in name */
	__u32 label; /* walk: bytes left in the current label */
	__u32 jumps; /* walk: pointers followed */
	__u32 state; /* walk: 0 running, 1 done, 2 refused */
	__u32 nchain;
	__u32 npats;
	__u32 ancount;
	__u32 family;
	__u32 gen;
	__u32 tgid;
	__u32 bad; /* records: 1 malformed, 2 overflow */
	__u64 start_ns;
	__u64 expires_base;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, struct hw_dns_scratch);
} hw_dns_scratch SEC(".maps");

struct hw_dns_loop_ctx {
	struct hw_dns_scratch *s;
};

static __always_inline void hw_dns_count(__u32 idx)
{
	__u64 *c = bpf_map_lookup_elem(&hw_dns_stats, &idx);
	if (c)
		*c += 1;
}

static __always_inline __u64 hw_dns_start_ns(void)
{
	struct task_struct *t = bpf_get_current_task_btf();
	return BPF_CORE_READ(t, group_leader, start_time);
}

/* connect/sendmsg to port 53: remember who owns the socket, for the egress program. */
static __always_inline void hw_dns_note_sock(__u64 cookie, __u16 dport)
{
	if (dport != HW_DNS_PORT || !cookie)
		return;
	struct hw_dns_sock_val v = {};
	v.tgid = bpf_get_current_pid_tgid() >> 32;
	v.start_ns = hw_dns_start_ns();
	bpf_map_update_elem(&hw_dns_socks, &cookie, &v, BPF_ANY);
}

static __always_inline __u8 hw_dns_byte(struct hw_dns_scratch *s, __u32 pos)
{
	return s->pkt[pos & (HW_DNS_PKT_MAX - 1)];
}

/*
 * One step of a name walk (wire format with compression) into s->name, lower-cased and dotted.
 * Refuses: reading past the message, a label with '.' or NUL or a non-printable byte, a name
 * longer than 253, more than HW_DNS_MAX_PTRS pointers, a pointer not strictly backwards (no
 * loops), reserved label types.
 */
static long hw_dns_name_step(__u32 i, struct hw_dns_loop_ctx *c)
{
	struct hw_dns_scratch *s = c->s;
	__u32 pos = s->pos;

	if (pos >= s->len) {
		s->state = 2;
		return 1;
	}
	__u8 b = hw_dns_byte(s, pos);
	if (s->label) {
		__u32 n = s->nlen;
		if (n >= HW_DNS_NAME_MAX || b == '.' || b <= ' ' || b >= 0x7f) {
			s->state = 2;
			return 1;
		}
		if (b >= 'A' && b <= 'Z')
			b += 'a' - 'A';
		s->name.name[n & (HW_DNS_NAME_LEN - 1)] = b;
		s->nlen = n + 1;
		s->fhash = (s->fhash ^ b) * HW_DNS_FNV_PRIME;
		s->label--;
		s->pos = pos + 1;
		return 0;
	}
	if (b == 0) {
		if (!s->jumps)
			s->end = pos + 1;
		s->name.name[s->nlen & (HW_DNS_NAME_LEN - 1)] = 0;
		s->state = 1;
		return 1;
	}
	if ((b & 0xc0) == 0xc0) {
		if (pos + 1 >= s->len || s->jumps >= HW_DNS_MAX_PTRS) {
			s->state = 2;
			return 1;
		}
		__u32 target = ((__u32)(b & 0x3f) << 8) | hw_dns_byte(s, pos + 1);
		if (target >= pos) { /* forward or self: could loop */
			s->state = 2;
			return 1;
		}
		if (!s->jumps)
			s->end = pos + 2;
		s->jumps++;
		s->pos = target;
		return 0;
	}
	if (b & 0xc0) {
		s->state = 2;
		return 1;
	}
	__u32 n = s->nlen;
	if (n) {
		if (n >= HW_DNS_NAME_MAX) {
			s->state = 2;
			return 1;
		}
		s->name.name[n & (HW_DNS_NAME_LEN - 1)] = '.';
		s->fhash = (s->fhash ^ '.') * HW_DNS_FNV_PRIME;
		s->nlen = n + 1;
	}
	s->label = b;
	s->pos = pos + 1;
	return 0;
}

/* Walks the name at `off`; returns 0 when it is well formed (s->end: where the record goes on). */
static __always_inline int hw_dns_walk(struct hw_dns_loop_ctx *c, __u32 off)
{
	struct hw_dns_scratch *s = c->s;
	s->pos = off;
	s->end = off;
	s->nlen = 0;
	s->label = 0;
	s->jumps = 0;
	s->state = 0;
	s->fhash = HW_DNS_FNV_OFFSET;
	bpf_loop(HW_DNS_NAME_STEPS, hw_dns_name_step, c, 0);
	return s->state == 1 ? 0 : -1;
}

/*
 * One step of the backwards scan of s->name (i counts from the end): the running hash is the
 * hash of the suffix read so far; at each '.' the wildcard pattern "*.<suffix>" is looked up,
 * after the first byte the whole name. Patterns some rule names are kept in s->val.pats.
 */
static __always_inline void hw_dns_keep_pat(struct hw_dns_scratch *s, __u64 pat)
{
	__u32 *m = bpf_map_lookup_elem(&hw_flt_pats, &pat);
	if (!m || !*m)
		return;
	__u32 k = s->npats;
	if (k < HW_DNS_PATS) {
		s->val.pats[k & (HW_DNS_PATS - 1)] = pat;
		s->npats = k + 1;
	}
}

static long hw_dns_pat_step(__u32 i, struct hw_dns_loop_ctx *c)
{
	struct hw_dns_scratch *s = c->s;
	if (i >= s->nlen)
		return 1;
	__u32 at = s->nlen - 1 - i;
	__u8 b = s->name.name[at & (HW_DNS_NAME_LEN - 1)];
	if (b == '.') {
		__u64 w = (s->rhash ^ '.') * HW_DNS_FNV_PRIME;
		w = (w ^ '*') * HW_DNS_FNV_PRIME;
		hw_dns_keep_pat(s, w);
	}
	s->rhash = (s->rhash ^ b) * HW_DNS_FNV_PRIME;
	return 0;
}

static __always_inline int hw_dns_in_chain(struct hw_dns_scratch *s, __u64 h)
{
#pragma unroll
	for (int k = 0; k < HW_DNS_MAX_CHAIN; k++) {
		if (k < s->nchain && s->chain[k] == h)
			return 1;
	}
	return 0;
}

/* One answer record at s->pos (i: its index). Stops the loop on the last record or an error. */
static long hw_dns_record_step(__u32 i, struct hw_dns_loop_ctx *c)
{
	struct hw_dns_scratch *s = c->s;
	if (i >= s->ancount)
		return 1;
	if (hw_dns_walk(c, s->pos) < 0) {
		s->bad = s->pos >= s->len ? 2 : 1;
		return 1;
	}
	__u64 owner = s->fhash;
	__u32 p = s->end;
	if (p + 10 > s->len) {
		s->bad = 2;
		return 1;
	}
	__u16 type = ((__u16)hw_dns_byte(s, p) << 8) | hw_dns_byte(s, p + 1);
	__u16 klass = ((__u16)hw_dns_byte(s, p + 2) << 8) | hw_dns_byte(s, p + 3);
	__u32 ttl = ((__u32)hw_dns_byte(s, p + 4) << 24) | ((__u32)hw_dns_byte(s, p + 5) << 16) |
		    ((__u32)hw_dns_byte(s, p + 6) << 8) | hw_dns_byte(s, p + 7);
	__u32 rdlen = ((__u32)hw_dns_byte(s, p + 8) << 8) | hw_dns_byte(s, p + 9);
	__u32 rd = p + 10;
	if (rd + rdlen > s->len) {
		s->bad = 2;
		return 1;
	}
	s->pos = rd + rdlen;
	if (klass != 1 || !hw_dns_in_chain(s, owner)) {
		hw_dns_count(HW_DNS_CNT_SKIPPED);
		return 0;
	}
	if (type == 5) { /* CNAME: its target joins the chain */
		if (hw_dns_walk(c, rd) < 0) {
			s->bad = 1;
			return 1;
		}
		__u32 n = s->nchain;
		if (n < HW_DNS_MAX_CHAIN)
			s->chain[n & (HW_DNS_MAX_CHAIN - 1)] = s->fhash;
		s->nchain = n + 1;
		s->pos = rd + rdlen;
		return 0;
	}
	struct hw_dns_addr_key k = {};
	k.tgid = s->tgid;
	if (type == 1 && rdlen == 4) {
		k.family = 4;
#pragma unroll
		for (int j = 0; j < 4; j++)
			k.addr[j] = hw_dns_byte(s, rd + j);
	} else if (type == 28 && rdlen == 16) {
		k.family = 6;
#pragma unroll
		for (int j = 0; j < 16; j++)
			k.addr[j] = hw_dns_byte(s, rd + j);
	} else {
		return 0;
	}
	if (ttl > HW_DNS_TTL_MAX_S)
		ttl = HW_DNS_TTL_MAX_S;
	s->val.expires_ns = s->expires_base + (__u64)ttl * 1000000000ULL;
	bpf_map_update_elem(&hw_dns_addrs, &k, &s->val, BPF_ANY);
	hw_dns_count(HW_DNS_CNT_ADDRS);
	return 0;
}

/*
 * Finds the DNS message in a packet: UDP with `port` as source (answers) or destination
 * (queries), or the first TCP segment of such a connection (2-byte length prefix skipped).
 * Returns the message offset, or 0 when this is not DNS. *msglen is the message's length.
 */
static __always_inline __u32 hw_dns_locate(struct __sk_buff *skb, int answer, __u32 *msglen)
{
	__u32 off, l4;
	/*
	 * Fast exit for the bulk of traffic: a connected socket whose peer is not port 53 can neither
	 * send a query nor receive an answer (remote_port is the network-order port << 16; 0 for an
	 * unconnected UDP socket, which is parsed).
	 */
	__u32 rp = skb->remote_port;
	if (rp && rp != ((__u32)bpf_htons(HW_DNS_PORT) << 16))
		return 0;
	if (skb->protocol == bpf_htons(HW_DNS_ETH_P_IP)) {
		struct iphdr ip;
		if (bpf_skb_load_bytes(skb, 0, &ip, sizeof(ip)))
			return 0;
		if (ip.ihl < 5 || (ip.frag_off & bpf_htons(0x3fff)))
			return 0; /* fragments carry no whole message */
		off = ip.ihl * 4;
		l4 = ip.protocol;
	} else if (skb->protocol == bpf_htons(HW_DNS_ETH_P_IPV6)) {
		struct ipv6hdr ip6;
		if (bpf_skb_load_bytes(skb, 0, &ip6, sizeof(ip6)))
			return 0;
		off = sizeof(ip6);
		l4 = ip6.nexthdr;
	} else {
		return 0;
	}
	__u16 ports[2];
	if (bpf_skb_load_bytes(skb, off, ports, sizeof(ports)))
		return 0;
	if ((answer ? ports[0] : ports[1]) != bpf_htons(HW_DNS_PORT))
		return 0;
	if (l4 == IPPROTO_UDP) {
		off += 8;
	} else if (l4 == IPPROTO_TCP) {
		__u8 doff;
		if (bpf_skb_load_bytes(skb, off + 12, &doff, 1))
			return 0;
		off += (doff >> 4) * 4 + 2;
	} else {
		return 0;
	}
	if (off >= skb->len)
		return 0;
	*msglen = skb->len - off;
	return off;
}

/* Copies up to HW_DNS_PKT_MAX bytes of the message into s->pkt; -1 when it is too short. */
static __always_inline int hw_dns_load(struct __sk_buff *skb, struct hw_dns_scratch *s,
				       __u32 off, __u32 msglen)
{
	__u64 n = msglen;
	if (n > HW_DNS_PKT_MAX)
		n = HW_DNS_PKT_MAX;
	/* Opaque to clang, so the checks below stay and bound n in the register passed on. */
	asm volatile("%[n] &= %[mask]" : [n] "+r"(n) : [mask] "i"(2 * HW_DNS_PKT_MAX - 1));
	if (n < 12 || n > HW_DNS_PKT_MAX)
		return -1;
	s->len = n;
	return bpf_skb_load_bytes(skb, off, s->pkt, n) ? -1 : 0;
}

static __always_inline __u16 hw_dns_u16(struct hw_dns_scratch *s, __u32 pos)
{
	return ((__u16)hw_dns_byte(s, pos) << 8) | hw_dns_byte(s, pos + 1);
}

/* Egress: remember a query (socket, id, question) from a socket a hook saw go to port 53. */
SEC("cgroup_skb/egress")
int hw_dns_egress(struct __sk_buff *skb)
{
	__u32 msglen = 0, slot = 0;
	__u32 off = hw_dns_locate(skb, 0, &msglen);
	if (!off)
		return 1;
	__u64 cookie = bpf_get_socket_cookie(skb);
	struct hw_dns_sock_val *owner = bpf_map_lookup_elem(&hw_dns_socks, &cookie);
	if (!owner)
		return 1;
	struct hw_dns_scratch *s = bpf_map_lookup_elem(&hw_dns_scratch, &slot);
	if (!s || hw_dns_load(skb, s, off, msglen) < 0)
		return 1;
	/* A query: QR = 0, opcode QUERY, one question. */
	if ((hw_dns_byte(s, 2) & 0xf8) != 0 || hw_dns_u16(s, 4) != 1)
		return 1;
	struct hw_dns_loop_ctx c = {.s = s};
	if (hw_dns_walk(&c, 12) < 0 || s->nlen == 0) {
		hw_dns_count(HW_DNS_CNT_MALFORMED);
		return 1;
	}
	struct hw_dns_query_key k = {};
	struct hw_dns_query_val v = {};
	k.cookie = cookie;
	k.id = hw_dns_u16(s, 0);
	v.qhash = s->fhash;
	v.tgid = owner->tgid;
	v.start_ns = owner->start_ns;
	bpf_map_update_elem(&hw_dns_queries, &k, &v, BPF_ANY);
	hw_dns_count(HW_DNS_CNT_QUERIES);
	return 1;
}

/* Ingress: an answer to a remembered query becomes (tgid, address) -> name. Never drops. */
SEC("cgroup_skb/ingress")
int hw_dns_ingress(struct __sk_buff *skb)
{
	__u32 msglen = 0, slot = 1;
	__u32 off = hw_dns_locate(skb, 1, &msglen);
	if (!off)
		return 1;
	struct hw_dns_scratch *s = bpf_map_lookup_elem(&hw_dns_scratch, &slot);
	if (!s)
		return 1;
	if (hw_dns_load(skb, s, off, msglen) < 0) {
		hw_dns_count(HW_DNS_CNT_MALFORMED);
		return 1;
	}
	/* A response (QR = 1), opcode QUERY, one question. */
	if ((hw_dns_byte(s, 2) & 0xf8) != 0x80 || hw_dns_u16(s, 4) != 1) {
		hw_dns_count(HW_DNS_CNT_MALFORMED);
		return 1;
	}
	struct hw_dns_query_key qk = {};
	qk.cookie = bpf_get_socket_cookie(skb);
	qk.id = hw_dns_u16(s, 0);
	struct hw_dns_query_val *q = bpf_map_lookup_elem(&hw_dns_queries, &qk);
	if (!q) {
		hw_dns_count(HW_DNS_CNT_UNMATCHED);
		return 1;
	}
	struct hw_dns_loop_ctx c = {.s = s};
	if (hw_dns_walk(&c, 12) < 0 || s->nlen == 0) {
		hw_dns_count(HW_DNS_CNT_MALFORMED);
		return 1;
	}
	if (s->fhash != q->qhash) {
		/* Same id, other question: not the answer to what was asked. The query stays. */
		hw_dns_count(HW_DNS_CNT_UNMATCHED);
		return 1;
	}
	s->tgid = q->tgid;
	s->start_ns = q->start_ns;
	bpf_map_delete_elem(&hw_dns_queries, &qk); /* one answer per query */
	hw_dns_count(HW_DNS_CNT_ANSWERS);
	if (msglen > HW_DNS_PKT_MAX)
		hw_dns_count(HW_DNS_CNT_OVERFLOW);
	if (hw_dns_byte(s, 3) & 0x0f)
		return 1; /* NXDOMAIN and friends: no addresses */

	/* The question: its hash, patterns, text; it is the name every address is kept under. */
	__u32 qend = s->end + 4; /* QTYPE, QCLASS */
	s->chain[0] = s->fhash;
	s->nchain = 1;
	s->npats = 0;
	__builtin_memset(&s->val, 0, sizeof(s->val));
	s->rhash = HW_DNS_FNV_OFFSET;
	bpf_loop(HW_DNS_NAME_MAX, hw_dns_pat_step, &c, 0);
	hw_dns_keep_pat(s, s->rhash);
	s->val.name = s->rhash;
	s->val.start_ns = s->start_ns;
	s->expires_base = bpf_ktime_get_boot_ns() + HW_DNS_TTL_GRACE_S * 1000000000ULL;
	__u64 nkey = s->rhash;
	bpf_map_update_elem(&hw_dns_names, &nkey, &s->name, BPF_ANY);

	__u32 an = hw_dns_u16(s, 6);
	if (an > HW_DNS_MAX_ANSWERS) {
		hw_dns_count(HW_DNS_CNT_OVERFLOW);
		an = HW_DNS_MAX_ANSWERS;
	}
	s->ancount = an;
	s->pos = qend;
	s->bad = 0;
	bpf_loop(HW_DNS_MAX_ANSWERS, hw_dns_record_step, &c, 0);
	/* After the writes: the app reads the answer only once this program returned. */
	hw_verdict_epoch_bump();
	if (s->bad == 1)
		hw_dns_count(HW_DNS_CNT_MALFORMED);
	else if (s->bad == 2)
		hw_dns_count(HW_DNS_CNT_OVERFLOW);
	return 1;
}

/* One (port class, app) key of the name-rule map for every pattern the address's name matched. */
static __always_inline void hw_dns_lookup_pats(struct hw_dns_rule_key *k,
					       const struct hw_dns_addr_val *a, __u32 pclass,
					       __u32 app_id, struct hw_flt_match *best)
{
	k->pclass = pclass;
	k->app_id = app_id;
#pragma unroll
	for (int i = 0; i < HW_DNS_PATS; i++) {
		if (!a->pats[i])
			break;
		k->pat = a->pats[i];
		hw_flt_keep_first(best, bpf_map_lookup_elem(&hw_flt_names, k));
	}
}

/* What a verdict rested on besides the policy, for the verdict cache (bpf/verdict_cache.h). */
struct hw_verdict_info {
	__u64 expires_ns; /* the caller's name entry for daddr, when one was valid; else ~0 */
	__u32 name_hit;   /* a name rule decided */
	__u32 _pad;
};

/*
 * hw_flt_app_verdict() plus the name rules: when the caller (tgid) resolved daddr from a name
 * whose answer is still valid, the rules naming that name (or a wildcard over it) compete with
 * the address rules, first match in file order. An address never seen in an answer to this
 * process matches no name rule. `info` says which name entry was used and whether it decided.
 */
static __always_inline int hw_dns_app_verdict(__u32 gen, const struct hw_flt_gen *g, __u32 tgid,
					      __u32 app_id, __u8 proto, __u8 family,
					      const __u8 *daddr, __u16 dport, __u32 *rule,
					      struct hw_verdict_info *info)
{
	int v = hw_flt_app_verdict(gen, g, app_id, proto, family, daddr, dport, rule);
	__u32 r = v == HW_FLT_NONE ? HW_FLT_NO_RULE : *rule;
	if (family != 4 && family != 6)
		return v;
	struct hw_dns_addr_key ak = {};
	ak.tgid = tgid;
	ak.family = family;
	__builtin_memcpy(ak.addr, daddr, 16);
	struct hw_dns_addr_val *a = bpf_map_lookup_elem(&hw_dns_addrs, &ak);
	if (!a || !a->pats[0] || bpf_ktime_get_boot_ns() > a->expires_ns ||
	    a->start_ns != hw_dns_start_ns())
		return v;
	/* Valid now: the verdict holds until it expires (a rewrite bumps hw_verdict_epoch). */
	info->expires_ns = a->expires_ns;

	__u8 pk = hw_flt_proto_key(proto);
	__u32 pclass = hw_flt_pclass(gen, HW_FLT_DIR_OUT, pk, dport);
	struct hw_flt_match best = {.rule = r, .action = 0};
	struct hw_flt_match before = best;
	struct hw_dns_rule_key k = {};
	k.gen = gen;
	k.dir = HW_FLT_DIR_OUT;
	k.proto = pk;
	hw_dns_lookup_pats(&k, a, HW_FLT_PCLASS_ANY, 0, &best);
	if (pclass != HW_FLT_PCLASS_NONE)
		hw_dns_lookup_pats(&k, a, pclass, 0, &best);
	if (app_id) {
		hw_dns_lookup_pats(&k, a, HW_FLT_PCLASS_ANY, app_id, &best);
		if (pclass != HW_FLT_PCLASS_NONE)
			hw_dns_lookup_pats(&k, a, pclass, app_id, &best);
	}
	if (best.rule == before.rule)
		return v;
	hw_dns_count(HW_DNS_CNT_NAME_HITS);
	info->name_hit = 1;
	*rule = best.rule;
	return best.action == HW_FLT_ALLOW ? HW_FLT_ALLOW : HW_FLT_DENY;
}

#endif /* HASHWALL_DNS_H */
