// SPDX-License-Identifier: GPL-2.0
/*
 * filter.bpf.c — the stateful packet filter, attached with tcx (or tc clsact) to network
 * interfaces, one program per direction.
 *
 * A packet of a known flow passes by state (re-judged once when the rules changed generation);
 * any other packet is judged by the compiled rules (first match in file order, see rules_app.h),
 * then by the default of its direction. Learning mode drops nothing and counts would-drops.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "hashwall.h"
#include "rules_app.h"

#define TC_ACT_OK 0
#define TC_ACT_SHOT 2
#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define NS_PER_S 1000000000ull

char LICENSE[] SEC("license") = "GPL";

/* The flow table: bounded LRU; inserts and removals are counted, evictions derived from them. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, HW_FLT_FLOWS_MAX);
	__type(key, struct hw_flt_flow_key);
	__type(value, struct hw_flt_flow);
} hw_flt_flows SEC(".maps");

/* Per (generation, slot) packet/byte/would-drop counters. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2 * HW_FLT_SLOTS);
	__type(key, __u32);
	__type(value, struct hw_flt_counter);
} hw_flt_rcnt SEC(".maps");

/* Global per-CPU counters, HW_FLT_CNT_*. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, HW_FLT_CNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} hw_flt_stats SEC(".maps");

/* ifindex -> offset of the IP header (14 on Ethernet, 0 on L3 devices); absent means 14. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u32);
} hw_flt_ifl3 SEC(".maps");

/* A parsed packet. */
struct pkt {
	__u8 remote[16];
	__u8 local[16];
	__u16 rport;
	__u16 lport;
	__u8 proto;  /* on-wire protocol */
	__u8 family; /* 4 or 6 */
	__u8 tcp_flags;
	__u8 icmp_type;
	__u8 trackable; /* 0: fragment, truncated or an ICMP message that belongs to no flow */
	__u8 may_open;  /* this packet may create a flow (not RST, not an echo reply) */
	__u8 icmp_error; /* an ICMP error: the packet it is about starts at inner_off */
	__u32 inner_off;
};

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_ACK 0x10

#define FLOW_TOUCH_NS (100ULL * 1000 * 1000)

static __always_inline void stat_inc(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&hw_flt_stats, &idx);

	if (v)
		*v += 1;
}

static __always_inline void slot_count(__u32 gen, __u32 slot, __u32 len, int how)
{
	__u32 key = gen * HW_FLT_SLOTS + slot;
	struct hw_flt_counter *c;

	if (slot >= HW_FLT_SLOTS)
		return;
	c = bpf_map_lookup_elem(&hw_flt_rcnt, &key);
	if (!c)
		return;
	if (how == 0) {
		c->packets++;
		c->bytes += len;
	} else if (how == 1) {
		c->would_drop++;
	} else {
		c->dropped++;
	}
}

/* Reads the ports (TCP/UDP) or echo id (ICMP) at `off`; marks what cannot be tracked. */
static __always_inline void parse_l4(struct __sk_buff *skb, __u32 off, struct pkt *p, __u8 dir)
{
	__u16 sport = 0, dport = 0;

	p->trackable = 1;
	p->may_open = 1;
	if (p->proto == IPPROTO_TCP) {
		struct tcphdr th;

		if (bpf_skb_load_bytes(skb, off, &th, sizeof(th)) < 0) {
			p->trackable = 0;
			return;
		}
		sport = bpf_ntohs(th.source);
		dport = bpf_ntohs(th.dest);
		p->tcp_flags = ((__u8 *)&th)[13];
		if (p->tcp_flags & TCP_RST)
			p->may_open = 0;
	} else if (p->proto == IPPROTO_UDP) {
		struct udphdr uh;

		if (bpf_skb_load_bytes(skb, off, &uh, sizeof(uh)) < 0) {
			p->trackable = 0;
			return;
		}
		sport = bpf_ntohs(uh.source);
		dport = bpf_ntohs(uh.dest);
	} else if (p->proto == IPPROTO_ICMP || p->proto == HW_FLT_PROTO_ICMPV6) {
		__u8 h[8];
		__u8 req = p->proto == IPPROTO_ICMP ? 8 : 128;
		__u8 rep = p->proto == IPPROTO_ICMP ? 0 : 129;

		if (bpf_skb_load_bytes(skb, off, h, sizeof(h)) < 0) {
			p->trackable = 0;
			return;
		}
		p->icmp_type = h[0];
		if (h[0] != req && h[0] != rep) {
			p->trackable = 0;
			/*
			 * Errors quote the packet they are about (RFC 792, 4443): unreachable, time
			 * exceeded, parameter problem, and for IPv6 packet too big. They pass with the
			 * flow of that packet (see related()), so path MTU discovery and "connection
			 * refused" keep working under untracked = "deny".
			 */
			if (p->proto == IPPROTO_ICMP ? (h[0] == 3 || h[0] == 11 || h[0] == 12)
						     : (h[0] >= 1 && h[0] <= 4)) {
				p->icmp_error = 1;
				p->inner_off = off + 8;
			}
			return;
		}
		p->may_open = h[0] == req;
		/* Echo id in lport whatever the direction: request and reply share one flow. */
		p->lport = ((__u16)h[4] << 8) | h[5];
		p->rport = 0;
		return;
	} else {
		return; /* other protocols: tracked by addresses and protocol alone */
	}
	p->lport = dir == HW_FLT_DIR_OUT ? sport : dport;
	p->rport = dir == HW_FLT_DIR_OUT ? dport : sport;
}

