/**
 * The hash cache: (dev, ino, size, mtime_ns, ctime_ns) → sha256, in the store's SQLite database
 * (table `hash_cache`, migration 2 in src/store/migrations.ts).
 *
 * THE RULE (default trust `"watch-continuity"`): a cached hash is used only when
 *  1. the file's current fstat matches the row's dev, ino, size, mtime_ns and ctime_ns, and
 *  2. the row was written in the CURRENT watch epoch, by a caller that had the file under the
 *     fanotify watch before it started hashing (`put(..., { watched: true })`), and no modify /
 *     replace / delete event for that inode has arrived since (the daemon calls `invalidate`).
 * A new epoch starts at every daemon start and at every fanotify queue overflow, so after a restart
 * every file is re-hashed.
 *
 * Why that is safe, and why a restart must re-hash: while the watch is unbroken, every write to
 * the file goes through fsnotify and reaches us no matter what clocks or timestamps say, so the row
 * stays true until an event invalidates it. Across a restart nothing observed the file. All a row
 * can then prove is that the stat key is unchanged — and ctime, although no syscall lets userspace
 * SET it, can be forged by root: set the system clock back to the old ctime, write, restore the
 * clock (ctime takes the current time); or edit the inode with debugfs/raw block writes; or change
 * the disk offline. So a row from an earlier epoch proves nothing against root. It does hold against
 * unprivileged users (they cannot move the clock, and every write, chmod or rename updates ctime),
 * which is what the opt-in trust `"stat-key"` accepts, for a fast start where root is trusted.
 * Within a run, ctime is also the guard against a write racing the hash itself: any write after the
 * hash's first fstat changes ctime (multigrain timestamps on kernel ≥ 6.13 give a fresh ctime once
 * it was queried), so a stale row never matches the file again.
 *
 * @module
 */
import type { DatabaseSync } from "node:sqlite";
import type { FileHash } from "./hash.ts";

/** How much a cache row is believed. See the module documentation. */
export type CacheTrust = "watch-continuity" | "stat-key";

/** The stat key a lookup compares (from `hashFile` or an fstat). */
export type StatKey = Pick<FileHash, "dev" | "ino" | "size" | "mtimeNs" | "ctimeNs">;

/** A cache row. */
export interface CacheRow {
  sha256: string;
  path: string;
  hashedAt: number;
  watchEpoch: number;
}

/**
 * Hash cache over an open, migrated store database.
 *
 * @example
 * ```ts
 * const cache = new HashCache(db);
 * cache.beginEpoch("daemon start");
 * watcher.addFile(p);                       // watch first…
 * const h = await hashFile(p);              // …then hash
 * cache.put(h, { watched: true });
 * cache.lookup(await statKey(p));           // → h.sha256 until an event invalidates it
 * ```
 */
export class HashCache {
  #db: DatabaseSync;
  #epoch = 0;

  constructor(db: DatabaseSync) {
    this.#db = db;
    const t = db.prepare("SELECT name FROM sqlite_master WHERE type='table' AND name='hash_cache'")
      .get();
    if (!t) throw new Error("hash cache: table hash_cache missing (run the store migrations)");
  }

  /** The current watch epoch; 0 until {@link beginEpoch} is called (nothing trusted). */
  get epoch(): number {
    return this.#epoch;
  }

  /**
   * Starts a new watch epoch: rows of earlier epochs are no longer trusted under
   * `"watch-continuity"`. Call at daemon start (after the watch is in place) and on overflow.
   */
  beginEpoch(reason: string): number {
    const r = this.#db.prepare("INSERT INTO watch_epochs (started_at, reason) VALUES (?, ?)")
      .run(Date.now(), reason);
    this.#epoch = Number(r.lastInsertRowid);
    return this.#epoch;
  }

  /**
   * Records a hash. `watched` must be true only when the file was under the current watch since
   * BEFORE the hash started; otherwise the row is kept with epoch 0 (never continuity-trusted).
   * A hash taken while the file changed is not stored. Returns whether a row was written.
   */
  put(hash: FileHash, opts: { watched: boolean }): boolean {
    if (hash.changedDuringHash) return false;
    this.#db.prepare(
      `INSERT OR REPLACE INTO hash_cache
         (dev, ino, size, mtime_ns, ctime_ns, sha256, path, hashed_at, watch_epoch)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ).run(
      hash.dev,
      hash.ino,
      hash.size,
      hash.mtimeNs,
      hash.ctimeNs,
      hash.sha256,
      hash.path,
      Date.now(),
      opts.watched ? this.#epoch : 0,
    );
    return true;
  }

  /**
   * Runs `fn` (its puts) in one transaction: one commit, so one fsync, instead of one per row
   * (the start's 1 000 rows took 1-2.5 s one by one). A failed commit throws after rolling back.
   */
  batch<T>(fn: () => T): T {
    this.#db.exec("BEGIN");
    let r: T;
    try {
      r = fn();
    } catch (e) {
      this.#db.exec("ROLLBACK");
      throw e;
    }
    try {
      this.#db.exec("COMMIT");
    } catch (e) {
      try {
        this.#db.exec("ROLLBACK");
      } catch { /* the commit already ended it */ }
      throw e;
    }
    return r;
  }

  /** The cached sha256 for a file in state `key`, or null when the rule does not allow one. */
  lookup(key: StatKey, trust: CacheTrust = "watch-continuity"): string | null {
    const row = this.row(key);
    if (!row) return null;
    if (trust === "watch-continuity" && (this.#epoch === 0 || row.watchEpoch !== this.#epoch)) {
      return null;
    }
    return row.sha256;
  }

  /** The row whose full stat key equals `key`, whatever its epoch. */
  row(key: StatKey): CacheRow | null {
    const r = this.#db.prepare(
      `SELECT sha256, path, hashed_at, watch_epoch FROM hash_cache
       WHERE dev = ? AND ino = ? AND size = ? AND mtime_ns = ? AND ctime_ns = ?`,
    ).get(key.dev, key.ino, key.size, key.mtimeNs, key.ctimeNs) as
      | { sha256: string; path: string; hashed_at: number; watch_epoch: number }
      | undefined;
    return r
      ? { sha256: r.sha256, path: r.path, hashedAt: r.hashed_at, watchEpoch: r.watch_epoch }
      : null;
  }

  /** Forgets the inode (call on every modify / replaced / deleted watch event). */
  invalidate(dev: string, ino: string): void {
    this.#db.prepare("DELETE FROM hash_cache WHERE dev = ? AND ino = ?").run(dev, ino);
  }

  /** Forgets every row for `path` (when the identity is not at hand). */
  invalidatePath(path: string): void {
    this.#db.prepare("DELETE FROM hash_cache WHERE path = ?").run(path);
  }
}
