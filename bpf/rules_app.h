/* SPDX-License-Identifier: GPL-2.0 */
/*
 * rules_app.h — the compiled packet-filter rules and their first-match lookup, shared by the tc
 * filter (bpf/filter.bpf.c) and the kernel core's connect/sendmsg hooks (bpf/hashwall.bpf.c).
 *
 * The maps below are pinned by the filter loader under <pinRoot>/filter/<map name>; an object that
 * includes this header must reuse those pins (bpf_map__reuse_fd before load) so both programs read
 * the one policy the daemon wrote.
 *
 * Split of work for outbound traffic:
 *  - connect4/6 and sendmsg4/6 call hw_flt_app_verdict() with the caller's app id (by way of the
 *    name and via rules, bpf/dns.h and bpf/rules_via.h, and the verdict cache,
 *    bpf/verdict_cache.h). It answers with the first matching outbound rule among the app's own
 *    rules and the rules without an app, so a denied connect gets EPERM at once instead of a SYN
 *    that the tc egress would silently drop. On allow the hook calls hw_flt_note_socket(), which
 *    records the socket cookie (not for loopback destinations: tc never filters lo).
 *  - the tc egress program judges a new outbound flow only by the rules without an app, unless the
 *    socket's cookie carries a connect-hook verdict: then the flow is admitted as decided there.
 *
 * Needs vmlinux.h (or linux/bpf.h), bpf/bpf_helpers.h, bpf/bpf_endian.h and hashwall.h before it.
 */
#ifndef HASHWALL_RULES_APP_H
#define HASHWALL_RULES_APP_H

/* Element 0: struct hw_flt_ctl (the active generation; switched with one update). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct hw_flt_ctl);
} hw_flt_ctl SEC(".maps");

/* Elements 0 and 1: the defaults of each generation. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, struct hw_flt_gen);
} hw_flt_gen SEC(".maps");

/* (gen, dir, proto, port prefix) -> port class. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, HW_FLT_PORT_MAX);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct hw_flt_port_key);
	__type(value, __u32);
} hw_flt_port SEC(".maps");

/* (gen, dir, proto, port) -> port class, for ports that are a class of their own prefix. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, HW_FLT_PORT_MAX);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct hw_flt_portx_key);
	__type(value, __u32);
} hw_flt_portx SEC(".maps");

/* (gen, dir, proto, port class, app, IPv4 host) -> first rule. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, HW_FLT_HOST_MAX);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct hw_flt_host4_key);
	__type(value, struct hw_flt_match);
} hw_flt_host4 SEC(".maps");

/* (gen, dir, proto, port class, app, IPv6 host) -> first rule. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, HW_FLT_HOST_MAX);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct hw_flt_host6_key);
	__type(value, struct hw_flt_match);
} hw_flt_host6 SEC(".maps");

/* (gen, dir, proto, port class, app, IPv4 prefix) -> first rule. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, HW_FLT_LPM_MAX);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct hw_flt_lpm4_key);
	__type(value, struct hw_flt_match);
} hw_flt_lpm4 SEC(".maps");

/* (gen, dir, proto, port class, app, IPv6 prefix) -> first rule. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, HW_FLT_LPM_MAX);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct hw_flt_lpm6_key);
	__type(value, struct hw_flt_match);
} hw_flt_lpm6 SEC(".maps");

/* Socket cookie -> counter slot, written by the connect hooks on an allowed connect. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, HW_FLT_SOCK_MAX);
	__type(key, __u64);
	__type(value, __u32);
} hw_flt_sockok SEC(".maps");

/*
 * Name rules (remote_host): (gen, dir, proto, port class, app, pattern hash) -> first rule, and the
 * set of patterns any rule names (value: bit g set while generation g uses it). Only the connect
 * hooks read them (bpf/dns.h): tc sees no process, so it cannot know which name a flow was for.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, HW_DNS_RULE_MAX);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct hw_dns_rule_key);
	__type(value, struct hw_flt_match);
} hw_flt_names SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, HW_DNS_PAT_MAX);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u64);
	__type(value, __u32);
} hw_flt_pats SEC(".maps");

/* [[rule]] via: (gen, rule app or 0, via app) -> key id of the group's rules (bpf/rules_via.h). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, HW_FLT_VIA_GROUPS_MAX);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct hw_flt_via_key);
	__type(value, __u32);
} hw_flt_via SEC(".maps");

/* Keys the filter protocols: tcp/udp/icmp/icmpv6 as themselves, the rest as "other". */
static __always_inline __u8 hw_flt_proto_key(__u8 proto)
{
	switch (proto) {
	case HW_FLT_PROTO_TCP:
	case HW_FLT_PROTO_UDP:
	case HW_FLT_PROTO_ICMP:
	case HW_FLT_PROTO_ICMPV6:
		return proto;
	default:
		return HW_FLT_PROTO_OTHER;
	}
}

