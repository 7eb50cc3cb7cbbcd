/**
 * Hashes many files in parallel on Deno module Workers (one file at a time per worker), so a
 * rehash-all uses every core and never blocks the daemon's event loop.
 *
 * Many files at once ({@link HashPool.hashAll}) go out as ONE batch that every worker pulls from
 * through a shared counter: no worker waits for the main thread between files (at start the main
 * thread is busy loading BPF objects while the workers hash), and once a file came from the disk
 * each worker starts the reads of the next few files (posix_fadvise WILLNEED), so a cold page
 * cache sees many reads in flight.
 *
 * @module
 */
import { siblingWorkerUrl } from "./worker_url.ts";
import type { FileHash, OpenFileHash } from "./hash.ts";
import { closeFd } from "../../ffi/libc.ts";

/** A message to a hash worker. */
export interface HashJob {
  id: number;
  path: string;
  chunkSize?: number;
  overlap?: boolean;
  /** Leave the hashed fd open and report it (`FileHash.fd`); workers share the fd table. */
  keepOpen?: boolean;
}

/**
 * A batch for one worker: every participant gets the same paths and shared counters and pulls the
 * next index with `Atomics.add` (see {@link BATCH_NEXT}).
 */
export interface HashBatchJob {
  batch: number;
  paths: string[];
  /** Int32 cells: {@link BATCH_NEXT}, {@link BATCH_PREFETCH}, then one per participant. */
  shared: SharedArrayBuffer;
  /** This worker's cell (≥ {@link BATCH_SLOTS_AT}): index+1 of the file it hashes now, else 0. */
  slot: number;
  /** Files to start reading ahead of the one being hashed. */
  readAhead: number;
  chunkSize?: number;
  keepOpen?: boolean;
}

/** Shared cell: the next index of a batch to hash. */
export const BATCH_NEXT = 0;
/** Shared cell: the next index of a batch to prefetch. */
export const BATCH_PREFETCH = 1;
/**
 * Shared cell: 1 once a worker saw a file come slower than from the page cache. Read-ahead
 * starts only then: on a warm cache it would cost an open, an FFI-thread call and a close per
 * file (measured: about as much CPU as hashing 1 000 small files) and win nothing.
 */
export const BATCH_COLD = 2;
/** First per-participant cell. */
export const BATCH_SLOTS_AT = 3;
/** Most participants one batch has over its life (workers and their replacements). */
const BATCH_MAX_PARTICIPANTS = 256;

/** A worker's answer. */
export type HashReply =
  | { id: number; ok: true; hash: FileHash }
  | { id: number; ok: false; path: string; error: string };

/** A worker's answer within a batch: one per file, then `done` when the batch has no more. */
export type HashBatchReply =
  | { batch: number; index: number; ok: true; hash: FileHash }
  | { batch: number; index: number; ok: false; path: string; error: string }
  | { batch: number; done: true };

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

/** A batch in progress (see {@link HashPool.hashAll}). */
interface Batch {
  id: number;
  paths: string[];
  results: (HashResult | undefined)[];
  remaining: number;
  shared: Int32Array;
  /** Participant cells handed out so far. */
  participants: number;
  /** Indices being hashed again as single jobs after a crash. */
  retrying: Set<number>;
  readAhead: number;
  keepOpen?: boolean;
  onProgress?: HashProgress;
  resolve: (r: HashResult[]) => void;
}

/** A worker and the job it runs, if any. */
interface Slot {
  worker: Worker;
  job?: { job: HashJob; resolve: (r: HashResult) => void };
  /** The batch it pulls from, and its cell there. */
  batch?: { batch: Batch; cell: number };
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
  /** Batches not finished yet; idle workers join the oldest one that has files left. */
  #batches: Batch[] = [];
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

