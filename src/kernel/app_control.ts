/**
 * The app-control kernel core: loads hashwall.bpf.o, reuses an instance's pinned maps, attaches
 * the lineage tracepoints and the cgroup hooks, and gives typed access to the maps.
 *
 * Start order matters and is the caller's (src/daemon): `open` (maps + settings), `attachLineage`
 * (from now on fork/exec/exit keep hw_procs true), approvals, `fillRunningProcesses` (processes
 * that exec'd before the tracepoints), then `attachHooks` (verdicts start). A restarted daemon swaps
 * programs under the pinned links, so enforcement never lapses.
 *
 * @module
 */
import { RingReader } from "../../ffi/ringbuf.ts";
import { createHash } from "node:crypto";
import {
  attachTracepointPinned,
  BPF_NOEXIST,
  BpfObject,
  closeBpfFd,
  FdMap,
  linkDetach,
  linkProgId,
  linkUpdate,
  type MapHandle,
  mapInfo,
  mapLookupPerCpu,
  objGet,
  objPin,
  progInfo,
  progMaps,
  rawTracepointOpen,
} from "../../ffi/libbpf.ts";
import { close as closeFd, O_CLOEXEC, O_DIRECTORY, O_RDONLY, openPath } from "../../ffi/libc.ts";
import {
  COUNTER_NAMES,
  decodeAppVal,
  decodeExeKey,
  decodeProcVal,
  decodeSettings,
  decodeTaint,
  decodeWriteWatch,
  encodeAppVal,
  encodeArgvKey,
  encodeEnvKey,
  encodeExeKey,
  encodeProcVal,
  encodeScriptKey,
  encodeScriptRelKey,
  encodeScriptVal,
  encodeSettings,
  encodeU32s,
  encodeWriteWatch,
  type ExeKey,
  type FileTimes,
  HW,
  LAYOUT,
  type ProcVal,
  type Settings,
  type Taint,
  u32Key,
  type WriteWatch,
} from "../../ffi/structs.ts";
import { envEntries, grammarEntries } from "../policy/interpreters.ts";
import { HASHWALL_OBJECT } from "./objects.ts";
import { filterPinDir, RULE_MAPS } from "./filter_maps.ts";
import { BPFFS, pinExists, type PinPaths } from "./pins.ts";
import { SocketCloser } from "./sockets.ts";
import { tracepointId } from "./tracefs.ts";

/** Maps that persist across daemon restarts (pinned and reused). */
export const PERSISTENT_MAPS = [
  "hw_approved",
  "hw_procs",
  "hw_settings",
  "hw_counters",
  "hw_events",
  "hw_dedup",
  "hw_exec_paths",
  "hw_scripts",
  "hw_scripts_rel",
  "hw_app_exec",
  "hw_argv_grammar",
  "hw_env_vars",
  "hw_tainted",
  "hw_lineage",
  "hw_only_via",
  // Socket records: which trust each live socket rests on (bpf/sockets.h: by cookie, or in the
  // socket's storage for listeners). Pinned, so a restarted daemon can still close sockets opened
  // before it started.
  "hw_sock_trust",
  "hw_sock_slots",
  "hw_sock_hashed",
  "hw_sock_cookie",
  "hw_dns_socks",
  "hw_dns_queries",
  "hw_dns_addrs",
  "hw_dns_names",
  "hw_dns_stats",
  "hw_script_watch",
  // Identities the daemon approved → the newest writable open of each (bpf/write_revoke.h):
  // pinned, so the re-approval guard holds across a restart over pins.
  "hw_write_watch",
] as const;

/**
 * Records one drain turn takes at most, so a flood cannot hold the event loop; a turn that used
 * its whole budget is followed at once by the next (see startDrain), so this is not a rate cap.
 */
export const DRAIN_BUDGET = 1000;

/**
 * Lineage programs (tp_btf links: they cannot be swapped in place, see attachLineage), with the
 * io_uring open completions that revoke like the open tracepoints (bpf/write_revoke.h).
 */
const LINEAGE_PROGRAMS = ["hw_fork", "hw_exec", "hw_exit", "hw_uring_complete"] as const;
/**
 * The open syscall tracepoints that decide a pending script's trust (bpf/script_open.h): one
 * program per side, attached to open, openat and openat2. They belong to lineage: without them an
 * approved script is never trusted.
 */
const SCRIPT_OPEN_PROGRAMS = {
  hw_script_open_enter: ["sys_enter_openat", "sys_enter_open", "sys_enter_openat2"],
  hw_script_open_exit: ["sys_exit_openat", "sys_exit_open", "sys_exit_openat2"],
} as const;
/**
 * Syscall tracepoints that take trust away from a process another one writes into (bpf/tamper.h).
 * Attached like the lineage programs, before any approval is written.
 */
