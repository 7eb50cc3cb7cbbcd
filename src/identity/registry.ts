/**
 * The app registry: apps.toml entries ↔ kernel identities. An app becomes a kernel identity only
 * after its file's SHA-256 matched the approved one; the identity (dev, inode) is the kernel's key
 * of the same open file that was hashed (src/identity/kernel_key.ts), so what the kernel trusts is
 * what was hashed. A hash that raced a write (the file changed while it was read, or a watch
 * event arrived meanwhile) never makes an app valid: it stays pending until a clean re-hash.
 *
 * App ids are stable across restarts (kept in `<state>/app-ids.json`), because pinned per-process
 * trust entries refer to them.
 *
 * @module
 */
import type { App } from "../config/model.ts";
import type { AppInfo, AppStatus } from "../api/types.ts";
import { type ExeKey, HW } from "../../ffi/structs.ts";
import type { KeyedHash } from "./kernel_key.ts";
import { keyString } from "./running.ts";

/** Hashes a file by path (identity read from the hashed fd); rejects when it is missing. */
export type Hasher = (path: string) => Promise<KeyedHash>;

/** Live state of one registered app. */
export interface AppState {
  app: App;
  id: number;
  status: AppStatus;
  actualSha256?: string;
  /** Identity of the hashed file (kernel dev encoding). */
  key?: ExeKey;
  lastVerified?: number;
  /** Whether the identity is in the kernel's approved map right now. */
  approvedInKernel: boolean;
  /** The last full hash result (identity, size, times), e.g. for the exec gate. */
  lastHash?: KeyedHash;
  /**
   * Bumped by {@link AppRegistry.noteChange} on every watch event for the file: a hash that
   * started before the latest bump may have read the old content and must not approve.
   */
  changeSeq: number;
  /** Why the app is pending, when a hash raced a write. */
  pendingReason?: string;
  /**
   * Boot-clock ns read just before the latest hash of the file began (set by the daemon). The
   * kernel approval written from that hash is refused when the kernel saw a writable open of the
   * file after it (AppControl.approve, bpf/write_revoke.h).
   */
  hashStartNs?: bigint;
}

/** Kernel flags for an app. */
export function appFlags(app: App): number {
  return (app.inherit ? HW.APP_INHERIT : 0) | (app.interpreter ? HW.APP_INTERPRETER : 0);
}

/** Persistent name → id table. Ids start at 1 and are never reused for another name. */
export class AppIds {
  #path: string;
  #ids: Record<string, number> = {};

