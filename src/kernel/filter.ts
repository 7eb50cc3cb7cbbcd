/**
 * Loads the packet filter (bpf/filter.bpf.c), attaches it with tcx to interfaces and keeps its
 * maps (src/kernel/filter_maps.ts: policy writes, counters). Maps and links are pinned under
 * `<pinRoot>/filter/`, so the filter keeps enforcing while the daemon restarts, and a restarted
 * daemon reuses the same maps (flows and counters survive) and swaps its programs in under the
 * pinned links with no gap.
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
  mapUpdate,
  mountBpffs,
  objGet,
  objPin,
} from "../../ffi/libbpf.ts";
import { encodeCtl, encodeU32, type FlowEntry } from "../../ffi/filter_structs.ts";
import type { CompiledPolicy } from "../policy/compile.ts";
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
import {
  checkTimeouts,
  DEFAULT_TIMEOUTS,
  FILTER_MAPS,
  type FilterCounters,
  type FilterMapName,
  FilterMaps,
  filterPinDir,
  type FlowTimeouts,
  nextSeq,
  openPinnedFilterMaps,
} from "./filter_maps.ts";

// What used to live here, for the modules that import it from filter.ts.
export {
  DEFAULT_TIMEOUTS,
  FILTER_MAPS,
  type FilterCounters,
  type FilterMapName,
  FilterMaps,
  filterPinDir,
  type FlowTimeouts,
  openPinnedFilterMaps,
  RULE_MAPS,
} from "./filter_maps.ts";
/** The embedded filter object (build.sh compiles bpf/filter.bpf.c first). */
export const FILTER_OBJECT: Uint8Array = filterObject;

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

/** Writes the flow timeouts, keeping the active generation and the policy seq. */
function writeTimeouts(maps: FilterMaps, timeouts: FlowTimeouts): void {
  const ctl = maps.ctl();
  // Pins of a build before seq existed hold seq 0 whatever the generation: align its low bit
  // (the connect hooks take the generation from it, bpf/verdict_cache.h).
  const seq = (ctl.seq & 1) === ctl.activeGen ? ctl.seq : nextSeq(ctl.seq, ctl.activeGen);
  mapUpdate(maps.fds.hw_flt_ctl, encodeU32(0), encodeCtl({ ...ctl, ...timeouts, seq }));
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