const TAMPER_PROGRAMS = {
  hw_ptrace_exit: ["sys_exit_ptrace"],
  hw_vm_writev: ["sys_enter_process_vm_writev"],
  hw_getfd_enter: ["sys_enter_pidfd_getfd"],
  // Taints only when the call succeeded (one program for both exits).
  hw_tamper_call_exit: ["sys_exit_process_vm_writev", "sys_exit_pidfd_getfd"],
  hw_prctl: ["sys_enter_prctl"],
  // One program serves every open exit (each loaded program costs start time).
  hw_openat_exit: ["sys_exit_openat", "sys_exit_openat2", "sys_exit_open", "sys_exit_creat"],
} as const;
/** Cgroup hooks (cgroup links: swapped in place with bpf_link_update). */
const HOOK_PROGRAMS = [
  "hw_connect4",
  "hw_connect6",
  "hw_sendmsg4",
  "hw_sendmsg6",
  "hw_sock_create",
  "hw_bind4",
  "hw_bind6",
  "hw_sock_release",
  "hw_dns_egress",
  "hw_dns_ingress",
] as const;

/** Programs the daemon never attaches but runs by fd (identity readout, socket closing). */
const FD_PROGRAMS = ["hw_fd_idents", "hw_task_exes", "hw_iter_tcp", "hw_iter_udp"] as const;
/** Every program the daemon uses: what a pinned program set must hold to be reused. */
const USED_PROGRAMS: readonly string[] = [
  ...LINEAGE_PROGRAMS,
  ...Object.keys(SCRIPT_OPEN_PROGRAMS),
  ...Object.keys(TAMPER_PROGRAMS),
  ...HOOK_PROGRAMS,
  ...FD_PROGRAMS,
];
/** Maps the daemon uses that are not persistent: pinned with the program set they belong to. */
const SET_MAPS = ["hw_sock_revoke", "hw_sock_ctl"] as const;
type MapName = (typeof PERSISTENT_MAPS)[number] | (typeof SET_MAPS)[number];

/** Folder-name prefix of a pinned program set (`<root>/progs-<build id>`). */
const SET_PREFIX = "progs-";

/** {@link programBuildId} of the embedded object, once computed. */
let ownBuildId: string | undefined;

/**
 * This build's id: the SHA-256 of the embedded hashwall.bpf.o (first 128 bits). A pinned program
 * set is reused only under the id of the object its programs were loaded from.
 */
export function programBuildId(object: Uint8Array = HASHWALL_OBJECT): string {
  if (object === HASHWALL_OBJECT && ownBuildId) return ownBuildId;
  const id = createHash("sha256").update(object).digest("hex").slice(0, 32);
  if (object === HASHWALL_OBJECT) ownBuildId = id;
  return id;
}

/** Where the program set of build `build` is pinned. */
export function programSetDir(pins: PinPaths, build = programBuildId()): string {
  return `${pins.root}/${SET_PREFIX}${build}`;
}

/**
 * Whether `path` is a real folder or pin (no symlink) that only root can change: owned by uid 0
 * and not writable by group or others. A pinned program set is trusted only through such paths.
 */
function rootOnly(path: string): boolean {
  try {
    const st = Deno.lstatSync(path);
    return !st.isSymlink && st.uid === 0 && ((st.mode ?? 0o777) & 0o022) === 0;
  } catch {
    return false;
  }
}

/** Removes every pinned program set of an instance (unpinning detaches nothing: links hold). */
function dropProgramSets(root: string): void {
  let entries: Deno.DirEntry[] = [];
  try {
    entries = [...Deno.readDirSync(root)];
  } catch {
    return;
  }
  for (const e of entries) {
    if (e.isDirectory && e.name.startsWith(SET_PREFIX)) {
      Deno.removeSync(`${root}/${e.name}`, { recursive: true });
    }
  }
}

/** What {@link reusePinned} opened: maps and program fds, owned by the caller. */
interface PinnedSet {
  maps: Map<string, FdMap>;
  progs: Map<string, number>;
  /** Fds held only for the check (the rule maps): closed once the set is taken. */
  extra: number[];
}

/**
 * Opens the program set this build pinned at an earlier start, when it can be trusted as exactly
 * what this build loaded and attached: the folder carries this build's id and was committed only
 * after every hook was attached (see {@link AppControl.attachHooks}); every folder on the way and
 * every pin is root-only (bpffs pins are 0600, but a folder an unprivileged user owns would let
 * them rename pins); every program was loaded by root; and every map this daemon is about to
 * write (the pinned persistent maps, the set's own maps and the filter's rule maps) is one those
 * programs use, under its own name: a map re-created since (another layout, a partial `disable`)
 * or a pin swapped for another map forces a full load.
 * Undefined when any of that fails: the caller loads and verifies afresh.
 *
 * Sound only while nothing the programs were loaded with depends on the configuration (settings
 * and policy live in maps; no `.rodata` is set before load): anything that ever is must be part
 * of the build id.
 */