/* The port class of a service port (exact-port hash, else range trie); TCP and UDP only. */
static __always_inline __u32 hw_flt_pclass(__u32 gen, __u8 dir, __u8 proto, __u16 port)
{
	struct hw_flt_portx_key x = {};
	struct hw_flt_port_key k = {};
	__u32 *c;

	if (proto != HW_FLT_PROTO_TCP && proto != HW_FLT_PROTO_UDP)
		return HW_FLT_PCLASS_NONE;
	x.gen = gen;
	x.dir = dir;
	x.proto = proto;
	x.port = port;
	c = bpf_map_lookup_elem(&hw_flt_portx, &x);
	if (c)
		return *c;
	k.prefixlen = HW_FLT_PORT_META_BITS + 16;
	k.gen = gen;
	k.dir = dir;
	k.proto = proto;
	k.port = bpf_htons(port);
	c = bpf_map_lookup_elem(&hw_flt_port, &k);
	return c ? *c : HW_FLT_PCLASS_NONE;
}

/* Keeps the lower rule index: the trie answers per key, first match is the minimum over keys. */
static __always_inline void hw_flt_keep_first(struct hw_flt_match *best, struct hw_flt_match *m)
{
	if (m && m->rule < best->rule) {
		best->rule = m->rule;
		best->action = m->action;
	}
}

/* One (port class, app) key, IPv4: the host hash first, the prefix trie only on a miss. */
static __always_inline void hw_flt_lookup4(struct hw_flt_lpm4_key *k, struct hw_flt_host4_key *h,
					   __u32 pclass, __u32 app_id, struct hw_flt_match *best)
{
	struct hw_flt_match *m;

	h->pclass = pclass;
	h->app_id = app_id;
	m = bpf_map_lookup_elem(&hw_flt_host4, h);
	if (!m) {
		k->pclass = pclass;
		k->app_id = app_id;
		m = bpf_map_lookup_elem(&hw_flt_lpm4, k);
	}
	hw_flt_keep_first(best, m);
}

/* One (port class, app) key, IPv6. */
static __always_inline void hw_flt_lookup6(struct hw_flt_lpm6_key *k, struct hw_flt_host6_key *h,
					   __u32 pclass, __u32 app_id, struct hw_flt_match *best)
{
	struct hw_flt_match *m;

	h->pclass = pclass;
	h->app_id = app_id;
	m = bpf_map_lookup_elem(&hw_flt_host6, h);
	if (!m) {
		k->pclass = pclass;
		k->app_id = app_id;
		m = bpf_map_lookup_elem(&hw_flt_lpm6, k);
	}
	hw_flt_keep_first(best, m);
}

/*
 * First rule (file order) matching the packet among the rules of `app_id` and the rules without
 * an app. `addr` is the remote address in network order (4 bytes for family 4, 16 for 6), `port`
 * the service port in host order. best->rule is HW_FLT_NO_RULE when nothing matched.
 * Fixed number of lookups: the port class, then per (class, app) key a host hash probe and, on a
 * miss, one trie walk; the port-less keys only when `any_mask` says such rules exist.
 */
