/**
 * The packet filter's maps by fd (bpf/filter.bpf.c): write compiled policies atomically, read the
 * counters and flows, whether the maps come from a freshly loaded object (src/kernel/filter.ts) or
 * from the pins of a running instance ({@link openPinnedFilterMaps}).
 *
 * Split from filter.ts so that reading counters does not load the embedded BPF object (a 200 KB
 * base64 literal decoded at import): `hashwall rules list` is a read-only command with a latency
 * goal (bench/cli.ts).
 *
 * Atomic reload: the maps hold two generations side by side. `apply()` clears and fills the
 * inactive generation, then switches `hw_flt_ctl.active_gen` with one map update; a packet reads
 * the generation once, so it sees either the old or the new policy, never a mix.
 *
 * @module
 */
import {
  closeBpfFd,
  mapDelete,
  mapInfo,
  mapKeys,
  mapLookup,
  mapLookupPerCpu,
  mapUpdate,
  numPossibleCpus,
  objGet,
} from "../../ffi/libbpf.ts";
import {
  decodeCtl,
  decodeFlow,
  encodeCtl,
  encodeGen,
  encodeHostKey,
  encodeLpmKey,
  encodeMatch,
  encodePortKey,
  encodePortxKey,
  encodeU32,
  encodeViaKey,
  type FlowEntry,
  FLT,
  FLT_COUNTER_NAMES,
  FLT_LAYOUT,
  hashKeyGen,
  lpmKeyGen,
  portKeyGen,
  type SlotCounter,
  sumCounters,
} from "../../ffi/filter_structs.ts";
import type { CompiledPolicy } from "../policy/compile.ts";
import {
  decodeU64,
  DNS_LAYOUT,
  encodeNameRuleKey,
  encodeU64,
  nameRuleKeyGen,
} from "../../ffi/dns_structs.ts";
import { exists } from "../base/fs.ts";

/**
 * The maps bpf/rules_app.h defines: an object that includes the header (the kernel core's
 * connect hooks) must `reuseFd` each from `<pinRoot>/filter/maps/<name>` before load.
 */
export const RULE_MAPS = [
  "hw_flt_ctl",
  "hw_flt_gen",
  "hw_flt_port",
  "hw_flt_portx",
  "hw_flt_lpm4",
  "hw_flt_lpm6",
  "hw_flt_host4",
  "hw_flt_host6",
  "hw_flt_sockok",
  "hw_flt_names",
  "hw_flt_pats",
  "hw_flt_via",
] as const;

/** Every map of the filter object; each is pinned as `<pinRoot>/filter/maps/<name>`. */
export const FILTER_MAPS = [
  ...RULE_MAPS,
  "hw_flt_flows",
  "hw_flt_rcnt",
  "hw_flt_stats",
  "hw_flt_ifl3",
] as const;

/** Name of a filter map. */
export type FilterMapName = typeof FILTER_MAPS[number];

/**
 * The policy seq after `seq` whose low bit is generation `gen`: hw_flt_ctl.seq only grows, and
 * the connect hooks read the generation from its low bit (bpf/verdict_cache.h).
 */
export function nextSeq(seq: number, gen: number): number {
  const next = (seq + 1) >>> 0;
  return (next & 1) === gen ? next : (next + 1) >>> 0;
}

/** Flow idle timeouts in seconds. */
export interface FlowTimeouts {
  tcpIdleS: number;
  udpIdleS: number;
  icmpIdleS: number;
  /** After FIN both ways: how long the last ACKs of a closing TCP flow still pass. */
  tcpCloseS: number;
}

/** Timeouts used unless the loader is told otherwise. */
export const DEFAULT_TIMEOUTS: Readonly<FlowTimeouts> = {
  tcpIdleS: 7200,
  udpIdleS: 60,
  icmpIdleS: 30,
  tcpCloseS: 10,
};

/** What `counters()` reports. */
export interface FilterCounters {
  /** Active generation (0 or 1). */
  generation: number;
  mode: "learning" | "enforcing";
  /** Rules in the active generation. */
  nrules: number;
  /** Global counters by name (see FLT_COUNTER_NAMES). */
  stats: Record<string, number>;
  /** Per-rule counters of the active generation, by rule index. */
  rules: SlotCounter[];
  defaults: {
    inbound: SlotCounter;
    outbound: SlotCounter;
    untracked: SlotCounter;
    socket: SlotCounter;
  };
  flows: {
    live: number;
    capacity: number;
    inserted: number;
    closed: number;
    expired: number;
    /** Removed by the LRU to make room: inserted − live − every counted removal. */
    evicted: number;
  };
}