/* Parses the IP header; returns 0 for non-IP (always passed), 1 otherwise. */
static __always_inline int parse(struct __sk_buff *skb, __u8 dir, struct pkt *p)
{
	__u32 ifindex = skb->ifindex;
	__u32 *l3p = bpf_map_lookup_elem(&hw_flt_ifl3, &ifindex);
	__u32 off = l3p ? (*l3p & 0xff) : 14;

	if (skb->protocol == bpf_htons(ETH_P_IP)) {
		struct iphdr ih;

		if (bpf_skb_load_bytes(skb, off, &ih, sizeof(ih)) < 0)
			return 0;
		p->family = 4;
		p->proto = ih.protocol;
		if (dir == HW_FLT_DIR_OUT) {
			__builtin_memcpy(p->remote, &ih.daddr, 4);
			__builtin_memcpy(p->local, &ih.saddr, 4);
		} else {
			__builtin_memcpy(p->remote, &ih.saddr, 4);
			__builtin_memcpy(p->local, &ih.daddr, 4);
		}
		/* A non-first fragment has no L4 header: it cannot be tied to a flow. */
		if (ih.frag_off & bpf_htons(0x1fff)) {
			p->trackable = 0;
			return 1;
		}
		parse_l4(skb, off + ih.ihl * 4, p, dir);
		return 1;
	}
	if (skb->protocol == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr ih;
		__u8 nexthdr;
		__u32 l4 = off + sizeof(ih);

		if (bpf_skb_load_bytes(skb, off, &ih, sizeof(ih)) < 0)
			return 0;
		p->family = 6;
		if (dir == HW_FLT_DIR_OUT) {
			__builtin_memcpy(p->remote, &ih.daddr, 16);
			__builtin_memcpy(p->local, &ih.saddr, 16);
		} else {
			__builtin_memcpy(p->remote, &ih.saddr, 16);
			__builtin_memcpy(p->local, &ih.daddr, 16);
		}
		nexthdr = ih.nexthdr;
		/* Skip a bounded number of extension headers. */
#pragma unroll
		for (int i = 0; i < 4; i++) {
			__u8 eh[8];

			if (nexthdr != 0 && nexthdr != 43 && nexthdr != 60 && nexthdr != 44)
				break;
			if (bpf_skb_load_bytes(skb, l4, eh, sizeof(eh)) < 0) {
				p->trackable = 0;
				return 1;
			}
			if (nexthdr == 44) {
				/* Fragment header: only the first fragment carries the L4 header. */
				if ((((__u16)eh[2] << 8) | eh[3]) & 0xfff8) {
					p->proto = eh[0];
					p->trackable = 0;
					return 1;
				}
				nexthdr = eh[0];
				l4 += 8;
			} else {
				nexthdr = eh[0];
				l4 += ((__u32)eh[1] + 1) * 8;
			}
		}
		p->proto = nexthdr;
		if (nexthdr == 0 || nexthdr == 43 || nexthdr == 60 || nexthdr == 44) {
			p->trackable = 0;
			return 1;
		}
		parse_l4(skb, l4, p, dir);
		return 1;
	}
	return 0;
}

