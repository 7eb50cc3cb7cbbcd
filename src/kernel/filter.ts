/**
 * Loads the packet filter (bpf/filter.bpf.c), attaches it with tcx to interfaces, writes compiled
 * policies atomically and reads its counters. Maps and links are pinned under
 * `<pinRoot>/filter/`, so the filter keeps enforcing while the daemon restarts, and a restarted
 * daemon reuses the same maps (flows and counters survive) and swaps its programs in under the
 * pinned links with no gap.
 *
 * Atomic reload: the maps hold two generations side by side. `apply()` clears and fills the
 * inactive generation, then switches `hw_flt_ctl.active_gen` with one map update; a packet reads
 * the generation once, so it sees either the old or the new policy, never a mix.
 *
 * @module
 */
import filterObject from "../../build/bpf/filter.bpf.o" with { type: "bytes" };
import {
  AttachType,
  BpfObject,
  closeBpfFd,
  isBpffsMounted,
  linkCreate,
  linkDetach,
  linkUpdate,
  mapDelete,
  mapInfo,
  mapKeys,
  mapLookup,
  mapLookupPerCpu,
  mapUpdate,
  mountBpffs,
  numPossibleCpus,
  objGet,
  objPin,
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
import {
  ARPHRD_ETHER,
  ARPHRD_LOOPBACK,
  ifIndex,
  inNetns,
  listInterfaces,
  type NetInterface,
  netnsLabel,
} from "./filter_netns.ts";
import { exists } from "../base/fs.ts";

/** The embedded filter object (build.sh compiles bpf/filter.bpf.c first). */
export const FILTER_OBJECT: Uint8Array = filterObject;

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

/** Options of {@link loadPacketFilter}. */
export interface LoadFilterOptions {
  /** bpffs folder of the instance, e.g. `/sys/fs/bpf/hashwall/default`. */
  pinRoot: string;
  timeouts?: Partial<FlowTimeouts>;
  /** The compiled object; defaults to the embedded build/bpf/filter.bpf.o. */
  object?: Uint8Array;
  /**
   * Load (and verify) the programs only at the first attach: for a daemon that attaches to no
   * interface (`--interfaces none`), which then never pays for them. The maps exist at once.
   */
  deferPrograms?: boolean;
}

/** One attached program. */
export interface AttachPoint {
  ifname: string;
  /** Network namespace file the device lives in; undefined = the daemon's own. */
  netns?: string;
  ifindex: number;
  direction: "in" | "out";
  /** bpffs pin of the tcx link. */
  pin: string;
}

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

function checkTimeouts(t: FlowTimeouts): void {
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
    mapUpdate(this.fds.hw_flt_ctl, encodeU32(0), encodeCtl({ ...t, activeGen: cur.activeGen }));
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
    // 3. The switch: one update of the control element.
    mapUpdate(this.fds.hw_flt_ctl, encodeU32(0), encodeCtl({ ...ctl, activeGen: target }));
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

// bpffs refuses names with "." (EPERM), and interface names may hold one (eth0.100).
function linkPinName(tag: string, ifname: string, direction: string): string {
  return `${tag}__${ifname.replaceAll(".", "+")}__${direction}`;
}

function ifnameOfPin(name: string): string {
  return (name.split("__")[1] ?? "").replaceAll("+", ".");
}

/**
 * The interfaces to filter, from the interfaces `present` in a namespace: the configured ones
 * (`[defaults] interfaces`), or when none are configured every non-loopback one (told by device
 * type). Throws naming a configured interface that is not present, the namespace (`where`) and
 * the interfaces that are.
 *
 * @example
 * ```ts
 * checkInterfaces(["veth0"], [{ name: "lo", type: 772 }, { name: "veth0", type: 1 }], "ns x");
 * // ["veth0"]
 * ```
 */
export function checkInterfaces(
  configured: readonly string[],
  present: readonly NetInterface[],
  where: string,
): string[] {
  const names = present.map((i) => i.name).sort();
  if (configured.length === 0) {
    return present.filter((i) => i.type !== ARPHRD_LOOPBACK).map((i) => i.name).sort();
  }
  for (const n of configured) {
    if (n === "lo") {
      throw new Error('interface "lo" cannot be filtered: loopback is always allowed');
    }
    if (!names.includes(n)) {
      throw new Error(
        `configured interface "${n}" does not exist in ${where} (present: ${names.join(", ")})`,
      );
    }
  }
  return [...configured];
}

/**
 * The interfaces to filter in the network namespace the filter attaches in: the daemon's own, or
 * the one at `netns` (`--netns`). Asked of that namespace itself (if_nameindex, netlink), never of
 * `/sys/class/net`, which shows the mount namespace's view. See {@link checkInterfaces}.
 *
 * @example
 * ```ts
 * filter.attach(resolveInterfaces(policy.defaults.interfaces));
 * ```
 */
export function resolveInterfaces(configured: readonly string[], netns?: string): string[] {
  return checkInterfaces(configured, inNetns(netns, listInterfaces), netnsLabel(netns));
}

/**
 * Every non-loopback interface present now in the namespace the filter attaches in (the
 * daemon's, or the one at `netns`). The daemon filters these when no interfaces are configured,
 * and follows them as they come and go.
 */
export function presentInterfaces(netns?: string): string[] {
  return resolveInterfaces([], netns);
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

/** The loaded packet filter: its programs, pinned maps and attach points. */
export class PacketFilter {
  /** The filter's maps (policy writes, counters). */
  readonly maps: FilterMaps;
  /** Pin folder: `<pinRoot>/filter`. */
  readonly pinDir: string;
  #obj: BpfObject | null;
  /** Loads the programs (reusing the pinned maps) the first time they are needed. */
  #loadPrograms: (() => BpfObject) | null;
  #progFds?: { ingress: number; egress: number };
  #links = new Map<string, { point: AttachPoint; fd: number }>();
  /** Rule ids of the policy this process applied last (hit counters carry over by id). */
  #lastRuleIds: readonly string[] | undefined;

  /**
   * Internal: use {@link loadPacketFilter}. `programs` is the loaded object, or a loader run at
   * the first attach (a daemon with `--interfaces none` never verifies programs it cannot use).
   */
  constructor(programs: BpfObject | (() => BpfObject), maps: FilterMaps, pinDir: string) {
    this.#obj = typeof programs === "function" ? null : programs;
    this.#loadPrograms = typeof programs === "function" ? programs : null;
    this.maps = maps;
    this.pinDir = pinDir;
  }

  /** The program fds, loading the programs now if they were deferred. */
  get #progs(): { ingress: number; egress: number } {
    if (!this.#progFds) {
      if (!this.#obj) {
        if (!this.#loadPrograms) throw new Error("packet filter: closed");
        this.#obj = this.#loadPrograms();
        this.#loadPrograms = null;
      }
      this.#progFds = {
        ingress: this.#obj.program("hw_flt_ingress").fd,
        egress: this.#obj.program("hw_flt_egress").fd,
      };
    }
    return this.#progFds;
  }

  /** Whether the programs are loaded (they are deferred until the first attach, see above). */
  get programsLoaded(): boolean {
    return this.#progFds !== undefined || this.#obj !== null;
  }

  /** Program fds (for run-time statistics); loads deferred programs. */
  get programFds(): { ingress: number; egress: number } {
    return { ...this.#progs };
  }

  /**
   * Attaches ingress and egress (tcx) to each interface. With `netns` (a namespace file such as
   * `/run/netns/NAME`), the devices are looked up and attached inside that namespace. A link
   * already pinned for the device (an earlier daemon) gets the new program swapped in with no
   * gap. All-or-nothing: on an error, links made by this call are removed again.
   */
  attach(ifnames: string[], opts: { netns?: string } = {}): AttachPoint[] {
    const made: string[] = [];
    const out: AttachPoint[] = [];
    const tag = opts.netns ? opts.netns.split("/").pop()!.replace(/[^A-Za-z0-9_-]/g, "_") : "host";
    Deno.mkdirSync(`${this.pinDir}/links`, { recursive: true });
    try {
      for (const ifname of ifnames) {
        if (!/^[^\s/:]{1,15}$/.test(ifname)) throw new Error(`invalid interface name "${ifname}"`);
        if (ifname === "lo" && !opts.netns) {
          throw new Error('refusing to attach to "lo": loopback is always allowed');
        }
        for (const direction of ["in", "out"] as const) {
          const pin = `${this.pinDir}/links/${linkPinName(tag, ifname, direction)}`;
          const prog = direction === "in" ? this.#progs.ingress : this.#progs.egress;
          const type = direction === "in" ? AttachType.TCX_INGRESS : AttachType.TCX_EGRESS;
          const [ifindex, devType] = inNetns(opts.netns, () => [
            ifIndex(ifname),
            listInterfaces().find((i) => i.name === ifname)?.type ?? ARPHRD_ETHER,
          ]);
          let fd = -1;
          if (exists(pin)) {
            const old = objGet(pin);
            try {
              linkUpdate(old, prog);
              fd = old;
            } catch {
              // The device behind the old link is gone: replace the stale pin.
              closeBpfFd(old);
              Deno.removeSync(pin);
            }
          }
          if (fd < 0) {
            fd = inNetns(opts.netns, () => linkCreate(prog, ifIndex(ifname), type));
            try {
              objPin(fd, pin);
            } catch (e) {
              closeBpfFd(fd);
              throw e;
            }
            made.push(pin);
          }
          // ifindexes are per namespace; the table is keyed by ifindex alone, so only the
          // daemon's own namespace is noted (test namespaces carry Ethernet veths).
          if (!opts.netns) this.#noteL3Offset(ifindex, devType);
          const point: AttachPoint = { ifname, ifindex, direction, pin };
          if (opts.netns) point.netns = opts.netns;
          this.#links.get(pin)?.fd !== undefined && closeBpfFd(this.#links.get(pin)!.fd);
          this.#links.set(pin, { point, fd });
          out.push(point);
        }
      }
    } catch (e) {
      for (const pin of made) this.#dropLink(pin);
      throw e;
    }
    return out;
  }

  // Devices without an Ethernet header (WireGuard, tun, ppp) hand tc the IP header at offset 0.
  // The type comes from the namespace the device lives in (not /sys/class/net, see listInterfaces).
  #noteL3Offset(ifindex: number, devType: number): void {
    const l2 = devType === ARPHRD_ETHER ? 14 : 0;
    mapUpdate(this.maps.fds.hw_flt_ifl3, encodeU32(ifindex), encodeU32(l2));
  }

  #dropLink(pin: string): void {
    const l = this.#links.get(pin);
    // Detach now: the last close only schedules the release, and a re-attach of the same
    // program before it runs fails with EEXIST.
    let fd = l?.fd;
    if (fd === undefined) {
      try {
        fd = objGet(pin);
      } catch { /* no such pin */ }
    }
    if (fd !== undefined) {
      try {
        linkDetach(fd);
      } catch { /* already defunct (device gone) */ }
      closeBpfFd(fd);
    }
    this.#links.delete(pin);
    try {
      Deno.removeSync(pin);
    } catch { /* already gone */ }
  }

  /** Current attach points. */
  attached(): AttachPoint[] {
    return [...this.#links.values()].map((l) => l.point);
  }

  /**
   * Writes a compiled policy atomically (see the module doc); hit counters of rules kept by id
   * carry over from the policy this process applied before. Returns the active generation.
   */
  apply(compiled: CompiledPolicy): number {
    const gen = this.maps.apply(compiled, this.#lastRuleIds);
    this.#lastRuleIds = compiled.ruleIds;
    return gen;
  }

  /** Counters of the active generation (see {@link FilterMaps.counters}). */
  counters(opts: { rules?: boolean } = {}): FilterCounters {
    return this.maps.counters(opts);
  }

  /** Every entry of the flow table. */
  flows(): FlowEntry[] {
    return this.maps.flows();
  }

  /**
   * Detaches from `ifnames` (all when omitted), including links pinned by earlier processes.
   * A detached device passes all traffic again.
   */
  detach(ifnames?: string[]): void {
    const dir = `${this.pinDir}/links`;
    let pins: string[] = [];
    try {
      pins = [...Deno.readDirSync(dir)].map((e) => `${dir}/${e.name}`);
    } catch { /* nothing pinned */ }
    for (const pin of new Set([...pins, ...this.#links.keys()])) {
      const ifname = ifnameOfPin(pin.split("/").pop()!);
      if (ifnames && !ifnames.includes(ifname)) continue;
      this.#dropLink(pin);
    }
  }

  /** Closes this process's handles; pins keep the filter enforcing (daemon exit/restart). */
  close(): void {
    for (const l of this.#links.values()) closeBpfFd(l.fd);
    this.#links.clear();
    this.#obj?.close();
    this.#obj = null;
    this.#loadPrograms = null;
    this.#progFds = undefined;
    this.maps.close();
  }

  /** Detaches everything, removes every pin of the filter and unloads it (`hashwall disable`). */
  destroy(): void {
    this.detach();
    for (const name of FILTER_MAPS) {
      try {
        Deno.removeSync(`${this.pinDir}/maps/${name}`);
      } catch { /* not pinned */ }
    }
    for (const d of [`${this.pinDir}/maps`, `${this.pinDir}/links`, this.pinDir]) {
      try {
        Deno.removeSync(d);
      } catch { /* not empty or gone */ }
    }
    this.close();
  }
}

/**
 * Loads the filter object, reusing the maps pinned under `<pinRoot>/filter/maps` when present
 * (pinning them otherwise), and writes the flow timeouts. Fresh maps hold no policy: every packet
 * passes until {@link PacketFilter.apply}.
 *
 * @example
 * ```ts
 * const f = loadPacketFilter({ pinRoot: "/sys/fs/bpf/hashwall/default" });
 * f.apply(compilePolicy(policy));
 * f.attach(["eth0"]);
 * ```
 */
export function loadPacketFilter(opts: LoadFilterOptions): PacketFilter {
  const timeouts = { ...DEFAULT_TIMEOUTS, ...opts.timeouts };
  checkTimeouts(timeouts);
  if (opts.pinRoot.startsWith("/sys/fs/bpf") && !isBpffsMounted("/sys/fs/bpf")) mountBpffs();
  const pinDir = filterPinDir(opts.pinRoot);
  const mapDir = `${pinDir}/maps`;
  Deno.mkdirSync(mapDir, { recursive: true });
  const bytes = opts.object ?? FILTER_OBJECT;
  const deferred = opts.deferPrograms === true;
  // Deferred with every map pinned (a restart): nothing to load now, the maps are the pins.
  if (deferred && FILTER_MAPS.every((name) => exists(`${mapDir}/${name}`))) {
    const maps = openPinnedFilterMaps(opts.pinRoot);
    writeTimeouts(maps, timeouts);
    return new PacketFilter(() => loadFilterObject(bytes, mapDir, true), maps, pinDir);
  }
  const obj = loadFilterObject(bytes, mapDir, !deferred);
  try {
    const fds = {} as Record<FilterMapName, number>;
    for (const name of FILTER_MAPS) fds[name] = obj.map(name).fd;
    const maps = new FilterMaps(fds, false);
    writeTimeouts(maps, timeouts);
    if (!deferred) return new PacketFilter(obj, maps, pinDir);
    // The maps exist and are pinned now; this object held them only to create them.
    obj.close();
    const pinned = openPinnedFilterMaps(opts.pinRoot);
    return new PacketFilter(() => loadFilterObject(bytes, mapDir, true), pinned, pinDir);
  } catch (e) {
    obj.close();
    throw e;
  }
}

/** Writes the flow timeouts, keeping the active generation. */
function writeTimeouts(maps: FilterMaps, timeouts: FlowTimeouts): void {
  const ctl = maps.ctl();
  mapUpdate(
    maps.fds.hw_flt_ctl,
    encodeU32(0),
    encodeCtl({ ...timeouts, activeGen: ctl.activeGen }),
  );
}

/**
 * Opens and loads the filter object on the maps pinned in `mapDir` (pinning the ones it had to
 * create); with `programs` false only the maps are created (no program is verified).
 */
function loadFilterObject(bytes: Uint8Array, mapDir: string, programs: boolean): BpfObject {
  const obj = BpfObject.openMem(bytes, "hw_filter");
  try {
    const reused: number[] = [];
    try {
      for (const name of FILTER_MAPS) {
        const pin = `${mapDir}/${name}`;
        if (!exists(pin)) continue;
        const fd = objGet(pin);
        reused.push(fd);
        obj.map(name).reuseFd(fd);
      }
    } finally {
      // reuseFd dups the fd, so ours can go.
      for (const fd of reused) closeBpfFd(fd);
    }
    if (!programs) { for (const p of obj.programs()) p.setAutoload(false); }
    obj.load();
    for (const name of FILTER_MAPS) {
      if (!exists(`${mapDir}/${name}`)) obj.map(name).pin(`${mapDir}/${name}`);
    }
    return obj;
  } catch (e) {
    obj.close();
    throw e;
  }
}