static __always_inline void hw_flt_match_rules(__u32 gen, __u32 any_mask, __u8 dir, __u8 proto,
					       __u8 family, const __u8 *addr, __u16 port,
					       __u32 app_id, struct hw_flt_match *best)
{
	__u32 pclass = hw_flt_pclass(gen, dir, proto, port);
	int any = any_mask & HW_FLT_ANY_BIT(dir, proto);

	best->rule = HW_FLT_NO_RULE;
	best->action = 0;
	if (family == 4) {
		struct hw_flt_lpm4_key k = {};
		struct hw_flt_host4_key h = {};

		k.prefixlen = HW_FLT_LPM_META_BITS + 32;
		k.gen = h.gen = gen;
		k.dir = h.dir = dir;
		k.proto = h.proto = proto;
		__builtin_memcpy(k.addr, addr, 4);
		__builtin_memcpy(h.addr, addr, 4);
		if (any)
			hw_flt_lookup4(&k, &h, HW_FLT_PCLASS_ANY, 0, best);
		if (pclass != HW_FLT_PCLASS_NONE)
			hw_flt_lookup4(&k, &h, pclass, 0, best);
		if (app_id) {
			if (any)
				hw_flt_lookup4(&k, &h, HW_FLT_PCLASS_ANY, app_id, best);
			if (pclass != HW_FLT_PCLASS_NONE)
				hw_flt_lookup4(&k, &h, pclass, app_id, best);
		}
	} else {
		struct hw_flt_lpm6_key k = {};
		struct hw_flt_host6_key h = {};

		k.prefixlen = HW_FLT_LPM_META_BITS + 128;
		k.gen = h.gen = gen;
		k.dir = h.dir = dir;
		k.proto = h.proto = proto;
		__builtin_memcpy(k.addr, addr, 16);
		__builtin_memcpy(h.addr, addr, 16);
		if (any)
			hw_flt_lookup6(&k, &h, HW_FLT_PCLASS_ANY, 0, best);
		if (pclass != HW_FLT_PCLASS_NONE)
			hw_flt_lookup6(&k, &h, pclass, 0, best);
		if (app_id) {
			if (any)
				hw_flt_lookup6(&k, &h, HW_FLT_PCLASS_ANY, app_id, best);
			if (pclass != HW_FLT_PCLASS_NONE)
				hw_flt_lookup6(&k, &h, pclass, app_id, best);
		}
	}
}

/*
 * Verdict of the outbound rules of generation `gen` (its defaults `g`) for a connect/sendmsg by
 * `app_id` (0 = unknown app) to daddr:dport. Returns HW_FLT_ALLOW or HW_FLT_DENY when a rule
 * decided (its index in *rule), or HW_FLT_NONE when no rule matched (the caller applies its own
 * app policy; the tc egress applies [defaults] outbound to the flow). The caller read the
 * generation (bpf/verdict_cache.h: from hw_flt_ctl.seq, so the cache key and the maps agree).
 */
static __always_inline int hw_flt_app_verdict(__u32 gen, const struct hw_flt_gen *g, __u32 app_id,
					      __u8 proto, __u8 family, const __u8 *daddr,
					      __u16 dport, __u32 *rule)
{
	struct hw_flt_match m;

	if (family != 4 && family != 6)
		return HW_FLT_NONE;
	hw_flt_match_rules(gen, g->any_mask, HW_FLT_DIR_OUT, hw_flt_proto_key(proto), family, daddr,
			   dport, app_id, &m);
	if (m.rule == HW_FLT_NO_RULE)
		return HW_FLT_NONE;
	*rule = m.rule;
	return m.action == HW_FLT_ALLOW ? HW_FLT_ALLOW : HW_FLT_DENY;
}

/* Records that a connect hook allowed this socket under `rule`, so tc egress admits its flow. */
static __always_inline void hw_flt_note_socket(__u64 cookie, __u32 rule)
{
	if (cookie)
		bpf_map_update_elem(&hw_flt_sockok, &cookie, &rule, BPF_ANY);
}

#endif /* HASHWALL_RULES_APP_H */