const TIMEOUT_MAX_S = 7 * 24 * 3600;

/** Throws a RangeError unless every timeout is whole seconds in 1..7 days (for the loader too). */
export function checkTimeouts(t: FlowTimeouts): void {
  for (const [k, v] of Object.entries(t)) {
    if (!Number.isInteger(v) || v < 1 || v > TIMEOUT_MAX_S) {
      throw new RangeError(`flow timeout ${k} = ${v}: expected whole seconds 1..${TIMEOUT_MAX_S}`);
    }
  }
}

/**
 * The filter's maps by fd: enough to write policies and read counters, whether they came from a
 * freshly loaded object or from the pins of a running instance (`openPinnedFilterMaps`).
 */
export class FilterMaps {
  /** Map fds by name. */
  readonly fds: Record<FilterMapName, number>;
  #owned: boolean;

  /** Internal: use {@link loadPacketFilter} or {@link openPinnedFilterMaps}. */
  constructor(fds: Record<FilterMapName, number>, owned: boolean) {
    this.fds = fds;
    this.#owned = owned;
  }

  /** The control element: active generation and timeouts. */
  ctl(): {
    activeGen: number;
    tcpIdleS: number;
    udpIdleS: number;
    icmpIdleS: number;
    tcpCloseS: number;
    seq: number;
  } {
    const v = mapLookup(this.fds.hw_flt_ctl, encodeU32(0), FLT_LAYOUT.hw_flt_ctl.size);
    return decodeCtl(v!);
  }

  /** Reads one generation's defaults element. */
  gen(
    gen: number,
  ): { mode: number; defIn: number; defOut: number; defUntracked: number; nrules: number } {
    const v = mapLookup(this.fds.hw_flt_gen, encodeU32(gen), FLT_LAYOUT.hw_flt_gen.size)!;
    const dv = new DataView(v.buffer);
    const f = FLT_LAYOUT.hw_flt_gen.fields;
    return {
      mode: dv.getUint32(f.mode, true),
      defIn: dv.getUint32(f.def_in, true),
      defOut: dv.getUint32(f.def_out, true),
      defUntracked: dv.getUint32(f.def_untracked, true),
      nrules: dv.getUint32(f.nrules, true),
    };
  }

  /** Writes the flow timeouts (keeps the active generation). */
  setTimeouts(t: FlowTimeouts): void {
    checkTimeouts(t);
    const cur = this.ctl();
    mapUpdate(this.fds.hw_flt_ctl, encodeU32(0), encodeCtl({ ...cur, ...t }));
  }

