/**
 * Live file integrity: watches the `[[integrity.watch]]` paths and the config files, re-hashes a
 * file when a writer closes it (or a new inode appears at its path) and reports every real change
 * as an {@link IntegrityChange} for the daemon to record in the store and push to the live stream
 * (`LiveMessage` `{ type: "integrity", path, change, oldHash, newHash }`).
 *
 * @module
 */
import { FileWatcher, type WatchEvent } from "./watch.ts";
import { hashFile } from "./hash.ts";
import type { IntegrityEntry } from "./baseline.ts";

/** One recorded change. */
export interface IntegrityChange {
  /** Epoch ms. */
  time: number;
  path: string;
  /** `modified`: new content, same inode. `replaced`: a new inode at the path. */
  change: "modified" | "replaced" | "deleted" | "created";
  oldHash?: string;
  newHash?: string;
  /** The process that wrote / renamed / deleted, when known. */
  pid?: number;
  exe?: string;
}

/** How long a new file without a close_write is left to settle before it is hashed. */
export const CREATE_SETTLE_MS = 250;

/** Options of {@link IntegrityMonitor}. */
export interface IntegrityMonitorOptions {
  entries: IntegrityEntry[];
  /** Each change, after the re-hash (asynchronous; never on the first-write fast path). */
  onChange: (c: IntegrityChange) => void;
  /** Every raw watch event, synchronously (e.g. to revoke at once on `modify`). */
  onWatchEvent?: (e: WatchEvent) => void;
  /** Hashing or watching problems (a file vanished mid-hash, a mark failed). */
  onError?: (path: string, error: string) => void;
  /** Pids whose writes are not reported; default this process. */
  ignorePids?: number[];
}

/**
 * Watches integrity paths and reports changes with old and new hashes.
 *
 * @example
 * ```ts
 * const m = new IntegrityMonitor({
 *   entries: policyEntries(policy),
 *   onChange: (c) => store.addIntegrityChange(c),
 * });
 * await m.start();
 * // …
 * await m.close();
 * ```
 */
export class IntegrityMonitor {
  #opts: IntegrityMonitorOptions;
  #watcher: FileWatcher;
  #known = new Map<string, string>();
  /** Who touched the file since the last report (from `modify`), for the change record. */
  #lastWriter = new Map<string, { pid?: number; exe?: string }>();
  #chains = new Map<string, Promise<void>>();
  /** New files whose creator may still be writing: reported at its close_write, or after a pause. */
  #pendingCreate = new Map<string, ReturnType<typeof setTimeout>>();
  #closed = false;
  /** Configured paths not present yet. */
  #pending = new Set<string>();