  /**
   * Hashes every path as one batch that the workers pull from themselves (see the module
   * documentation); results in the order of `paths`, file errors in place. With `keepOpen` each
   * result carries its still-open fd, which the caller closes. `readAhead` files are being read
   * into the page cache ahead of the hashing (default 8; 0 turns it off).
   */
  hashAll(
    paths: string[],
    opts: { keepOpen?: boolean; readAhead?: number; onProgress?: HashProgress } = {},
  ): Promise<HashResult[]> {
    if (this.#closed) return Promise.reject(new Error("HashPool is closed"));
    if (paths.length === 0) return Promise.resolve([]);
    return new Promise((resolve) => {
      this.#batches.push({
        id: this.#nextId++,
        paths,
        results: new Array(paths.length),
        remaining: paths.length,
        shared: new Int32Array(
          new SharedArrayBuffer(4 * (BATCH_SLOTS_AT + BATCH_MAX_PARTICIPANTS)),
        ),
        participants: 0,
        retrying: new Set(),
        readAhead: opts.readAhead ?? 8,
        keepOpen: opts.keepOpen,
        onProgress: opts.onProgress,
        resolve,
      });
      this.#pump();
    });
  }

  /**
   * Starts every worker now, idle, so their start (a runtime and the worker module, 100-400 ms
   * under load) overlaps the caller's own work instead of delaying the first hash. Idle workers
   * end after `idleMs` as usual.
   */
  prewarm(): void {
    if (this.#closed) return;
    while (this.#slots.length < this.size) this.#spawn();
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
    for (const b of [...this.#batches]) this.#failUnclaimed(b, "HashPool closed", true);
  }

  #pump(): void {
    // Batches first: every idle (or new) worker joins the oldest batch with files left.
    for (;;) {
      const b = this.#batches.find((b) => this.#unclaimed(b) > 0);
      if (!b) break;
      if (b.participants >= BATCH_MAX_PARTICIPANTS) {
        this.#failUnclaimed(b, "hash workers kept crashing");
        continue;
      }
      const joined = this.#slots.filter((s) => s.batch?.batch === b).length;
      if (joined >= Math.min(this.size, this.#unclaimed(b))) break;
      let slot = this.#slots.find((s) => s.job === undefined && s.batch === undefined);
      if (!slot) {
        if (this.#slots.length >= this.size) break;
        slot = this.#spawn();
      }
      const cell = BATCH_SLOTS_AT + b.participants++;
      slot.batch = { batch: b, cell };
      const job: HashBatchJob = {
        batch: b.id,
        paths: b.paths,
        shared: b.shared.buffer as SharedArrayBuffer,
        slot: cell,
        readAhead: b.readAhead,
        chunkSize: this.#chunkSize,
        keepOpen: b.keepOpen,
      };
      slot.worker.postMessage(job);
    }
    while (this.#queue.length > 0) {
      let slot = this.#slots.find((s) => s.job === undefined && s.batch === undefined);
      if (!slot) {
        if (this.#slots.length >= this.size) return;
        slot = this.#spawn();
      }
      slot.job = this.#queue.shift()!;
      slot.worker.postMessage(slot.job.job);
    }
  }

  /** Files of `b` no worker has claimed yet. */
  #unclaimed(b: Batch): number {
    return Math.max(0, b.paths.length - Atomics.load(b.shared, BATCH_NEXT));
  }

  /** Records result `index` of `b` (once), reports progress, and resolves `b` when complete. */
  #settle(b: Batch, index: number, r: HashResult): void {
    if (b.results[index] !== undefined) {
      // A late duplicate (a crashed worker's answer after its file was hashed again): its fd
      // would leak.
      if (!isHashError(r) && b.keepOpen) closeFd((r as OpenFileHash).fd);
      return;
    }
    b.results[index] = r;
    b.remaining--;
    b.onProgress?.(b.paths.length - b.remaining, b.paths.length, r);
    if (b.remaining === 0) {
      this.#batches.splice(this.#batches.indexOf(b), 1);
      b.resolve(b.results as HashResult[]);
    }
  }

  /**
   * Claims every file of `b` no worker took yet and fails it with `error` (workers that cannot
   * load); with `all`, also the files being hashed now (the pool is closing).
   */
  #failUnclaimed(b: Batch, error: string, all = false): void {
    const from = Math.min(b.paths.length, Atomics.exchange(b.shared, BATCH_NEXT, b.paths.length));
    const start = all ? 0 : from;
    for (let i = start; i < b.paths.length; i++) {
      if (b.results[i] === undefined) this.#settle(b, i, { path: b.paths[i], error });
    }
  }

  #spawn(): Slot {
    const worker = new Worker(this.#url, { type: "module" });
    const slot: Slot = { worker, idleSince: performance.now(), answered: false };
    worker.onmessage = (e: MessageEvent<HashReply | HashBatchReply>) =>
      "batch" in e.data ? this.#onBatchReply(slot, e.data) : this.#onReply(slot, e.data);
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

  #onBatchReply(slot: Slot, r: HashBatchReply): void {
    slot.answered = true;
    this.#loadFailures = 0;
    const b = slot.batch?.batch;
    if (!b || b.id !== r.batch) return;
    if ("done" in r) {
      slot.batch = undefined;
      slot.idleSince = performance.now();
      this.#pump();
      return;
    }
    this.#settle(b, r.index, r.ok ? r.hash : { path: r.path, error: r.error });
  }

  #onCrash(slot: Slot, message: string): void {
    slot.worker.terminate();
    const i = this.#slots.indexOf(slot);
    if (i === -1) return; // already removed (closed)
    this.#slots.splice(i, 1);
    const error = `hash worker crashed: ${message}`;
    slot.job?.resolve({ path: slot.job.job.path, error });
    if (slot.batch) {
      // The file it was hashing (its cell holds index + 1) fails; the others stay claimable.
      const { batch: b, cell } = slot.batch;
      const current = Atomics.load(b.shared, cell) - 1;
      if (current >= 0) this.#settle(b, current, { path: b.paths[current], error });
      // Answers it posted before dying may never arrive (the worker is gone): every file it
      // claimed and no live worker holds is hashed again on its own.
      const held = new Set(
        this.#slots.filter((s) => s.batch?.batch === b).map((s) =>
          Atomics.load(b.shared, s.batch!.cell) - 1
        ),
      );
      const claimed = Math.min(b.paths.length, Atomics.load(b.shared, BATCH_NEXT));
      for (let i = 0; i < claimed; i++) {
        if (b.results[i] !== undefined || held.has(i) || b.retrying.has(i)) continue;
        b.retrying.add(i);
        void this.hash(b.paths[i], { keepOpen: b.keepOpen }).then(
          (r) => this.#settle(b, i, r),
          (e) => this.#settle(b, i, { path: b.paths[i], error: String(e) }),
        );
      }
    }
    if (!slot.answered && ++this.#loadFailures >= 2) {
      // The module itself does not load (e.g. missing from the install): respawning cannot help.
      this.#failQueued(error);
      for (const b of [...this.#batches]) {
        // Files claimed by live workers still come; the rest cannot.
        this.#failUnclaimed(b, error);
        if (!this.#slots.some((s) => s.batch?.batch === b)) this.#failUnclaimed(b, error, true);
      }
      this.#loadFailures = 0;
      return;
    }
    this.#pump();
  }

  /** Ends workers idle for longer than idleMs; stops the timer when none is left. */
  #reap(): void {
    const now = performance.now();
    for (const slot of [...this.#slots]) {
      if (
        slot.job === undefined && slot.batch === undefined && now - slot.idleSince >= this.#idleMs
      ) {
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