static __always_inline int is_loopback(struct pkt *p)
{
	if (p->family == 4)
		return p->remote[0] == 127 || p->local[0] == 127;
	__u64 hi, lo;

	__builtin_memcpy(&hi, p->remote, 8);
	__builtin_memcpy(&lo, p->remote + 8, 8);
	return hi == 0 && lo == bpf_cpu_to_be64(1);
}

/* IPv6 link control traffic always passes: IPv6 stops working without it. */
static __always_inline int is_nd(struct pkt *p)
{
	/*
	 * Neighbour discovery (133-137) and multicast listener discovery (130-132, 143): the IPv6
	 * link's own control traffic, which no flow covers. Without MLD reports a snooping switch
	 * stops forwarding the solicited-node multicast that neighbour discovery needs.
	 */
	return p->proto == HW_FLT_PROTO_ICMPV6 &&
	       ((p->icmp_type >= 130 && p->icmp_type <= 137) || p->icmp_type == 143);
}

static __always_inline __u64 flow_timeout_ns(struct hw_flt_ctl *ctl, struct hw_flt_flow *f,
					     __u8 proto)
{
	__u32 s;

	if (proto == IPPROTO_TCP)
		s = f->state == HW_FLT_ST_CLOSING ? ctl->tcp_close_s : ctl->tcp_idle_s;
	else if (proto == IPPROTO_UDP)
		s = ctl->udp_idle_s;
	else
		s = ctl->icmp_idle_s;
	return (__u64)s * NS_PER_S;
}

/* Judges a flow's first packet (or a re-judge) by rules then the direction's default. */
static __always_inline int judge(struct hw_flt_gen *g, __u32 gen, __u8 dir, struct pkt *p,
				 __u32 *slot)
{
	struct hw_flt_match m;
	__u16 port = dir == HW_FLT_DIR_OUT ? p->rport : p->lport;

	if (p->proto == IPPROTO_ICMP || p->proto == HW_FLT_PROTO_ICMPV6)
		port = 0;
	hw_flt_match_rules(gen, g->any_mask, dir, hw_flt_proto_key(p->proto), p->family, p->remote,
			   port, 0, &m);
	if (m.rule != HW_FLT_NO_RULE) {
		*slot = m.rule;
		return m.action;
	}
	*slot = dir == HW_FLT_DIR_OUT ? HW_FLT_SLOT_DEFAULT_OUT : HW_FLT_SLOT_DEFAULT_IN;
	return dir == HW_FLT_DIR_OUT ? g->def_out : g->def_in;
}

/*
 * The flow an ICMP error is about, from the packet it quotes, or 0. The quoted packet travelled
 * the other way (our own packet, for an error we receive), so its source is our side when `dir`
 * is in. Only its IP header and the first 8 bytes after it are quoted: ports, or an echo id.
 * IPv6 extension headers in the quote are not followed (the error then stays untracked).
 */
static __always_inline struct hw_flt_flow *related(struct __sk_buff *skb, struct pkt *p, __u8 dir,
						    struct hw_flt_flow_key *fk)
{
	__u32 off = p->inner_off;
	__u8 proto;
	__u8 *src, *dst;
	__u8 l4[8];
	struct iphdr ih;
	struct ipv6hdr ih6;

