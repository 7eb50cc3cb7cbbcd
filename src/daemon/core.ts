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
import type { Mode, Policy, Rule } from "../config/model.ts";
import { configPath, loadPolicy } from "../config/load.ts";
import { appendLearnedApp, removeLearnedApp } from "../config/learned.ts";
import { validateTexts } from "../config/validate.ts";
import { writeFileAtomic } from "../config/atomic.ts";
import { assertCgroup2 } from "../kernel/cgroup.ts";
import { AppControl } from "../kernel/app_control.ts";
import {
  loadPacketFilter,
  type PacketFilter,
  presentInterfaces,
  resolveInterfaces,
} from "../kernel/filter.ts";
import { compilePolicy } from "../policy/compile.ts";
import { explainRequest, ruleInfos } from "../policy/api_views.ts";
import { bootEpochMs, recordToConnEvent } from "../kernel/events.ts";
import { HostnameMaps } from "../kernel/hostnames.ts";
import { Blocklists, type BlocklistState } from "./blocklists.ts";
import { parseAddress } from "../config/cidr.ts";
import { instanceName, pinPaths } from "../kernel/pins.ts";
import { AppIds, AppRegistry, toAppInfo } from "../identity/registry.ts";
import { KernelIdentity } from "../identity/kernel_key.ts";
import { EarlyHashes } from "../identity/early_hash.ts";
import { IdentityIterators } from "../kernel/identity_iter.ts";
import { HashCache } from "../integrity/hash_cache.ts";
import { DatabaseSync } from "node:sqlite";
import { HashPool } from "../integrity/hash_pool.ts";
import { FileWatcher } from "../integrity/watch.ts";
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
import { HW, LAYOUT } from "../../ffi/structs.ts";
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
  ConnectionLogLimit,
  connectionRecord,
  type EventRecord,
  integrityRecord,
  suppressedRecord,
} from "./event_log.ts";
import { RuntimeState } from "./runtime_state.ts";
import { type HookResult, PackageApprovals } from "./package_approvals.ts";
import { Approvals } from "./approvals.ts";
import type { ApprovalPorts } from "./approval_ports.ts";
import { PROC, procExe } from "./proc.ts";

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

