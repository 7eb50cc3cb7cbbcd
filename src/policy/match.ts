/**
 * The one TypeScript model of the kernel's rule matching: compiled tables evaluated exactly as
 * bpf/filter.bpf.c and bpf/rules_app.h walk them (port-class LPM, then up to four address LPMs
 * keeping the lowest rule index). `rules explain` answers with it, so it says what the kernel
 * does; tests/kernel/filter_explain_test.ts checks it against the kernel, and
 * tests/unit/policy_compile_test.ts checks it against plain first-match in file order.
 *
 * @module
 */
import { anyBit, FLT } from "../../ffi/filter_structs.ts";
import type { Policy } from "../config/model.ts";
import { type CompiledAddrEntry, type CompiledPolicy, compilePolicy } from "./compile.ts";
import type { Packet } from "./packet.ts";
import { patternsOf } from "./names.ts";
import { HW } from "../../ffi/structs.ts";

function prefixHas(addr: Uint8Array, prefix: Uint8Array, bits: number): boolean {
  for (let i = 0; i < bits; i++) {
    const m = 0x80 >> (i & 7);
    if ((addr[i >> 3] & m) !== (prefix[i >> 3] & m)) return false;
  }
  return true;
}

/**
 * The kernel's rule index for `pkt` (appId 0 = tc path), or -1 when no rule matched. `lineage`
 * is the app ids of the caller's hw_lineage (trusted ancestors, nearest first): the connect hooks
 * also look up the `[[rule]] via` groups of each (bpf/rules_via.h).
 */
export function lookupCompiled(
  c: CompiledPolicy,
  pkt: Packet,
  appId = 0,
  lineage: readonly number[] = [],
): number {
  const dir = pkt.direction === "in" ? FLT.DIR_IN : FLT.DIR_OUT;
  const proto = [6, 17, 1, 58].includes(pkt.proto) ? pkt.proto : FLT.PROTO_OTHER;
  let pclass: number = FLT.PCLASS_NONE;
  if ((proto === 6 || proto === 17) && pkt.port !== undefined) {
    let best = -1;
    for (const e of c.ports) {
      if (e.dir !== dir || e.proto !== proto || e.bits <= best) continue;
      const shift = 16 - e.bits;
      if ((pkt.port >>> shift) === (e.port >>> shift)) {
        best = e.bits;
        pclass = e.pclass;
      }
    }
  }
  const lpm = (cls: number, app: number): CompiledAddrEntry | undefined => {
    let hit: CompiledAddrEntry | undefined;
    for (const e of c.addrs) {
      if (e.family !== pkt.family || e.dir !== dir || e.proto !== proto) continue;
      if (e.pclass !== cls || e.appId !== app) continue;
      if (hit && hit.bits >= e.bits) continue;
      // By name: the address is unknown, so only the "any address" entries can cover it.
      if (pkt.host !== undefined && e.bits !== 0) continue;
      if (prefixHas(pkt.remote, e.addr, e.bits)) hit = e;
    }
    return hit;
  };
  let rule: number = FLT.NO_RULE;
  const any = (c.anyMask & anyBit(dir, proto)) !== 0;
  const keys: Array<[number, number]> = any ? [[FLT.PCLASS_ANY, 0]] : [];
  if (pclass !== FLT.PCLASS_NONE) keys.push([pclass, 0]);
  if (appId) {
    if (any) keys.push([FLT.PCLASS_ANY, appId]);
    if (pclass !== FLT.PCLASS_NONE) keys.push([pclass, appId]);
  }
  // Via groups (rules_via.h): only while the policy has via rules, outbound, for each lineage app
  // the groups (0, A) and (appId, A), each under its key id like an app's own rules.
  const viaIds: number[] = [];
  if ((c.anyMask & FLT.VIA_BIT) !== 0 && dir === FLT.DIR_OUT) {
    for (const via of lineage.slice(0, HW.VIA_MAX)) {
      if (!via) break;
      for (const g of c.vias) {
        if (g.viaApp === via && (g.appId === 0 || (appId && g.appId === appId))) {
          viaIds.push(g.keyId);
        }
      }
    }
  }
  for (const vid of viaIds) {
    if (any) keys.push([FLT.PCLASS_ANY, vid]);
    if (pclass !== FLT.PCLASS_NONE) keys.push([pclass, vid]);
  }
  for (const [cls, app] of keys) {
    const m = lpm(cls, app);
    if (m && m.rule < rule) rule = m.rule;
  }
  // Name rules (bpf/dns.h): the patterns the kernel remembers for the name, each looked up under
  // (any port, app 0), (class, 0), (any, app), (class, app) — the connect hooks only, never tc.
  if (pkt.host !== undefined && dir === FLT.DIR_OUT) {
    const known = new Set(c.patterns);
    const pats = patternsOf(pkt.host, (p) => known.has(p));
    const nameKeys: Array<[number, number]> = [[FLT.PCLASS_ANY, 0]];
    if (pclass !== FLT.PCLASS_NONE) nameKeys.push([pclass, 0]);
    if (appId) {
      nameKeys.push([FLT.PCLASS_ANY, appId]);
      if (pclass !== FLT.PCLASS_NONE) nameKeys.push([pclass, appId]);
    }
    for (const vid of viaIds) {
      nameKeys.push([FLT.PCLASS_ANY, vid]);
      if (pclass !== FLT.PCLASS_NONE) nameKeys.push([pclass, vid]);
    }
    for (const pat of pats) {
      for (const [cls, app] of nameKeys) {
        const e = c.names.find((n) =>
          n.pat === pat && n.proto === proto && n.pclass === cls && n.appId === app
        );
        if (e && e.rule < rule) rule = e.rule;
      }
    }
  }
  return rule === FLT.NO_RULE ? -1 : rule;
}

/** A policy compiled for explaining, with the app ids it was compiled with. */
interface ExplainTables {
  compiled: CompiledPolicy;
  appIds: Map<string, number>;
}

const tablesOf = new WeakMap<Policy, ExplainTables>();

/**
 * Index (file order) of the rule the kernel would pick for `pkt`, or -1 when none matches. The
 * policy is compiled once per policy object, every app named by a rule given an id (in the kernel
 * an app's rules only compile while it has an approved identity; explaining "as app X" assumes it
 * has one).
 *
 * @example
 * ```ts
 * const i = matchRule(policy, parsePacket(["out", "tcp", "192.0.2.1:443"], "curl"));
 * ```
 */
export function matchRule(policy: Policy, pkt: Packet): number {
  let t = tablesOf.get(policy);
  if (!t) {
    const appIds = new Map<string, number>();
    for (const r of policy.rules) {
      for (const name of [r.app, r.via]) {
        if (name !== undefined && !appIds.has(name)) appIds.set(name, appIds.size + 1);
      }
    }
    t = { compiled: compilePolicy(policy, { appId: (n) => appIds.get(n) }), appIds };
    tablesOf.set(policy, t);
  }
  // An app no rule names has only the general rules: id 0 looks up exactly those.
  const appId = pkt.app === undefined ? 0 : t.appIds.get(pkt.app) ?? 0;
  // Started by `pkt.via`: its id is the caller's lineage (an app no rule names matches none).
  const via = pkt.via === undefined ? 0 : t.appIds.get(pkt.via) ?? 0;
  return lookupCompiled(t.compiled, pkt, appId, via ? [via] : []);
}
