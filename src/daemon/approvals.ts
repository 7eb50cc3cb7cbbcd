/**
 * The approval state machine: which executables are approved, and how an approval starts, is
 * checked again and ends.
 *
 * - `allow` once (one process, while it runs), session (until the daemon stops) or forever
 *   (apps.d/learned.toml, or a hash override in runtime.json for a hand-written app);
 * - a watch event for an approved file ({@link Approvals.onWatch}): the first write revokes it in
 *   the kernel at once; the re-hash that follows ({@link Approvals.recheck}) approves it again
 *   when the content is still the declared one (or its signed package update ships it:
 *   package_approvals.ts) and keeps it revoked otherwise — kernel maps, exec gate and history;
 * - the kernel's maps are kept equal to the registry ({@link Approvals.syncKernel}, written by
 *   kernel_sync.ts); at a first start running processes of approved apps are trusted
 *   ({@link Approvals.trustRunning}); on a restart over pinned maps the previous run's approvals
 *   are checked ({@link Approvals.guardPinned}).
 *
 * The outside is reached only through approval_ports.ts; revocation (and the sockets it
 * closes) is revocation.ts. The daemon core wires the real parts in.
 *
 * @module
 */
import type { App } from "../config/model.ts";
import { LEARNED_FILE } from "../config/learned.ts";
import { appFlags, type AppRegistry, type AppState, toAppInfo } from "../identity/registry.ts";
import { keyString } from "../identity/running.ts";
import type { KeyedHash } from "../identity/kernel_key.ts";
import { magicPathProblem } from "../identity/magic_path.ts";
import type { WatchEvent } from "../integrity/watch.ts";
import { type ExeKey, HW, NO_TIMES } from "../../ffi/structs.ts";
import type { AllowRequest, AppInfo, ConnEvent } from "../api/types.ts";
import { appHashRecord } from "./event_log.ts";
import type { RuntimeState } from "./runtime_state.ts";
import type {
  ApprovalGate,
  ApprovalPorts,
  ApprovalWatcher,
  EarlyHashing,
} from "./approval_ports.ts";
import { Revoker } from "./revocation.ts";
import {
  approveInKernel,
  ONCE_DEV,
  syncExecMaps,
  syncKernel,
  trustRunning,
} from "./kernel_sync.ts";
import { bootNs } from "../../ffi/libc.ts";

/** The synthetic identity of a `--for once` approval: no real file has dev = 2^64-1. */
export function onceKey(tgid: number): ExeKey {
  return { dev: ONCE_DEV, ino: BigInt(tgid) };
}

/** Marks a fanotify overflow in the start-up guard's event set (no path can be this). */
const OVERFLOW = "\0overflow";

/** Start-up hashes in flight ({@link Approvals.beginHashes}); {@link Approvals.verifyAll} ends them. */
export interface StartHashes {
  states: AppState[];
  /** Each app's change counter when its hash started: a watch event meanwhile voids it. */
  since: number[];
  watched: Set<string>;
  early: EarlyHashing;
}

/** An already resolved {@link Promise.withResolvers} record. */
function resolved(): PromiseWithResolvers<void> {
  const r = Promise.withResolvers<void>();
  r.resolve();
  return r;
}

/** A `--for once` approval: it ends when its process exits. */
interface OnceApproval {
  key: ExeKey;
  start: string;
  app: string;
  path: string;
}

/** The approval state of one daemon (see the module notes). */
export class Approvals {
  readonly revoker: Revoker;
  #p: ApprovalPorts;
  #registry: AppRegistry;
  #runtime: RuntimeState;
  #watcher?: ApprovalWatcher;
  #gate?: ApprovalGate;
  #cacheHits = 0;
  /** `--for once` approvals by tgid: they end when that process exits (see endOnceApprovals). */
  #onceApprovals = new Map<number, OnceApproval>();
  #sessionApps = new Map<string, App>();
  #rehashQueue = new Map<string, Promise<void>>();
  /**
   * Restart over pinned maps: path → identity the previous run left approved, until this run's
   * own hash replaces it. A watch event for the path revokes it (see guardPinned).
   */
  #pinnedByPath = new Map<string, ExeKey>();
  /** Paths of watch events from startWatch until guardPinned ran (see there). */
  #guardEvents?: Set<string>;
  /**
   * Pending from startWatch until the daemon loaded its kernel objects ({@link kernelLoaded}):
   * re-hashes queued by watch events meanwhile wait for it.
   */
  #kernelLoaded = resolved();
  /** True from startWatch until {@link kernelLoaded}. */
  #loading = false;

