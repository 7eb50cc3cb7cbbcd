/**
 * Hashes many files in parallel on Deno module Workers (one file at a time per worker), so a
 * rehash-all uses every core and never blocks the daemon's event loop.
 *
 * @module
 */
import { siblingWorkerUrl } from "./worker_url.ts";
import type { FileHash } from "./hash.ts";

/** A message to a hash worker. */
export interface HashJob {
  id: number;
  path: string;
  chunkSize?: number;
  overlap?: boolean;
  /** Leave the hashed fd open and report it (`FileHash.fd`); workers share the fd table. */
  keepOpen?: boolean;
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
  /** Most workers at once; default 2 (the cores of the target machine). */
  workers?: number;
  /** Read size passed to `hashFile`. */
  chunkSize?: number;
  /** Overlapped reads inside each worker (see `HashOptions.overlap`); default false. */
  overlap?: boolean;
  /**
   * A worker idle this long (ms) is ended; default 10 000. Each worker is a V8 isolate of several
   * MB, and hashing happens at start, on rehash and after writes: the daemon should not pay for
   * idle workers the rest of the time.
   */
  idleMs?: number;
  /** The worker module (tests); default hash_worker beside this module. */
  workerUrl?: URL;
}

/** A worker and the job it runs, if any. */
interface Slot {
  worker: Worker;
  job?: { job: HashJob; resolve: (r: HashResult) => void };
  /** performance.now() when it last finished a job (or started). */
  idleSince: number;
  /** True once it answered once: a worker that dies before that failed to load. */
  answered: boolean;
}

/**
 * Hashing workers started on demand (at most `workers`), ended when idle. A worker that crashes
 * fails only the job it ran and is replaced; when workers cannot even load, queued jobs fail
 * with that error instead of waiting forever.
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
  #slots: Slot[] = [];
  #queue: { job: HashJob; resolve: (r: HashResult) => void }[] = [];
  #nextId = 1;
  #chunkSize?: number;
  #overlap: boolean;
  #idleMs: number;
  #url: URL;
  #reaper?: ReturnType<typeof setInterval>;
  /** Workers in a row that died before answering once (a module that cannot load). */
  #loadFailures = 0;
  #closed = false;

  constructor(opts: HashPoolOptions = {}) {
    const n = opts.workers ?? 2;
    if (!Number.isInteger(n) || n < 1 || n > 64) {
      throw new RangeError(`workers must be an integer in 1..64, got ${n}`);
    }
    this.size = n;
    this.#chunkSize = opts.chunkSize;
    this.#overlap = opts.overlap ?? false;
    this.#idleMs = opts.idleMs ?? 10_000;
    this.#url = opts.workerUrl ?? siblingWorkerUrl("hash_worker", import.meta.url);
  }

  /** Workers alive now (for tests and status). */
  get liveWorkers(): number {
    return this.#slots.length;
  }

  /**
   * Hashes one file on a worker. Rejects only when the pool is closed; file errors resolve. With
   * `keepOpen` the result carries the still-open hashed fd (`fd`), which the caller closes.
   */
  hash(path: string, opts: { keepOpen?: boolean } = {}): Promise<HashResult> {
    if (this.#closed) return Promise.reject(new Error("HashPool is closed"));
    return new Promise((resolve) => {
      this.#queue.push({
        job: {
          id: this.#nextId++,
          path,
          chunkSize: this.#chunkSize,
          overlap: this.#overlap,
          keepOpen: opts.keepOpen,
        },
        resolve,
      });
      this.#pump();
    });
  }

  /** Hashes every path; results come back in the order of `paths`. */
  async hashMany(
    paths: string[],
    onProgress?: HashProgress,
    opts: { keepOpen?: boolean } = {},
  ): Promise<HashResult[]> {
    let done = 0;
    return await Promise.all(paths.map(async (p) => {
      const r = await this.hash(p, opts);
      onProgress?.(++done, paths.length, r);
      return r;
    }));
  }

  /** Stops the workers; queued and running jobs resolve with an error. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#reaper);
    this.#reaper = undefined;
    for (const slot of this.#slots.splice(0)) {
      slot.worker.terminate();
      slot.job?.resolve({ path: slot.job.job.path, error: "HashPool closed" });
    }
    this.#failQueued("HashPool closed");
  }

  #pump(): void {
    while (this.#queue.length > 0) {
      let slot = this.#slots.find((s) => s.job === undefined);
      if (!slot) {
        if (this.#slots.length >= this.size) return;
        slot = this.#spawn();
      }
      slot.job = this.#queue.shift()!;
      slot.worker.postMessage(slot.job.job);
    }
  }

  #spawn(): Slot {
    const worker = new Worker(this.#url, { type: "module" });
    const slot: Slot = { worker, idleSince: performance.now(), answered: false };
    worker.onmessage = (e: MessageEvent<HashReply>) => this.#onReply(slot, e.data);
    worker.onerror = (e) => {
      e.preventDefault();
      this.#onCrash(slot, e.message);
    };
    this.#slots.push(slot);
    this.#reaper ??= setInterval(() => this.#reap(), Math.max(100, this.#idleMs / 2));
    return slot;
  }

  #onReply(slot: Slot, r: HashReply): void {
    slot.answered = true;
    this.#loadFailures = 0;
    const job = slot.job;
    slot.job = undefined;
    slot.idleSince = performance.now();
    if (job && job.job.id === r.id) job.resolve(r.ok ? r.hash : { path: r.path, error: r.error });
    this.#pump();
  }

  #onCrash(slot: Slot, message: string): void {
    slot.worker.terminate();
    const i = this.#slots.indexOf(slot);
    if (i === -1) return; // already removed (closed)
    this.#slots.splice(i, 1);
    const error = `hash worker crashed: ${message}`;
    slot.job?.resolve({ path: slot.job.job.path, error });
    if (!slot.answered && ++this.#loadFailures >= 2) {
      // The module itself does not load (e.g. missing from the install): respawning cannot help.
      this.#failQueued(error);
      this.#loadFailures = 0;
      return;
    }
    this.#pump();
  }

  /** Ends workers idle for longer than idleMs; stops the timer when none is left. */
  #reap(): void {
    const now = performance.now();
    for (const slot of [...this.#slots]) {
      if (slot.job === undefined && now - slot.idleSince >= this.#idleMs) {
        slot.worker.terminate();
        this.#slots.splice(this.#slots.indexOf(slot), 1);
      }
    }
    if (this.#slots.length === 0) {
      clearInterval(this.#reaper);
      this.#reaper = undefined;
    }
  }

  #failQueued(error: string): void {
    for (const { job, resolve } of this.#queue.splice(0)) resolve({ path: job.path, error });
  }
}

/** True when a {@link HashResult} is an error. */
export function isHashError(r: HashResult): r is { path: string; error: string } {
  return "error" in r;
}
