/**
 * A small {@link HashwallApi} on the REAL history store, for control-socket tests while the daemon
 * core is being written: reads come from the store, writes check the role, change in-memory state
 * and are audited in the store, like the real core will do.
 *
 * @module
 */
import {
  type AppInfo,
  type Caller,
  type ConnEvent,
  ForbiddenError,
  type HashwallApi,
  type LiveMessage,
  type StatusInfo,
} from "../../src/api/types.ts";
import type { Mode } from "../../src/config/model.ts";
import type { Store } from "../../src/store/store.ts";

/** The store-backed test API; `publish` feeds subscribers, `listeners` shows who listens. */
export class StoreBackedApi implements HashwallApi {
  readonly listeners = new Set<(m: LiveMessage) => void>();
  mode: Mode = "learning";
  apps: AppInfo[] = [];

  constructor(readonly store: Store) {}

  #write(caller: Caller, action: string, detail: unknown): void {
    if (caller.role !== "admin") {
      this.store.audit(caller, action, detail, false, "forbidden");
      throw new ForbiddenError(`${action} needs the admin role`);
    }
    this.store.audit(caller, action, detail, true);
  }

  /** Sends `m` to every subscriber. */
  publish(m: LiveMessage): void {
    for (const l of this.listeners) l(m);
  }

  /** Stores `events` and publishes them, like the daemon's drain will. */
  ingest(events: ConnEvent[]): void {
    this.store.insertEvents(events);
    for (const e of events) this.publish({ type: "event", event: e });
  }

  status(_c: Caller): Promise<StatusInfo> {
    const counts = this.store.countEvents({});
    return Promise.resolve({
      version: "test",
      mode: this.mode,
      instance: "test",
      stateDir: "",
      configDir: "",
      cgroup: "",
      pid: Deno.pid,
      startedAt: 0,
      counters: { allow: counts.allow, deny: counts.deny },
      lostEvents: 0,
      attachPoints: [],
      apps: { total: this.apps.length, valid: 0, invalid: 0, missing: 0, pending: 0 },
      ui: null,
      warnings: [],
    });
  }
  appsList(_c: Caller): Promise<AppInfo[]> {
    return Promise.resolve(this.apps);
  }
  appsAllow(c: Caller, req: { path: string; name?: string }): Promise<AppInfo> {
    this.#write(c, "apps.allow", req);
    const app: AppInfo = {
      name: req.name ?? req.path.split("/").pop()!,
      path: req.path,
      sha256: "0".repeat(64),
      status: "pending",
      inherit: false,
      interpreter: false,
      source: "test",
      approvedInKernel: false,
    };
    this.apps.push(app);
    return Promise.resolve(app);
  }
  appsRevoke(c: Caller, name: string): Promise<void> {
    this.#write(c, "apps.revoke", { name });
    const before = this.apps.length;
    this.apps = this.apps.filter((a) => a.name !== name);
    if (this.apps.length === before) {
      const e = new Error(`no app named "${name}"`);
      e.name = "NotFoundError";
      return Promise.reject(e);
    }
    return Promise.resolve();
  }
  appsRehash(c: Caller, target?: string): Promise<AppInfo[]> {
    this.#write(c, "apps.rehash", { target });
    return Promise.resolve(this.apps);
  }
  setMode(c: Caller, mode: Mode): Promise<void> {
    this.#write(c, "mode", { mode });
    this.mode = mode;
    this.publish({ type: "mode", mode });
    return Promise.resolve();
  }
  reload(c: Caller): Promise<{ ok: boolean; errors: string[] }> {
    this.#write(c, "reload", {});
    return Promise.resolve({ ok: true, errors: [] });
  }
  events(_c: Caller, q: Parameters<Store["queryEvents"]>[0]): Promise<ConnEvent[]> {
    return Promise.resolve(this.store.queryEvents(q));
  }
  eventCounts(_c: Caller, since: number) {
    return Promise.resolve(this.store.countEvents({ since }));
  }
  rulesGet(): never {
    throw new Error("rulesGet is not part of the test API");
  }
  rulesSave(): never {
    throw new Error("rulesSave is not part of the test API");
  }
  rulesExplain(): never {
    throw new Error("rulesExplain is not part of the test API");
  }
  integrityStatus(): never {
    throw new Error("integrityStatus is not part of the test API");
  }
  learningList(): never {
    throw new Error("learningList is not part of the test API");
  }
  packagesHook(): never {
    throw new Error("packagesHook is not part of the test API");
  }
  learningDeny(): never {
    throw new Error("learningDeny is not part of the test API");
  }
  subscribe(_c: Caller, listener: (m: LiveMessage) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

/** A plausible connection event. */
export function sampleEvent(i: number, over: Partial<ConnEvent> = {}): ConnEvent {
  return {
    time: Date.now() - 1000 + i,
    kind: "connect",
    verdict: i % 2 ? "allow" : "deny",
    reason: i % 2 ? "rule" : "unknown_app",
    tgid: 2000 + i,
    uid: 1000,
    comm: i % 2 ? "curl" : "nc",
    exe: i % 2 ? "/usr/bin/curl" : "/usr/bin/nc.openbsd",
    dev: "266338304",
    ino: String(100 + i),
    family: 4,
    daddr: "192.0.2.7",
    dport: 443,
    proto: 6,
    lineage: [],
    ...(i % 2 ? { app: "curl" } : {}),
    ...over,
  };
}