  constructor(opts: IntegrityMonitorOptions) {
    this.#opts = opts;
    this.#watcher = new FileWatcher({
      ignorePids: opts.ignorePids,
      onEvent: (e) => this.#onEvent(e),
    });
  }

  /** Places the watch, then hashes every covered file (so no change can slip in between). */
  async start(): Promise<void> {
    for (const e of this.#opts.entries) this.#place(e);
    this.#watcher.start();
    for (const p of this.#watcher.watchedFiles()) {
      try {
        this.#known.set(p, (await hashFile(p)).sha256);
      } catch (err) {
        this.#opts.onError?.(p, err instanceof Error ? err.message : String(err));
      }
    }
  }

  /**
   * Watches one entry; a path that does not exist (yet) is not an error: it is noted as pending
   * and its nearest existing ancestor is watched, so it is picked up the moment it appears.
   * Returns whether the path is watched now.
   */
  #place(e: IntegrityEntry): boolean {
    let info: Deno.FileInfo;
    try {
      info = Deno.statSync(e.path);
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound || err instanceof Deno.errors.NotADirectory)) {
        this.#opts.onError?.(e.path, String(err));
        return false;
      }
      try {
        this.#pending.add(e.path);
        this.#watcher.watchForCreation(e.path, () => this.#retry(e));
      } catch (werr) {
        this.#opts.onError?.(e.path, werr instanceof Error ? werr.message : String(werr));
      }
      return false;
    }
    try {
      if (info.isDirectory) this.#watcher.addFolder(e.path, { recursive: e.recursive });
      else this.#watcher.addFile(e.path);
      this.#pending.delete(e.path);
      return true;
    } catch (err) {
      this.#opts.onError?.(e.path, err instanceof Error ? err.message : String(err));
      return false;
    }
  }

  /** Something appeared on the way to a pending path: watch it, or keep waiting deeper down. */
  #retry(e: IntegrityEntry): void {
    if (this.#closed) return;
    const before = new Set(this.#watcher.watchedFiles());
    if (!this.#place(e)) return;
    // Files that came with it (a folder moved in, or created before our mark) are new.
    const at = performance.now();
    for (const p of this.#watcher.watchedFiles()) {
      // As a "created" watch event: hashed at the creator's close_write, or after a pause.
      if (!before.has(p)) this.#onEvent({ kind: "created", path: p, at });
    }
  }

  /** Configured paths that do not exist yet (watched for creation). */
  pending(): string[] {
    return [...this.#pending];
  }

  /** The last known hash of each watched file. */
  hashes(): Map<string, string> {
    return new Map(this.#known);
  }

  /** Waits until every re-hash triggered so far has been reported (for tests and shutdown). */
  async settled(): Promise<void> {
    while (this.#chains.size || this.#pendingCreate.size) {
      if (this.#chains.size) await Promise.all(this.#chains.values());
      else await new Promise((r) => setTimeout(r, 10));
    }
  }

  /** Stops watching. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const t of this.#pendingCreate.values()) clearTimeout(t);
    this.#pendingCreate.clear();
    await this.#watcher.close();
    await this.settled();
  }

  #onEvent(e: WatchEvent): void {
    this.#opts.onWatchEvent?.(e);
    switch (e.kind) {
      case "modify":
        this.#lastWriter.set(e.path, { pid: e.pid, exe: e.exe });
        return;
      case "close_write": {
        const t = this.#pendingCreate.get(e.path);
        if (t === undefined) return this.#rehash(e.path, "modified", e);
        clearTimeout(t);
        this.#pendingCreate.delete(e.path);
        return this.#rehash(e.path, "created", e);
      }
      case "replaced":
        return this.#rehash(e.path, "replaced", e);
      case "created": {
        // A file created by open(O_CREAT) is empty at this instant; its content arrives before the
        // creator's close (close_write). A file that got no close_write (link, a writer that
        // closed before our mark landed) is hashed after CREATE_SETTLE_MS.
        clearTimeout(this.#pendingCreate.get(e.path));
        this.#pendingCreate.set(
          e.path,
          setTimeout(() => {
            this.#pendingCreate.delete(e.path);
            this.#rehash(e.path, "created", e);
          }, CREATE_SETTLE_MS),
        );
        return;
      }
      case "deleted": {
        clearTimeout(this.#pendingCreate.get(e.path));
        this.#pendingCreate.delete(e.path);
        const oldHash = this.#known.get(e.path);
        this.#known.delete(e.path);
        this.#report({ time: Date.now(), path: e.path, change: "deleted", oldHash, ...who(e) });
        return;
      }
      case "overflow":
        // Events were lost: compare every file with what we knew.
        for (const p of this.#watcher.watchedFiles()) this.#rehash(p, "modified", e);
        return;
    }
  }

  /** Re-hashes `path` after the previous re-hash of it finished (one at a time per path). */
  #rehash(path: string, change: IntegrityChange["change"], e: WatchEvent): void {
    const prev = this.#chains.get(path) ?? Promise.resolve();
    const next = prev.then(async () => {
      if (this.#closed) return;
      const oldHash = this.#known.get(path);
      let newHash: string;
      try {
        newHash = (await hashFile(path)).sha256;
      } catch (err) {
        // Gone again before we could read it: the watcher reports the deletion itself.
        this.#opts.onError?.(path, err instanceof Error ? err.message : String(err));
        return;
      }
      this.#known.set(path, newHash);
      const writer = this.#lastWriter.get(path);
      this.#lastWriter.delete(path);
      const kind = change === "created" && oldHash !== undefined ? "replaced" : change;
      // A writer that put back the same bytes changed nothing; a new inode is always reported.
      if (kind === "modified" && oldHash === newHash) return;
      this.#report({
        time: Date.now(),
        path,
        change: kind,
        oldHash,
        newHash,
        ...(e.pid !== undefined ? who(e) : writer ?? {}),
      });
    });
    this.#chains.set(path, next);
    next.finally(() => {
      if (this.#chains.get(path) === next) this.#chains.delete(path);
    });
  }

  #report(c: IntegrityChange): void {
    if (c.pid === undefined) delete c.pid;
    if (c.exe === undefined) delete c.exe;
    try {
      this.#opts.onChange(c);
    } catch (err) {
      console.error(`IntegrityMonitor: onChange threw for ${c.path}:`, err);
    }
  }
}

function who(e: WatchEvent): { pid?: number; exe?: string } {
  return { pid: e.pid, exe: e.exe };
}
