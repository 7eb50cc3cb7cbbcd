/* SPDX-License-Identifier: GPL-2.0 */
/*
 * rules_via.h — [[rule]] via = "NAME": rules that match only processes started (at any depth) by
 * a process trusted as that app. The connect hooks call hw_via_app_verdict() instead of
 * hw_dns_app_verdict(); it returns that answer untouched unless the active generation holds via
 * rules (HW_FLT_VIA_BIT in hw_flt_gen.any_mask), so a policy without via costs two inlined array
 * reads more and nothing else.
 *
 * Who started the caller comes from hw_lineage (bpf/lineage.h): the apps trusted among its
 * ancestors, recorded at fork and never read from the current parent, so re-parenting (double
 * fork, a subreaper, setsid) changes nothing, and a process that was not started under the app
 * (a copy of its binary, a name in argv[0], an untrusted run of it) is not in anyone's lineage.
 *
 * Per distinct app A of the lineage: one hash lookup of (gen, 0, A) and one of (gen, caller's
 * app, A) in hw_flt_via; each group found costs the same address (and name) lookups as an app's
 * own rules, under its key id. First match in file order still holds: every group's tables carry
 * rule indexes and the lowest over all keys wins, as for the app and general keys.
 *
 * Needs hashwall.h, rules_app.h, dns.h and lineage.h before it.
 */
#ifndef HASHWALL_RULES_VIA_H
#define HASHWALL_RULES_VIA_H

/* The address rules (and, with `na`, the name rules) of one via group, into `best`. */
static __always_inline void hw_via_group(__u8 family, struct hw_flt_lpm4_key *k4,
					 struct hw_flt_host4_key *h4, struct hw_flt_lpm6_key *k6,
					 struct hw_flt_host6_key *h6, struct hw_dns_rule_key *nk,
					 struct hw_dns_addr_val *na, int any, __u32 pclass, __u32 vid,
					 struct hw_flt_match *best)
{
	if (family == 4) {
		if (any)
			hw_flt_lookup4(k4, h4, HW_FLT_PCLASS_ANY, vid, best);
		if (pclass != HW_FLT_PCLASS_NONE)
			hw_flt_lookup4(k4, h4, pclass, vid, best);
	} else {
		if (any)
			hw_flt_lookup6(k6, h6, HW_FLT_PCLASS_ANY, vid, best);
		if (pclass != HW_FLT_PCLASS_NONE)
			hw_flt_lookup6(k6, h6, pclass, vid, best);
	}
	if (na) {
		hw_dns_lookup_pats(nk, na, HW_FLT_PCLASS_ANY, vid, best);
		if (pclass != HW_FLT_PCLASS_NONE)
			hw_dns_lookup_pats(nk, na, pclass, vid, best);
	}
}

/*
 * hw_dns_app_verdict() plus the via rules whose app is in the caller's lineage: same contract
 * (HW_FLT_ALLOW / HW_FLT_DENY with the rule index in *rule, or HW_FLT_NONE).
 */
static __always_inline int hw_via_app_verdict(__u32 tgid, __u32 app_id, __u8 proto, __u8 family,
					      const __u8 *daddr, __u16 dport, __u32 *rule)
{
	int v = hw_dns_app_verdict(tgid, app_id, proto, family, daddr, dport, rule);
	__u32 zero = 0, gen;
	struct hw_flt_ctl *ctl = bpf_map_lookup_elem(&hw_flt_ctl, &zero);
	if (!ctl || (family != 4 && family != 6))
		return v;
	gen = ctl->active_gen & 1;
	struct hw_flt_gen *g = bpf_map_lookup_elem(&hw_flt_gen, &gen);
	if (!g || !(g->any_mask & HW_FLT_VIA_BIT))
		return v; /* no via rule in force */
	struct hw_lineage *l = bpf_map_lookup_elem(&hw_lineage, &tgid);
	if (!l || !l->apps[0])
		return v; /* started by no trusted app */

	__u8 pk = hw_flt_proto_key(proto);
	__u32 pclass = hw_flt_pclass(gen, HW_FLT_DIR_OUT, pk, dport);
	int any = g->any_mask & HW_FLT_ANY_BIT(HW_FLT_DIR_OUT, pk);
	struct hw_flt_match best = {
		.rule = v == HW_FLT_NONE ? HW_FLT_NO_RULE : *rule,
		.action = v == HW_FLT_ALLOW ? HW_FLT_ALLOW : HW_FLT_DENY,
	};
	__u32 before = best.rule;

	struct hw_flt_lpm4_key k4 = {};
	struct hw_flt_host4_key h4 = {};
	struct hw_flt_lpm6_key k6 = {};
	struct hw_flt_host6_key h6 = {};
	if (family == 4) {
		k4.prefixlen = HW_FLT_LPM_META_BITS + 32;
		k4.gen = h4.gen = gen;
		k4.dir = h4.dir = HW_FLT_DIR_OUT;
		k4.proto = h4.proto = pk;
		__builtin_memcpy(k4.addr, daddr, 4);
		__builtin_memcpy(h4.addr, daddr, 4);
	} else {
		k6.prefixlen = HW_FLT_LPM_META_BITS + 128;
		k6.gen = h6.gen = gen;
		k6.dir = h6.dir = HW_FLT_DIR_OUT;
		k6.proto = h6.proto = pk;
		__builtin_memcpy(k6.addr, daddr, 16);
		__builtin_memcpy(h6.addr, daddr, 16);
	}
	/* The name the caller resolved this address from, while its answer is valid (as dns.h). */
	struct hw_dns_rule_key nk = {};
	nk.gen = gen;
	nk.dir = HW_FLT_DIR_OUT;
	nk.proto = pk;
	struct hw_dns_addr_key ak = {};
	ak.tgid = tgid;
	ak.family = family;
	__builtin_memcpy(ak.addr, daddr, 16);
	struct hw_dns_addr_val *na = bpf_map_lookup_elem(&hw_dns_addrs, &ak);
	if (na && (!na->pats[0] || bpf_ktime_get_boot_ns() > na->expires_ns ||
		   na->start_ns != hw_dns_start_ns()))
		na = NULL;

	struct hw_flt_via_key vk = {};
	vk.gen = gen;
	__u32 prev = 0;
	for (int i = 0; i < HW_VIA_MAX; i++) {
		__u32 via = l->apps[i];
		if (!via)
			break;
		if (via == prev)
			continue; /* a chain under one inheriting app repeats it */
		prev = via;
		vk.via_app = via;
		vk.app_id = 0;
		__u32 *vid = bpf_map_lookup_elem(&hw_flt_via, &vk);
		if (vid)
			hw_via_group(family, &k4, &h4, &k6, &h6, &nk, na, any, pclass, *vid, &best);
		if (app_id) {
			vk.app_id = app_id;
			vid = bpf_map_lookup_elem(&hw_flt_via, &vk);
			if (vid)
				hw_via_group(family, &k4, &h4, &k6, &h6, &nk, na, any, pclass, *vid,
					     &best);
		}
	}
	if (best.rule == before)
		return v;
	*rule = best.rule;
	return best.action == HW_FLT_ALLOW ? HW_FLT_ALLOW : HW_FLT_DENY;
}

#endif /* HASHWALL_RULES_VIA_H */
