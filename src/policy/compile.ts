/**
 * Compiles the validated rules of a {@link Policy} into packet-filter map entries (see the
 * "packet filter" section of bpf/hashwall.h): port-class prefixes and address prefixes keyed by
 * (direction, protocol, port class, app id), each carrying the first rule in file order that
 * covers it. The kernel then decides a packet with a fixed number of lookups.
 *
 * Pure: no kernel access, so it runs (and fails) before anything is written.
 *
 * @module
 */
import type { Policy, Protocol, Rule } from "../config/model.ts";
import { anyBit, FLT } from "../../ffi/filter_structs.ts";
import { elementaryIntervals, intervalsWithin, rangeToPrefixes } from "./port_classes.ts";
import { propagateFirstMatch } from "./prefix_first.ts";
import { nameHash } from "./names.ts";
import { DNS } from "../../ffi/dns_structs.ts";

/** A port-trie entry: ports `port`..(+2^(16-bits)-1) of (dir, proto) belong to `pclass`. */
export interface CompiledPortEntry {
  dir: number;
  proto: number;
  port: number;
  bits: number;
  pclass: number;
}

/** An address-trie entry: the first rule covering this prefix in its group. */
export interface CompiledAddrEntry {
  family: 4 | 6;
  dir: number;
  proto: number;
  pclass: number;
  appId: number;
  addr: Uint8Array;
  bits: number;
  rule: number;
  action: number;
}

/** A name-rule entry: the first rule naming `pat` for (proto, port class, app). */
export interface CompiledNameEntry {
  proto: number;
  pclass: number;
  appId: number;
  /** Pattern hash (src/policy/names.ts). */
  pat: bigint;
  /** The pattern as written, for explain and views. */
  text: string;
  rule: number;
  action: number;
}

/**
 * A `[[rule]] via` group: the rules with this (app or 0, via app) are written under `keyId` in
 * place of an app id (bpf/rules_via.h), and hw_flt_via maps the pair to it.
 */
export interface CompiledViaGroup {
  /** The rules' app, 0 for via rules without app. */
  appId: number;
  /** The app that must be among the caller's ancestors. */
  viaApp: number;
  /** FLT.VIA_ID_BASE + group number: the "app id" of the group's table entries. */
  keyId: number;
}

/** Defaults as the kernel reads them (HW_FLT_ALLOW/DENY, HW_MODE_*). */
export interface CompiledDefaults {
  mode: number;
  inbound: number;
  outbound: number;
  untracked: number;
}

/** A rule that compiled to nothing, and why (shown by `rules list`). */
export interface SkippedRule {
  id: string;
  reason: string;
}

/** The whole compiled policy, independent of the generation it will be written to. */
export interface CompiledPolicy {
  ports: CompiledPortEntry[];
  addrs: CompiledAddrEntry[];
  /** Name rules (remote_host), outbound only. */
  names: CompiledNameEntry[];
  /** Every pattern hash some name rule names (the kernel remembers only these per answer). */
  patterns: bigint[];
  defaults: CompiledDefaults;
  /** Rule ids by rule index (file order). */
  ruleIds: string[];
  /** `[[rule]] via` groups (empty when no rule has via). */
  vias: CompiledViaGroup[];
  /**
   * Which (dir, proto) have port-less entries (see anyBit in ffi/filter_structs.ts), plus
   * FLT.VIA_BIT when `vias` is not empty.
   */
  anyMask: number;
  skipped: SkippedRule[];
}

/** Options of {@link compilePolicy}. */
export interface CompileOptions {
  /** Kernel app id of an app name, or undefined while the app has no approved identity. */
  appId?: (name: string) => number | undefined;
}

/** A rule set the kernel tables cannot hold; nothing was written. */
export class CompileError extends Error {
  override name = "CompileError";
}

