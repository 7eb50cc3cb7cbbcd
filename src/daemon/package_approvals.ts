/**
 * Package-backed approvals in the running daemon: wires the package-trust question
 * (src/packages/trust.ts) and the update state machine (src/packages/updates.ts) to the app
 * registry, the runtime state and history. The daemon core calls it at three points:
 *
 * - an app's re-hash did not match ({@link PackageApprovals.reconsider}): if the app has
 *   `trust = "package"` and the new content is what the now-installed version of its package ships,
 *   the app's approved hash becomes the new one (kept in runtime.json like an admin's new-hash
 *   approval of a hand-written app) and an update is recorded; otherwise it stays revoked;
 * - the dpkg hook ({@link PackageApprovals.hook}): `pre` marks an upgrade as running; `post`
 *   re-checks every changed package-backed app and decides, before the hook returns;
 * - a timer ({@link PackageApprovals.tick}) retries apps still waiting when dpkg's database changed,
 *   for hosts without the hook.
 *
 * @module
 */
import type { App } from "../config/model.ts";
import type { AppState } from "../identity/registry.ts";
import { statIdentity } from "../integrity/hash.ts";
import type { DpkgPackage } from "../packages/dpkg_db.ts";
import { PackageTrust, type ShipsVerdict } from "../packages/trust.ts";
import { PackageUpdates } from "../packages/updates.ts";
import type { Store } from "../store/store.ts";
import type { RuntimeState } from "./runtime_state.ts";

/** The kind of history row a package update is recorded as (integrity changes). */
export const PACKAGE_UPDATE_CHANGE = "package-update";

/** What the core lends this module. */
export interface PackageHost {
  /** Every registered app state. */
  apps(): AppState[];
  /** One app by name. */
  app(name: string): AppState | undefined;
  /** The hash an app's config declares (the base an override applies to). */
  declaredSha256(name: string): string | undefined;
  /** Re-hashes `name` through the core's queue (which calls reconsider) and approves/revokes. */
  recheck(name: string): Promise<void>;
  runtime: RuntimeState;
  store(): Store;
  warn(key: string, msg: string): void;
  /** A notice for the daemon's log. */
  notice(msg: string): void;
}

/** Result of the hook's `post`: what was updated and what stays revoked. */
export interface HookResult {
  phase: "pre" | "post";
  updated: { name: string; from?: string; to: string; level: string }[];
  refused: { name: string; reason: string; detail: string }[];
}

/** How often waiting apps are looked at without the hook (a stat of dpkg's status). */
const TICK_MS = 250;

/** Package-backed approvals of one daemon. */
export class PackageApprovals {
  readonly trust: PackageTrust;
  readonly updates = new PackageUpdates();
  #host: PackageHost;
  #timer?: ReturnType<typeof setInterval>;
  #final = false;
  #ticking = false;
  #lastResults: HookResult["updated"] = [];
  #lastRefused: HookResult["refused"] = [];

  constructor(host: PackageHost, trust = new PackageTrust()) {
    this.#host = host;
    this.trust = trust;
  }