	if (p->family == 4) {
		if (bpf_skb_load_bytes(skb, off, &ih, sizeof(ih)) < 0 || ih.version != 4)
			return 0;
		proto = ih.protocol;
		src = (__u8 *)&ih.saddr;
		dst = (__u8 *)&ih.daddr;
		off += ih.ihl * 4;
		__builtin_memcpy(dir == HW_FLT_DIR_IN ? fk->local : fk->remote, src, 4);
		__builtin_memcpy(dir == HW_FLT_DIR_IN ? fk->remote : fk->local, dst, 4);
	} else {
		if (bpf_skb_load_bytes(skb, off, &ih6, sizeof(ih6)) < 0 || ih6.version != 6)
			return 0;
		proto = ih6.nexthdr;
		src = (__u8 *)&ih6.saddr;
		dst = (__u8 *)&ih6.daddr;
		off += sizeof(ih6);
		__builtin_memcpy(dir == HW_FLT_DIR_IN ? fk->local : fk->remote, src, 16);
		__builtin_memcpy(dir == HW_FLT_DIR_IN ? fk->remote : fk->local, dst, 16);
	}
	if (bpf_skb_load_bytes(skb, off, l4, sizeof(l4)) < 0)
		return 0;
	if (proto == IPPROTO_TCP || proto == IPPROTO_UDP) {
		__u16 sport = ((__u16)l4[0] << 8) | l4[1];
		__u16 dport = ((__u16)l4[2] << 8) | l4[3];

		fk->lport = dir == HW_FLT_DIR_IN ? sport : dport;
		fk->rport = dir == HW_FLT_DIR_IN ? dport : sport;
	} else if (proto == IPPROTO_ICMP || proto == HW_FLT_PROTO_ICMPV6) {
		__u8 req = proto == IPPROTO_ICMP ? 8 : 128;
		__u8 rep = proto == IPPROTO_ICMP ? 0 : 129;

		if (l4[0] != req && l4[0] != rep)
			return 0;
		fk->lport = ((__u16)l4[4] << 8) | l4[5];
		fk->rport = 0;
	} else {
		return 0;
	}
	fk->proto = proto;
	fk->family = p->family;
	return bpf_map_lookup_elem(&hw_flt_flows, fk);
}

/* Drop in enforcing mode; in learning mode count what would have been dropped and pass. */
static __always_inline int deny(struct hw_flt_gen *g, __u32 gen, __u32 slot, __u32 len)
{
	if (g->mode == HW_MODE_LEARNING) {
		slot_count(gen, slot, len, 1);
		stat_inc(HW_FLT_CNT_WOULD_DROP);
		return TC_ACT_OK;
	}
	slot_count(gen, slot, len, 2);
	stat_inc(HW_FLT_CNT_DROP);
	return TC_ACT_SHOT;
}