/** Per-generation capacity: the maps hold two generations side by side. */
export const MAX_ADDR_ENTRIES_PER_FAMILY = FLT.LPM_MAX / 2;
/** Per-generation capacity of the host (/32, /128) hash maps, per family. */
export const MAX_HOST_ENTRIES_PER_FAMILY = FLT.HOST_MAX / 2;
/** Per-generation capacity of the name-rule map. */
export const MAX_NAME_ENTRIES = DNS.RULE_MAX / 2;
/** Per-generation capacity of the pattern set. */
export const MAX_PATTERNS = DNS.PAT_MAX / 2;
/** Per-generation capacity of the via groups. */
export const MAX_VIA_GROUPS = FLT.VIA_GROUPS_MAX / 2;
/** Per-generation capacity of the port trie. */
export const MAX_PORT_ENTRIES = FLT.PORT_MAX / 2;

const PROTO_NUMBERS: Record<Exclude<Protocol, "any">, number> = {
  tcp: FLT.PROTO_TCP,
  udp: FLT.PROTO_UDP,
  icmp: FLT.PROTO_ICMP,
  icmpv6: FLT.PROTO_ICMPV6,
};

/** The keyed protocols a rule covers: "any" is every protocol, or TCP+UDP when it names ports. */
export function ruleProtocols(rule: Pick<Rule, "protocol" | "ports">): number[] {
  if (rule.protocol !== "any") return [PROTO_NUMBERS[rule.protocol]];
  if (rule.ports) return [FLT.PROTO_TCP, FLT.PROTO_UDP];
  return [FLT.PROTO_TCP, FLT.PROTO_UDP, FLT.PROTO_ICMP, FLT.PROTO_ICMPV6, FLT.PROTO_OTHER];
}

/** ICMP exists only over IPv4 and ICMPv6 only over IPv6. */
function familyFits(proto: number, family: 4 | 6): boolean {
  if (proto === FLT.PROTO_ICMP) return family === 4;
  if (proto === FLT.PROTO_ICMPV6) return family === 6;
  return true;
}

const verdictCode = (v: "allow" | "deny") => v === "allow" ? FLT.ALLOW : FLT.DENY;
const dirCode = (d: "in" | "out") => d === "in" ? FLT.DIR_IN : FLT.DIR_OUT;

const ANY_V4 = { family: 4 as const, addr: new Uint8Array(4), prefix: 0 };
const ANY_V6 = { family: 6 as const, addr: new Uint8Array(16), prefix: 0 };

/**
 * Compiles `policy.rules` and `policy.defaults`. Throws {@link CompileError} when the rule set
 * exceeds the kernel tables; rules of apps without a kernel identity are listed in `skipped`.
 *
 * @example
 * ```ts
 * const c = compilePolicy(policy, { appId: (name) => registry.idOf(name) });
 * filter.apply(c);
 * ```
 */