  /** Starts the retry timer. */
  start(): void {
    this.#timer ??= setInterval(
      () =>
        void this.tick().catch((e) =>
          this.#host.warn("package-tick", `package trust: retry failed: ${(e as Error).message}`)
        ),
      TICK_MS,
    );
  }

  /** Stops the retry timer. */
  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Whether apps approved now get `trust = "package"` by default. */
  defaultTrust(packageTrust: boolean | undefined): boolean {
    return packageTrust ?? this.trust.available();
  }

  /** The installed package owning `path`, for recording beside a new approval. */
  owner(path: string): DpkgPackage | undefined {
    try {
      return this.trust.available() ? this.trust.owner(path) : undefined;
    } catch {
      return undefined;
    }
  }

  /** dpkg database state: changes whenever dpkg records something (status or its journal). */
  stamp(): string {
    let updates = "";
    try {
      const st = Deno.statSync(`${this.trust.dpkg.admindir}/updates`);
      updates = String(st.mtime?.getTime());
    } catch { /* none */ }
    return `${this.trust.dpkg.statusStamp()}/${updates}`;
  }

  /**
   * Called by the core after a re-hash left `s` invalid. For a package-trust app whose new content
   * its package ships, changes `s` to the new approved hash (status valid; the core then writes it
   * into the kernel) and records the update. Otherwise `s` stays invalid; a decision that may still
   * change (dpkg at work) is retried later.
   */
  async reconsider(s: AppState): Promise<void> {
    if (s.status !== "invalid" || s.app.trust !== "package" || !s.actualSha256) return;
    const recorded = s.app.package ?? this.owner(s.app.path)?.name;
    if (!recorded) return;
    const [pkg, arch] = recorded.split(":");
    const name = s.app.name;
    this.updates.wait(name, Date.now());
    if (this.updates.running(Date.now()) && !this.#final) return; // decided at Post-Invoke
    const stamp = this.stamp();
    let v: ShipsVerdict;
    try {
      v = await this.trust.ships(s.app.path, { name: pkg, arch }, s.actualSha256);
    } catch (e) {
      v = { ok: false, reason: "changed", package: pkg, detail: (e as Error).message };
    }
    const next = this.updates.verdict(name, v, stamp, { final: this.#final });
    this.#host.notice(
      v.ok
        ? `${name}: approved by package ${v.package} ${v.version} (${v.level})`
        : `${name}: new hash not from its package (${v.reason}: ${v.detail}); ${next}`,
    );
    if (next !== "approve" || !v.ok) {
      if (next === "final") {
        this.#lastRefused.push({
          name,
          reason: v.ok ? "" : v.reason,
          detail: v.ok ? "" : v.detail,
        });
      }
      return;
    }
    this.#accept(s, v);
  }

  #accept(s: AppState, v: ShipsVerdict & { ok: true }): void {
    const name = s.app.name;
    // The update is from the hash approved until now (the app's), whatever transient content a
    // re-hash saw during the unpack.
    const oldSha256 = s.app.sha256;
    const fromVersion = s.app.packageVersion;
    const declared = this.#host.declaredSha256(name);
    if (declared !== undefined) {
      this.#host.runtime.data.hashOverrides[name] = {
        path: s.app.path,
        sha256: v.sha256,
        declared,
        package: s.app.package ?? v.package,
        version: v.version,
        level: v.level,
      };
      this.#host.runtime.save();
    }
    const app: App = {
      ...s.app,
      sha256: v.sha256,
      package: s.app.package ?? v.package,
      packageVersion: v.version,
      packageLevel: v.level,
    };
    s.app = app;
    s.status = "valid";
    this.#lastResults.push({ name, from: fromVersion, to: v.version, level: v.level });
    try {
      this.#host.store().recordIntegrityChange({
        path: s.app.path,
        change: PACKAGE_UPDATE_CHANGE,
        oldHash: oldSha256,
        newHash: v.sha256,
        details: {
          app: name,
          package: v.package,
          arch: v.arch,
          oldVersion: fromVersion,
          newVersion: v.version,
          level: v.level,
          approvedBy: "package",
        },
      });
    } catch (e) {
      this.#host.warn("store", `package update not recorded: ${(e as Error).message}`);
    }
  }

  /** Retries waiting apps when dpkg's database changed (no hook, or after it). */
  async tick(): Promise<void> {
    // One look at a time, and none while dpkg holds its lock (every answer would be "wait"; a
    // re-hash of every waiting app each tick would only slow dpkg down).
    if (this.#ticking || this.updates.pending().length === 0 || this.trust.dpkg.busy()) return;
    this.#ticking = true;
    try {
      const { tryNow } = this.updates.due(this.stamp(), Date.now());
      const names = tryNow.filter((name) => {
        const s = this.#host.app(name);
        if (s && s.status !== "valid" && s.status !== "missing") return true;
        this.updates.done(name);
        return false;
      });
      await this.#recheckAll(names);
    } finally {
      this.#ticking = false;
    }
  }

  /** Re-checks `names`, a few at once (each may read a .deb and run dpkg-deb). */
  async #recheckAll(names: Iterable<string>): Promise<void> {
    const queue = [...names];
    const worker = async () => {
      for (let n = queue.shift(); n !== undefined; n = queue.shift()) await this.#host.recheck(n);
    };
    await Promise.all(Array.from({ length: Math.min(4, queue.length) }, worker));
  }

  /**
   * The dpkg hook. `pre`: an upgrade runs; decisions wait. `post`: every package-backed app that
   * changed or waits is re-hashed and decided now, for good, before this resolves.
   */
  async hook(phase: "pre" | "post"): Promise<HookResult> {
    if (phase === "pre") {
      this.updates.begin(Date.now());
      return { phase, updated: [], refused: [] };
    }
    const names = new Set(this.updates.end());
    for (const s of this.#host.apps()) {
      if (s.app.trust !== "package") continue;
      if (s.status !== "valid" || changedOnDisk(s)) names.add(s.app.name);
    }
    this.#lastResults = [];
    this.#lastRefused = [];
    // Warm the index lookups for every package at once (each index read and hashed once).
    const pkgs = [...names].map((n) => this.#host.app(n)?.app.package?.split(":")[0])
      .filter((p) => !!p);
    try {
      await this.trust.indexed(pkgs as string[]);
    } catch { /* decided one by one below */ }
    this.#final = true;
    const t0 = performance.now();
    try {
      await this.#recheckAll(names);
    } finally {
      this.#final = false;
    }
    if (names.size) {
      this.#host.notice(
        `dpkg hook: ${names.size} apps reconciled in ${Math.round(performance.now() - t0)} ms`,
      );
    }
    for (const n of names) {
      // Decided for good: nothing waits any more; a refusal stays visible while revoked.
      const s = this.#host.app(n);
      if (!s || s.status !== "invalid") this.updates.done(n);
      else this.updates.settle(n);
    }
    return { phase, updated: this.#lastResults, refused: this.#lastRefused };
  }

  /** Package updates recorded since `since` (epoch ms). */
  countUpdates(since: number): number {
    try {
      return this.#host.store().integrityChanges({ since, limit: 10_000 })
        .filter((c) => c.change === PACKAGE_UPDATE_CHANGE).length;
    } catch {
      return 0;
    }
  }
}

function changedOnDisk(s: AppState): boolean {
  if (!s.lastHash) return true;
  try {
    const id = statIdentity(s.app.path);
    return id.dev !== s.lastHash.dev || id.ino !== s.lastHash.ino || id.size !== s.lastHash.size ||
      id.mtimeNs !== s.lastHash.mtimeNs || id.ctimeNs !== s.lastHash.ctimeNs;
  } catch {
    return true;
  }
}
