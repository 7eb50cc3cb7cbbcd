/**
 * The daemon core: the one place that wires the parts together and implements
 * {@link HashwallApi} for the CLI (control socket) and the UI (in process).
 *
 * Policy flows down (config → registry → kernel maps); evidence flows up (ring buffer and
 * fanotify → store, live subscribers, learning list). Writes require the admin role and are
 * audited.
 *
 * @module
 */
import { VERSION } from "../version.ts";
import type { App, Mode, Policy, Rule } from "../config/model.ts";
import { configPath, loadPolicy } from "../config/load.ts";
import { appendLearnedApp, LEARNED_FILE, removeLearnedApp } from "../config/learned.ts";
import { validateTexts } from "../config/validate.ts";
import { writeFileAtomic } from "../config/atomic.ts";
import { assertCgroup2 } from "../kernel/cgroup.ts";
import { AppControl, type ScriptEntry } from "../kernel/app_control.ts";
import {
  loadPacketFilter,
  type PacketFilter,
  presentInterfaces,
  resolveInterfaces,
} from "../kernel/filter.ts";
import { compilePolicy } from "../policy/compile.ts";
import { explainRequest, ruleInfos } from "../policy/api_views.ts";
import { bootEpochMs, closedToConnEvent, recordToConnEvent } from "../kernel/events.ts";
import type { CloseTarget } from "../kernel/sockets.ts";
import { HostnameMaps } from "../kernel/hostnames.ts";
import { Blocklists, type BlocklistState } from "./blocklists.ts";
import { parseAddress } from "../config/cidr.ts";
import { instanceName, pinPaths } from "../kernel/pins.ts";
import { appFlags, AppIds, AppRegistry, type AppState, toAppInfo } from "../identity/registry.ts";
import { keyString } from "../identity/running.ts";
import { KernelIdentity, type KeyedHash } from "../identity/kernel_key.ts";
import { EarlyHashes } from "../identity/early_hash.ts";
import { IdentityIterators } from "../kernel/identity_iter.ts";
import { magicPathProblem } from "../identity/magic_path.ts";
import { type ScanApproval, trustRunningProcesses } from "../identity/trust_scan.ts";
import { envAllowMask, interpreterKind } from "../policy/interpreters.ts";
import { fileTimes } from "../integrity/hash.ts";
import { HashCache } from "../integrity/hash_cache.ts";
import { DatabaseSync } from "node:sqlite";
import { HashPool } from "../integrity/hash_pool.ts";
import { FileWatcher, type WatchEvent } from "../integrity/watch.ts";
import { IntegrityMonitor } from "../integrity/live.ts";
import { policyEntries } from "../integrity/entries.ts";
import { loadBaseline } from "../integrity/baseline_store.ts";
import { ExecGate } from "../integrity/exec_gate.ts";
import {
  openStore,
  type RetentionPolicy,
  type RetentionResult,
  type Store,
} from "../store/store.ts";
import { EventBatcher } from "../store/batcher.ts";
import {
  decodeAppVal,
  encodeExeKey,
  type ExeKey,
  HW,
  NO_TIMES,
  type SockClosed,
} from "../../ffi/structs.ts";
import {
  type AllowRequest,
  type AppInfo,
  type Caller,
  type ConnEvent,
  type EventCounts,
  type EventQuery,
  type ExplainRequest,
  type ExplainResult,
  ForbiddenError,
  type HashwallApi,
  type IntegrityInfo,
  type LearningDestination,
  type LearningEntry,
  type LiveMessage,
  type RulesProblem,
  type RulesView,
  type StatusInfo,
} from "../api/types.ts";
import { LearningTracker } from "./learning.ts";
import type { Logger } from "./log.ts";
import {
  adminRecord,
  appHashRecord,
  ConnectionLogLimit,
  connectionRecord,
  type EventRecord,
  integrityRecord,
  suppressedRecord,
} from "./event_log.ts";
import { RuntimeState } from "./runtime_state.ts";
import { type HookResult, PackageApprovals } from "./package_approvals.ts";

/** How the daemon was started. */
export interface DaemonOptions {
  configDir: string;
  stateDir: string;
  /** cgroup2 folder the hooks attach to. */
  cgroup: string;
  /** `--mode` from the command line (wins over rules.toml). */
  mode?: Mode;
  /** `--ui HOST:PORT|off` from the command line (wins over rules.toml). */
  ui?: { host: string | null; port: number };
  /** Owner required of config files (tests pass their own uid; production root). */
  expectedUid?: number;
  /** `--interfaces`: packet-filter interfaces (overrides the config; [] = attach none). */
  interfaces?: string[];
  /** `--netns`: attach the packet filter inside this network namespace (tests). */
  netns?: string;
}

/** The internal caller used for the daemon's own actions. */
export const DAEMON_CALLER: Caller = { role: "admin", channel: "internal", who: "daemon" };

/** A synthetic identity for a `--for once` approval: no real file has dev = 2^64-1. */
/** How often the filter looks for interfaces that came or went (see #followInterfaces). */
const INTERFACE_POLL_MS = 1000;
/** How often the blocklist refresh timer looks for a list whose interval passed. */
const BLOCKLIST_POLL_MS = 60_000;

/** Delay of the second closing pass after a revocation (see #closeSockets). */
const SECOND_PASS_MS = 20;

/** Marks a fanotify overflow in #guardEvents (no path can be this). */
const OVERFLOW = "\0overflow";

/** Start-up hashes in flight: the apps, their change counters, and the early hashes. */
interface StartHashes {
  states: AppState[];
  since: number[];
  watched: Set<string>;
  early: EarlyHashes;
}

function onceKey(tgid: number): ExeKey {
  return { dev: 0xffff_ffff_ffff_ffffn, ino: BigInt(tgid) };
}

/** The running daemon's state and operations. */
export class DaemonCore implements HashwallApi {
  readonly opts: DaemonOptions;
  readonly log: Logger;
  readonly startedAt = Date.now();
  readonly instance: string;
  policy!: Policy;
  kernel!: AppControl;
  store!: Store;
  #batcher!: EventBatcher;
  #registry: AppRegistry;
  #runtime: RuntimeState;
  #learning = new LearningTracker();
  #watcher?: FileWatcher;
  #monitor?: IntegrityMonitor;
  #gate?: ExecGate;
  #cache?: HashCache;
  #cacheDb?: DatabaseSync;
  #cacheHits = 0;
  #filter?: PacketFilter;
  #hostnames?: HostnameMaps;
  /** [[blocklist]]s: their deny rules go before the [[rule]]s (src/policy/blocklist.ts). */
  #blocklists?: Blocklists;
  #blockRules: Rule[] = [];
  #blockTimer?: ReturnType<typeof setInterval>;
  #blockRefreshedAt = new Map<string, number>();
  /** Reported blocklist denials per list since start (events: one per app + destination + window). */
  #blockHits = new Map<string, number>();
  #filterIfaces: string[] = [];
  #filterPoints: string[] = [];
  /** Verdict counts since `since`, kept current by #countCommitted (see eventCounts). */
  #counts?: { since: number; counts: EventCounts };
  /** Polls for interfaces that come and go while the filter follows them all. */
  #ifaceTimer?: ReturnType<typeof setInterval>;
  /** Hash workers sized to the cores (2 to 4: each is a V8 isolate of several MB while it lives). */
  #pool = new HashPool({ workers: Math.min(4, Math.max(2, navigator.hardwareConcurrency || 2)) });
  #subscribers = new Set<(m: LiveMessage) => void>();
  #bootEpoch = bootEpochMs();
  /** `--for once` approvals by tgid: they end when that process exits (see #endOnceApprovals). */
  #onceApprovals = new Map<number, { key: ExeKey; start: string; app: string; path: string }>();
  #sessionApps = new Map<string, App>();
  #rehashQueue = new Map<string, Promise<void>>();
  #warnings = new Map<string, string>();
  #packages: PackageApprovals;
  /** Counters for /metrics kept by the daemon itself (app hash and integrity changes). */
  #eventCounters: Record<string, number> = {};
  #connLogLimit = new ConnectionLogLimit();
  /** Set by stop(): late timers (the second closing pass) must not touch closed handles. */
  #stopping = false;
  /** Kernel identities (iterators over the daemon's own fds): see src/identity/kernel_key.ts. */
  #ident?: KernelIdentity;
  /**
   * Restart over pinned maps: path → identity the previous run left approved, until this run's
   * own hash replaces it. A watch event for the path revokes it (see #guardPinned).
   */
  #pinnedByPath = new Map<string, ExeKey>();
  /** Paths of watch events from the start of the watch until #guardPinned ran (see there). */
  #guardEvents?: Set<string>;
  /** Resolved once start() loaded the kernel objects: re-hashes before that wait for it. */
  #kernelLoaded = Promise.withResolvers<void>();
  /** Extra status providers registered by optional parts (packet filter, UI). */
  readonly extraAttachPoints: string[] = [];
  uiUrl: string | null = null;
  /** How long each start phase took (ms), for the ready line. */
  #startPhases: Record<string, number> = {};
  /**
   * Set by the life cycle once start() finished and every part (UI included) is up: the control
   * socket serves calls from then on (see parts.ts whenReady).
   */
  ready = false;