export function compilePolicy(policy: Policy, opts: CompileOptions = {}): CompiledPolicy {
  const rules = policy.rules;
  if (rules.length > FLT.MAX_RULES) {
    throw new CompileError(
      `too many rules: ${rules.length}; the packet filter holds at most ${FLT.MAX_RULES}`,
    );
  }
  const skipped: SkippedRule[] = [];
  // The id each rule's table entries are keyed by: its app (0: none), or for a via rule its
  // (app, via) group's key id; -1 when the rule cannot match yet (skipped).
  const appIds: number[] = [];
  const vias: CompiledViaGroup[] = [];
  const viaGroups = new Map<string, number>();
  rules.forEach((r, i) => {
    appIds[i] = 0;
    if (r.app === undefined && r.via === undefined) return;
    if (r.direction !== "out") {
      throw new CompileError(
        `rule "${r.id}": ${r.app !== undefined ? "app" : "via"} is only allowed on direction "out"`,
      );
    }
    let app = 0;
    if (r.app !== undefined) {
      const id = opts.appId?.(r.app);
      if (id === undefined || id <= 0) {
        skipped.push({ id: r.id, reason: `app "${r.app}" has no approved kernel identity yet` });
        appIds[i] = -1;
        return;
      }
      app = id;
    }
    appIds[i] = app;
    if (r.via === undefined) return;
    const via = opts.appId?.(r.via);
    if (via === undefined || via <= 0) {
      skipped.push({ id: r.id, reason: `via app "${r.via}" has no approved kernel identity yet` });
      appIds[i] = -1;
      return;
    }
    const group = `${app}/${via}`;
    let keyId = viaGroups.get(group);
    if (keyId === undefined) {
      keyId = FLT.VIA_ID_BASE + vias.length;
      viaGroups.set(group, keyId);
      vias.push({ appId: app, viaApp: via, keyId });
    }
    appIds[i] = keyId;
  });
  if (vias.length > MAX_VIA_GROUPS) {
    throw new CompileError(
      `the rules need ${vias.length} (app, via) groups; at most ${MAX_VIA_GROUPS} fit`,
    );
  }

  // Port classes per (dir, proto), from every rule that names ports.
  const rangesByGroup = new Map<string, { dir: number; proto: number; ranges: Rule["ports"] }>();
  rules.forEach((r, i) => {
    if (!r.ports || appIds[i] < 0) return;
    for (const p of ruleProtocols(r)) {
      const key = `${dirCode(r.direction)}/${p}`;
      const g = rangesByGroup.get(key) ?? { dir: dirCode(r.direction), proto: p, ranges: [] };
      g.ranges!.push(...r.ports);
      rangesByGroup.set(key, g);
    }
  });
  let nextClass = 0;
  const classesByGroup = new Map<
    string,
    { intervals: ReturnType<typeof elementaryIntervals>; base: number }
  >();
  const ports: CompiledPortEntry[] = [];
  for (const [key, g] of rangesByGroup) {
    const intervals = elementaryIntervals(g.ranges!);
    const base = nextClass;
    nextClass += intervals.length;
    classesByGroup.set(key, { intervals, base });
    intervals.forEach((iv, k) => {
      for (const pre of rangeToPrefixes(iv.from, iv.to)) {
        ports.push({
          dir: g.dir,
          proto: g.proto,
          port: pre.port,
          bits: pre.bits,
          pclass: base + k,
        });
      }
    });
  }
  for (const exact of [true, false]) {
    const n = ports.filter((p) => (p.bits === 16) === exact).length;
    if (n > MAX_PORT_ENTRIES) {
      throw new CompileError(
        `the rules' ports need ${n} ${exact ? "single-port" : "port-range"} entries; at most ` +
          `${MAX_PORT_ENTRIES} fit`,
      );
    }
  }

  // Raw address entries grouped by (family, dir, proto, class, app).
  const groups = new Map<
    string,
    {
      family: 4 | 6;
      dir: number;
      proto: number;
      pclass: number;
      appId: number;
      raw: { addr: Uint8Array; bits: number; rule: number }[];
    }
  >();
  const names: CompiledNameEntry[] = [];
  const nameSeen = new Set<string>();
  const patterns = new Map<bigint, string>();
  const classesOf = (r: Rule, dir: number, proto: number): number[] => {
    if (!r.ports) return [FLT.PCLASS_ANY];
    const cg = classesByGroup.get(`${dir}/${proto}`)!;
    const set = new Set<number>();
    for (const range of r.ports) {
      for (const k of intervalsWithin(cg.intervals, range)) set.add(cg.base + k);
    }
    return [...set];
  };
  rules.forEach((r, i) => {
    if (appIds[i] < 0 || !r.remoteHost) return;
    // Names are judged in the connect hooks, which see TCP and UDP.
    const protos = ruleProtocols(r).filter((p) => p === FLT.PROTO_TCP || p === FLT.PROTO_UDP);
    for (const host of r.remoteHost) {
      const pat = nameHash(host.text);
      patterns.set(pat, host.text);
      for (const proto of protos) {
        for (const pclass of classesOf(r, FLT.DIR_OUT, proto)) {
          const key = `${proto}/${pclass}/${appIds[i]}/${pat}`;
          if (nameSeen.has(key)) continue; // an earlier rule already decides this key
          nameSeen.add(key);
          names.push({
            proto,
            pclass,
            appId: appIds[i],
            pat,
            text: host.text,
            rule: i,
            action: verdictCode(r.action),
          });
        }
      }
    }
  });
  if (names.length > MAX_NAME_ENTRIES) {
    throw new CompileError(
      `the rules need ${names.length} name entries; at most ${MAX_NAME_ENTRIES} fit`,
    );
  }
  if (patterns.size > MAX_PATTERNS) {
    throw new CompileError(
      `the rules name ${patterns.size} host patterns; at most ${MAX_PATTERNS} fit`,
    );
  }
  rules.forEach((r, i) => {
    if (appIds[i] < 0 || r.remoteHost) return;
    const dir = dirCode(r.direction);
    const nets = r.remote ?? [ANY_V4, ANY_V6];
    for (const proto of ruleProtocols(r)) {
      let classes = [FLT.PCLASS_ANY as number];
      if (r.ports) {
        const cg = classesByGroup.get(`${dir}/${proto}`)!;
        const set = new Set<number>();
        for (const range of r.ports) {
          for (const k of intervalsWithin(cg.intervals, range)) set.add(cg.base + k);
        }
        classes = [...set];
      }
      for (const net of nets) {
        if (!familyFits(proto, net.family)) continue;
        for (const pclass of classes) {
          const key = `${net.family}/${dir}/${proto}/${pclass}/${appIds[i]}`;
          let g = groups.get(key);
          if (!g) {
            g = { family: net.family, dir, proto, pclass, appId: appIds[i], raw: [] };
            groups.set(key, g);
          }
          g.raw.push({ addr: net.addr, bits: net.prefix, rule: i });
        }
      }
    }
  });
  const addrs: CompiledAddrEntry[] = [];
  let anyMask = 0;
  const perFamily = { 4: 0, 6: 0 };
  const hostsPerFamily = { 4: 0, 6: 0 };
  for (const g of groups.values()) {
    if (g.pclass === FLT.PCLASS_ANY) anyMask |= anyBit(g.dir, g.proto);
    for (const e of propagateFirstMatch(g.raw)) {
      if (e.bits === (g.family === 4 ? 32 : 128)) hostsPerFamily[g.family]++;
      else perFamily[g.family]++;
      addrs.push({
        family: g.family,
        dir: g.dir,
        proto: g.proto,
        pclass: g.pclass,
        appId: g.appId,
        addr: e.addr,
        bits: e.bits,
        rule: e.rule,
        action: verdictCode(rules[e.rule].action),
      });
    }
  }
  for (const f of [4, 6] as const) {
    if (hostsPerFamily[f] > MAX_HOST_ENTRIES_PER_FAMILY) {
      throw new CompileError(
        `the rules need ${hostsPerFamily[f]} IPv${f} host entries; at most ` +
          `${MAX_HOST_ENTRIES_PER_FAMILY} fit`,
      );
    }
    if (perFamily[f] > MAX_ADDR_ENTRIES_PER_FAMILY) {
      throw new CompileError(
        `the rules need ${perFamily[f]} IPv${f} address-table entries; at most ` +
          `${MAX_ADDR_ENTRIES_PER_FAMILY} fit (many port ranges times many networks?)`,
      );
    }
  }
  const d = policy.defaults;
  return {
    ports,
    addrs,
    names,
    patterns: [...patterns.keys()],
    defaults: {
      mode: d.mode === "enforcing" ? 1 : 0,
      inbound: verdictCode(d.inbound),
      outbound: verdictCode(d.outbound),
      untracked: verdictCode(d.untracked),
    },
    ruleIds: rules.map((r) => r.id),
    vias,
    anyMask: (vias.length ? anyMask | FLT.VIA_BIT : anyMask) >>> 0,
    skipped,
  };
}