function reusePinned(pins: PinPaths): PinnedSet | undefined {
  const dir = programSetDir(pins);
  const filterMaps = `${filterPinDir(pins.root)}/maps`;
  if (!pinExists(dir)) return undefined;
  for (const d of [`${BPFFS}/hashwall`, pins.root, pins.maps, pins.links, dir, filterMaps]) {
    if (!rootOnly(d)) return undefined;
  }
  // The hooks' links must all be there: the set is re-attached by fd, cgroup links only updated.
  for (const name of HOOK_PROGRAMS) if (!pinExists(`${pins.links}/${name}`)) return undefined;
  const set: PinnedSet = { maps: new Map(), progs: new Map(), extra: [] };
  const open = (pin: string): number | undefined => rootOnly(pin) ? objGet(pin) : undefined;
  try {
    const used = new Set<number>();
    for (const name of USED_PROGRAMS) {
      const fd = open(`${dir}/${name}`);
      if (fd === undefined) return releaseSet(set);
      set.progs.set(name, fd);
      const info = progMaps(fd);
      if (info.createdByUid !== 0) return releaseSet(set);
      for (const id of info.mapIds) used.add(id);
    }
    const mapPins: [string, string][] = [
      ...PERSISTENT_MAPS.map((n): [string, string] => [n, `${pins.maps}/${n}`]),
      ...SET_MAPS.map((n): [string, string] => [n, `${dir}/${n}`]),
    ];
    for (const [name, pin] of mapPins) {
      const fd = open(pin);
      if (fd === undefined) return releaseSet(set);
      const m = new FdMap(fd, name);
      set.maps.set(name, m);
      const info = mapInfo(fd);
      // The kernel keeps 15 characters of a map's name.
      if (!used.has(info.id) || info.name !== name.slice(0, 15)) return releaseSet(set);
    }
    for (const name of RULE_MAPS) {
      const fd = open(`${filterMaps}/${name}`);
      if (fd === undefined) return releaseSet(set);
      set.extra.push(fd);
      const info = mapInfo(fd);
      if (!used.has(info.id) || info.name !== name.slice(0, 15)) return releaseSet(set);
    }
    return set;
  } catch {
    return releaseSet(set);
  }
}

/** Closes what a failed {@link reusePinned} opened. */
function releaseSet(set: PinnedSet): undefined {
  for (const m of set.maps.values()) m.close();
  for (const fd of [...set.progs.values(), ...set.extra]) closeBpfFd(fd);
  return undefined;
}

/** Options of {@link AppControl.open}. */
export interface AppControlOptions {
  pins: PinPaths;
  /** cgroup2 folder the hooks attach to. */
  cgroupPath: string;
  settings: Omit<Settings, "generation">;
}

/** An approved identity as written to hw_approved. */
export interface Approval {
  key: ExeKey;
  appId: number;
  flags: number;
  /**
   * mtime/ctime from the fstat of the fd that was hashed (see `fileTimes`): the kernel refuses
   * trust once the inode's differ (a write through a shared mapping). {@link NO_TIMES} for
   * identities that are not files.
   */
  times: FileTimes;
}

/** An approved script as the kernel's script maps hold it. */
export interface ScriptEntry {
  /** Absolute path of the script. */
  path: string;
  /** Identity of the folder holding it (for bare relative names). */
  dirKey: ExeKey;
  /** Identity of the script file (its hw_approved key). */
  key: ExeKey;
  appId: number;
  flags: number;
}

/** The loaded app-control object of one instance. */
export class AppControl {
  /** The loaded object; undefined when the pinned program set was reused (see open). */
  #obj?: BpfObject;
  #maps: Map<string, MapHandle>;
  #progs: Map<string, number>;
  /** Fds this instance owns (a reused set's maps and programs), closed by close(). */
  #owned: { maps: FdMap[]; progs: number[] } = { maps: [], progs: [] };
  /** The `_new` folder of the program set pinned at this load, committed by attachHooks. */
  #uncommitted?: string;
  #pins: PinPaths;
  #cgroupPath: string;
  #ring?: RingReader;
  #drainTimer?: ReturnType<typeof setTimeout>;
  #lastDrain = Date.now();
  /** Where each program is attached, for `status`. */
  readonly attachPoints: string[] = [];
  /** True when the per-process trust map was pinned by an earlier run (not a first start). */
  reusedState = false;
  /**
   * True when this start took over the programs an earlier start of the same build pinned
   * (nothing loaded or verified: see reusePinned); false when it loaded the object.
   */
  programsReused = false;
  /** Closes the live sockets resting on identities that left hw_approved. */
  readonly sockets: SocketCloser;

  private constructor(
    parts: { obj?: BpfObject; maps: Map<string, MapHandle>; progs: Map<string, number> },
    pins: PinPaths,
    cgroupPath: string,
  ) {
    this.#obj = parts.obj;
    this.#maps = parts.maps;
    this.#progs = parts.progs;
    this.#pins = pins;
    this.#cgroupPath = cgroupPath;
    this.sockets = new SocketCloser({
      revoke: this.#map("hw_sock_revoke"),
      ctl: this.#map("hw_sock_ctl"),
      iterTcp: { name: "hw_iter_tcp", fd: this.#prog("hw_iter_tcp") },
      iterUdp: { name: "hw_iter_udp", fd: this.#prog("hw_iter_udp") },
    });
  }

  #map(name: MapName): MapHandle {
    const m = this.#maps.get(name);
    if (!m) throw new Error(`app control: map ${name} missing`);
    return m;
  }

  /**
   * Whether the link pinned at `pin` already runs program `progFd`: a reused set's links do, and
   * attaching the same program to the same tracepoint twice fails (EEXIST).
   */
  #pinRuns(pin: string, progFd: number): boolean {
    if (!pinExists(pin)) return false;
    try {
      const link = objGet(pin);
      try {
        return linkProgId(link) === progInfo(progFd).id;
      } finally {
        closeBpfFd(link);
      }
    } catch {
      return false;
    }
  }

