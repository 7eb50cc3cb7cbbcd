/**
 * Start-up hashing that begins before the kernel identity readout exists: the hash workers read
 * and hash the first {@link KEY_BATCH} app files (fds kept open) while the main thread loads the
 * BPF objects, and {@link EarlyHashes.finish} then keys those fds in one iterator pass and hashes
 * the rest as {@link KernelIdentity.hashMany} does. The result is the same as hashing after the
 * load; only the order of the work changes.
 *
 * The caller's guard order still holds: the file watch must be live BEFORE this starts (a write
 * during a hash then voids that result through the registry's change counter), and nothing is
 * trusted until `finish` returned and the caller applied the results.
 *
 * @module
 */
import { type HashPool, type HashResult, isHashError } from "../integrity/hash_pool.ts";
import type { OpenFileHash } from "../integrity/hash.ts";
import { closeFd } from "../../ffi/libc.ts";
import { type KernelIdentity, KEY_BATCH, type KeyedResult } from "./kernel_key.ts";

/**
 * Hashes started early; {@link finish} once, or {@link abandon} when the start fails.
 *
 * @example
 * ```ts
 * const early = new EarlyHashes(pool, paths);   // watch already live
 * const ident = loadKernelObjects();            // workers hash meanwhile
 * const results = await early.finish(ident);
 * ```
 */
export class EarlyHashes {
  readonly paths: string[];
  #pool: HashPool;
  #first: Promise<HashResult[]>;
  #taken = false;

  constructor(pool: HashPool, paths: string[]) {
    this.paths = paths;
    this.#pool = pool;
    this.#first = pool.hashAll(paths.slice(0, KEY_BATCH), { keepOpen: true });
  }

  /** Every result in the order of `paths`, each with the kernel key of the hashed fd. */
  async finish(
    ident: KernelIdentity,
    onProgress?: (done: number, total: number, last: KeyedResult) => void,
  ): Promise<KeyedResult[]> {
    if (this.#taken) throw new Error("EarlyHashes: finish or abandon called twice");
    this.#taken = true;
    const out = ident.keyHashed(await this.#first);
    out.forEach((k, i) => onProgress?.(i + 1, this.paths.length, k));
    const rest = await ident.hashMany(
      this.#pool,
      this.paths.slice(KEY_BATCH),
      (done, _total, last) => onProgress?.(out.length + done, this.paths.length, last),
    );
    return [...out, ...rest];
  }

  /** Closes the fds of the early hashes (the start failed before `finish`). */
  async abandon(): Promise<void> {
    if (this.#taken) return;
    this.#taken = true;
    for (const r of await this.#first) if (!isHashError(r)) closeFd((r as OpenFileHash).fd);
  }
}