  constructor(stateDir: string) {
    this.#path = `${stateDir}/app-ids.json`;
    try {
      const parsed = JSON.parse(Deno.readTextFileSync(this.#path));
      if (parsed && typeof parsed === "object") this.#ids = parsed;
    } catch { /* first start, or unreadable: start a fresh table */ }
  }

  #dirty = false;

  /** The id of `name`, assigning a new one when needed (persisted by {@link flush}). */
  idOf(name: string): number {
    const known = this.#ids[name];
    if (typeof known === "number" && known > 0) return known;
    const next = Math.max(0, ...Object.values(this.#ids)) + 1;
    this.#ids[name] = next;
    this.#dirty = true;
    return next;
  }

  /** Writes new assignments (once per batch: rewriting per app made 1 000 apps quadratic). */
  flush(): void {
    if (!this.#dirty) return;
    const tmp = `${this.#path}.tmp`;
    Deno.writeTextFileSync(tmp, JSON.stringify(this.#ids), { mode: 0o600 });
    Deno.renameSync(tmp, this.#path);
    this.#dirty = false;
  }
}

/** The registered apps and their verification state. */
export class AppRegistry {
  #states = new Map<string, AppState>();
  /** keyString(identity) → app; rebuilt lazily after any identity changed. */
  #byKey?: Map<string, AppState>;
  /** path → app (first declared wins); paths change only in setApps. Asked once per event. */
  #byPath = new Map<string, AppState>();
  #ids: AppIds;
  #hash: Hasher;

  constructor(ids: AppIds, hash: Hasher) {
    this.#ids = ids;
    this.#hash = hash;
  }

  /** Replaces the registered set with `apps` (keeping state of unchanged entries). */
  setApps(apps: App[]): void {
    const next = new Map<string, AppState>();
    for (const app of apps) {
      const prev = this.#states.get(app.name);
      const same = prev && prev.app.path === app.path && prev.app.sha256 === app.sha256 &&
        prev.app.inherit === app.inherit && prev.app.interpreter === app.interpreter &&
        String(prev.app.allowEnv) === String(app.allowEnv) &&
        String(prev.app.onlyVia) === String(app.onlyVia);
      next.set(
        app.name,
        same ? { ...prev, app } : {
          app,
          id: this.#ids.idOf(app.name),
          status: "pending",
          approvedInKernel: false,
          changeSeq: 0,
        },
      );
    }
    this.#states = next;
    this.#byKey = undefined;
    this.#byPath = new Map();
    for (const st of next.values()) {
      if (!this.#byPath.has(st.app.path)) this.#byPath.set(st.app.path, st);
    }
    this.#ids.flush();
  }

  /** Hashes one app's file and updates its status; returns the new state. */
  async verify(name: string): Promise<AppState> {
    const st = this.#states.get(name);
    if (!st) throw new Error(`no app named "${name}"`);
    const since = st.changeSeq;
    try {
      const h = await this.#hash(st.app.path);
      this.#apply(st, h, since);
    } catch (e) {
      if (!isMissingFileError(e)) throw e;
      st.status = "missing";
      st.actualSha256 = undefined;
    }
    return st;
  }

  /**
   * Records a hash computed elsewhere (the worker pool) for `name`. `since` is the app's
   * {@link AppState.changeSeq} read before that hash started (default: now, i.e. no race known).
   */
  applyHash(name: string, h: KeyedHash, since?: number): AppState | undefined {
    const st = this.#states.get(name);
    if (!st) return undefined;
    this.#apply(st, h, since ?? st.changeSeq);
    return st;
  }

  /** Notes a write/replace/delete event for the app's file (see {@link AppState.changeSeq}). */
  noteChange(st: AppState): void {
    st.changeSeq++;
  }

  #apply(st: AppState, h: KeyedHash, since: number): void {
    st.lastHash = h;
    st.actualSha256 = h.sha256;
    st.key = { dev: h.key.dev, ino: h.key.ino };
    st.lastVerified = Date.now();
    st.pendingReason = undefined;
    if (h.changedDuringHash || st.changeSeq !== since) {
      // The bytes read may predate a write: whatever they hash to, they prove nothing about the
      // file now. The write's own events queue the next hash.
      st.status = "pending";
      st.pendingReason = h.changedDuringHash
        ? "the file changed while it was hashed"
        : "the file was written while it was hashed";
    } else {
      st.status = h.sha256 === st.app.sha256 ? "valid" : "invalid";
    }
    this.#byKey = undefined;
  }

  /** The stable id of `name` (assigned and persisted when new). */
  idOf(name: string): number {
    const id = this.#ids.idOf(name);
    this.#ids.flush();
    return id;
  }

  /** One app by name. */
  get(name: string): AppState | undefined {
    return this.#states.get(name);
  }

  /** The app with kernel id `id` (a scan: asked only for "via" reports, which are rare). */
  byId(id: number): AppState | undefined {
    for (const st of this.#states.values()) if (st.id === id) return st;
    return undefined;
  }

  /** The app whose path is `path`. */
  byPath(path: string): AppState | undefined {
    return this.#byPath.get(path);
  }

  /**
   * The app whose verified identity is `key`. Indexed: the event path asks this for every
   * process and ancestor of every report, so a scan over all apps was the ingest bottleneck.
   */
  byKey(key: ExeKey): AppState | undefined {
    return this.byKeyString(keyString(key));
  }

  /** {@link byKey} by the identity's {@link keyString} (the event path has it already). */
  byKeyString(k: string): AppState | undefined {
    const hit = this.#index().get(k);
    if (!hit || (hit.key && keyString(hit.key) === k)) return hit;
    // The hit's identity changed since the index was built: rebuild, never answer stale.
    this.#byKey = undefined;
    return this.#index().get(k);
  }

  #index(): Map<string, AppState> {
    if (!this.#byKey) {
      this.#byKey = new Map();
      for (const s of this.#states.values()) if (s.key) this.#byKey.set(keyString(s.key), s);
    }
    return this.#byKey;
  }

  /** All apps. */
  list(): AppState[] {
    return [...this.#states.values()];
  }
}

/** The API view of an app state. */
export function toAppInfo(s: AppState): AppInfo {
  return {
    name: s.app.name,
    path: s.app.path,
    sha256: s.app.sha256,
    actualSha256: s.actualSha256,
    status: s.status,
    inherit: s.app.inherit,
    interpreter: s.app.interpreter,
    duration: s.app.duration,
    ...(s.app.onlyVia?.length ? { onlyVia: [...s.app.onlyVia] } : {}),
    source: s.app.loc.file,
    lastVerified: s.lastVerified,
    dev: s.key?.dev.toString(),
    ino: s.key?.ino.toString(),
    approvedInKernel: s.approvedInKernel,
    ...(s.app.trust ? { trust: s.app.trust } : {}),
    ...(s.app.package
      ? {
        package: {
          name: s.app.package,
          version: s.app.packageVersion,
          level: s.app.packageLevel ?? "admin",
        },
      }
      : {}),
  };
}

/**
 * Whether hashing failed because the file (or a folder on its path) is not there: hashFile opens
 * through libc and throws an errno-carrying error (ENOENT 2, ENOTDIR 20), not Deno's NotFound.
 */
function isMissingFileError(e: unknown): boolean {
  if (e instanceof Deno.errors.NotFound) return true;
  const errno = (e as { errno?: unknown })?.errno;
  return errno === 2 || errno === 20;
}