  constructor(ports: ApprovalPorts, registry: AppRegistry, runtime: RuntimeState) {
    this.#p = ports;
    this.#registry = registry;
    this.#runtime = runtime;
    this.revoker = new Revoker(ports, registry);
  }

  /** Stops the watch and the exec gate; no more late socket passes. */
  async stop(): Promise<void> {
    this.revoker.stop();
    await this.#watcher?.close();
    await this.#gate?.stop();
  }

  // ---------------------------------------------------------------- reads

  /** Files the approval watch covers. */
  watchedFiles(): string[] {
    return this.#watcher?.watchedFiles() ?? [];
  }

  /** Apps whose re-hash is queued or running. */
  get queued(): number {
    return this.#rehashQueue.size;
  }

  /** Re-hashes answered from the hash cache since start. */
  get cacheHits(): number {
    return this.#cacheHits;
  }

  /** A session approval by name. */
  sessionApp(name: string): App | undefined {
    return this.#sessionApps.get(name);
  }

  /** Apps from config plus session approvals, minus names revoked at run time. */
  activeApps(): App[] {
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
    for (const a of this.#p.config.policy().apps) {
      if (revoked.has(a.name)) continue;
      byName.set(a.name, withOverride(a));
    }
    for (const a of this.#sessionApps.values()) {
      if (!byName.has(a.name)) byName.set(a.name, withOverride(a));
    }
    return [...byName.values()];
  }

  /** Gives the registry the active apps (config + session − revoked). */
  refreshApps(): void {
    this.#registry.setApps(this.activeApps());
  }

  // ---------------------------------------------------------------- start

  /**
   * Starts hashing every app (start, right after {@link startWatch}): the hash workers run while
   * the daemon loads its kernel objects; {@link verifyAll} keys and applies the results.
   */
  beginHashes(): StartHashes {
    const states = this.#registry.list();
    // Before the workers read a byte: an approval from these hashes is refused when the kernel
    // saw a writable open of the file after this (AppState.hashStartNs).
    const started = bootNs();
    for (const s of states) s.hashStartNs = started;
    return {
      states,
      since: states.map((s) => s.changeSeq),
      watched: new Set(this.watchedFiles()),
      early: this.#p.earlyHash(states.map((s) => s.app.path)),
    };
  }

  /** The kernel objects are loaded (start, after startWatch): queued re-hashes may run. */
  kernelLoaded(): void {
    this.#loading = false;
    this.#kernelLoaded.resolve();
  }

  /** Finishes the start-up hashes: each hash is voided by a watch event since it started. */
  async verifyAll(
    hashing: StartHashes,
    onProgress?: (done: number, total: number, path?: string) => void,
  ) {
    const { states, since, watched } = hashing;
    const results = await hashing.early.finish((done, total, last) =>
      onProgress?.(done, total, last.path)
    );
    const rows: [KeyedHash, boolean][] = [];
    results.forEach((r, i) => {
      const st = states[i];
      if ("error" in r) {
        st.status = /No such file|NotFound|ENOENT|ENOTDIR/.test(r.error) ? "missing" : "invalid";
        st.actualSha256 = undefined;
      } else {
        this.#registry.applyHash(st.app.name, r, since[i]);
        // The row a restart compares pinned approvals with (see guardPinned).
        if (st.status === "valid") rows.push([r, watched.has(st.app.path)]);
      }
    });
    // One transaction for all rows: one fsync, not one per app.
    const putAll = () => rows.forEach(([h, w]) => this.#cachePut(h, w));
    const cache = this.#p.cache;
    try {
      if (cache?.batch) cache.batch(putAll);
      else putAll();
    } catch (e) {
      this.#p.report.warn("cache", `hash cache: ${(e as Error).message}`);
    }
  }

  /** Hashes the apps still pending (after a reload). */
  async verifyPending(): Promise<void> {
    const pending = this.#registry.list().filter((s) => s.status === "pending");
    for (const s of pending) {
      s.hashStartNs = bootNs(); // see AppState.hashStartNs
      await this.#registry.verify(s.app.name);
    }
  }

  #cachePut(h: KeyedHash, watched: boolean): void {
    try {
      const { key: _key, ...row } = h;
      this.#p.cache?.put(row, { watched });
    } catch (e) {
      this.#p.report.warn("cache", `hash cache: ${(e as Error).message}`);
    }
  }