  /**
   * Writes `compiled` into the inactive generation and switches to it with one update. Returns
   * the new active generation. If writing fails the old generation stays active. `carryFrom`
   * (the rule ids of the active generation) keeps hit counters of rules whose id stays.
   */
  apply(compiled: CompiledPolicy, carryFrom?: readonly string[]): number {
    const ctl = this.ctl();
    const target = ctl.activeGen === 0 ? 1 : 0;
    const previous = this.gen(target);
    // 1. Empty the inactive generation (left over from two policies ago).
    for (
      const [name, genOf] of [
        ["hw_flt_port", portKeyGen],
        ["hw_flt_portx", hashKeyGen],
        ["hw_flt_lpm4", lpmKeyGen],
        ["hw_flt_lpm6", lpmKeyGen],
        ["hw_flt_host4", hashKeyGen],
        ["hw_flt_host6", hashKeyGen],
        ["hw_flt_via", hashKeyGen],
      ] as const
    ) {
      const fd = this.fds[name];
      const keySize = mapInfo(fd).keySize;
      // Collect first: deleting during LPM get_next_key iteration restarts the walk.
      const stale = [...mapKeys(fd, keySize)].filter((k) => genOf(k) === target);
      for (const k of stale) mapDelete(fd, k);
    }
    const zero = new Uint8Array(
      Math.ceil(FLT_LAYOUT.hw_flt_counter.size / 8) * 8 * numPossibleCpus(),
    );
    // Counters start from zero, or carry on from the active generation for rules kept by id
    // (and for the defaults), so a reload does not reset hit counts.
    const rcnt = this.fds.hw_flt_rcnt;
    const oldIndex = new Map((carryFrom ?? []).map((id, i) => [id, i]));
    const carry = (from: number | undefined, to: number) => {
      const old = from === undefined
        ? null
        : mapLookup(rcnt, encodeU32(ctl.activeGen * FLT.SLOTS + from), zero.length);
      mapUpdate(rcnt, encodeU32(target * FLT.SLOTS + to), old ?? zero);
    };
    const slots = Math.max(previous.nrules, compiled.ruleIds.length);
    for (let s = 0; s < slots; s++) {
      carry(s < compiled.ruleIds.length ? oldIndex.get(compiled.ruleIds[s]) : undefined, s);
    }
    for (let s = FLT.MAX_RULES; s < FLT.SLOTS; s++) carry(carryFrom ? s : undefined, s);
    // 2. Fill it.
    for (const e of compiled.ports) {
      if (e.bits === 16) {
        const key = encodePortxKey({ gen: target, dir: e.dir, proto: e.proto, port: e.port });
        mapUpdate(this.fds.hw_flt_portx, key, encodeU32(e.pclass));
        continue;
      }
      const key = encodePortKey({
        gen: target,
        dir: e.dir,
        proto: e.proto,
        port: e.port,
        portPrefix: e.bits,
      });
      mapUpdate(this.fds.hw_flt_port, key, encodeU32(e.pclass));
    }
    for (const e of compiled.addrs) {
      if (e.bits === e.addr.length * 8) {
        const key = encodeHostKey({
          gen: target,
          dir: e.dir,
          proto: e.proto,
          pclass: e.pclass,
          appId: e.appId,
          addr: e.addr,
        });
        const fd = e.family === 4 ? this.fds.hw_flt_host4 : this.fds.hw_flt_host6;
        mapUpdate(fd, key, encodeMatch(e.rule, e.action));
        continue;
      }
      const key = encodeLpmKey({
        gen: target,
        dir: e.dir,
        proto: e.proto,
        pclass: e.pclass,
        appId: e.appId,
        addr: e.addr,
        addrPrefix: e.bits,
      });
      mapUpdate(
        e.family === 4 ? this.fds.hw_flt_lpm4 : this.fds.hw_flt_lpm6,
        key,
        encodeMatch(e.rule, e.action),
      );
    }
    this.#writeNames(compiled, target);
    // [[rule]] via groups: (rule app or 0, via app) -> the key id their rules were written under.
    for (const v of compiled.vias) {
      mapUpdate(this.fds.hw_flt_via, encodeViaKey(target, v.appId, v.viaApp), encodeU32(v.keyId));
    }
    const d = compiled.defaults;
    mapUpdate(
      this.fds.hw_flt_gen,
      encodeU32(target),
      encodeGen({
        mode: d.mode,
        defIn: d.inbound,
        defOut: d.outbound,
        defUntracked: d.untracked,
        nrules: compiled.ruleIds.length,
        anyMask: compiled.anyMask,
      }),
    );
    // 3. The switch: one update of the control element. The new seq retires every verdict the
    // connect hooks cached under the old policy (bpf/verdict_cache.h), and its low bit is the new
    // generation (the hooks take both from that one word); it is kept across restarts.
    mapUpdate(
      this.fds.hw_flt_ctl,
      encodeU32(0),
      encodeCtl({ ...ctl, activeGen: target, seq: nextSeq(ctl.seq, target) }),
    );
    return target;
  }

