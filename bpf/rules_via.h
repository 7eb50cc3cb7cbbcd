/* SPDX-License-Identifier: GPL-2.0 */
/*
 * rules_via.h — [[rule]] via = "NAME": rules that match only processes started (at any depth) by
 * a process trusted as that app. The connect hooks call hw_via_app_verdict() (through the
 * verdict cache, bpf/verdict_cache.h) instead of hw_dns_app_verdict(); it returns that answer untouched unless the generation holds via rules
 * (HW_FLT_VIA_BIT in hw_flt_gen.any_mask), so a policy without via costs one bit test more.
 *
 * Who started the caller comes from hw_lineage (bpf/lineage.h): the apps trusted among its
 * ancestors, recorded at fork and never read from the current parent, so re-parenting (double
 * fork, a subreaper, setsid) changes nothing, and a process that was not started under the app
 * (a copy of its binary, a name in argv[0], an untrusted run of it) is not in anyone's lineage.
 *
 * The lineage is walked under bpf_loop (one step per ancestor app), so the program's size and the
 * verifier's work do not grow with HW_VIA_MAX. Per distinct app A of the lineage: one hash lookup of (gen, 0, A) and one of (gen, caller's
 * app, A) in hw_flt_via; each group found costs the same address (and name) lookups as an app's
 * own rules, under its key id. First match in file order still holds: every group's tables carry
 * rule indexes and the lowest over all keys wins, as for the app and general keys.
 *
 * Needs hashwall.h, rules_app.h, dns.h and lineage.h before it.
 */
#ifndef HASHWALL_RULES_VIA_H
#define HASHWALL_RULES_VIA_H

/* Working state of one via lookup (per CPU: the keys do not fit beside decide()'s stack). */
struct hw_via_scratch {
	struct hw_flt_lpm4_key k4;
	struct hw_flt_host4_key h4;
	struct hw_flt_lpm6_key k6;
	struct hw_flt_host6_key h6;
	struct hw_dns_rule_key nk;
	struct hw_flt_via_key vk;
	struct hw_dns_addr_val na; /* the patterns of the name the caller resolved, when valid */
	struct hw_flt_match best;
	__u32 apps[HW_VIA_MAX]; /* the caller's lineage */
	__u8 daddr[16];
	__u32 tgid;
	__u32 app_id;
	__u32 gen;
	__u32 any_mask;
	__u32 pclass;
	__u32 prev;
	__u32 any;
	__u32 names; /* na holds valid patterns */
	__u32 family;
	__u32 ready; /* the keys below the first group found are filled in */
	__u16 dport;
	__u8 proto;
	__u8 _pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct hw_via_scratch);
} hw_via_scratch SEC(".maps");

struct hw_via_loop_ctx {
	struct hw_via_scratch *s;
};

/*
 * Fills the lookup keys, the port class and the caller's resolved name: only once a via group of
 * its lineage exists, so a lineage that no via rule names costs its hw_flt_via lookups and no more.
 */
static __always_inline void hw_via_prepare(struct hw_via_scratch *s)
{
	__u8 pk = hw_flt_proto_key(s->proto);
	s->ready = 1;
	s->pclass = hw_flt_pclass(s->gen, HW_FLT_DIR_OUT, pk, s->dport);
	s->any = (s->any_mask & HW_FLT_ANY_BIT(HW_FLT_DIR_OUT, pk)) != 0;
	if (s->family == 4) {
		__builtin_memset(&s->k4, 0, sizeof(s->k4));
		__builtin_memset(&s->h4, 0, sizeof(s->h4));
		s->k4.prefixlen = HW_FLT_LPM_META_BITS + 32;
		s->k4.gen = s->h4.gen = s->gen;
		s->k4.dir = s->h4.dir = HW_FLT_DIR_OUT;
		s->k4.proto = s->h4.proto = pk;
		__builtin_memcpy(s->k4.addr, s->daddr, 4);
		__builtin_memcpy(s->h4.addr, s->daddr, 4);
	} else {
		__builtin_memset(&s->k6, 0, sizeof(s->k6));
		__builtin_memset(&s->h6, 0, sizeof(s->h6));
		s->k6.prefixlen = HW_FLT_LPM_META_BITS + 128;
		s->k6.gen = s->h6.gen = s->gen;
		s->k6.dir = s->h6.dir = HW_FLT_DIR_OUT;
		s->k6.proto = s->h6.proto = pk;
		__builtin_memcpy(s->k6.addr, s->daddr, 16);
		__builtin_memcpy(s->h6.addr, s->daddr, 16);
	}
	__builtin_memset(&s->nk, 0, sizeof(s->nk));
	s->nk.gen = s->gen;
	s->nk.dir = HW_FLT_DIR_OUT;
	s->nk.proto = pk;
	/* The name the caller resolved this address from, while its answer is valid (as dns.h). */
	struct hw_dns_addr_key ak = {};
	ak.tgid = s->tgid;
	ak.family = s->family;
	__builtin_memcpy(ak.addr, s->daddr, 16);
	struct hw_dns_addr_val *na = bpf_map_lookup_elem(&hw_dns_addrs, &ak);
	s->names = na && na->pats[0] && bpf_ktime_get_boot_ns() <= na->expires_ns &&
		   na->start_ns == hw_dns_start_ns();
	if (s->names)
		__builtin_memcpy(s->na.pats, na->pats, sizeof(s->na.pats));
}

