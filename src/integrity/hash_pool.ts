/**
 * Hashes many files in parallel on Deno module Workers (one file at a time per worker), so a
 * rehash-all uses every core and never blocks the daemon's event loop.
 *
 * @module
 */
import type { FileHash } from "./hash.ts";

/** A message to a hash worker. */
export interface HashJob {
  id: number;
  path: string;
  chunkSize?: number;
  overlap?: boolean;
}

/** A worker's answer. */
export type HashReply =
  | { id: number; ok: true; hash: FileHash }
  | { id: number; ok: false; path: string; error: string };

/** One result of {@link HashPool.hashMany}: a hash, or the error naming the file. */
export type HashResult = FileHash | { path: string; error: string };

/** Progress callback: `done` of `total` finished; `last` is the result just finished. */
export type HashProgress = (done: number, total: number, last: HashResult) => void;

/** Options of {@link HashPool}. */
export interface HashPoolOptions {
  /** Number of workers; default 2 (the cores of the target machine). */
  workers?: number;
  /** Read size passed to `hashFile`. */
  chunkSize?: number;
  /** Overlapped reads inside each worker (see `HashOptions.overlap`); default false. */
  overlap?: boolean;
}

/**
 * A fixed set of hashing workers.
 *
 * @example
 * ```ts
 * const pool = new HashPool({ workers: 2 });
 * try {
 *   const results = await pool.hashMany(["/usr/bin/true", "/usr/bin/false"]);
 * } finally {
 *   pool.close();
 * }
 * ```
 */
export class HashPool {
  readonly size: number;
  #workers: Worker[] = [];
  #idle: Worker[] = [];
  #queue: { job: HashJob; resolve: (r: HashResult) => void }[] = [];
  #pending = new Map<number, (r: HashResult) => void>();
  #nextId = 1;
  #chunkSize?: number;
  #overlap: boolean;
  #closed = false;

  constructor(opts: HashPoolOptions = {}) {
    const n = opts.workers ?? 2;
    if (!Number.isInteger(n) || n < 1 || n > 64) {
      throw new RangeError(`workers must be an integer in 1..64, got ${n}`);
    }
    this.size = n;
    this.#chunkSize = opts.chunkSize;
    this.#overlap = opts.overlap ?? false;
    for (let i = 0; i < n; i++) {
      const w = new Worker(new URL("./hash_worker.ts", import.meta.url), { type: "module" });
      w.onmessage = (e: MessageEvent<HashReply>) => this.#onReply(w, e.data);
      w.onerror = (e) => {
        e.preventDefault();
        this.#failAll(`hash worker crashed: ${e.message}`);
      };
      this.#workers.push(w);
      this.#idle.push(w);
    }
  }

  /** Hashes one file on a worker. Rejects only when the pool is closed; file errors resolve. */
  hash(path: string): Promise<HashResult> {
    if (this.#closed) return Promise.reject(new Error("HashPool is closed"));
    return new Promise((resolve) => {
      this.#queue.push({
        job: {
          id: this.#nextId++,
          path,
          chunkSize: this.#chunkSize,
          overlap: this.#overlap,
        },
        resolve,
      });
      this.#pump();
    });
  }

  /** Hashes every path; results come back in the order of `paths`. */
  async hashMany(paths: string[], onProgress?: HashProgress): Promise<HashResult[]> {
    let done = 0;
    return await Promise.all(paths.map(async (p) => {
      const r = await this.hash(p);
      onProgress?.(++done, paths.length, r);
      return r;
    }));
  }

  /** Stops the workers; queued and running jobs resolve with an error. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const w of this.#workers) w.terminate();
    this.#failAll("HashPool closed");
  }

  #pump(): void {
    while (this.#idle.length > 0 && this.#queue.length > 0) {
      const w = this.#idle.pop()!;
      const { job, resolve } = this.#queue.shift()!;
      this.#pending.set(job.id, resolve);
      w.postMessage(job);
    }
  }

  #onReply(w: Worker, r: HashReply): void {
    const resolve = this.#pending.get(r.id);
    this.#pending.delete(r.id);
    this.#idle.push(w);
    resolve?.(r.ok ? r.hash : { path: r.path, error: r.error });
    this.#pump();
  }

  #failAll(error: string): void {
    for (const { job, resolve } of this.#queue.splice(0)) resolve({ path: job.path, error });
    for (const resolve of this.#pending.values()) resolve({ path: "", error });
    this.#pending.clear();
  }
}

/** True when a {@link HashResult} is an error. */
export function isHashError(r: HashResult): r is { path: string; error: string } {
  return "error" in r;
}