  /**
   * Name rules of generation `target`: its old entries out, the new ones in; the pattern set
   * (one bit per generation) keeps the active generation's patterns while the new ones join.
   */
  #writeNames(compiled: CompiledPolicy, target: number): void {
    const names = this.fds.hw_flt_names;
    const stale = [...mapKeys(names, DNS_LAYOUT.hw_dns_rule_key.size)]
      .filter((k) => nameRuleKeyGen(k) === target);
    for (const k of stale) mapDelete(names, k);
    const pats = this.fds.hw_flt_pats;
    const bit = 1 << target;
    const want = new Set(compiled.patterns);
    for (const k of [...mapKeys(pats, 8)]) {
      const pat = decodeU64(k);
      if (want.has(pat)) continue;
      const v = mapLookup(pats, k, 4);
      const mask = v ? new DataView(v.buffer).getUint32(0, true) & ~bit : 0;
      if (mask === 0) mapDelete(pats, k);
      else mapUpdate(pats, k, encodeU32(mask));
    }
    for (const pat of want) {
      const k = encodeU64(pat);
      const v = mapLookup(pats, k, 4);
      const mask = (v ? new DataView(v.buffer).getUint32(0, true) : 0) | bit;
      mapUpdate(pats, k, encodeU32(mask));
    }
    for (const e of compiled.names) {
      const key = encodeNameRuleKey({
        gen: target,
        dir: FLT.DIR_OUT,
        proto: e.proto,
        pclass: e.pclass,
        appId: e.appId,
        pat: e.pat,
      });
      mapUpdate(names, key, encodeMatch(e.rule, e.action));
    }
  }

  #slot(gen: number, slot: number): SlotCounter {
    const v = mapLookupPerCpu(
      this.fds.hw_flt_rcnt,
      encodeU32(gen * FLT.SLOTS + slot),
      FLT_LAYOUT.hw_flt_counter.size,
    );
    return v ? sumCounters(v) : { packets: 0, bytes: 0, wouldDrop: 0, dropped: 0 };
  }

  /**
   * Counters of the active generation, global counters and the flow table's fill. With
   * `rules: false` the per-rule counters are not read (`rules` is empty): one lookup per rule
   * made a /metrics scrape with 10 000 rules cost ~225 ms of CPU, for numbers it does not show.
   */
  counters(opts: { rules?: boolean } = {}): FilterCounters {
    const gen = this.ctl().activeGen;
    const g = this.gen(gen);
    const stats: Record<string, number> = {};
    FLT_COUNTER_NAMES.forEach((name, i) => {
      const v = mapLookupPerCpu(this.fds.hw_flt_stats, encodeU32(i), 8) ?? [];
      stats[name] = v.reduce(
        (a, b) => a + Number(new DataView(b.buffer, b.byteOffset).getBigUint64(0, true)),
        0,
      );
    });
    const rules: SlotCounter[] = [];
    if (opts.rules !== false) { for (let i = 0; i < g.nrules; i++) rules.push(this.#slot(gen, i)); }
    let live = 0;
    for (const _ of mapKeys(this.fds.hw_flt_flows, FLT_LAYOUT.hw_flt_flow_key.size)) live++;
    const removed = stats.flow_closed + stats.flow_expired + stats.rejudge_drop;
    return {
      generation: gen,
      mode: g.mode === 1 ? "enforcing" : "learning",
      nrules: g.nrules,
      stats,
      rules,
      defaults: {
        inbound: this.#slot(gen, FLT.SLOT_DEFAULT_IN),
        outbound: this.#slot(gen, FLT.SLOT_DEFAULT_OUT),
        untracked: this.#slot(gen, FLT.SLOT_UNTRACKED),
        socket: this.#slot(gen, FLT.SLOT_SOCKET),
      },
      flows: {
        live,
        capacity: FLT.FLOWS_MAX,
        inserted: stats.new_flow,
        closed: stats.flow_closed,
        expired: stats.flow_expired,
        evicted: Math.max(0, stats.new_flow - live - removed),
      },
    };
  }

  /** Every entry of the flow table (for diagnostics and tests). */
  flows(): FlowEntry[] {
    const fd = this.fds.hw_flt_flows;
    const out: FlowEntry[] = [];
    for (const k of mapKeys(fd, FLT_LAYOUT.hw_flt_flow_key.size)) {
      const v = mapLookup(fd, k, FLT_LAYOUT.hw_flt_flow.size);
      if (v) out.push(decodeFlow(k, v));
    }
    return out;
  }

  /** Closes the fds when this object opened them from pins (not the object's own). */
  close(): void {
    if (!this.#owned) return;
    for (const fd of Object.values(this.fds)) closeBpfFd(fd);
    this.#owned = false;
  }
}

/** Pin folder of the filter under an instance's pin root. */
export function filterPinDir(pinRoot: string): string {
  return `${pinRoot.replace(/\/+$/, "")}/filter`;
}

/**
 * Opens the maps of a running filter from its pins (read counters, or write a policy from a
 * process other than the loader). Throws a clear error when the filter is not loaded.
 */
export function openPinnedFilterMaps(pinRoot: string): FilterMaps {
  const dir = `${filterPinDir(pinRoot)}/maps`;
  if (!exists(`${dir}/hw_flt_ctl`)) {
    throw new Error(`the packet filter is not loaded (no pins in ${dir}); is the daemon running?`);
  }
  const fds = {} as Record<FilterMapName, number>;
  try {
    for (const name of FILTER_MAPS) fds[name] = objGet(`${dir}/${name}`);
  } catch (e) {
    for (const fd of Object.values(fds)) closeBpfFd(fd);
    throw e;
  }
  return new FilterMaps(fds, true);
}