/* The address rules (and the name rules) of one via group, into s->best. */
static __always_inline void hw_via_group(struct hw_via_scratch *s, __u32 vid)
{
	if (!s->ready)
		hw_via_prepare(s);
	if (s->family == 4) {
		if (s->any)
			hw_flt_lookup4(&s->k4, &s->h4, HW_FLT_PCLASS_ANY, vid, &s->best);
		if (s->pclass != HW_FLT_PCLASS_NONE)
			hw_flt_lookup4(&s->k4, &s->h4, s->pclass, vid, &s->best);
	} else {
		if (s->any)
			hw_flt_lookup6(&s->k6, &s->h6, HW_FLT_PCLASS_ANY, vid, &s->best);
		if (s->pclass != HW_FLT_PCLASS_NONE)
			hw_flt_lookup6(&s->k6, &s->h6, s->pclass, vid, &s->best);
	}
	if (s->names) {
		hw_dns_lookup_pats(&s->nk, &s->na, HW_FLT_PCLASS_ANY, vid, &s->best);
		if (s->pclass != HW_FLT_PCLASS_NONE)
			hw_dns_lookup_pats(&s->nk, &s->na, s->pclass, vid, &s->best);
	}
}

/* One app of the lineage (bpf_loop step): its groups (0, A) and (caller's app, A). */
static long hw_via_step(__u32 i, struct hw_via_loop_ctx *c)
{
	struct hw_via_scratch *s = c->s;
	__u32 via = s->apps[i & (HW_VIA_MAX - 1)];
	if (!via)
		return 1; /* end of the lineage */
	if (via == s->prev)
		return 0; /* a chain under one inheriting app repeats it */
	s->prev = via;
	s->vk.via_app = via;
	s->vk.app_id = 0;
	__u32 *vid = bpf_map_lookup_elem(&hw_flt_via, &s->vk);
	if (vid)
		hw_via_group(s, *vid);
	if (s->app_id) {
		s->vk.app_id = s->app_id;
		vid = bpf_map_lookup_elem(&hw_flt_via, &s->vk);
		if (vid)
			hw_via_group(s, *vid);
	}
	return 0;
}

/*
 * hw_dns_app_verdict() plus the via rules whose app is in the caller's lineage: same contract
 * (HW_FLT_ALLOW / HW_FLT_DENY with the rule index in *rule, or HW_FLT_NONE).
 */
static __always_inline int hw_via_app_verdict(__u32 gen, const struct hw_flt_gen *g, __u32 tgid,
					      __u32 app_id, __u8 proto, __u8 family,
					      const __u8 *daddr, __u16 dport, __u32 *rule,
					      struct hw_verdict_info *info)
{
	int v = hw_dns_app_verdict(gen, g, tgid, app_id, proto, family, daddr, dport, rule, info);
	__u32 zero = 0;
	if (family != 4 && family != 6)
		return v;
	if (!(g->any_mask & HW_FLT_VIA_BIT))
		return v; /* no via rule in force */
	struct hw_lineage *l = bpf_map_lookup_elem(&hw_lineage, &tgid);
	if (!l || !l->apps[0])
		return v; /* started by no trusted app */
	struct hw_via_scratch *s = bpf_map_lookup_elem(&hw_via_scratch, &zero);
	if (!s)
		return v;

	__builtin_memcpy(s->apps, l->apps, sizeof(s->apps));
	__builtin_memcpy(s->daddr, daddr, 16);
	s->tgid = tgid;
	s->app_id = app_id;
	s->gen = gen;
	s->any_mask = g->any_mask;
	s->family = family;
	s->proto = proto;
	s->dport = dport;
	s->prev = 0;
	s->ready = 0;
	s->best.rule = v == HW_FLT_NONE ? HW_FLT_NO_RULE : *rule;
	s->best.action = v == HW_FLT_ALLOW ? HW_FLT_ALLOW : HW_FLT_DENY;
	__u32 before = s->best.rule;
	s->vk.gen = gen;
	s->vk._pad[0] = s->vk._pad[1] = s->vk._pad[2] = 0;

	struct hw_via_loop_ctx c = {.s = s};
	bpf_loop(HW_VIA_MAX, hw_via_step, &c, 0);
	if (s->best.rule == before)
		return v;
	*rule = s->best.rule;
	return s->best.action == HW_FLT_ALLOW ? HW_FLT_ALLOW : HW_FLT_DENY;
}

#endif /* HASHWALL_RULES_VIA_H */
