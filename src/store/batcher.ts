/**
 * Batches connection events from the ring-buffer drain into the store: one transaction every
 * `flushMs` or every `maxBatch` rows. Write failures (disk full, read-only file system, I/O error)
 * never reach the caller of {@link EventBatcher.push}: rows wait in a bounded backlog, the oldest
 * are dropped (and counted) past the bound, and writing is retried on the next tick. `health()`
 * tells the daemon what to show as a warning.
 *
 * @module
 */
import type { ConnEvent } from "../api/types.ts";
import type { Store } from "./store.ts";
import { StoreInputError } from "./validate.ts";

/** Options of {@link EventBatcher}. */
export interface BatcherOptions {
  /** Flush interval in ms (default 200). */
  flushMs?: number;
  /**
   * Flush at once when this many rows wait (default 4000). Also the rows per transaction: each
   * commit waits for an fsync (synchronous = FULL, ≈4 ms on this machine's disk under load), so
   * at 75 000 events/s 1 000-row transactions kept the drain blocked a third of the time.
   */
  maxBatch?: number;
  /** Rows kept while the disk refuses writes before the oldest are dropped (default 100 000). */
  maxBacklog?: number;
  /** Called after rows were committed (e.g. to publish them with their ids). */
  onCommit?: (rows: ConnEvent[]) => void;
  /**
   * Called when writing starts failing, fails for another reason, or works again (e.g. to log
   * "disk full" once and "resumed" once, rather than per event).
   */
  onHealthChange?: (health: BatcherHealth) => void;
}

/** What {@link EventBatcher.health} reports. */
export interface BatcherHealth {
  /** False while the last write failed. */
  ok: boolean;
  /** Why the last write failed, e.g. "disk full: database or disk is full". */
  error?: string;
  /** Rows waiting to be written. */
  backlog: number;
  /** Rows dropped since start because the backlog was full or a row was invalid. */
  dropped: number;
  /** Rows committed since start. */
  written: number;
}

/** Names the kind of a SQLite write failure from its message (node:sqlite exposes no code). */
export function classifyWriteError(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  if (/disk is full|SQLITE_FULL/i.test(msg)) return `disk full: ${msg}`;
  if (/readonly|read-only|SQLITE_READONLY/i.test(msg)) return `read-only: ${msg}`;
  if (/disk I\/O error|SQLITE_IOERR/i.test(msg)) return `I/O error: ${msg}`;
  if (/database is locked|SQLITE_BUSY/i.test(msg)) return `busy: ${msg}`;
  return `write failed: ${msg}`;
}

/**
 * Collects events and writes them in batches.
 *
 * @example
 * ```ts
 * const batcher = new EventBatcher(store, { flushMs: 200 });
 * ringBuffer.onEvent((ev) => batcher.push(ev));
 * // later: if (!batcher.health().ok) warn(batcher.health().error)
 * await batcher.close();
 * ```
 */
export class EventBatcher {
  readonly #store: Store;
  readonly #flushMs: number;
  readonly #maxBatch: number;
  readonly #maxBacklog: number;
  readonly #onCommit?: (rows: ConnEvent[]) => void;
  readonly #onHealthChange?: (health: BatcherHealth) => void;
  #queue: ConnEvent[] = [];
  #timer: ReturnType<typeof setInterval> | undefined;
  #error: string | undefined;
  #dropped = 0;
  #written = 0;
  #closed = false;

  constructor(store: Store, opts: BatcherOptions = {}) {
    this.#store = store;
    this.#flushMs = opts.flushMs ?? 200;
    this.#maxBatch = opts.maxBatch ?? 4000;
    this.#maxBacklog = opts.maxBacklog ?? 100_000;
    this.#onCommit = opts.onCommit;
    this.#onHealthChange = opts.onHealthChange;
    for (const [k, v] of Object.entries({ flushMs: this.#flushMs, maxBatch: this.#maxBatch })) {
      if (!Number.isInteger(v) || v < 1) {
        throw new Error(`EventBatcher: ${k} must be ≥ 1 (got ${v})`);
      }
    }
    if (!Number.isInteger(this.#maxBacklog) || this.#maxBacklog < this.#maxBatch) {
      throw new Error(`EventBatcher: maxBacklog must be ≥ maxBatch (got ${this.#maxBacklog})`);
    }
    this.#timer = setInterval(() => this.flush(), this.#flushMs);
  }

  /** Queues one event. Never throws for storage trouble; see {@link health}. */
  push(ev: ConnEvent): void {
    if (this.#closed) throw new Error("EventBatcher is closed");
    this.#queue.push(ev);
    if (this.#queue.length > this.#maxBacklog) {
      const over = this.#queue.length - this.#maxBacklog;
      this.#queue.splice(0, over);
      this.#dropped += over;
    }
    // While unhealthy, leave retries to the timer so a failing disk is not hammered per event.
    if (this.#queue.length >= this.#maxBatch && this.#error === undefined) this.flush();
  }

  /**
   * Writes what is queued, `maxBatch` rows per transaction. Returns true when the queue is empty
   * afterwards. Safe to call at any time; never throws for storage errors.
   */
  flush(): boolean {
    const before = this.#error;
    const empty = this.#flushQueue();
    if (this.#error !== before) this.#onHealthChange?.(this.health());
    return empty;
  }

  #flushQueue(): boolean {
    // After a failed write, space is tight: give the WAL's space back before and after every batch
    // until the backlog is drained. Otherwise freshly freed space is eaten by WAL growth (a WAL is
    // only reset by a checkpoint, automatically at 1000 pages) and the writer runs full again.
    const recovering = this.#error !== undefined;
    if (recovering && this.#queue.length > 0) this.#store.checkpoint();
    while (this.#queue.length > 0) {
      const batch = this.#queue.slice(0, this.#maxBatch);
      try {
        this.#store.insertEvents(batch);
      } catch (e) {
        if (e instanceof StoreInputError) {
          // A malformed row would block the queue forever: write the good rows, drop the bad one.
          this.#dropInvalid(batch);
          continue;
        }
        this.#error = classifyWriteError(e);
        return false;
      }
      this.#queue.splice(0, batch.length);
      this.#written += batch.length;
      this.#error = undefined;
      if (recovering) this.#store.checkpoint();
      this.#onCommit?.(batch);
    }
    return true;
  }

  #dropInvalid(batch: ConnEvent[]): void {
    const good: ConnEvent[] = [];
    let i = 0;
    for (; i < batch.length; i++) {
      try {
        this.#store.insertEvents([batch[i]]);
        good.push(batch[i]);
      } catch (e) {
        if (e instanceof StoreInputError) {
          this.#dropped++;
          continue;
        }
        // Storage failed mid-way: rows before i are written or dropped, the rest stay queued.
        this.#error = classifyWriteError(e);
        break;
      }
    }
    this.#queue.splice(0, i);
    this.#written += good.length;
    if (good.length) this.#onCommit?.(good);
  }

  /** Current state for status output and warnings. */
  health(): BatcherHealth {
    const h: BatcherHealth = {
      ok: this.#error === undefined,
      backlog: this.#queue.length,
      dropped: this.#dropped,
      written: this.#written,
    };
    if (this.#error !== undefined) h.error = this.#error;
    return h;
  }

  /** Stops the timer and makes a last flush attempt; returns the final health. */
  close(): BatcherHealth {
    if (!this.#closed) {
      this.#closed = true;
      clearInterval(this.#timer);
      this.flush();
    }
    return this.health();
  }
}
