/* SPDX-License-Identifier: GPL-2.0 */
/*
 * verdict_cache.h — the outbound [[rule]] verdict of a trusted process's connect/sendmsg,
 * remembered per (process, app, destination) so a process that connects to the same place again
 * pays one hash lookup instead of the address tries, its resolved name and its lineage's via
 * groups (hw_via_app_verdict: ~0.7-1 us with 10 000 name rules or 100 via rules here).
 *
 * Only the rule verdict is cached, never trust: decide() still looks up the process's entry and
 * its approval on every call, so a revocation, a taint or a mode switch acts at the next connect
 * as before. The rule verdict is a function of:
 *   - the policy (rule maps of the active generation): hw_flt_ctl.seq is in the key, and every
 *     switch bumps it (src/kernel/filter.ts apply), so no verdict outlives its policy;
 *   - the process: tgid plus its start time (a recycled tgid is another process with another
 *     lineage and other resolved names), and its app id (an exec may change it);
 *   - the names it resolved (bpf/dns.h): hw_verdict_epoch is in the key, bumped after every
 *     answer wrote its addresses, and a verdict that rested on a name entry carries that entry's
 *     expiry;
 *   - its lineage (bpf/lineage.h): written at fork (tgid + start time tell processes apart), and
 *     cleared only by a taint (bpf/tamper.h), which bumps hw_verdict_epoch too.
 * A miss reads the epoch before it decides: an answer landing meanwhile leaves an entry under the
 * old epoch, which no later lookup uses.
 *
 * The map is a hash (not a per-CPU array) because an update replaces an element whole: a reader
 * never sees half of one write and half of another, even if a program is preempted mid-write.
 *
 * Needs hashwall.h, rules_app.h, dns.h, lineage.h and rules_via.h before it.
 */
#ifndef HASHWALL_VERDICT_CACHE_H
#define HASHWALL_VERDICT_CACHE_H

#define HW_VC_MAX 4096 /* cached (process, destination) verdicts; least recently used go first */

struct hw_vc_key {
	__u64 start_ns; /* group leader's start_time: tells a recycled tgid apart */
	__u32 tgid;
	__u32 app_id;
	__u32 pseq;  /* hw_flt_ctl.seq */
	__u32 epoch; /* hw_verdict_epoch */
	__u8 daddr[16];
	__u16 dport;
	__u8 family;
	__u8 proto;
};

struct hw_vc_val {
	__u64 expires_ns; /* ~0: no name entry was in play; else the name entry's expiry */
	__u32 rule;
	__u8 verdict;  /* HW_FLT_ALLOW / HW_FLT_DENY / HW_FLT_NONE */
	__u8 name_hit; /* decided by a name rule (counted again on each hit) */
	__u8 _pad[2];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, HW_VC_MAX);
	__type(key, struct hw_vc_key);
	__type(value, struct hw_vc_val);
} hw_verdict_cache SEC(".maps");

/*
 * hw_via_app_verdict() through the cache: same contract (HW_FLT_ALLOW / HW_FLT_DENY with the rule
 * index in *rule, or HW_FLT_NONE). A policy without rules returns at once, before any lookup.
 */
static __always_inline int hw_rule_verdict(__u32 tgid, __u32 app_id, __u8 proto, __u8 family,
					   const __u8 *daddr, __u16 dport, __u32 *rule)
{
	__u32 zero = 0;
	struct hw_flt_ctl *ctl = bpf_map_lookup_elem(&hw_flt_ctl, &zero);
	if (!ctl)
		return HW_FLT_NONE;
	/*
	 * One 32-bit read gives the policy's seq and its generation (seq & 1 == active_gen, kept by
	 * src/kernel/filter.ts): the maps read and the cache key cannot disagree, as they could when
	 * two fields were read while userspace rewrote the element.
	 */
	__u32 seq = *(volatile __u32 *)&ctl->seq;
	__u32 gen = seq & 1;
	struct hw_flt_gen *g = bpf_map_lookup_elem(&hw_flt_gen, &gen);
	if (!g || !g->nrules)
		return HW_FLT_NONE; /* no [[rule]] in force: no address, name or via rule to match */
	if (family != 4 && family != 6)
		return HW_FLT_NONE; /* only sock_create has none, and it asks no rule */

	struct hw_vc_key k = {};
	k.start_ns = hw_dns_start_ns();
	k.tgid = tgid;
	k.app_id = app_id;
	k.pseq = seq;
	k.epoch = hw_verdict_epoch_now();
	__builtin_memcpy(k.daddr, daddr, 16);
	k.dport = dport;
	k.family = family;
	k.proto = proto;
	struct hw_vc_val *c = bpf_map_lookup_elem(&hw_verdict_cache, &k);
	if (c && (c->expires_ns == ~0ULL || bpf_ktime_get_boot_ns() <= c->expires_ns)) {
		if (c->name_hit)
			hw_dns_count(HW_DNS_CNT_NAME_HITS);
		if (c->verdict != HW_FLT_NONE)
			*rule = c->rule;
		return c->verdict;
	}

	/*
	 * A miss: decide. The via groups read the same name entry as the name rules (same validity
	 * test), so the expiry hw_dns_app_verdict() reports covers every use of a name.
	 */
	struct hw_verdict_info info = {.expires_ns = ~0ULL};
	__u32 r = 0;
	int verdict = hw_via_app_verdict(gen, g, tgid, app_id, proto, family, daddr, dport, &r,
					 &info);
	struct hw_vc_val v = {};
	v.expires_ns = info.expires_ns;
	v.name_hit = info.name_hit;
	v.verdict = verdict;
	v.rule = r;
	bpf_map_update_elem(&hw_verdict_cache, &k, &v, BPF_ANY);
	if (verdict != HW_FLT_NONE)
		*rule = r;
	return verdict;
}

#endif /* HASHWALL_VERDICT_CACHE_H */