/** How often the filter looks for interfaces that came or went (see #followInterfaces). */
const INTERFACE_POLL_MS = 1000;
/** How often the blocklist refresh timer looks for a list whose interval passed. */
const BLOCKLIST_POLL_MS = 60_000;

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
  #monitor?: IntegrityMonitor;
  #cache?: HashCache;
  #cacheDb?: DatabaseSync;
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
  /** The approval state machine (approvals.ts): allow, watch → re-hash, kernel sync, revoke. */
  #approvals: Approvals;
  #warnings = new Map<string, string>();
  #packages: PackageApprovals;
  /** Counters for /metrics kept by the daemon itself (app hash and integrity changes). */
  #eventCounters: Record<string, number> = {};
  #connLogLimit = new ConnectionLogLimit();
  /** Kernel identities (iterators over the daemon's own fds): see src/identity/kernel_key.ts. */
  #ident?: KernelIdentity;
  /** Extra status providers registered by optional parts (packet filter, UI). */
  readonly extraAttachPoints: string[] = [];
  uiUrl: string | null = null;
  /** How long each start phase took (ms), for the ready line. */
  #startPhases: Record<string, number> = {};
  /** The parts of the start's `load` phase (ms), for the ready line's `loadMs`. */
  #loadPhases: Record<string, number> = {};
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
        (this.policy.apps.find((a) => a.name === name) ?? this.#approvals.sessionApp(name))
          ?.sha256,
      recheck: (name) => this.#approvals.queueRecheck(name),
      runtime: this.#runtime,
      store: () => this.store,
      warn: (key, msg) => this.#warn(key, msg),
      notice: (msg) => this.log.log("notice", `package trust: ${msg}`),
    });
    this.#approvals = new Approvals(this.#approvalPorts(), this.#registry, this.#runtime);
  }

  /**
   * The real parts behind the approval machine's ports (approval_ports.ts). Getters: the kernel,
   * store and cache open in start(), after the machine exists.
   */
  #approvalPorts(): ApprovalPorts {
    // deno-lint-ignore no-this-alias
    const core = this;
    return {
      get kernel() {
        return core.kernel;
      },
      get sockets() {
        return core.kernel.sockets;
      },
      get identity() {
        return core.#identity();
      },
      get store() {
        return core.store;
      },
      get cache() {
        return core.#cache;
      },
      packages: this.#packages,
      config: {
        policy: () => this.policy,
        reload: async () => {
          this.policy = await this.loadConfig();
        },
        appendLearned: (app) =>
          appendLearnedApp(this.opts.configDir, app, { expectedUid: this.opts.expectedUid }),
        removeLearned: async (name) => {
          await removeLearnedApp(this.opts.configDir, name, { expectedUid: this.opts.expectedUid });
        },
      },
      report: {
        log: this.log,
        warn: (key, msg) => this.#warn(key, msg),
        publish: (m) => this.#publish(m),
        count: (name) => this.#count(name),
        logEvent: (r) => this.#logEvent(r),
        history: (ev) => this.#batcher.push(ev),
        approved: (path) => this.#learning.remove(path),
      },
      proc: PROC,
      pool: this.#pool,
      earlyHash: (paths) => {
        const early = new EarlyHashes(this.#pool, paths);
        return {
          finish: (onProgress) => early.finish(this.#identity(), onProgress),
          abandon: () => early.abandon(),
        };
      },
      newWatcher: (onEvent) => new FileWatcher({ onEvent }),
      newGate: (onFailure) => new ExecGate({ onFailure }),
      rehashAll: () => this.appsRehash(DAEMON_CALLER),
      enforcing: () => this.effectiveMode() === "enforcing",
    };
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
    // The hash workers boot while the config is read and the watch is set up: the first hash
    // then waits for no worker start.
    this.#pool.prewarm();
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
    this.#approvals.refreshApps();
    // Guards before trust: the watch reader is live before the first hash and before any
    // approval reaches the kernel, so a write at any moment after this line revokes (or voids
    // the hash that raced it). Then the hash workers start: they hash while this thread loads
    // the BPF objects (synchronous libbpf calls) below.
    this.#approvals.startWatch();
    const hashing = this.#approvals.beginHashes();
    phase("watch");
    try {
      await this.#loadKernel();
      phase("load");
      // On a restart, approvals the previous run pinned are checked against what it last hashed
      // (and against every watch event since the watch above went live).
      this.#approvals.guardPinned();
      await this.#approvals.verifyAll(hashing);
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
    await this.#approvals.syncExecGate();
    phase("integrity");
    this.#approvals.syncKernel();
    this.#approvals.endPinned();
    // Only at a first start: with pinned maps the tracepoints saw every exec since (and a /proc
    // scan is never a source of trust after that; see src/identity/trust_scan.ts).
    if (!this.kernel.reusedState) this.#approvals.trustRunning();
    phase("approve");
    this.kernel.attachHooks();
    this.#attachFilter(this.policy);
    this.#ifaceTimer = setInterval(() => {
      this.#followInterfaces();
      this.#approvals.endOnceApprovals();
    }, INTERFACE_POLL_MS);
    this.#blockTimer = setInterval(() => this.#refreshDueBlocklists(), BLOCKLIST_POLL_MS);
    this.kernel.startDrain((rec) => this.#onRecord(rec));
    phase("attach");
    this.#startPhases = phases;
  }

  /** Blocklists, packet filter, app-control object, identity readout, lineage, DNS maps. */
  async #loadKernel(): Promise<void> {
    let t = performance.now();
    const part = (name: string) => {
      const now = performance.now();
      this.#loadPhases[name] = Math.round(now - t);
      t = now;
    };
    this.#blocklists = new Blocklists(this.opts.stateDir);
    await this.#refreshBlocklists(this.policy);
    this.#blockRules = this.#blocklists.rules(this.policy.blocklists ?? []);
    part("blocklists");
    // The packet filter first: its pinned rule maps are shared with the connect hooks. Opening
    // attaches nothing; on a restart the previous run's programs still decide meanwhile.
    // With `--interfaces none` no interface is ever attached (reloads keep the flag): its
    // programs are loaded only if that changes, never verified at start.
    this.#filter = loadPacketFilter({
      pinRoot: pinPaths(this.instance).root,
      deferPrograms: this.opts.interfaces?.length === 0,
    });
    part("filter");
    this.#filter.apply(this.#compile(this.policy));
    part("rules");
    this.kernel = AppControl.open({
      pins: pinPaths(this.instance),
      cgroupPath: this.opts.cgroup,
      settings: this.#kernelSettings(),
    });
    part("object");
    // The identity iterators come with the app-control object (one BTF parse, not two).
    this.#ident = new KernelIdentity(
      IdentityIterators.fromPrograms((name) => this.kernel.programFd(name)),
    );
    this.kernel.sockets.setRecording(this.policy.defaults.closeOnRevoke);
    this.kernel.attachLineage();
    part("lineage");
    this.#hostnames = new HostnameMaps({
      addrs: this.kernel.map("hw_dns_addrs").fd,
      names: this.kernel.map("hw_dns_names").fd,
      stats: this.kernel.map("hw_dns_stats").fd,
    });
    this.#approvals.kernelLoaded();
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
      // The parts of `load` (bench/startup.ts prints them).
      loadMs: this.#loadPhases,
      // "reused": the programs an earlier start of this build pinned (nothing verified).
      programs: this.kernel.programsReused ? "reused" : "loaded",
    });
  }

  /** Stops everything this process holds. Pins stay: the kernel keeps the last policy. */
  async stop(): Promise<void> {
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
    await this.#approvals.stop();
    await this.#monitor?.close();
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

  /** The kernel identity readout (loaded by start()). */
  #identity(): KernelIdentity {
    if (!this.#ident) throw new Error("kernel identity readout not loaded (daemon not started)");
    return this.#ident;
  }

  // ---------------------------------------------------------------- revocation

  // ---------------------------------------------------------------- evidence up

  #resolver = {
    byIdentity: (key: string) => this.#registry.byKeyString(key)?.app.path,
    ruleId: (index: number) => this.#effective().rules[index]?.id,
    appName: (id: number) => this.#registry.byId(id)?.app.name,
  };

  #undecodable = 0;
  #undecodableLoggedAt = -Infinity;

  #onRecord(rec: Uint8Array): void {
    let ev: ConnEvent;
    try {
      ev = recordToConnEvent(rec, this.#resolver, this.#bootEpoch);
    } catch (e) {
      // A ring pinned by an older build may hold thousands of old-format records after an
      // upgrade: one line per second with the count, not one per record.
      this.#undecodable++;
      const now = performance.now();
      if (now - this.#undecodableLoggedAt >= 1000) {
        this.log.log(
          "warn",
          `undecodable ring-buffer record (${this.#undecodable} since the last warning): ${
            (e as Error).message
          }`,
        );
        this.#undecodable = 0;
        this.#undecodableLoggedAt = now;
      }
      return;
    }
    const app = this.#registry.byPath(ev.exe);
    if (app) ev.app = app.app.name;
    if (ev.kind === "write_open") {
      // The kernel revoked an approved file at an open for writing (bpf/write_revoke.h); the
      // record's hw_event.rule is the app id the kernel held, the one sockets rest on.
      const appId = new DataView(rec.buffer, rec.byteOffset, rec.byteLength)
        .getUint32(LAYOUT.hw_event.fields.rule, true);
      this.#approvals.onWriteOpen(ev, appId);
      this.#batcher.push(ev);
      return;
    }
    if (ev.kind === "taint") {
      // A trusted process was written into (bpf/tamper.h): its next connect is already refused;
      // the sockets its trust opened close now, since the writer may hold a copy of them or run
      // its own code in the process. The denial that follows is the history's evidence.
      this.log.log("notice", `process ${ev.tgid} lost its trust (${ev.reason} by ${ev.comm})`, {
        exe: ev.exe,
      });
      this.#approvals.revoker.closeTainted();
      return;
    }
    if (ev.kind === "exec") {
      // Not a connection: the kernel refused trust to an approved file (bpf/stale.h,
      // bpf/script_open.h). History keeps it; the learning list has nothing to learn from it.
      if (ev.reason === "stale") this.#approvals.onStale(ev);
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
        watched_files: this.#approvals.watchedFiles().length +
          (this.#monitor?.hashes().size ?? 0),
        hash_queue: this.#approvals.queued,
        hash_cache_hits: this.#approvals.cacheHits,
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
        // A copy (the tracker's entry stays as it was), with the new hash when the tracker has none.
        list[i] = { ...list[i], sha256: list[i].sha256 ?? s.actualSha256, newHash };
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
      const info = await this.#approvals.allow(req);
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
    const detail = await this.#approvals.revokeApp(name);
    if (!detail) {
      this.#audit(caller, "apps.revoke", { name }, false, "no such app");
      throw new Error(`no app named "${name}"`);
    }
    this.#audit(caller, "apps.revoke", detail);
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
      const r = await this.#approvals.recheck(s!.app.name, undefined, caller.who, true);
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
      closed = this.#approvals.revoker.closeSockets([], (r) => {
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
    this.#approvals.refreshApps();
    await this.#approvals.verifyPending();
    this.kernel.updateSettings(this.#kernelSettings());
    this.kernel.sockets.setRecording(this.policy.defaults.closeOnRevoke);
    this.#approvals.syncKernel();
    // No /proc scan here: a reload never grants trust from /proc (a forged exe link would pass).
    this.#approvals.watchAll();
    await this.#startIntegrity();
    await this.#approvals.syncExecGate();
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