  #prog(name: string): number {
    const fd = this.#progs.get(name);
    if (fd === undefined) throw new Error(`app control: program ${name} missing`);
    return fd;
  }

  /**
   * Takes over the program set an earlier start of this same build pinned, when it passes every
   * check of reusePinned: then nothing is loaded or verified, and the maps are the pinned ones.
   * Otherwise loads the object, reusing pinned maps when the instance already has them (so
   * approvals, per-process trust and unread events survive a restart), pins new maps and the new
   * program set (committed once attachHooks attached it). Then writes the exec tables and settings.
   */
  static open(opts: AppControlOptions): AppControl {
    Deno.mkdirSync(opts.pins.maps, { recursive: true });
    Deno.mkdirSync(opts.pins.links, { recursive: true });
    const reusedProcs = pinExists(`${opts.pins.maps}/hw_procs`);
    const pinned = reusedProcs ? reusePinned(opts.pins) : undefined;
    let core: AppControl;
    if (pinned) {
      for (const fd of pinned.extra) closeBpfFd(fd);
      core = new AppControl({ maps: pinned.maps, progs: pinned.progs }, opts.pins, opts.cgroupPath);
      core.#owned = { maps: [...pinned.maps.values()], progs: [...pinned.progs.values()] };
      core.programsReused = true;
    } else {
      core = AppControl.#load(opts);
    }
    core.reusedState = reusedProcs;
    // The grammar and the injection variables are in place before the exec hook can run.
    core.writeExecTables();
    const prev = core.settings();
    core.writeSettings({ ...opts.settings, generation: (prev?.generation ?? 0) + 1 });
    return core;
  }

  /** Loads and verifies the object (see open), pinning its program set uncommitted. */
  static #load(opts: AppControlOptions): AppControl {
    // Any committed set stops being one before a link can change: a start of another build that
    // dies half-way must not leave a set that looks attached.
    dropProgramSets(opts.pins.root);
    const obj = BpfObject.openMem(HASHWALL_OBJECT, "hashwall");
    const reused: number[] = [];
    let fresh: string;
    try {
      for (const name of PERSISTENT_MAPS) {
        const pin = `${opts.pins.maps}/${name}`;
        if (pinExists(pin)) {
          const fd = objGet(pin);
          reused.push(fd);
          const info = mapInfo(fd);
          const m = obj.map(name);
          if (
            info.type !== m.type || info.keySize !== m.keySize || info.valueSize !== m.valueSize
          ) {
            // Pinned by a build with another layout (e.g. hw_app_val before it carried the
            // file times): this build cannot use it. Start it afresh; the daemon refills
            // approvals and scripts at start, and the old programs keep the old map until swapped.
            Deno.removeSync(pin);
            continue;
          }
          m.reuseFd(fd);
        }
      }
      // The compiled [[rule]]s live in the packet filter's maps (bpf/rules_app.h): the connect
      // hooks read the same policy the tc programs do. Without a filter they stay empty.
      for (const name of RULE_MAPS) {
        const pin = `${opts.pins.root}/filter/maps/${name}`;
        if (pinExists(pin)) {
          const fd = objGet(pin);
          reused.push(fd);
          obj.map(name).reuseFd(fd);
        }
      }
      obj.load();
      for (const name of PERSISTENT_MAPS) {
        const pin = `${opts.pins.maps}/${name}`;
        if (!pinExists(pin)) obj.map(name).pin(pin);
      }
      // The program set, for the next start of this build (see reusePinned).
      fresh = `${programSetDir(opts.pins)}_new`; // bpffs refuses names with a dot
      Deno.mkdirSync(fresh, { mode: 0o700 });
      for (const name of USED_PROGRAMS) objPin(obj.program(name).fd, `${fresh}/${name}`);
      for (const name of SET_MAPS) obj.map(name).pin(`${fresh}/${name}`);
    } catch (e) {
      obj.close();
      throw e;
    } finally {
      for (const fd of reused) closeFd(fd);
    }
    const maps = new Map<string, MapHandle>();
    for (const name of [...PERSISTENT_MAPS, ...SET_MAPS]) maps.set(name, obj.map(name));
    const progs = new Map<string, number>();
    for (const name of USED_PROGRAMS) progs.set(name, obj.program(name).fd);
    const core = new AppControl({ obj, maps, progs }, opts.pins, opts.cgroupPath);
    core.#uncommitted = fresh;
    return core;
  }

  /** The fd of a loaded program that is not attached here (the identity iterators). */
  programFd(name: "hw_fd_idents" | "hw_task_exes"): number {
    return this.#prog(name);
  }

  /** A map of the loaded (or reused) program set. */
  map(name: (typeof PERSISTENT_MAPS)[number]): MapHandle {
    return this.#map(name);
  }

  /** Current settings, or undefined when never written. */
  settings(): Settings | undefined {
    const v = this.map("hw_settings").lookup(u32Key(0));
    if (!v) return undefined;
    const s = decodeSettings(v);
    return s.generation === 0 && s.dedupMs === 0 ? undefined : s;
  }

  /**
   * Writes settings (one array element: readers see the old or the new value, never half). The
   * daemon exemption is bound to the start time of `daemonTgid` (read from /proc when absent).
   */
  writeSettings(s: Settings): void {
    const daemonStart = s.daemonTgid ? (s.daemonStart ?? processStartTicks(s.daemonTgid) ?? 0) : 0;
    this.map("hw_settings").update(u32Key(0), encodeSettings({ ...s, daemonStart }));
  }

  /** Changes some settings, bumping the generation. */
  updateSettings(patch: Partial<Omit<Settings, "generation">>): Settings {
    const cur = this.settings() ?? {
      mode: HW.MODE_LEARNING,
      allowLoopback: true,
      daemonTgid: 0,
      dedupMs: 10_000,
      generation: 0,
    };
    const next = { ...cur, ...patch, generation: cur.generation + 1 };
    if (patch.daemonTgid !== undefined && patch.daemonStart === undefined) {
      next.daemonStart = undefined;
    }
    this.writeSettings(next);
    return next;
  }

  /**
   * Attaches fork/exec/exit. tp_btf links cannot be updated in place, so a restart attaches the
   * new program first (both run briefly; their map writes agree), then detaches the old pinned
   * link and pins the new one: lineage is never unobserved.
   */
  attachLineage(): void {
    for (const name of LINEAGE_PROGRAMS) this.#attachReplacingPin(name, "tp_btf");
    this.#attachTamper();
    this.#attachScriptOpen();
  }

  /** Attaches the script-open tracepoints (same replace-then-unpin dance as lineage). */
  #attachScriptOpen(): void {
    for (const [name, tps] of Object.entries(SCRIPT_OPEN_PROGRAMS)) {
      const fd = this.#prog(name);
      for (const tp of tps) {
        this.#attachSyscallTracepoint(fd, tp, `${this.#pins.links}/hw_script_${tp}`);
      }
    }
  }

  /**
   * Attaches program `name`, then makes its link the pinned one. Tracing links do not support
   * bpf_link_detach (EOPNOTSUPP): the pin is the old link's last reference, so removing it
   * releases the old program, after the new one already runs.
   */
  #attachReplacingPin(name: string, kind: string): void {
    const pin = `${this.#pins.links}/${name}`;
    this.attachPoints.push(`${kind}/${name.slice(3)}`);
    if (this.#pinRuns(pin, this.#prog(name))) return;
    // By fd (the program the tp_btf was loaded for), so a reused set attaches the same way.
    const link = rawTracepointOpen(this.#prog(name));
    try {
      if (pinExists(pin)) Deno.removeSync(pin);
      objPin(link, pin);
    } finally {
      closeBpfFd(link);
    }
  }

  /**
   * Attaches a program to a syscall tracepoint and makes its link the one pinned at `pin`: the
   * new link is pinned beside the old one, then renamed over it (the old link's last reference),
   * so the tracepoint is never unobserved. No fd of it stays open in this process.
   */
  #attachSyscallTracepoint(progFd: number, tp: string, pin: string): void {
    if (this.#pinRuns(pin, progFd)) {
      this.attachPoints.push(`tracepoint/syscalls/${tp}`);
      return;
    }
    const fresh = `${pin}_new`; // bpffs refuses names with a dot
    if (pinExists(fresh)) Deno.removeSync(fresh); // left by a start that died right here
    attachTracepointPinned(progFd, tracepointId("syscalls", tp), fresh);
    Deno.renameSync(fresh, pin);
    this.attachPoints.push(`tracepoint/syscalls/${tp}`);
  }

  /** Attaches the tamper tracepoints (same replace-then-unpin dance as the lineage programs). */
  #attachTamper(): void {
    for (const [name, tps] of Object.entries(TAMPER_PROGRAMS)) {
      const fd = this.#prog(name);
      // The first tracepoint's pin keeps the program's name (the pins of earlier builds).
      tps.forEach((tp, i) =>
        this.#attachSyscallTracepoint(fd, tp, `${this.#pins.links}/${i === 0 ? name : `hw_${tp}`}`)
      );
    }
  }

  /** Writes the interpreter grammars and the injection variables (src/policy/interpreters.ts). */
  writeExecTables(): void {
    const grammar = this.map("hw_argv_grammar");
    const want = new Set<string>();
    const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
    for (const e of grammarEntries()) {
      const k = encodeArgvKey(e.kind, e.opt);
      grammar.update(k, encodeU32s(e.action));
      want.add(hex(k));
    }
    for (const k of [...grammar.keys()]) if (!want.has(hex(k))) grammar.delete(k);
    const env = this.map("hw_env_vars");
    want.clear();
    for (const e of envEntries()) {
      const k = encodeEnvKey(e.name);
      env.update(k, encodeU32s(e.bit, e.kinds));
      want.add(hex(k));
    }
    for (const k of [...env.keys()]) if (!want.has(hex(k))) env.delete(k);
  }

  /**
   * Makes hw_app_exec hold exactly `entries` (app id → interpreter kind, allow_env bits). Entries
   * are written before stale ones are removed.
   */
  setAppExec(entries: Map<number, { kind: number; envAllow: number }>): void {
    const m = this.map("hw_app_exec");
    for (const [id, e] of entries) m.update(u32Key(id), encodeU32s(e.kind, e.envAllow));
    for (const k of [...m.keys()]) {
      const id = new DataView(k.buffer, k.byteOffset, 4).getUint32(0, true);
      if (!entries.has(id)) m.delete(k);
    }
  }

  /**
   * The `only_via` grants: app id → the app ids of which one must be among a process's ancestors
   * (at most HW.VIA_MAX). An app absent here has no such condition. Replaces the whole set.
   */
  setOnlyVia(entries: Map<number, number[]>): void {
    const m = this.map("hw_only_via");
    for (const [id, starters] of entries) {
      if (starters.length > HW.VIA_MAX) {
        throw new Error(`only_via of app ${id}: at most ${HW.VIA_MAX} starters`);
      }
      const v = new Uint8Array(LAYOUT.hw_only_via.size);
      const dv = new DataView(v.buffer);
      // An unknown starter (not approved yet) is id 0 in the caller's map: left out here, and an
      // app with no known starter keeps an entry that matches nothing.
      starters.filter((s) => s > 0).forEach((s, i) => dv.setUint32(4 * i, s, true));
      if (!starters.some((s) => s > 0)) dv.setUint32(0, 0xffffffff, true);
      m.update(u32Key(id), v);
    }
    for (const k of [...m.keys()]) {
      const id = new DataView(k.buffer, k.byteOffset, 4).getUint32(0, true);
      if (!entries.has(id)) m.delete(k);
    }
  }

  /** The kernel's trust entry of process `tgid`, if it is trusted. */
  procEntry(tgid: number): ProcVal | undefined {
    const v = this.map("hw_procs").lookup(u32Key(tgid));
    return v ? decodeProcVal(v) : undefined;
  }

  /** The app ids trusted among `tgid`'s ancestors when it was created, nearest first. */
  lineageApps(tgid: number): number[] {
    const v = this.map("hw_lineage").lookup(u32Key(tgid));
    if (!v) return [];
    const dv = new DataView(v.buffer, v.byteOffset, v.byteLength);
    const out: number[] = [];
    for (let i = 0; i < HW.VIA_MAX; i++) {
      const app = dv.getUint32(4 * i, true);
      if (!app) break;
      out.push(app);
    }
    return out;
  }

  /** Why `tgid` lost its trust for good (another process wrote into it), if it did. */
  tainted(tgid: number): Taint | undefined {
    const v = this.map("hw_tainted").lookup(u32Key(tgid));
    return v ? decodeTaint(v) : undefined;
  }

  /** Removes a trust entry (a /proc scan's write that turned out wrong). */
  untrustProcess(tgid: number): void {
    this.map("hw_procs").delete(u32Key(tgid));
  }

  /**
   * Attaches the cgroup hooks to the configured cgroup. A pinned link from a previous run (same
   * cgroup) gets the new program swapped in with bpf_link_update: no moment without a verdict.
   */
  attachHooks(): void {
    const cgFd = openPath(this.#cgroupPath, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    try {
      for (const name of HOOK_PROGRAMS) {
        const pin = `${this.#pins.links}/${name}`;
        if (this.#pinRuns(pin, this.#prog(name))) {
          // A reused set: this link runs the program already.
        } else if (pinExists(pin)) {
          const linkFd = objGet(pin);
          try {
            linkUpdate(linkFd, this.#prog(name));
          } finally {
            closeFd(linkFd);
          }
        } else if (this.#obj) {
          this.#obj.program(name).attachCgroup(cgFd).pinAndRelease(pin);
        } else {
          // Never: a set is reused only while every hook link is pinned (reusePinned).
          throw new Error(`cgroup hook ${name}: its link pin vanished during the start`);
        }
        this.attachPoints.push(`cgroup/${name.slice(3)}@${this.#cgroupPath}`);
      }
    } finally {
      closeFd(cgFd);
    }
    // Every hook now runs this load's programs: the set becomes reusable (see reusePinned).
    if (this.#uncommitted) {
      Deno.renameSync(this.#uncommitted, this.#uncommitted.slice(0, -"_new".length));
      this.#uncommitted = undefined;
    }
  }

  /**
   * Puts an identity in hw_approved: from now on its processes' connects pass. A file identity
   * also enters hw_write_watch, so the kernel revokes it at its next writable open
   * (bpf/write_revoke.h).
   *
   * `hashedSince` (boot-clock ns, `bootNs()` of ffi/libc.ts read before the hash began): the approval
   * is taken back at once, and false returned, when the kernel saw a writable open of the file
   * after that moment (the bytes just hashed may not be the bytes the writer leaves; its close
   * triggers the next re-hash). The kernel marks hw_write_watch before it deletes, and this reads
   * the mark after writing, so an open racing the approval is caught by one side or the other.
   */
  approve(a: Approval, hashedSince?: bigint): boolean {
    const key = encodeExeKey(a.key);
    const watch = this.map("hw_write_watch");
    // A --for once approval (dev all ones) names a process, not a file: nothing to open.
    const isFile = a.key.dev !== 0xffff_ffff_ffff_ffffn;
    if (isFile) {
      // Added, never reset: resetting seq could wipe the mark of an open racing this call.
      try {
        watch.update(key, encodeWriteWatch({ seq: 0n, tgid: 0, count: 0 }), BPF_NOEXIST);
      } catch { /* there already (EEXIST); full (E2BIG): fanotify stays the backstop */ }
    }
    this.map("hw_approved").update(
      key,
      encodeAppVal({ appId: a.appId, flags: a.flags, times: a.times }),
    );
    if (!isFile || hashedSince === undefined) return true;
    const w = this.writeWatch(a.key);
    if (w && w.seq > hashedSince) {
      this.map("hw_approved").delete(key);
      return false;
    }
    return true;
  }

  /** The newest writable open of an approved identity the kernel saw (hw_write_watch). */
  writeWatch(key: ExeKey): WriteWatch | undefined {
    const v = this.map("hw_write_watch").lookup(encodeExeKey(key));
    return v ? decodeWriteWatch(v) : undefined;
  }

  /**
   * Keeps in hw_write_watch only the identities in `keep` ("dev:ino"): the daemon calls it
   * with every identity its apps hold, approved or awaiting a re-hash, so the watch does not grow
   * with every replaced file.
   */
  pruneWriteWatch(keep: Set<string>): void {
    const watch = this.map("hw_write_watch");
    for (const k of [...watch.keys()]) {
      const { dev, ino } = decodeExeKey(k);
      if (!keep.has(`${dev}:${ino}`)) watch.delete(k);
    }
  }

  /** Removes an identity from hw_approved: every process trusting through it is denied at once. */
  revoke(key: ExeKey): boolean {
    return this.map("hw_approved").delete(encodeExeKey(key));
  }

  /** The app id an identity is approved under in the kernel, or undefined. */
  approvedAppId(key: ExeKey): number | undefined {
    const v = this.map("hw_approved").lookup(encodeExeKey(key));
    return v ? decodeAppVal(v).appId : undefined;
  }

  /** Every identity currently approved in the kernel. */
  approvedKeys(): ExeKey[] {
    const out: ExeKey[] = [];
    for (const k of this.map("hw_approved").keys()) out.push(decodeExeKey(k));
    return out;
  }

  /**
   * Makes the script maps hold exactly `scripts` (by absolute path, and by folder identity +
   * name for bare relative names). Entries are added before stale ones are removed.
   */
  setScripts(scripts: ScriptEntry[]): void {
    const byPath = this.map("hw_scripts");
    const byRel = this.map("hw_scripts_rel");
    const wantPath = new Set<string>();
    const wantRel = new Set<string>();
    const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
    for (const s of scripts) {
      const val = encodeScriptVal(s.key, s.appId, s.flags);
      const pk = encodeScriptKey(s.path);
      byPath.update(pk, val);
      wantPath.add(hex(pk));
      const slash = s.path.lastIndexOf("/");
      const name = s.path.slice(slash + 1);
      if (name.length > 0 && name.length < HW.SCRIPT_NAME_LEN) {
        const rk = encodeScriptRelKey(s.dirKey, name);
        byRel.update(rk, val);
        wantRel.add(hex(rk));
      }
    }
    for (const k of [...byPath.keys()]) if (!wantPath.has(hex(k))) byPath.delete(k);
    for (const k of [...byRel.keys()]) if (!wantRel.has(hex(k))) byRel.delete(k);
  }

  /** Trusts a running process by its own executable (BPF_NOEXIST: never overwrites lineage). */
  trustProcess(tgid: number, a: Omit<Approval, "times">): boolean {
    try {
      this.map("hw_procs").update(
        u32Key(tgid),
        encodeProcVal({
          trustKey: a.key,
          appId: a.appId,
          source: HW.TRUST_OWN,
          fromTgid: tgid,
          flags: a.flags,
        }),
        1,
      );
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Removes the per-process trust of `tgid` if it rests on `key` (undoing {@link trustProcess});
   * an entry resting on anything else (lineage, an exec since) is left alone.
   */
  untrustProcessIf(tgid: number, key: ExeKey): boolean {
    const m = this.map("hw_procs");
    const raw = m.lookup(u32Key(tgid));
    if (!raw) return false;
    const v = decodeProcVal(raw);
    if (v.trustKey.dev !== key.dev || v.trustKey.ino !== key.ino) return false;
    return m.delete(u32Key(tgid));
  }

  /** Sums the per-CPU counters. */
  counters(): Record<string, number> {
    const fd = this.map("hw_counters").fd;
    const out: Record<string, number> = {};
    COUNTER_NAMES.forEach((name, i) => {
      let sum = 0n;
      for (const v of mapLookupPerCpu(fd, u32Key(i), 8) ?? []) {
        sum += new DataView(v.buffer, v.byteOffset, 8).getBigUint64(0, true);
      }
      out[name] = Number(sum);
    });
    return out;
  }

  /**
   * Starts draining the ring buffer every `intervalMs` (the kernel writes with NO_WAKEUP, so this
   * timer is the consumer). `onRecord` gets each raw record as a view into the ring, valid only
   * during the call (decode it there, or copy it).
   */
  startDrain(onRecord: (rec: Uint8Array) => void, intervalMs = 50): void {
    if (this.#ring) return;
    this.#ring = new RingReader(this.map("hw_events").fd, onRecord);
    // Each turn takes at most DRAIN_BUDGET records (the event loop stays responsive), but a turn
    // that used its whole budget schedules the next one at once: other tasks interleave between
    // chunks, and a burst is not capped at budget/interval (that capped ingest at 20 000/s).
    const tick = () => {
      const n = this.drain();
      this.#drainTimer = setTimeout(tick, n >= DRAIN_BUDGET ? 0 : intervalMs);
    };
    this.#drainTimer = setTimeout(tick, intervalMs);
  }

  /**
   * Consumes pending records now, at most `limit` (default {@link DRAIN_BUDGET}) so that a flood
   * cannot hold the event loop (UI, control socket, watchdog) for as long as it lasts; the rest
   * waits for the next tick. Returns how many.
   */
  drain(limit = DRAIN_BUDGET): number {
    if (!this.#ring) return 0;
    const n = this.#ring.consume(limit);
    this.#lastDrain = Date.now();
    return n;
  }

  /** Epoch ms of the last drain (the watchdog's proof of progress). */
  get lastDrain(): number {
    return this.#lastDrain;
  }

  /**
   * Releases this process's handles. Pins stay: the kernel keeps enforcing the last policy until
   * a new daemon takes over or `disable` removes it.
   */
  close(): void {
    if (this.#drainTimer !== undefined) clearTimeout(this.#drainTimer);
    this.#drainTimer = undefined;
    this.#ring?.free();
    this.#ring = undefined;
    this.sockets.dispose();
    this.#obj?.close();
    for (const m of this.#owned.maps) m.close();
    for (const fd of this.#owned.progs) closeBpfFd(fd);
    this.#owned = { maps: [], progs: [] };
  }
}

/**
 * Detaches and unpins everything of an instance (the emergency exit), whether or not its daemon
 * runs. Returns what was removed.
 */
export function disableInstance(pins: PinPaths): string[] {
  const removed: string[] = [];
  const filter = `${pins.root}/filter`;
  const linkDirs = [pins.links, `${filter}/links`];
  for (const dir of [...linkDirs, pins.maps, `${filter}/maps`]) {
    let entries: Deno.DirEntry[] = [];
    try {
      entries = [...Deno.readDirSync(dir)];
    } catch {
      continue;
    }
    for (const e of entries) {
      const path = `${dir}/${e.name}`;
      if (linkDirs.includes(dir)) {
        try {
          const fd = objGet(path);
          try {
            linkDetach(fd);
          } finally {
            closeFd(fd);
          }
        } catch { /* tracing links cannot be detached: unpinning releases them */ }
      }
      Deno.removeSync(path);
      removed.push(path);
    }
  }
  // Program sets (pinned programs hold no hook: the links above did).
  try {
    for (const e of Deno.readDirSync(pins.root)) {
      if (!e.isDirectory || !e.name.startsWith(SET_PREFIX)) continue;
      Deno.removeSync(`${pins.root}/${e.name}`, { recursive: true });
      removed.push(`${pins.root}/${e.name}`);
    }
  } catch { /* no instance folder */ }
  for (
    const dir of [pins.links, pins.maps, `${filter}/links`, `${filter}/maps`, filter, pins.root]
  ) {
    try {
      Deno.removeSync(dir);
    } catch { /* not empty or absent */ }
  }
  return removed;
}

/**
 * Start time of a process in clock ticks since boot (field 22 of /proc/PID/stat), low 32 bits:
 * what bpf/tamper.h compares to bind the daemon exemption to one process. Undefined when gone.
 */
export function processStartTicks(tgid: number): number | undefined {
  try {
    const stat = Deno.readTextFileSync(`/proc/${tgid}/stat`);
    // comm (field 2) may hold spaces and parentheses: count fields after the last ')'.
    const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const ticks = BigInt(rest[19]);
    return Number(ticks & 0xffff_ffffn);
  } catch {
    return undefined;
  }
}