static __always_inline int run(struct __sk_buff *skb, __u8 dir)
{
	__u32 zero = 0;
	struct hw_flt_ctl *ctl = bpf_map_lookup_elem(&hw_flt_ctl, &zero);
	struct hw_flt_gen *g;
	struct hw_flt_flow_key fk = {};
	struct hw_flt_flow *f;
	struct pkt p = {};
	__u32 gen, slot;
	__u64 now;
	int verdict;

	if (!ctl)
		return TC_ACT_OK;
	gen = ctl->active_gen & 1;
	g = bpf_map_lookup_elem(&hw_flt_gen, &gen);
	if (!g)
		return TC_ACT_OK;
	if (!parse(skb, dir, &p)) {
		stat_inc(HW_FLT_CNT_NON_IP);
		return TC_ACT_OK;
	}
	if (is_loopback(&p)) {
		stat_inc(HW_FLT_CNT_LOOPBACK);
		return TC_ACT_OK;
	}
	if (!p.trackable) {
		if (is_nd(&p))
			return TC_ACT_OK;
		if (p.icmp_error) {
			f = related(skb, &p, dir, &fk);
			if (f && bpf_ktime_get_ns() - f->last_ns <= flow_timeout_ns(ctl, f, fk.proto)) {
				slot_count(gen, f->slot, skb->len, 0);
				stat_inc(HW_FLT_CNT_RELATED);
				return TC_ACT_OK;
			}
		}
		stat_inc(HW_FLT_CNT_UNTRACKED);
		if (g->def_untracked != HW_FLT_DENY) {
			slot_count(gen, HW_FLT_SLOT_UNTRACKED, skb->len, 0);
			return TC_ACT_OK;
		}
		return deny(g, gen, HW_FLT_SLOT_UNTRACKED, skb->len);
	}

	__builtin_memcpy(fk.remote, p.remote, 16);
	__builtin_memcpy(fk.local, p.local, 16);
	fk.rport = p.rport;
	fk.lport = p.lport;
	fk.proto = p.proto;
	fk.family = p.family;
	now = bpf_ktime_get_ns();

	f = bpf_map_lookup_elem(&hw_flt_flows, &fk);
	if (f) {
		int expired = now - f->last_ns > flow_timeout_ns(ctl, f, p.proto);
		/* A new SYN on a closing flow is a new connection reusing the ports. */
		int reopened = f->state == HW_FLT_ST_CLOSING && (p.tcp_flags & TCP_SYN) &&
			       !(p.tcp_flags & TCP_ACK);

		if (expired || reopened) {
			bpf_map_delete_elem(&hw_flt_flows, &fk);
			stat_inc(f->state == HW_FLT_ST_CLOSING ? HW_FLT_CNT_FLOW_CLOSED
							      : HW_FLT_CNT_FLOW_EXPIRED);
			f = 0;
		}
	}
	if (f) {
		if (f->gen != gen) {
			/* The rules changed: the flow keeps going only if the new rules allow it. */
			struct pkt o = p;

			stat_inc(HW_FLT_CNT_REJUDGED);
			if (judge(g, gen, f->origin, &o, &slot) == HW_FLT_DENY &&
			    f->slot != HW_FLT_SLOT_SOCKET) {
				if (g->mode != HW_MODE_LEARNING) {
					bpf_map_delete_elem(&hw_flt_flows, &fk);
					stat_inc(HW_FLT_CNT_REJUDGE_DROP);
				}
				return deny(g, gen, slot, skb->len);
			}
			if (f->slot != HW_FLT_SLOT_SOCKET)
				f->slot = slot;
			f->gen = gen;
		}
		/*
		 * Refresh the idle clock at most every 100 ms: both directions of a busy flow run on
		 * different CPUs, and a write per packet made the flow's cache line bounce between them
		 * (bench/packet.ts). Idle timeouts are seconds long; 100 ms of slack changes nothing.
		 */
		if (now - f->last_ns > FLOW_TOUCH_NS)
			f->last_ns = now;
		slot_count(gen, f->slot, skb->len, 0);
		stat_inc(HW_FLT_CNT_PASS_STATE);
		if (p.proto == IPPROTO_TCP) {
			if (p.tcp_flags & TCP_RST) {
				bpf_map_delete_elem(&hw_flt_flows, &fk);
				stat_inc(HW_FLT_CNT_FLOW_CLOSED);
			} else if (p.tcp_flags & TCP_FIN) {
				f->fin |= dir == HW_FLT_DIR_OUT ? HW_FLT_FIN_OUT : HW_FLT_FIN_IN;
				if (f->fin == (HW_FLT_FIN_OUT | HW_FLT_FIN_IN))
					f->state = HW_FLT_ST_CLOSING;
			}
		}
		return TC_ACT_OK;
	}

	verdict = 0;
	if (dir == HW_FLT_DIR_OUT) {
		__u64 cookie = bpf_get_socket_cookie(skb);
		__u32 *noted = cookie ? bpf_map_lookup_elem(&hw_flt_sockok, &cookie) : 0;

		if (noted) {
			verdict = HW_FLT_ALLOW;
			slot = HW_FLT_SLOT_SOCKET;
		}
	}
	if (!verdict)
		verdict = judge(g, gen, dir, &p, &slot);
	/* Only an explicit deny drops: zeroed maps (no policy applied yet) fail open. */
	if (verdict == HW_FLT_DENY)
		return deny(g, gen, slot, skb->len);

	slot_count(gen, slot, skb->len, 0);
	if (p.may_open) {
		struct hw_flt_flow nf = {};

		nf.last_ns = now;
		nf.slot = slot;
		nf.gen = gen;
		nf.origin = dir;
		nf.state = HW_FLT_ST_OPEN;
		if (p.proto == IPPROTO_TCP && (p.tcp_flags & TCP_FIN))
			nf.fin = dir == HW_FLT_DIR_OUT ? HW_FLT_FIN_OUT : HW_FLT_FIN_IN;
		if (bpf_map_update_elem(&hw_flt_flows, &fk, &nf, BPF_NOEXIST) == 0)
			stat_inc(HW_FLT_CNT_NEW_FLOW);
		else
			stat_inc(HW_FLT_CNT_FLOW_FAIL);
	}
	return TC_ACT_OK;
}

SEC("tc")
int hw_flt_ingress(struct __sk_buff *skb)
{
	return run(skb, HW_FLT_DIR_IN);
}

SEC("tc")
int hw_flt_egress(struct __sk_buff *skb)
{
	return run(skb, HW_FLT_DIR_OUT);
}