  constructor(opts: DaemonOptions, log: Logger) {
    this.opts = opts;
    this.log = log;
    this.instance = instanceName(opts.stateDir);
    this.#registry = new AppRegistry(new AppIds(opts.stateDir), (p) => this.#identity().hash(p));
    this.#runtime = new RuntimeState(opts.stateDir);
    this.#packages = new PackageApprovals({
      apps: () => this.#registry.list(),
      app: (name) => this.#registry.get(name),
      declaredSha256: (name) =>
        (this.policy.apps.find((a) => a.name === name) ?? this.#sessionApps.get(name))?.sha256,
      recheck: (name) => this.#queueRecheck(name),
      runtime: this.#runtime,
      store: () => this.store,
      warn: (key, msg) => this.#warn(key, msg),
      notice: (msg) => this.log.log("notice", `package trust: ${msg}`),
    });
  }

  // ---------------------------------------------------------------- start and stop

  /** Loads the config or throws an Error listing every located problem. */
  async loadConfig(): Promise<Policy> {
    const r = await loadPolicy(this.opts.configDir, { expectedUid: this.opts.expectedUid });
    if (!r.ok) {
      throw new Error(`configuration rejected:\n${r.errors.map(String).join("\n")}`);
    }
    return r.policy;
  }

  /** The mode in force: --mode, else a runtime override made against this file mode, else file. */
  effectiveMode(): Mode {
    return this.#modeFor(this.policy);
  }

  /**
   * Starts the core in the safe order: config, store, hashes, kernel maps + lineage, approvals,
   * running processes, hooks, event drain, file watch. Throws (with what failed) on any error; the
   * caller undoes what was started.
   */
  async start(): Promise<void> {
    let t = performance.now();
    // `boot`: the process's age now (runtime start, module evaluation, control socket).
    const phases: Record<string, number> = { boot: Math.round(t) };
    const phase = (name: string) => {
      const now = performance.now();
      phases[name] = Math.round(now - t);
      t = now;
    };
    assertCgroup2(this.opts.cgroup);
    this.policy = await this.loadConfig();
    phase("config");
    this.store = openStore(`${this.opts.stateDir}/hashwall.db`);
    // The hash cache shares the database (WAL: a second connection). A new epoch at every start:
    // rows from earlier runs are never trusted (see src/integrity/hash_cache.ts for why).
    this.#cacheDb = new DatabaseSync(`${this.opts.stateDir}/hashwall.db`);
    this.#cache = new HashCache(this.#cacheDb);
    this.#cache.beginEpoch("daemon start");
    this.#batcher = new EventBatcher(this.store, {
      onCommit: (rows) => {
        this.#countCommitted(rows);
        rows.forEach((event) => this.#publish({ type: "event", event }));
      },
      onHealthChange: (h) =>
        h.ok
          ? this.log.log("notice", "history writes resumed")
          : this.log.log("warn", `history not being written: ${h.error}`),
    });
    this.#seedLearning();
    phase("history");
    this.#registry.setApps(this.#activeApps());
    // Guards before trust: the watch reader is live before the first hash and before any
    // approval reaches the kernel, so a write at any moment after this line revokes (or voids
    // the hash that raced it). Then the hash workers start: they hash while this thread loads
    // the BPF objects (synchronous libbpf calls) below.
    this.#guardEvents = new Set();
    this.#startWatch();
    const hashing = this.#beginHashes();
    phase("watch");
    try {
      await this.#loadKernel();
      phase("load");
      // On a restart, approvals the previous run pinned are checked against what it last hashed
      // (and against every watch event since the watch above went live).
      this.#guardPinned();
      await this.#verifyAll(hashing);
    } catch (e) {
      await hashing.early.abandon();
      throw e;
    }
    phase("hash");
    // The rest of the guards (config-file watch, the opt-in exec gate) also before trust: after
    // the hooks attach, the event loop should have nothing slow left, so a watch event of a
    // write right after the first allowed connect is handled at once.
    this.#packages.start();
    await this.#startIntegrity();
    await this.#syncExecGate();
    phase("integrity");
    this.#syncKernelApprovals();
    this.#pinnedByPath.clear();
    // Only at a first start: with pinned maps the tracepoints saw every exec since (and a /proc
    // scan is never a source of trust after that; see src/identity/trust_scan.ts).
    if (!this.kernel.reusedState) this.#trustRunning();
    phase("approve");
    this.kernel.attachHooks();
    this.#attachFilter(this.policy);
    this.#ifaceTimer = setInterval(() => {
      this.#followInterfaces();
      this.#endOnceApprovals();
    }, INTERFACE_POLL_MS);
    this.#blockTimer = setInterval(() => this.#refreshDueBlocklists(), BLOCKLIST_POLL_MS);
    this.kernel.startDrain((rec) => this.#onRecord(rec));
    phase("attach");
    this.#startPhases = phases;
  }

  /** Blocklists, packet filter, app-control object, identity readout, lineage, DNS maps. */
  async #loadKernel(): Promise<void> {
    this.#blocklists = new Blocklists(this.opts.stateDir);
    await this.#refreshBlocklists(this.policy);
    this.#blockRules = this.#blocklists.rules(this.policy.blocklists ?? []);
    // The packet filter first: its pinned rule maps are shared with the connect hooks. Opening
    // attaches nothing; on a restart the previous run's programs still decide meanwhile.
    this.#filter = loadPacketFilter({ pinRoot: pinPaths(this.instance).root });
    this.#filter.apply(this.#compile(this.policy));
    this.kernel = AppControl.open({
      pins: pinPaths(this.instance),
      cgroupPath: this.opts.cgroup,
      settings: this.#kernelSettings(),
    });
    // The identity iterators come with the app-control object (one BTF parse, not two).
    this.#ident = new KernelIdentity(
      IdentityIterators.fromPrograms((name) => this.kernel.programFd(name)),
    );
    this.kernel.sockets.setRecording(this.policy.defaults.closeOnRevoke);
    this.kernel.attachLineage();
    this.#hostnames = new HostnameMaps({
      addrs: this.kernel.map("hw_dns_addrs").fd,
      names: this.kernel.map("hw_dns_names").fd,
      stats: this.kernel.map("hw_dns_stats").fd,
    });
    this.#kernelLoaded.resolve();
  }

  /**
   * Logs the ready line, `hashwall <version> <mode>`. Not part of start(): the caller logs it
   * once every part (control socket, web UI) is up, since tools and tests take this line to
   * mean "ready" and then talk to the socket at once.
   */
  announceReady(): void {
    this.log.log("notice", `hashwall ${VERSION} ${this.effectiveMode()}`, {
      instance: this.instance,
      cgroup: this.opts.cgroup,
      apps: this.#registry.list().length,
      // `ready`: the process's age at this line (bench/startup.ts: launcher = wall − ready).
      startMs: { ...this.#startPhases, ready: Math.round(performance.now()) },
    });
  }

  /** Stops everything this process holds. Pins stay: the kernel keeps the last policy. */
  async stop(): Promise<void> {
    this.#stopping = true;
    clearInterval(this.#ifaceTimer);
    this.#packages.stop();
    clearInterval(this.#blockTimer);
    try {
      this.kernel?.drain();
    } catch { /* best effort: stopping anyway */ }
    try {
      // The daemon's exemption must not outlive it (its pid could be reused).
      this.kernel?.updateSettings({ daemonTgid: 0 });
    } catch { /* ignore */ }
    await this.#watcher?.close();
    await this.#monitor?.close();
    await this.#gate?.stop();
    this.#filter?.close();
    this.kernel?.close();
    this.#pool.close();
    await this.#batcher?.close();
    this.#cacheDb?.close();
    this.store?.close();
  }

  /** Compiles the rules for the kernel, in the mode in force, with the registry's app ids. */
  #compile(policy: Policy, blockRules = this.#blockRules) {
    const mode = this.#modeFor(policy);
    const eff = this.#effective(policy, blockRules);
    return compilePolicy({ ...eff, defaults: { ...policy.defaults, mode } }, {
      appId: (name) => this.#registry.idOf(name),
    });
  }

  /** The rules the kernel holds: the blocklists' deny rules, then the [[rule]]s. */
  #effective(policy: Policy = this.policy, blockRules = this.#blockRules): Policy {
    if (blockRules.length === 0) return policy;
    return {
      ...policy,
      rules: [...blockRules, ...policy.rules].map((r, index) => ({ ...r, index })),
    };
  }

  /** Fetches every list of `policy` (never throws); failures become status warnings. */
  async #refreshBlocklists(policy: Policy): Promise<void> {
    const lists = policy.blocklists ?? [];
    await this.#blocklists!.refresh(lists);
    const now = Date.now();
    for (const l of lists) this.#blockRefreshedAt.set(l.id, now);
    for (const key of [...this.#warnings.keys()]) {
      if (key.startsWith("blocklist:")) this.#warnings.delete(key);
    }
    for (const st of this.#blocklists!.states()) {
      if (st.error) {
        this.#warn(
          `blocklist:${st.id}`,
          `blocklist ${st.id}: ${st.error}; ${
            st.entries ? `the last good copy (${st.entries} entries) stays` : "not in force"
          }`,
        );
      }
    }
  }

  /** The refresh timer: lists whose interval passed are fetched again and the rules re-applied. */
  async #refreshDueBlocklists(): Promise<void> {
    const lists = this.policy.blocklists ?? [];
    const now = Date.now();
    if (!lists.some((l) => now - (this.#blockRefreshedAt.get(l.id) ?? 0) >= l.refreshMs)) return;
    try {
      await this.#refreshBlocklists(this.policy);
      const rules = this.#blocklists!.rules(lists);
      this.#filter?.apply(this.#compile(this.policy, rules));
      this.#blockRules = rules;
    } catch (e) {
      this.#warn("blocklist-apply", `blocklists not applied: ${(e as Error).message}`);
    }
  }

  /** State of every configured blocklist. */
  blocklistStates(): BlocklistState[] {
    return this.#blocklists?.states() ?? [];
  }

  #modeFor(policy: Policy): Mode {
    if (this.opts.mode) return this.opts.mode;
    const rt = this.#runtime.data;
    if (rt.modeOverride && rt.modeOverrideBase === policy.defaults.mode) return rt.modeOverride;
    return policy.defaults.mode;
  }

  /**
   * Attaches the packet filter to the interfaces of `policy` (or --interfaces), detaching any it
   * no longer names. All-or-nothing per call: a missing interface throws and changes nothing.
   */
  #attachFilter(policy: Policy): void {
    if (!this.#filter) return;
    const want = this.opts.interfaces ??
      (this.#followsInterfaces(policy)
        ? presentInterfaces(this.opts.netns)
        : resolveInterfaces(policy.defaults.interfaces, this.opts.netns));
    const gone = this.#filterIfaces.filter((i) => !want.includes(i));
    if (want.length) this.#filter.attach(want, { netns: this.opts.netns });
    if (gone.length) this.#filter.detach(gone);
    this.#filterIfaces = want;
    this.#noteFilterPoints();
  }

  /** True when no interfaces are configured: the filter covers every one, as they come and go. */
  #followsInterfaces(policy: Policy): boolean {
    return this.opts.interfaces === undefined && policy.defaults.interfaces.length === 0;
  }

  /**
   * Attaches to interfaces that appeared since the last look (a Wi-Fi or USB adapter, a VPN's
   * tun, a container's veth) and forgets those that went away. Without this a device added after
   * start passed every packet unfiltered until the next reload. Polled every
   * INTERFACE_POLL_MS (one netlink dump); a device is unfiltered for at most that long, usually
   * before it has an address.
   */
  #followInterfaces(): void {
    if (!this.#filter || !this.#followsInterfaces(this.policy)) return;
    let now: string[];
    try {
      now = presentInterfaces(this.opts.netns);
    } catch (e) {
      this.#warn("iface-list", `packet filter: cannot list interfaces: ${(e as Error).message}`);
      return;
    }
    const added = now.filter((i) => !this.#filterIfaces.includes(i));
    const gone = this.#filterIfaces.filter((i) => !now.includes(i));
    if (!added.length && !gone.length) return;
    for (const ifname of added) {
      try {
        this.#filter.attach([ifname], { netns: this.opts.netns });
        this.#filterIfaces.push(ifname);
        this.log.log("notice", `packet filter: attached to new interface ${ifname}`);
      } catch (e) {
        // It may have gone again already, or be renamed by udev: the next look retries.
        this.#warn(`iface:${ifname}`, `packet filter: ${ifname}: ${(e as Error).message}`);
      }
    }
    if (gone.length) {
      this.#filter.detach(gone);
      this.#filterIfaces = this.#filterIfaces.filter((i) => !gone.includes(i));
      this.log.log("notice", `packet filter: interface gone: ${gone.join(", ")}`);
    }
    this.#noteFilterPoints();
  }

  #noteFilterPoints(): void {
    this.#filterPoints = (this.#filter?.attached() ?? [])
      .map((p) => `tcx/${p.direction}@${p.ifname}`);
  }

  #kernelSettings() {
    return {
      mode: this.effectiveMode() === "enforcing" ? HW.MODE_ENFORCING : HW.MODE_LEARNING,
      allowLoopback: this.policy.defaults.allowLoopback,
      daemonTgid: Deno.pid,
      dedupMs: 10_000,
    };
  }

  /** Apps from config plus session approvals, minus names revoked at run time. */
  #activeApps(): App[] {
    const revoked = new Set(this.#runtime.data.revoked);
    const overrides = this.#runtime.data.hashOverrides;
    const byName = new Map<string, App>();
    const withOverride = (a: App): App => {
      const o = overrides[a.name];
      if (!o || o.path !== a.path || o.declared !== a.sha256) return a;
      return o.package
        ? {
          ...a,
          sha256: o.sha256,
          package: o.package,
          packageVersion: o.version,
          packageLevel: o.level,
        }
        : { ...a, sha256: o.sha256 };
    };
    for (const a of this.policy.apps) {
      if (revoked.has(a.name)) continue;
      byName.set(a.name, withOverride(a));
    }
    for (const a of this.#sessionApps.values()) {
      if (!byName.has(a.name)) byName.set(a.name, withOverride(a));
    }
    return [...byName.values()];
  }

  /** The kernel identity readout (loaded by start()). */
  #identity(): KernelIdentity {
    if (!this.#ident) throw new Error("kernel identity readout not loaded (daemon not started)");
    return this.#ident;
  }

  /** Starts hashing every app (see src/identity/early_hash.ts); {@link #verifyAll} finishes. */
  #beginHashes(): StartHashes {
    const states = this.#registry.list();
    return {
      states,
      // Each app's change counter before its hash starts: a watch event meanwhile voids it.
      since: states.map((s) => s.changeSeq),
      watched: new Set(this.#watcher?.watchedFiles() ?? []),
      early: new EarlyHashes(this.#pool, states.map((s) => s.app.path)),
    };
  }

  async #verifyAll(hashing: StartHashes) {
    const { states, since, watched } = hashing;
    const results = await hashing.early.finish(this.#identity());
    results.forEach((r, i) => {
      const st = states[i];
      if ("error" in r) {
        st.status = /No such file|NotFound|ENOENT|ENOTDIR/.test(r.error) ? "missing" : "invalid";
        st.actualSha256 = undefined;
      } else {
        this.#registry.applyHash(st.app.name, r, since[i]);
        // The row a restart compares pinned approvals with (see #guardPinned).
        if (st.status === "valid") this.#cachePut(r, watched.has(st.app.path));
      }
    });
  }

  #cachePut(h: KeyedHash, watched: boolean): void {
    try {
      const { key: _key, ...row } = h;
      this.#cache?.put(row, { watched });
    } catch (e) {
      this.#warn("cache", `hash cache: ${(e as Error).message}`);
    }
  }

  /**
   * A restart over pinned maps: the previous run's approvals are in the kernel and its watch died
   * with it. Each pinned identity stays approved only while its file still is exactly what that
   * run hashed — same kernel identity, and a stat key (size, mtime, ctime) equal to the hash-cache
   * row of that approved content. Anything else (written, replaced or deleted while no daemon
   * ran; no row) is revoked now, before this run hashes. Called with the watch already live, so
   * a write after the check is a watch event that revokes (#onWatch → #pinnedByPath). The full
   * re-hash follows before anything is trusted again: a ctime forged by root (clock set back)
   * passes this check but not the hash.
   */
  #guardPinned(): void {
    this.#pinnedByPath.clear();
    // Watch events that arrived between the watch going live and this check (the BPF objects
    // load in between): such a file changed while nothing guarded it.
    const seen = this.#guardEvents;
    this.#guardEvents = undefined;
    const byId = new Map(this.#registry.list().map((s) => [s.id, s]));
    const pinned: { key: ExeKey; st?: AppState }[] = [];
    for (const key of this.kernel.approvedKeys()) {
      if (key.dev === 0xffff_ffff_ffff_ffffn) continue; // a --for once approval: no file
      const raw = this.kernel.map("hw_approved").lookup(encodeExeKey(key));
      pinned.push({ key, st: raw ? byId.get(decodeAppVal(raw).appId) : undefined });
    }
    // One iterator pass per 512 files, not one per app (a restart with 1 000 apps).
    const withApp = pinned.filter((p) => p.st);
    const now = this.#identity().identifyMany(withApp.map((p) => p.st!.app.path));
    const current = new Map(withApp.map((p, i) => [p, now[i]]));
    for (const p of pinned) {
      const id = current.get(p);
      let keep = false;
      if (id && !(id instanceof Error)) {
        const row = this.#cache?.row(id);
        keep = keyString(id.key) === keyString(p.key) && row?.sha256 === p.st!.app.sha256 &&
          !seen?.has(p.st!.app.path) && !seen?.has(OVERFLOW);
      }
      if (keep) this.#pinnedByPath.set(p.st!.app.path, p.key);
      else if (!p.st) {
        // No app of this run holds it: a session approval that ended with the previous run, or
        // an app removed from the config. Its approval ended; its file need not have changed.
        this.#revoke(p.key, HW.CLOSE_ENDED);
        this.log.log(
          "notice",
          `pinned approval ${keyString(p.key)} revoked: no configured app holds it any more`,
        );
      } else {
        this.#revoke(p.key, HW.CLOSE_CHANGED, p.st);
        this.log.log(
          "notice",
          `pinned approval ${p.st?.app.path ?? keyString(p.key)} revoked: ` +
            "the file changed (or cannot be checked) since the previous run hashed it",
        );
      }
    }
  }

  /**
   * Makes hw_approved exactly the identities of valid, non-interpreter... apps: interpreters are
   * approved too (flagged), because the kernel needs their identity to explain a denial.
   */
  #syncKernelApprovals(): void {
    const want = new Map<string, AppState>();
    for (const s of this.#registry.list()) {
      if (s.status === "valid" && s.key) want.set(keyString(s.key), s);
    }
    for (const k of this.kernel.approvedKeys()) {
      const ks = keyString(k);
      const onceTgid = k.dev === 0xffff_ffff_ffff_ffffn ? Number(k.ino) : undefined;
      if (onceTgid !== undefined && this.#onceApprovals.has(onceTgid)) continue;
      if (!want.has(ks)) this.#revoke(k, this.#whyGone(k, onceTgid !== undefined));
    }
    for (const s of this.#registry.list()) s.approvedInKernel = false;
    for (const s of want.values()) {
      this.kernel.approve({
        key: s.key!,
        appId: s.id,
        flags: appFlags(s.app),
        times: s.lastHash ? fileTimes(s.lastHash) : NO_TIMES,
      });
      s.approvedInKernel = true;
    }
    this.#syncAppExec();
    this.#syncScripts();
  }

  /**
   * Approved apps that are scripts (not ELF binaries) go to the kernel's script maps, so an
   * approved interpreter running them is trusted from its first connect. A binary never does:
   * `python3 /usr/bin/curl` must not borrow curl's approval.
   */
  #syncScripts(): void {
    const scripts: ScriptEntry[] = [];
    for (const s of this.#registry.list()) {
      if (!s.approvedInKernel || !s.key || s.app.interpreter) continue;
      try {
        if (isElf(s.app.path)) continue;
        const dir = s.app.path.slice(0, s.app.path.lastIndexOf("/")) || "/";
        scripts.push({
          path: s.app.path,
          dirKey: this.#identity().dirKey(dir),
          key: s.key,
          appId: s.id,
          flags: appFlags(s.app),
        });
      } catch { /* vanished meanwhile: the watch reports it */ }
    }
    this.kernel.setScripts(scripts);
  }

  /**
   * Trusts running processes whose executable is an approved (non-interpreter) app, at a first
   * start only, by the guarded scan of src/identity/trust_scan.ts.
   */
  #trustRunning(): number {
    const approved = new Map<string, ScanApproval>();
    for (const s of this.#registry.list()) {
      if (s.approvedInKernel && s.key && !s.app.interpreter) {
        approved.set(keyString(s.key), { appId: s.id, flags: appFlags(s.app) });
      }
    }
    return trustRunningProcesses(this.kernel, approved, this.#identity()).trusted;
  }

  /** Interpreter kinds and allow_env bits of the approved apps, for the exec hook. */
  #syncAppExec(): void {
    const m = new Map<number, { kind: number; envAllow: number }>();
    for (const s of this.#registry.list()) {
      if (!s.approvedInKernel) continue;
      m.set(s.id, {
        kind: s.app.interpreter ? interpreterKind(s.app.path) : HW.KIND_OTHER,
        envAllow: envAllowMask(s.app.allowEnv ?? []),
      });
    }
    this.kernel.setAppExec(m);
    // only_via: starters by kernel app id; a starter without an approval yet is 0 (never matches).
    const via = new Map<number, number[]>();
    for (const s of this.#registry.list()) {
      if (!s.approvedInKernel || !s.app.onlyVia?.length) continue;
      via.set(s.id, s.app.onlyVia.map((n) => this.#registry.idOf(n) ?? 0));
    }
    this.kernel.setOnlyVia(via);
  }

  // ---------------------------------------------------------------- revocation

  /**
   * Takes an identity out of hw_approved — new connects of every process trusting through it are
   * denied at once — and closes the live sockets resting on it. Every path by which an approval
   * ends (first write, replacement, re-hash mismatch, `apps revoke`/UI, once/session ending, an
   * app leaving the config) comes through here, so none of them leaves a connection behind.
   */
  #revoke(key: ExeKey, reason: number, s?: AppState): void {
    const appId = this.kernel.approvedAppId(key);
    this.kernel.revoke(key);
    if (appId === undefined) return;
    const st = s ?? this.#registry.byKey(key);
    this.#closeSockets([{ key, appId, reason }], (r) => ({
      app: st?.app.name,
      // An approval of an earlier run (session, once) has no registry entry: name the process.
      exe: st?.app.path ?? this.#resolver.byIdentity(keyString(r.trustKey)) ?? procExe(r.tgid) ??
        "",
    }));
  }

  /**
   * Runs the closing iterators ([defaults] close_on_revoke): in enforcing mode the sockets are
   * destroyed, in learning mode only reported ("would_close"). One history event per socket.
   */
  #closeSockets(
    targets: CloseTarget[],
    who: (r: SockClosed) => { app?: string; exe: string },
    unapprovedReason?: number,
  ): number {
    if (!this.policy.defaults.closeOnRevoke) return 0;
    const dryRun = this.effectiveMode() !== "enforcing";
    let recs: SockClosed[];
    try {
      recs = this.kernel.sockets.close(targets, { dryRun, unapprovedReason });
    } catch (e) {
      this.#warn("sockets", `closing live sockets failed: ${(e as Error).message}`);
      return 0;
    }
    this.#reportClosed(recs, who, dryRun);
    if (!dryRun && targets.length) {
      // A connect whose hook allowed it just before the revocation may not be in the socket
      // tables yet when the first pass ran; a second pass a moment later closes it too.
      setTimeout(() => {
        if (this.#stopping) return;
        try {
          this.#reportClosed(this.kernel.sockets.close(targets, { dryRun: false }), who, false);
        } catch (e) {
          this.#warn("sockets", `closing live sockets failed: ${(e as Error).message}`);
        }
      }, SECOND_PASS_MS);
    }
    return recs.length;
  }

  #reportClosed(
    recs: SockClosed[],
    who: (r: SockClosed) => { app?: string; exe: string },
    dryRun: boolean,
  ): void {
    const now = Date.now();
    for (const r of recs) this.#batcher.push(closedToConnEvent(r, who(r), now));
    if (recs.length) {
      this.log.log("notice", `${dryRun ? "would close" : "closed"} ${recs.length} live socket(s)`, {
        apps: [...new Set(recs.map((r) => who(r).app ?? who(r).exe))],
      });
    }
  }

  /**
   * Why an identity found in the kernel is no longer wanted (#syncKernelApprovals): a once or
   * session approval of an earlier run ended; the file no longer hashes right (changed while no
   * daemon watched); it changed or vanished; or it was revoked / left the config.
   */
  #whyGone(k: ExeKey, once: boolean): number {
    const st = this.#registry.byKey(k);
    if (once || !st) return HW.CLOSE_ENDED;
    if (st.status === "invalid") return HW.CLOSE_MISMATCH;
    if (st.status === "missing" || st.status === "pending") return HW.CLOSE_CHANGED;
    return HW.CLOSE_REVOKED;
  }

  /** Ends the once approval of `tgid`: out of the kernel, its sockets closed. */
  #endOnce(tgid: number, reason: number): void {
    const o = this.#onceApprovals.get(tgid);
    if (!o) return;
    this.#onceApprovals.delete(tgid);
    const appId = this.kernel.approvedAppId(o.key);
    this.kernel.revoke(o.key);
    if (appId === undefined) return;
    this.#closeSockets([{ key: o.key, appId, reason }], () => ({ app: o.app, exe: o.path }));
  }

  /**
   * A `--for once` approval lasts as long as its process: when it exits (or its pid now names
   * another process), the approval ends, and with it the trust and the sockets of any children
   * that inherited it.
   */
  #endOnceApprovals(): void {
    for (const [tgid, o] of this.#onceApprovals) {
      if (procStart(tgid) !== o.start) this.#endOnce(tgid, HW.CLOSE_ENDED);
    }
  }

  // ---------------------------------------------------------------- evidence up

  #resolver = {
    byIdentity: (key: string) => this.#registry.byKeyString(key)?.app.path,
    ruleId: (index: number) => this.#effective().rules[index]?.id,
    appName: (id: number) => this.#registry.byId(id)?.app.name,
  };

  #onRecord(rec: Uint8Array): void {
    let ev: ConnEvent;
    try {
      ev = recordToConnEvent(rec, this.#resolver, this.#bootEpoch);
    } catch (e) {
      this.log.log("warn", `undecodable ring-buffer record: ${(e as Error).message}`);
      return;
    }
    const app = this.#registry.byPath(ev.exe);
    if (app) ev.app = app.app.name;
    if (ev.kind === "exec") {
      // Not a connection: the kernel refused trust to an approved file (bpf/stale.h,
      // bpf/script_open.h). History keeps it; the learning list has nothing to learn from it.
      if (ev.reason === "stale") this.#onStale(ev);
      this.#batcher.push(ev);
      return;
    }
    this.#nameDestination(ev);
    if (ev.ruleId?.startsWith("blocklist:")) {
      const k = `blocklist_hits:${ev.ruleId.slice(10)}`;
      this.#blockHits.set(k, (this.#blockHits.get(k) ?? 0) + 1);
    }
    this.#learning.add(ev);
    this.#batcher.push(ev);
    // Connection verdicts go to the log pipeline only in JSON (journal text stays readable).
    if (this.log.format === "json") this.#logConnection(ev);
  }

  #logConnection(ev: ConnEvent): void {
    const r = this.#connLogLimit.admit(Date.now());
    if (r.suppressed) {
      this.#logEvent(suppressedRecord(r.suppressed, this.#connLogLimit.perSecond));
    }
    if (r.log) this.#logEvent(connectionRecord(ev));
    else this.#count("log_connections_suppressed");
  }

  /** One event or admin action to the log (see event_log.ts for the field names). */
  #logEvent(r: EventRecord): void {
    if (this.log.event) this.log.event(r.level, r.msg, r.fields);
    else this.log.log(r.level, r.msg, r.fields);
  }

  #count(name: string): void {
    this.#eventCounters[name] = (this.#eventCounters[name] ?? 0) + 1;
  }

  /** The name the process resolved the destination from, as the kernel saw its DNS answer. */
  #nameDestination(ev: ConnEvent): void {
    if (!this.#hostnames || (ev.family !== 4 && ev.family !== 6)) return;
    try {
      const host = this.#hostnames.nameFor(ev.tgid, parseAddress(ev.daddr));
      if (host) ev.host = host;
    } catch { /* no name: the event stands with its address */ }
  }

  /** The kernel DNS parser's counters (status, /metrics). */
  dnsCounters(): Record<string, number> {
    return this.#hostnames?.stats() ?? {};
  }

  /**
   * The kernel saw an approved file whose mtime/ctime moved since it was hashed (a write the
   * watch cannot see, e.g. through a shared mapping) and refused trust: re-hash it now. Same
   * content → re-approved with the new times; other content → revoked, as for any change.
   */
  #onStale(ev: ConnEvent): void {
    const s = this.#registry.byKeyString(`${ev.dev}:${ev.ino}`);
    if (!s) return;
    const name = s.app.name;
    const prev = this.#rehashQueue.get(name) ?? Promise.resolve();
    const next = prev.then(async () => {
      await this.#recheck(name, undefined, `kernel: changed since hashed (pid ${ev.tgid})`);
    }).catch((err) => this.log.log("error", `re-hash of ${name} failed: ${err}`));
    this.#rehashQueue.set(name, next);
  }

  #seedLearning(): void {
    try {
      const since = Date.now() - 7 * 86_400_000;
      for (const ev of this.store.queryEvents({ since, limit: 10_000 }).reverse()) {
        this.#learning.add(ev);
      }
    } catch (e) {
      this.log.log("warn", `learning list not seeded from history: ${(e as Error).message}`);
    }
  }

  #publish(m: LiveMessage): void {
    for (const fn of this.#subscribers) {
      try {
        fn(m);
      } catch { /* a broken subscriber must not stop the others */ }
    }
  }

  // ---------------------------------------------------------------- file watch

  /** Watches the approved apps' files: the first write revokes (see #onWatch). */
  #startWatch(): void {
    try {
      this.#watcher = new FileWatcher({ onEvent: (e) => this.#onWatch(e) });
      for (const s of this.#registry.list()) this.#watchApp(s);
      this.#watcher.start();
    } catch (e) {
      this.#warn("watch", `file watch unavailable: ${(e as Error).message}`);
    }
  }

  /** Watches the config files and [[integrity.watch]] paths; changes go to history and live. */
  async #startIntegrity(): Promise<void> {
    await this.#monitor?.close();
    this.#monitor = new IntegrityMonitor({
      entries: policyEntries(this.policy),
      onChange: (c) => {
        // The config's own files are watched too: their changes (a rollout) count apart.
        const cfg = this.opts.configDir.replace(/\/+$/, "") + "/";
        this.#count(`integrity_changes_${c.path.startsWith(cfg) ? "config" : "watch"}_${c.change}`);
        this.#logEvent(integrityRecord(c));
        try {
          this.store.recordIntegrityChange({
            time: c.time,
            path: c.path,
            change: c.change,
            oldHash: c.oldHash,
            newHash: c.newHash,
            pid: c.pid,
            exe: c.exe,
          });
        } catch (e) {
          this.#warn("store", `integrity change not recorded: ${(e as Error).message}`);
        }
        this.#publish({
          type: "integrity",
          path: c.path,
          change: c.change,
          oldHash: c.oldHash,
          newHash: c.newHash,
        });
      },
      onError: (path, error) =>
        this.#warn(`integrity:${path}`, `integrity watch: ${path}: ${error}`),
    });
    try {
      await this.#monitor.start();
    } catch (e) {
      this.#warn("integrity", `integrity watch unavailable: ${(e as Error).message}`);
    }
  }

  /**
   * The opt-in exec gate ([defaults] exec_gate): approved binaries whose content no longer
   * matches cannot be executed. Started, fed or stopped to match the policy.
   */
  async #syncExecGate(): Promise<void> {
    if (!this.policy.defaults.execGate) {
      await this.#gate?.stop();
      this.#gate = undefined;
      return;
    }
    if (!this.#gate) {
      this.#gate = new ExecGate({
        onFailure: (reason) => this.#warn("exec-gate", `exec gate failed open: ${reason}`),
      });
      await this.#gate.start();
    }
    for (const s of this.#registry.list()) {
      if (s.app.interpreter || s.status === "missing") continue;
      try {
        await this.#gate.setApproved(s.app.path, s.lastHash ?? null, s.app.sha256);
      } catch (e) {
        this.#warn(`gate:${s.app.path}`, `exec gate: ${s.app.path}: ${(e as Error).message}`);
      }
    }
  }

  #watchApp(s: AppState): void {
    if (s.status !== "missing") this.#tryWatch(s.app.path);
  }

  #tryWatch(path: string): void {
    try {
      if (!this.#watcher?.watchedFiles().includes(path)) this.#watcher?.addFile(path);
    } catch { /* missing now: the parent-folder watch reports its creation */ }
  }

  /**
   * A watched file changed. For an approved binary the FIRST write revokes it in the kernel right
   * here, synchronously, before anything slow; the re-hash follows on close/replacement.
   */
  #onWatch(e: WatchEvent): void {
    const apps = this.#registry.list().filter((s) => s.app.path === e.path);
    // Before #guardPinned ran: remembered, so a pinned approval of this file is not kept.
    this.#guardEvents?.add(e.kind === "overflow" ? OVERFLOW : e.path);
    if (e.kind === "overflow") {
      for (const k of this.#pinnedByPath.values()) this.#revoke(k, HW.CLOSE_CHANGED);
      this.#pinnedByPath.clear();
      this.#cache?.beginEpoch("fanotify overflow");
      this.#warn("watch-overflow", "fanotify queue overflowed: every app is being re-hashed");
      void this.#kernelLoaded.promise.then(() => this.appsRehash(DAEMON_CALLER)).catch((err) =>
        this.log.log("error", `re-hash after a fanotify overflow failed: ${err}`)
      );
      return;
    }
    const pinned = this.#pinnedByPath.get(e.path);
    if (pinned && e.kind !== "created") {
      this.#revoke(pinned, HW.CLOSE_CHANGED);
      this.#pinnedByPath.delete(e.path);
    }
    for (const s of apps) {
      // Any event voids a hash that is running now (it may have read the old bytes).
      this.#registry.noteChange(s);
      if (e.kind === "modify" || e.kind === "deleted" || e.kind === "replaced") {
        if (s.key && s.approvedInKernel) this.#revoke(s.key, HW.CLOSE_CHANGED, s);
        this.#forgetCached(s);
        if (e.kind === "replaced") {
          void this.#gate?.taint(s.app.path).catch((err) =>
            this.log.log("error", `exec gate: could not taint ${s.app.path}: ${err}`)
          );
        }
        s.approvedInKernel = false;
        s.status = e.kind === "deleted" ? "missing" : "pending";
        this.#publish({ type: "app", app: toAppInfo(s) });
      }
      if (e.kind !== "modify") void this.#queueRecheck(s.app.name, e);
    }
  }

  #queueRecheck(name: string, e?: WatchEvent): Promise<void> {
    // A watch event during start, before the kernel objects loaded: the re-hash waits for them.
    const prev = this.#rehashQueue.get(name) ?? this.#kernelLoaded.promise;
    const next = prev.then(async () => {
      await this.#recheck(name, e);
    }).catch((err) => this.log.log("error", `re-hash of ${name} failed: ${err}`));
    this.#rehashQueue.set(name, next);
    return next;
  }

  async #recheck(
    name: string,
    e?: WatchEvent,
    who = "fanotify",
    useCache = false,
  ): Promise<AppState | undefined> {
    const s = this.#registry.get(name);
    if (!s) return undefined;
    const oldKey = s.key;
    const oldHash = s.actualSha256;
    const cached = useCache ? this.#cachedHash(s.app.path) : undefined;
    if (cached) this.#registry.applyHash(name, cached);
    else {
      const watched = this.#watcher?.watchedFiles().includes(s.app.path) ?? false;
      await this.#registry.verify(name);
      if (s.lastHash && s.status === "valid") this.#cachePut(s.lastHash, watched);
    }
    // A package-backed app whose new content its signed package update ships: approved again.
    const version = s.app.packageVersion;
    if (s.status === "invalid") await this.#packages.reconsider(s);
    if (oldKey && s.key && keyString(oldKey) !== keyString(s.key)) {
      this.#revoke(oldKey, HW.CLOSE_CHANGED, s);
    }
    if (s.status === "valid" && s.key) {
      this.kernel.approve({
        key: s.key,
        appId: s.id,
        flags: appFlags(s.app),
        times: s.lastHash ? fileTimes(s.lastHash) : NO_TIMES,
      });
      s.approvedInKernel = true;
      // No /proc scan for a new identity: processes of it that exec'd before the approval are
      // trusted at their next exec (the kernel did not check their environment at this one). A
      // revocation removes the approval, not the entries, so re-approving restores those.
      if (this.#gate && s.lastHash && !s.app.interpreter) {
        await this.#gate.setApproved(s.app.path, s.lastHash, s.app.sha256).catch((err) =>
          this.log.log("error", `exec gate: could not approve ${s.app.path}: ${err}`)
        );
      }
    } else {
      if (s.key) {
        this.#revoke(s.key, s.status === "invalid" ? HW.CLOSE_MISMATCH : HW.CLOSE_CHANGED, s);
      }
      s.approvedInKernel = false;
    }
    this.#syncAppExec();
    this.#syncScripts();
    if (s.status !== "missing") this.#tryWatch(s.app.path);
    if (oldHash !== s.actualSha256 || e) {
      const rec = {
        name,
        path: s.app.path,
        oldSha256: oldHash,
        newSha256: s.actualSha256,
        status: s.status,
        who: s.app.packageLevel && s.app.packageVersion !== version
          ? `approved by package ${s.app.package} ${version ?? "?"} → ${s.app.packageVersion}`
          : e?.pid
          ? `pid ${e.pid} ${e.exe ?? ""}`.trim()
          : who,
      };
      this.#count(`app_hash_changes_${s.status}`);
      this.#logEvent(appHashRecord(rec));
      this.store.recordAppHash(rec);
    }
    this.#publish({ type: "app", app: toAppInfo(s) });
    return s;
  }

  /**
   * The cached hash of `path`, when the cache rule allows one (same stat key, hashed under the
   * current unbroken watch); otherwise undefined and the caller hashes.
   */
  #cachedHash(path: string): KeyedHash | undefined {
    try {
      const id = this.#identity().identify(path);
      const sha256 = this.#cache?.lookup(id);
      if (!sha256) return undefined;
      this.#cacheHits++;
      return { ...id, sha256, changedDuringHash: false };
    } catch {
      return undefined;
    }
  }

  #forgetCached(s: AppState): void {
    try {
      if (s.lastHash) this.#cache?.invalidate(s.lastHash.dev, s.lastHash.ino);
      this.#cache?.invalidatePath(s.app.path);
    } catch (err) {
      this.#warn("cache", `hash cache: ${(err as Error).message}`);
    }
  }

  #warn(key: string, msg: string): void {
    if (this.#warnings.get(key) !== msg) this.log.log("warn", msg);
    this.#warnings.set(key, msg);
  }

  // ---------------------------------------------------------------- API: reads

  #require(caller: Caller, action: string): void {
    if (caller.role !== "admin") {
      this.#logEvent(adminRecord(caller, action, {}, false, "forbidden: viewer role"));
      try {
        this.store.audit(caller, action, {}, false, "forbidden: viewer role");
      } catch { /* audit is best effort for refusals */ }
      throw new ForbiddenError(`${action} needs the admin role`);
    }
  }

  #audit(caller: Caller, action: string, detail: unknown, ok = true, error?: string): void {
    this.#logEvent(adminRecord(caller, action, detail, ok, error));
    try {
      this.store.audit(caller, action, detail, ok, error);
    } catch (e) {
      this.#warn("audit", `audit log write failed: ${(e as Error).message}`);
    }
  }

  /** Status of the instance. */
  status(_caller: Caller): Promise<StatusInfo> {
    const counters = this.kernel.counters();
    const health = this.#batcher.health();
    const warnings = [...this.#warnings.values()];
    if (!health.ok) warnings.push(`history not being written: ${health.error}`);
    const apps = { total: 0, valid: 0, invalid: 0, missing: 0, pending: 0 };
    for (const s of this.#registry.list()) {
      apps.total++;
      apps[s.status]++;
    }
    return Promise.resolve({
      version: VERSION,
      mode: this.effectiveMode(),
      instance: this.instance,
      stateDir: this.opts.stateDir,
      configDir: this.opts.configDir,
      cgroup: this.opts.cgroup,
      pid: Deno.pid,
      startedAt: this.startedAt,
      counters: {
        ...counters,
        history_backlog: health.backlog,
        history_dropped: health.dropped,
        history_written: health.written,
        ...this.#filterCounters(),
        ...Object.fromEntries(
          Object.entries(this.dnsCounters()).map(([k, v]) => [`dns_${k}`, v]),
        ),
        ...Object.fromEntries(
          this.blocklistStates().flatMap((b) => [
            [`blocklist_entries:${b.id}`, b.entries],
            [`blocklist_hits:${b.id}`, this.#blockHits.get(`blocklist_hits:${b.id}`) ?? 0],
          ]),
        ),
        watched_files: (this.#watcher?.watchedFiles().length ?? 0) +
          (this.#monitor?.hashes().size ?? 0),
        hash_queue: this.#rehashQueue.size,
        hash_cache_hits: this.#cacheHits,
        hooks_attached: this.kernel.attachPoints.filter((p) => p.startsWith("cgroup/")).length,
        ...this.#eventCounters,
      },
      lostEvents: counters.lost ?? 0,
      attachPoints: [...this.kernel.attachPoints, ...this.#filterPoints, ...this.extraAttachPoints],
      apps,
      ui: this.uiUrl,
      warnings,
      packages: {
        updatedToday: this.#packages.countUpdates(new Date().setHours(0, 0, 0, 0)),
        dpkgRunning: this.#packages.updates.running(Date.now()),
        waiting: this.#packages.updates.pending().length,
      },
    });
  }

  #filterCounters(): Record<string, number> {
    if (!this.#filter) return {};
    try {
      const c = this.#filter.counters({ rules: false }); // status shows no per-rule numbers
      const out: Record<string, number> = {
        flow_table_live: c.flows.live,
        flow_table_capacity: c.flows.capacity,
        flow_table_evicted: c.flows.evicted,
      };
      for (const [k, v] of Object.entries(c.stats)) out[`filter_${k}`] = v;
      return out;
    } catch {
      return {};
    }
  }

  /** Every registered app. */
  appsList(_caller: Caller): Promise<AppInfo[]> {
    return Promise.resolve(
      this.#registry.list().map((s) => {
        const info = toAppInfo(s);
        const r = s.status === "invalid" ? this.#packages.updates.refusal(s.app.name) : undefined;
        return r ? { ...info, packageRefusal: { reason: r.reason, detail: r.detail } } : info;
      }),
    );
  }

  /** History, newest first. */
  events(_caller: Caller, q: EventQuery): Promise<ConnEvent[]> {
    return Promise.resolve(this.store.queryEvents(q));
  }

  /**
   * Verdict counts since `since`. Counted in the database once per `since` (the dashboard asks
   * for "today"), then kept up to date from the rows this daemon commits: a count over a day of
   * a flood read a million rows and made every dashboard load take over a second. Retention
   * (the only other writer that removes rows) drops the cache through {@link applyRetention}.
   */
  eventCounts(_caller: Caller, since: number): Promise<EventCounts> {
    if (this.#counts?.since !== since) {
      this.#counts = { since, counts: this.store.countEvents({ since }) };
    }
    return Promise.resolve({ ...this.#counts.counts });
  }

  /** Applies history retention; cached counts are recounted afterwards. */
  applyRetention(policy: RetentionPolicy): RetentionResult {
    try {
      return this.store.applyRetention(policy);
    } finally {
      this.#counts = undefined;
    }
  }

  #countCommitted(rows: ConnEvent[]): void {
    const c = this.#counts;
    if (!c) return;
    for (const r of rows) {
      if (r.time < c.since) continue;
      if (r.verdict === "allow") c.counts.allow++;
      else c.counts.deny++;
      if (r.reason === "unknown_app") c.counts.unknown++;
    }
  }

  /** The learning list, without approved or dismissed executables. */
  learningList(_caller: Caller): Promise<LearningEntry[]> {
    const dismissed = new Set(this.#runtime.data.dismissed);
    const list = this.#learning.list((exe) => {
      if (dismissed.has(exe)) return true;
      const s = this.#registry.byPath(exe);
      return !!s && s.status === "valid";
    });
    return Promise.resolve(this.#withNewHashes(list, dismissed));
  }

  /**
   * Package-backed apps whose new hash was not taken from a signed source (e.g. `dpkg -i` of a
   * local .deb) appear in Learning as "new hash", with the package named, even before they try
   * to connect.
   */
  #withNewHashes(list: LearningEntry[], dismissed: Set<string>): LearningEntry[] {
    for (const s of this.#registry.list()) {
      const r = s.status === "invalid" ? this.#packages.updates.refusal(s.app.name) : undefined;
      if (!r || dismissed.has(s.app.path)) continue;
      const newHash = { app: s.app.name, package: r.package, version: r.version, reason: r.reason };
      const i = list.findIndex((x) => x.exe === s.app.path);
      if (i !== -1) {
        list[i] = { ...list[i], newHash }; // a copy: the tracker's entry stays as it was
        continue;
      }
      const t = s.lastVerified ?? Date.now();
      list.push({
        exe: s.app.path,
        sha256: s.actualSha256,
        attempts: 0,
        firstSeen: t,
        lastSeen: t,
        lineage: [],
        tgids: [],
        destinations: [],
        newHash,
      });
    }
    return list;
  }

  /** Live messages. */
  subscribe(_caller: Caller, listener: (m: LiveMessage) => void): () => void {
    this.#subscribers.add(listener);
    return () => this.#subscribers.delete(listener);
  }

  /** rules.toml text and the active rules. */
  async rulesGet(_caller: Caller): Promise<RulesView> {
    const path = configPath(this.opts.configDir, "rules.toml");
    let counters;
    try {
      counters = this.#filter?.counters().rules;
    } catch { /* no counters: hits show 0 */ }
    return {
      path,
      text: await Deno.readTextFile(path),
      rules: ruleInfos(this.#effective(), counters),
      blocklists: this.blocklistStates().map((b) => ({
        ...b,
        hits: this.#blockHits.get(`blocklist_hits:${b.id}`) ?? 0,
      })),
    };
  }

  /** Which rule would decide a packet. */
  rulesExplain(_caller: Caller, req: ExplainRequest): Promise<ExplainResult> {
    const app = req.exe ? this.#registry.byPath(req.exe)?.app.name : undefined;
    return Promise.resolve(explainRequest(this.#effective(), req, app));
  }

  /** Baseline summary: "changed" when a live change was recorded after the baseline was taken. */
  async #baselineStatus(changeTimes: number[]): Promise<IntegrityInfo["baseline"]> {
    try {
      const b = await loadBaseline(this.opts.stateDir);
      const changed = changeTimes.some((t) => t > b.createdAt);
      return {
        status: changed ? "changed" : "clean",
        createdAt: b.createdAt,
        files: Object.keys(b.files ?? {}).length,
      };
    } catch {
      return { status: "none", files: 0 };
    }
  }

  /** Integrity watch state and recent changes. */
  async integrityStatus(_caller: Caller): Promise<IntegrityInfo> {
    const changes = this.store.integrityChanges({ limit: 200 });
    return {
      watches: this.policy.integrity.watch.map((w) => {
        const prefix = w.path.endsWith("/") ? w.path : w.path + "/";
        const files = [...(this.#monitor?.hashes().keys() ?? [])];
        return {
          path: w.path,
          recursive: w.recursive,
          files: files.filter((f) => f === w.path || f.startsWith(prefix)).length,
          present: !this.#monitor?.pending().includes(w.path),
        };
      }),
      baseline: await this.#baselineStatus(changes.map((c) => c.time ?? 0)),
      changes: changes.map((c) => ({
        time: c.time ?? Date.now(),
        path: c.path,
        change: c.change,
        oldHash: c.oldHash,
        newHash: c.newHash,
        ...(c.details && Object.keys(c.details).length ? { details: c.details } : {}),
      })),
    };
  }

  // ---------------------------------------------------------------- API: writes

  /** Approves an executable (hash taken now), for once, the session or forever. */
  async appsAllow(caller: Caller, req: AllowRequest): Promise<AppInfo> {
    this.#require(caller, "apps.allow");
    try {
      // The named destinations, read before the approval takes the exe off the Learning list.
      const named = req.hosts
        ? (this.#learning.list(() => false).find((e) => e.exe === req.path)?.destinations ?? [])
          .filter((d) => d.host && (d.proto === 6 || d.proto === 17))
        : [];
      const info = await this.#allow(req);
      if (named.length > 0 && req.duration !== "once") {
        await this.#appendHostRules(caller, info.name, named);
      }
      this.#audit(caller, "apps.allow", req);
      return info;
    } catch (e) {
      this.#audit(caller, "apps.allow", req, false, (e as Error).message);
      throw e;
    }
  }

  async #allow(req: AllowRequest): Promise<AppInfo> {
    if (!req.path?.startsWith("/")) throw new Error("apps allow needs an absolute PATH");
    const magic = magicPathProblem(req.path);
    if (magic) throw new Error(magic);
    const h = await this.#identity().hash(req.path);
    if (req.sha256 && req.sha256.toLowerCase() !== h.sha256) {
      throw new Error(`${req.path} now hashes to ${h.sha256}, not the ${req.sha256} shown`);
    }
    const existing = this.#registry.byPath(req.path);
    const name = req.name ?? existing?.app.name ?? uniqueName(
      req.path.split("/").pop() || "app",
      (n) => !!this.#registry.get(n) && this.#registry.get(n)!.app.path !== req.path,
    );
    const duration = req.duration ?? "forever";
    const app: App = {
      name,
      path: req.path,
      sha256: h.sha256,
      inherit: req.inherit ?? existing?.app.inherit ?? false,
      interpreter: existing?.app.interpreter ?? false,
      duration,
      ...this.#packageFields(req.path, existing?.app),
      loc: { file: "(runtime)", line: 1, col: 1 },
    };
    this.#runtime.data.revoked = this.#runtime.data.revoked.filter((n) => n !== name);
    this.#runtime.data.dismissed = this.#runtime.data.dismissed.filter((x) => x !== req.path);
    this.#runtime.save();
    if (duration === "once") {
      if (!req.tgid) throw new Error("--for once needs the process id that asked (tgid)");
      // The pid may have exited and been reused between the event and the click: trust it only
      // while it runs the very file just hashed, and check again after (an exec or a reuse in
      // between undoes it).
      this.#assertRuns(req.tgid, req.path, h.key);
      const key = onceKey(req.tgid);
      const id = this.#registry.idOf(`once:${name}`);
      this.kernel.approve({ key, appId: id, flags: appFlags(app), times: NO_TIMES });
      this.kernel.trustProcess(req.tgid, { key, appId: id, flags: appFlags(app) });
      try {
        this.#assertRuns(req.tgid, req.path, h.key);
      } catch (e) {
        this.kernel.untrustProcessIf(req.tgid, key);
        this.#revoke(key, HW.CLOSE_ENDED);
        throw e;
      }
      this.#onceApprovals.set(req.tgid, {
        key,
        start: procStart(req.tgid) ?? "",
        app: name,
        path: req.path,
      });
      this.#learning.remove(req.path);
      return {
        ...toAppInfo({ app, id, status: "valid", approvedInKernel: true, changeSeq: 0 }),
        name,
      };
    }
    const declaredIn = existing?.app.loc.file;
    const handWritten = existing && declaredIn !== "(runtime)" &&
      !declaredIn?.endsWith(`/apps.d/${LEARNED_FILE}`);
    if (duration === "forever" && handWritten && existing.app.path === req.path) {
      // A new hash for an app from a hand-written file: kept in the state folder, never written
      // into the admin's file (see RuntimeData.hashOverrides).
      const declared = this.policy.apps.find((a) => a.name === existing.app.name)?.sha256 ??
        existing.app.sha256;
      this.#runtime.data.hashOverrides[existing.app.name] = {
        path: req.path,
        sha256: h.sha256,
        declared,
      };
      this.#runtime.save();
      this.#registry.setApps(this.#activeApps());
      const s = await this.#recheck(existing.app.name, undefined, "approval");
      this.#learning.remove(req.path);
      if (!s) throw new Error(`approval of ${existing.app.name} did not register`);
      return toAppInfo(s);
    }
    if (duration === "forever") {
      await appendLearnedApp(this.opts.configDir, {
        name,
        path: app.path,
        sha256: app.sha256,
        inherit: app.inherit,
        duration: "forever",
        trust: app.trust,
        package: app.package,
        packageVersion: app.packageVersion,
      }, { expectedUid: this.opts.expectedUid });
      this.policy = await this.loadConfig();
    } else {
      this.#sessionApps.set(name, app);
    }
    this.#registry.setApps(this.#activeApps());
    const s = await this.#recheck(name, undefined, "approval");
    this.#learning.remove(req.path);
    if (!s) throw new Error(`approval of ${name} did not register`);
    return toAppInfo(s);
  }

  /** Throws unless process `tgid` runs the file whose kernel identity is `key` right now. */
  #assertRuns(tgid: number, path: string, key: ExeKey): void {
    const exe = this.#identity().exeOf(tgid);
    if (!exe) throw new Error(`process ${tgid} is not running: nothing to approve --for once`);
    if (keyString(exe) !== keyString(key)) {
      throw new Error(
        `process ${tgid} does not run ${path} (its pid was reused, or it exec'd another file): ` +
          "refusing to approve it --for once",
      );
    }
  }
  /**
   * `trust`, `package` and `package_version` of an app approved now: package trust when the
   * app already has it or `[defaults] package_trust` says so, and a package owns the file.
   */
  #packageFields(path: string, existing?: App): Pick<App, "trust" | "package" | "packageVersion"> {
    const trust = existing?.trust ??
      (this.#packages.defaultTrust(this.policy.defaults.packageTrust) ? "package" : undefined);
    const owner = trust === "package" ? this.#packages.owner(path) : undefined;
    if (!owner) return existing?.trust ? { trust: existing.trust } : {};
    return {
      trust: "package",
      package: owner.multiArchSame ? `${owner.name}:${owner.arch}` : owner.name,
      packageVersion: owner.version,
    };
  }

  /** The dpkg hook: an upgrade begins (`pre`) or ended (`post`: reconciled before this returns). */
  async packagesHook(caller: Caller, phase: "pre" | "post"): Promise<HookResult> {
    this.#require(caller, "packages.hook");
    const r = await this.#packages.hook(phase);
    if (phase === "post") this.#audit(caller, "packages.hook", r);
    return r;
  }
  /** Revokes an app by name: out of the kernel now, and kept out until allowed again. */
  async appsRevoke(caller: Caller, name: string): Promise<void> {
    this.#require(caller, "apps.revoke");
    const s = this.#registry.get(name);
    const once = [...this.#onceApprovals].filter(([, o]) => o.app === name);
    if (!s && once.length) {
      // Only `--for once` approvals under this name: they end now, with their sockets.
      for (const [tgid] of once) this.#endOnce(tgid, HW.CLOSE_REVOKED);
      this.#audit(caller, "apps.revoke", { name, once: once.map(([tgid]) => tgid) });
      return;
    }
    if (!s) {
      this.#audit(caller, "apps.revoke", { name }, false, "no such app");
      throw new Error(`no app named "${name}"`);
    }
    if (s.key) this.#revoke(s.key, HW.CLOSE_REVOKED, s);
    s.approvedInKernel = false;
    this.#sessionApps.delete(name);
    for (const [tgid] of once) this.#endOnce(tgid, HW.CLOSE_REVOKED);
    try {
      await removeLearnedApp(this.opts.configDir, name, { expectedUid: this.opts.expectedUid });
    } catch (e) {
      this.log.log("warn", `learned.toml not updated for ${name}: ${(e as Error).message}`);
    }
    if (!this.#runtime.data.revoked.includes(name)) this.#runtime.data.revoked.push(name);
    this.#runtime.save();
    this.policy = await this.loadConfig();
    this.#registry.setApps(this.#activeApps());
    this.#syncKernelApprovals();
    this.#audit(caller, "apps.revoke", { name, path: s.app.path });
  }

  /** Re-hashes one app (name or path) or all of them, re-approving or revoking each. */
  async appsRehash(caller: Caller, target?: string): Promise<AppInfo[]> {
    this.#require(caller, "apps.rehash");
    const states = target === undefined
      ? this.#registry.list()
      : [this.#registry.get(target) ?? this.#registry.byPath(target)].filter((s) => !!s);
    if (target !== undefined && states.length === 0) {
      this.#audit(caller, "apps.rehash", { target }, false, "no such app");
      throw new Error(`no app named or at "${target}"`);
    }
    const out: AppInfo[] = [];
    let done = 0;
    for (const s of states) {
      const r = await this.#recheck(s!.app.name, undefined, caller.who, true);
      if (r) out.push(toAppInfo(r));
      this.#publish({
        type: "rehash-progress",
        done: ++done,
        total: states.length,
        path: s!.app.path,
      });
    }
    this.#audit(caller, "apps.rehash", { target: target ?? "all", count: out.length });
    return out;
  }

  /**
   * Switches learning ⇄ enforcing in the kernel at once (no reload), kept across restarts. With
   * `closeUnapproved` a switch to enforcing also closes the live sockets that apps without an
   * approval opened while learning (recorded by the hooks), so they cannot keep talking.
   */
  setMode(
    caller: Caller,
    mode: Mode,
    opts: { closeUnapproved?: boolean } = {},
  ): Promise<void | { closed: number }> {
    this.#require(caller, "mode");
    if (mode !== "learning" && mode !== "enforcing") {
      return Promise.reject(new Error(`mode must be "learning" or "enforcing"`));
    }
    this.#runtime.data.modeOverride = mode;
    this.#runtime.data.modeOverrideBase = this.policy.defaults.mode;
    this.#runtime.save();
    this.kernel.updateSettings({
      mode: mode === "enforcing" ? HW.MODE_ENFORCING : HW.MODE_LEARNING,
    });
    this.#filter?.apply(this.#compile(this.policy));
    let closed: number | undefined;
    if (opts.closeUnapproved && mode === "enforcing") {
      closed = this.#closeSockets([], (r) => {
        const st = this.#registry.byKey(r.trustKey);
        return { app: st?.app.name, exe: st?.app.path ?? procExe(r.tgid) ?? "" };
      }, HW.CLOSE_NOT_APPROVED);
    }
    this.#audit(caller, "mode", { mode, closeUnapproved: !!opts.closeUnapproved, closed });
    this.#publish({ type: "mode", mode });
    return Promise.resolve(closed === undefined ? undefined : { closed });
  }

  /** Re-reads the config; a config with any error changes nothing. */
  async reload(caller: Caller): Promise<{ ok: boolean; errors: string[] }> {
    this.#require(caller, "reload");
    const r = await loadPolicy(this.opts.configDir, { expectedUid: this.opts.expectedUid });
    if (!r.ok) {
      const errors = r.errors.map(String);
      this.#audit(caller, "reload", { errors }, false, "configuration rejected");
      this.log.log("error", `reload refused, previous policy stays:\n${errors.join("\n")}`);
      return { ok: false, errors };
    }
    // Everything that can refuse the new policy runs before anything changes.
    let compiled;
    await this.#refreshBlocklists(r.policy);
    const blockRules = this.#blocklists!.rules(r.policy.blocklists ?? []);
    try {
      compiled = this.#compile(r.policy, blockRules);
      if (!this.opts.interfaces && !this.#followsInterfaces(r.policy)) {
        resolveInterfaces(r.policy.defaults.interfaces, this.opts.netns);
      }
    } catch (e) {
      const msg = `reload refused: ${(e as Error).message}`;
      this.#audit(caller, "reload", {}, false, msg);
      this.log.log("error", msg);
      return { ok: false, errors: [msg] };
    }
    this.#filter?.apply(compiled);
    this.#blockRules = blockRules;
    this.policy = r.policy;
    try {
      this.#attachFilter(r.policy);
    } catch (e) {
      this.#warn("filter-attach", `packet filter: ${(e as Error).message}`);
    }
    this.#registry.setApps(this.#activeApps());
    const pending = this.#registry.list().filter((s) => s.status === "pending");
    for (const s of pending) await this.#registry.verify(s.app.name);
    this.kernel.updateSettings(this.#kernelSettings());
    this.kernel.sockets.setRecording(this.policy.defaults.closeOnRevoke);
    this.#syncKernelApprovals();
    // No /proc scan here: a reload never grants trust from /proc (a forged exe link would pass).
    for (const s of this.#registry.list()) this.#watchApp(s);
    await this.#startIntegrity();
    await this.#syncExecGate();
    this.#audit(caller, "reload", { rules: r.policy.rules.length, apps: r.policy.apps.length });
    this.log.log("notice", "configuration reloaded");
    return { ok: true, errors: [] };
  }

  /**
   * Appends one allow rule per named destination of `app` ("allow curl to api.github.com:443")
   * to rules.toml, validated with the whole config first (rulesSave), then reloaded.
   */
  async #appendHostRules(
    caller: Caller,
    app: string,
    dests: LearningDestination[],
  ): Promise<void> {
    const rulesFile = configPath(this.opts.configDir, "rules.toml");
    let text = await Deno.readTextFile(rulesFile);
    const ids = new Set([...this.policy.rules.map((r) => r.id)]);
    const day = new Date().toISOString().slice(0, 10);
    const seen = new Set<string>();
    for (const d of dests) {
      const key = `${d.host}/${d.proto}/${d.dport}`;
      if (seen.has(key)) continue;
      seen.add(key);
      const base = `${app}-${d.host}-${d.dport}`.replace(/[^A-Za-z0-9._:-]/g, "-").slice(0, 56);
      let id = base;
      for (let n = 2; ids.has(id); n++) id = `${base}-${n}`;
      ids.add(id);
      text += `${text.endsWith("\n") ? "" : "\n"}\n[[rule]]\nid = "${id}"\naction = "allow"\n` +
        `direction = "out"\nprotocol = "${d.proto === 6 ? "tcp" : "udp"}"\nports = [${d.dport}]\n` +
        `app = "${app}"\nremote_host = ["${d.host}"]\ncomment = "approved from Learning ${day}"\n`;
    }
    const r = await this.rulesSave(caller, text);
    if (!r.ok) {
      throw new Error(
        `rules for ${app}'s destinations not written: ${r.errors.map((e) => e.message).join("; ")}`,
      );
    }
  }

  /** Validates rules.toml text; when valid writes it atomically and reloads. */
  async rulesSave(caller: Caller, text: string): Promise<{ ok: boolean; errors: RulesProblem[] }> {
    this.#require(caller, "rules.save");
    const rulesFile = configPath(this.opts.configDir, "rules.toml");
    const appsTexts: { file: string; text: string }[] = [];
    for (const f of this.policy.files) {
      if (f !== rulesFile) appsTexts.push({ file: f, text: await Deno.readTextFile(f) });
    }
    const v = validateTexts({ rulesText: text, rulesFile, appsTexts });
    if (!v.ok) {
      const errors = v.errors.filter((e) => e.file === rulesFile)
        .map((e) => ({ line: e.line, col: e.col, message: e.detail }));
      const other = v.errors.filter((e) => e.file !== rulesFile)
        .map((e) => ({ line: 1, col: 1, message: String(e) }));
      this.#audit(caller, "rules.save", { errors: v.errors.length }, false, "invalid rules");
      return { ok: false, errors: [...errors, ...other] };
    }
    await writeFileAtomic(rulesFile, text, 0o600);
    const r = await this.reload(caller);
    this.#audit(caller, "rules.save", { bytes: text.length }, r.ok);
    return { ok: r.ok, errors: r.errors.map((message) => ({ line: 1, col: 1, message })) };
  }

  /** Dismisses an executable from the learning list (it stays unapproved). */
  learningDeny(caller: Caller, exe: string): Promise<void> {
    this.#require(caller, "learning.deny");
    if (!this.#runtime.data.dismissed.includes(exe)) this.#runtime.data.dismissed.push(exe);
    this.#runtime.save();
    this.#learning.remove(exe);
    this.#audit(caller, "learning.deny", { exe });
    return Promise.resolve();
  }

  /** Proof of progress for the systemd watchdog: the ring-buffer drain ran recently. */
  healthy(maxAgeMs: number): boolean {
    return Date.now() - this.kernel.lastDrain < maxAgeMs;
  }
}

/** The executable of a live process, or undefined. */
function procExe(tgid: number): string | undefined {
  try {
    return Deno.readLinkSync(`/proc/${tgid}/exe`);
  } catch {
    return undefined;
  }
}

/** The start time of process `tgid` (field 22 of /proc/PID/stat), or undefined when gone. */
function procStart(tgid: number): string | undefined {
  try {
    const stat = Deno.readTextFileSync(`/proc/${tgid}/stat`);
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
  } catch {
    return undefined;
  }
}

/** Whether the file starts with the ELF magic (a binary, not a script). */
function isElf(path: string): boolean {
  const f = Deno.openSync(path);
  try {
    const head = new Uint8Array(4);
    const n = f.readSync(head);
    return n === 4 && head[0] === 0x7f && head[1] === 0x45 && head[2] === 0x4c && head[3] === 0x46;
  } finally {
    f.close();
  }
}

/** `base`, or `base-2`, `base-3`… until `taken` says no. */
function uniqueName(base: string, taken: (n: string) => boolean): string {
  const clean = base.replace(/[^A-Za-z0-9._-]/g, "_") || "app";
  if (!taken(clean)) return clean;
  for (let i = 2;; i++) if (!taken(`${clean}-${i}`)) return `${clean}-${i}`;
}