  /**
   * A restart over pinned maps: the previous run's approvals are in the kernel and its watch died
   * with it. Each pinned identity stays approved only while its file still is exactly what that
   * run hashed — same kernel identity, and a stat key (size, mtime, ctime) equal to the hash-cache
   * row of that approved content. Anything else (written, replaced or deleted while no daemon
   * ran; no row) is revoked now, before this run hashes. Called with the watch already live, so
   * a write after the check is a watch event that revokes (onWatch → #pinnedByPath). The full
   * re-hash follows before anything is trusted again: a ctime forged by root (clock set back)
   * passes this check but not the hash. {@link endPinned} ends the check once this run approved.
   */
  guardPinned(): void {
    this.#pinnedByPath.clear();
    // Watch events that arrived between the watch going live and this check (the kernel objects
    // load in between): such a file changed while nothing guarded its pinned approval.
    const seen = this.#guardEvents;
    this.#guardEvents = undefined;
    const byId = new Map(this.#registry.list().map((s) => [s.id, s]));
    const pinned: { key: ExeKey; st?: AppState }[] = [];
    for (const key of this.#p.kernel.approvedKeys()) {
      if (key.dev === ONCE_DEV) continue; // a --for once approval: no file
      const appId = this.#p.kernel.approvedAppId(key);
      pinned.push({ key, st: appId !== undefined ? byId.get(appId) : undefined });
    }
    // One iterator pass per 512 files, not one per app (a restart with 1 000 apps).
    const withApp = pinned.filter((p) => p.st);
    const now = this.#p.identity.identifyMany(withApp.map((p) => p.st!.app.path));
    const current = new Map(withApp.map((p, i) => [p, now[i]]));
    for (const p of pinned) {
      const id = current.get(p);
      let keep = false;
      if (id && !(id instanceof Error)) {
        const row = this.#p.cache?.row(id);
        keep = keyString(id.key) === keyString(p.key) && row?.sha256 === p.st!.app.sha256 &&
          !seen?.has(p.st!.app.path) && !seen?.has(OVERFLOW);
      }
      if (keep) this.#pinnedByPath.set(p.st!.app.path, p.key);
      else if (!p.st) {
        // No app of this run holds it: a session approval that ended with the previous run, or
        // an app removed from the config. Its approval ended; its file need not have changed.
        this.revoker.revoke(p.key, HW.CLOSE_ENDED);
        this.#p.report.log.log(
          "notice",
          `pinned approval ${keyString(p.key)} revoked: no configured app holds it any more`,
        );
      } else {
        this.revoker.revoke(p.key, HW.CLOSE_CHANGED, p.st);
        this.#p.report.log.log(
          "notice",
          `pinned approval ${p.st?.app.path ?? keyString(p.key)} revoked: ` +
            "the file changed (or cannot be checked) since the previous run hashed it",
        );
      }
    }
  }

  /** This run's approvals are in the kernel: the previous run's pinned ones need no guard. */
  endPinned(): void {
    this.#pinnedByPath.clear();
  }

  // ---------------------------------------------------------------- kernel sync

  /**
   * Makes hw_approved exactly the identities of valid apps plus the live `--for once` approvals,
   * and the exec and script maps with it (kernel_sync.ts).
   */
  syncKernel(): void {
    syncKernel(this.#registry, this.#p, this.revoker, (tgid) => this.#onceApprovals.has(tgid));
  }

  /** At a first start: trusts running processes of approved apps (kernel_sync.ts). */
  trustRunning(): number {
    return trustRunning(this.#registry, this.#p);
  }

  /**
   * The opt-in exec gate ([defaults] exec_gate): approved binaries whose content no longer
   * matches cannot be executed. Started, fed or stopped to match the policy.
   */
  async syncExecGate(): Promise<void> {
    if (!this.#p.config.policy().defaults.execGate) {
      await this.#gate?.stop();
      this.#gate = undefined;
      return;
    }
    if (!this.#gate) {
      this.#gate = this.#p.newGate((reason) =>
        this.#p.report.warn("exec-gate", `exec gate failed open: ${reason}`)
      );
      await this.#gate.start();
    }
    for (const s of this.#registry.list()) {
      if (s.app.interpreter || s.status === "missing") continue;
      try {
        await this.#gate.setApproved(s.app.path, s.lastHash ?? null, s.app.sha256);
      } catch (e) {
        this.#p.report.warn(
          `gate:${s.app.path}`,
          `exec gate: ${s.app.path}: ${(e as Error).message}`,
        );
      }
    }
  }

  // ---------------------------------------------------------------- once approvals

  /** Ends the once approval of `tgid`: out of the kernel, its sockets closed. */
  #endOnce(tgid: number, reason: number): void {
    const o = this.#onceApprovals.get(tgid);
    if (!o) return;
    this.#onceApprovals.delete(tgid);
    const appId = this.#p.kernel.approvedAppId(o.key);
    this.#p.kernel.revoke(o.key);
    if (appId === undefined) return;
    this.revoker.closeSockets([{ key: o.key, appId, reason }], () => ({ app: o.app, exe: o.path }));
  }

  /**
   * A `--for once` approval lasts as long as its process: when it exits (or its pid now names
   * another process), the approval ends, and with it the trust and the sockets of any children
   * that inherited it. Polled by the core.
   */
  endOnceApprovals(): void {
    for (const [tgid, o] of this.#onceApprovals) {
      if (this.#p.proc.start(tgid) !== o.start) this.#endOnce(tgid, HW.CLOSE_ENDED);
    }
  }

  // ---------------------------------------------------------------- file watch

  /** Watches the approved apps' files: the first write revokes (see onWatch). */
  startWatch(): void {
    this.#guardEvents = new Set();
    this.#kernelLoaded = Promise.withResolvers<void>();
    this.#loading = true;
    try {
      this.#watcher = this.#p.newWatcher((e) => this.onWatch(e));
      for (const s of this.#registry.list()) this.#watchApp(s);
      this.#watcher.start();
    } catch (e) {
      this.#p.report.warn("watch", `file watch unavailable: ${(e as Error).message}`);
    }
  }

  /** Watches every app's file that exists (after a reload). */
  watchAll(): void {
    for (const s of this.#registry.list()) this.#watchApp(s);
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
  onWatch(e: WatchEvent): void {
    const apps = this.#registry.list().filter((s) => s.app.path === e.path);
    // Before guardPinned ran: remembered, so a pinned approval of this file is not kept.
    this.#guardEvents?.add(e.kind === "overflow" ? OVERFLOW : e.path);
    if (e.kind === "overflow") {
      for (const k of this.#pinnedByPath.values()) this.revoker.revoke(k, HW.CLOSE_CHANGED);
      this.#pinnedByPath.clear();
      this.#p.cache?.beginEpoch("fanotify overflow");
      this.#p.report.warn(
        "watch-overflow",
        "fanotify queue overflowed: every app is being re-hashed",
      );
      // During start, before the kernel objects loaded, the re-hash waits for them.
      const loading = this.#loading;
      void (loading
        ? this.#kernelLoaded.promise.then(() => this.#p.rehashAll())
        : this.#p.rehashAll())
        .catch((err) =>
          this.#p.report.log.log("error", `re-hash after a fanotify overflow failed: ${err}`)
        );
      return;
    }
    const pinned = this.#pinnedByPath.get(e.path);
    if (pinned && e.kind !== "created") {
      this.revoker.revoke(pinned, HW.CLOSE_CHANGED);
      this.#pinnedByPath.delete(e.path);
    }
    for (const s of apps) {
      // Any event voids a hash that is running now (it may have read the old bytes).
      this.#registry.noteChange(s);
      if (e.kind === "modify" || e.kind === "deleted" || e.kind === "replaced") {
        if (s.key && s.approvedInKernel) this.revoker.revoke(s.key, HW.CLOSE_CHANGED, s);
        this.#forgetCached(s);
        if (e.kind === "replaced") {
          void this.#gate?.taint(s.app.path).catch((err) =>
            this.#p.report.log.log("error", `exec gate: could not taint ${s.app.path}: ${err}`)
          );
        }
        s.approvedInKernel = false;
        s.status = e.kind === "deleted" ? "missing" : "pending";
        this.#p.report.publish({ type: "app", app: toAppInfo(s) });
      }
      if (e.kind !== "modify") void this.queueRecheck(s.app.name, e);
    }
  }

  /**
   * The kernel saw an approved file whose mtime/ctime moved since it was hashed (a write the
   * watch cannot see, e.g. through a shared mapping) and refused trust: re-hash it now. Same
   * content → re-approved with the new times; other content → revoked, as for any change.
   */
  onStale(ev: ConnEvent): void {
    const s = this.#registry.byKeyString(`${ev.dev}:${ev.ino}`);
    if (!s) return;
    void this.#enqueue(s.app.name, undefined, `kernel: changed since hashed (pid ${ev.tgid})`);
  }

  /**
   * The kernel revoked an approved file at an open for writing, before the open returned
   * (bpf/write_revoke.h; `appId` is the id the kernel held). The state follows: the app turns
   * pending (red) if this daemon still thought it approved (a FAN_MODIFY or a re-hash may have
   * been first; an `invalid` stays invalid), and the live sockets resting on the identity close —
   * also for a report from while no daemon ran (the kernel revoked it alone, so the restart's
   * pinned check no longer saw it). No re-hash here and no noteChange: the open came before the
   * writer's close, whose FAN_CLOSE_WRITE re-hashes (same bytes → approved again). Handled at the
   * ring drain, so that re-hash may already have approved the file again: then nothing changes.
   */
  onWriteOpen(ev: ConnEvent, appId: number): void {
    const key = { dev: BigInt(ev.dev), ino: BigInt(ev.ino) };
    if (this.#p.kernel.approvedAppId(key) !== undefined) return; // approved again since
    const ks = keyString(key);
    for (const [path, k] of this.#pinnedByPath) {
      if (keyString(k) === ks) this.#pinnedByPath.delete(path);
    }
    const s = this.#registry.byKeyString(ks);
    if (s?.approvedInKernel) {
      s.approvedInKernel = false;
      s.status = "pending";
      s.pendingReason = `opened for writing by pid ${ev.tgid} (${ev.comm})`;
      this.#forgetCached(s);
      this.#p.report.publish({ type: "app", app: toAppInfo(s) });
    }
    const id = appId || s?.id;
    if (!id) return;
    this.revoker.closeSockets([{ key, appId: id, reason: HW.CLOSE_CHANGED }], (r) => ({
      app: s?.app.name,
      exe: s?.app.path ?? this.#p.proc.exe(r.tgid) ?? "",
    }));
  }

  /** Re-hashes `name` after the re-hashes already queued for it; errors are logged. */
  queueRecheck(name: string, e?: WatchEvent): Promise<void> {
    return this.#enqueue(name, e);
  }

  #enqueue(name: string, e?: WatchEvent, who?: string): Promise<void> {
    // A watch event during start, before the kernel objects loaded: the re-hash waits for them.
    const prev = this.#rehashQueue.get(name) ?? this.#kernelLoaded.promise;
    const next = prev.then(async () => {
      await this.recheck(name, e, who);
    }).catch((err) => this.#p.report.log.log("error", `re-hash of ${name} failed: ${err}`));
    this.#rehashQueue.set(name, next);
    return next;
  }

  /**
   * Hashes app `name` again and acts on the result: valid → approved in the kernel (and the exec
   * gate); anything else → revoked. Records a hash change in history. `useCache` allows the
   * hash cache's answer (an admin's re-hash of unchanged files).
   */
  async recheck(
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
    s.hashStartNs = bootNs(); // before the bytes are read: see AppState.hashStartNs
    if (cached) this.#registry.applyHash(name, cached);
    else {
      const watched = this.watchedFiles().includes(s.app.path);
      await this.#registry.verify(name);
      if (s.lastHash && s.status === "valid") this.#cachePut(s.lastHash, watched);
    }
    // A package-backed app whose new content its signed package update ships: approved again.
    const version = s.app.packageVersion;
    if (s.status === "invalid") await this.#p.packages.reconsider(s);
    if (oldKey && s.key && keyString(oldKey) !== keyString(s.key)) {
      this.revoker.revoke(oldKey, HW.CLOSE_CHANGED, s);
    }
    // Refused (pending) when opened for writing since the hash began (kernel_sync.ts).
    if (s.status === "valid" && s.key && approveInKernel(this.#p, s)) {
      // No /proc scan for a new identity: processes of it that exec'd before the approval are
      // trusted at their next exec (the kernel did not check their environment at this one). A
      // revocation removes the approval, not the entries, so re-approving restores those.
      if (this.#gate && s.lastHash && !s.app.interpreter) {
        await this.#gate.setApproved(s.app.path, s.lastHash, s.app.sha256).catch((err) =>
          this.#p.report.log.log("error", `exec gate: could not approve ${s.app.path}: ${err}`)
        );
      }
    } else {
      if (s.key) {
        this.revoker.revoke(
          s.key,
          s.status === "invalid" ? HW.CLOSE_MISMATCH : HW.CLOSE_CHANGED,
          s,
        );
      }
      s.approvedInKernel = false;
    }
    syncExecMaps(this.#registry, this.#p);
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
      this.#p.report.count(`app_hash_changes_${s.status}`);
      this.#p.report.logEvent(appHashRecord(rec));
      this.#p.store.recordAppHash(rec);
    }
    this.#p.report.publish({ type: "app", app: toAppInfo(s) });
    return s;
  }

  /**
   * The cached hash of `path`, when the cache rule allows one (same stat key, hashed under the
   * current unbroken watch); otherwise undefined and the caller hashes.
   */
  #cachedHash(path: string): KeyedHash | undefined {
    try {
      const id = this.#p.identity.identify(path);
      const sha256 = this.#p.cache?.lookup(id);
      if (!sha256) return undefined;
      this.#cacheHits++;
      return { ...id, sha256, changedDuringHash: false };
    } catch {
      return undefined;
    }
  }

  #forgetCached(s: AppState): void {
    try {
      if (s.lastHash) this.#p.cache?.invalidate(s.lastHash.dev, s.lastHash.ino);
      this.#p.cache?.invalidatePath(s.app.path);
    } catch (err) {
      this.#p.report.warn("cache", `hash cache: ${(err as Error).message}`);
    }
  }

  // ---------------------------------------------------------------- admin actions

  /** Approves an executable (hash taken now), for once, the session or forever. */
  async allow(req: AllowRequest): Promise<AppInfo> {
    if (!req.path?.startsWith("/")) throw new Error("apps allow needs an absolute PATH");
    const magic = magicPathProblem(req.path);
    if (magic) throw new Error(magic);
    const h = await this.#p.identity.hash(req.path);
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
      this.#p.kernel.approve({ key, appId: id, flags: appFlags(app), times: NO_TIMES });
      this.#p.kernel.trustProcess(req.tgid, { key, appId: id, flags: appFlags(app) });
      try {
        this.#assertRuns(req.tgid, req.path, h.key);
      } catch (e) {
        this.#p.kernel.untrustProcessIf(req.tgid, key);
        this.revoker.revoke(key, HW.CLOSE_ENDED);
        throw e;
      }
      this.#onceApprovals.set(req.tgid, {
        key,
        start: this.#p.proc.start(req.tgid) ?? "",
        app: name,
        path: req.path,
      });
      this.#p.report.approved(req.path);
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
      const declared = this.#p.config.policy().apps.find((a) =>
        a.name === existing.app.name
      )?.sha256 ??
        existing.app.sha256;
      this.#runtime.data.hashOverrides[existing.app.name] = {
        path: req.path,
        sha256: h.sha256,
        declared,
      };
      this.#runtime.save();
      this.refreshApps();
      const s = await this.recheck(existing.app.name, undefined, "approval");
      this.#p.report.approved(req.path);
      if (!s) throw new Error(`approval of ${existing.app.name} did not register`);
      return toAppInfo(s);
    }
    if (duration === "forever") {
      await this.#p.config.appendLearned({
        name,
        path: app.path,
        sha256: app.sha256,
        inherit: app.inherit,
        duration: "forever",
        trust: app.trust,
        package: app.package,
        packageVersion: app.packageVersion,
      });
      await this.#p.config.reload();
    } else {
      this.#sessionApps.set(name, app);
    }
    this.refreshApps();
    const s = await this.recheck(name, undefined, "approval");
    this.#p.report.approved(req.path);
    if (!s) throw new Error(`approval of ${name} did not register`);
    return toAppInfo(s);
  }

  /** Throws unless process `tgid` runs the file whose kernel identity is `key` right now. */
  #assertRuns(tgid: number, path: string, key: ExeKey): void {
    const exe = this.#p.identity.exeOf(tgid);
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
    const packages = this.#p.packages;
    const trust = existing?.trust ??
      (packages.defaultTrust(this.#p.config.policy().defaults.packageTrust)
        ? "package"
        : undefined);
    const owner = trust === "package" ? packages.owner(path) : undefined;
    if (!owner) return existing?.trust ? { trust: existing.trust } : {};
    return {
      trust: "package",
      package: owner.multiArchSame ? `${owner.name}:${owner.arch}` : owner.name,
      packageVersion: owner.version,
    };
  }

  /**
   * Revokes an app by name: out of the kernel now, and kept out until allowed again. Returns
   * what was revoked (for the audit), or undefined when no app or once approval has that name.
   */
  async revokeApp(
    name: string,
  ): Promise<{ name: string; once?: number[]; path?: string } | undefined> {
    const s = this.#registry.get(name);
    const once = [...this.#onceApprovals].filter(([, o]) => o.app === name);
    if (!s && once.length) {
      // Only `--for once` approvals under this name: they end now, with their sockets.
      for (const [tgid] of once) this.#endOnce(tgid, HW.CLOSE_REVOKED);
      return { name, once: once.map(([tgid]) => tgid) };
    }
    if (!s) return undefined;
    if (s.key) this.revoker.revoke(s.key, HW.CLOSE_REVOKED, s);
    s.approvedInKernel = false;
    this.#sessionApps.delete(name);
    for (const [tgid] of once) this.#endOnce(tgid, HW.CLOSE_REVOKED);
    try {
      await this.#p.config.removeLearned(name);
    } catch (e) {
      this.#p.report.log.log(
        "warn",
        `learned.toml not updated for ${name}: ${(e as Error).message}`,
      );
    }
    if (!this.#runtime.data.revoked.includes(name)) this.#runtime.data.revoked.push(name);
    this.#runtime.save();
    await this.#p.config.reload();
    this.refreshApps();
    this.syncKernel();
    return { name, path: s.app.path };
  }
}

/** `base`, or `base-2`, `base-3`… until `taken` says no. */
function uniqueName(base: string, taken: (n: string) => boolean): string {
  const clean = base.replace(/[^A-Za-z0-9._-]/g, "_") || "app";
  if (!taken(clean)) return clean;
  for (let i = 2;; i++) if (!taken(`${clean}-${i}`)) return `${clean}-${i}`;
}
