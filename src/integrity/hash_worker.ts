/**
 * Worker side of {@link HashPool}: hashes the paths it is sent, one at a time, and posts each
 * result back. Module worker; started by src/integrity/hash_pool.ts only.
 *
 * @module
 */
/// <reference lib="deno.worker" />
import { hashFile } from "./hash.ts";
import { prefetchFile } from "../../ffi/fanotify.ts";
import {
  BATCH_COLD,
  BATCH_NEXT,
  BATCH_PREFETCH,
  type HashBatchJob,
  type HashBatchReply,
  type HashJob,
  type HashReply,
} from "./hash_pool.ts";

/** Pulls files of a batch until none is left (see HashPool.hashAll), then says done. */
async function runBatch(job: HashBatchJob): Promise<void> {
  const cells = new Int32Array(job.shared);
  const n = job.paths.length;
  for (;;) {
    const i = Atomics.add(cells, BATCH_NEXT, 1);
    if (i >= n) break;
    Atomics.store(cells, job.slot, i + 1);
    // A cold cache: start the reads of the next files (many reads in flight, not one).
    while (Atomics.load(cells, BATCH_COLD) === 1) {
      const p = Atomics.load(cells, BATCH_PREFETCH);
      if (p >= Math.min(n, i + 1 + job.readAhead)) break;
      if (Atomics.compareExchange(cells, BATCH_PREFETCH, p, p + 1) === p && p > i) {
        void prefetchFile(job.paths[p]);
      }
    }
    const path = job.paths[i];
    let reply: HashBatchReply;
    try {
      const t0 = performance.now();
      const hash = await hashFile(path, {
        chunkSize: job.chunkSize,
        overlap: false,
        keepOpen: job.keepOpen,
      });
      // Slower than 100 MB/s plus 5 ms: the bytes came from the disk, so read ahead from now on.
      if (job.readAhead > 0 && performance.now() - t0 > 5 + hash.size / 100_000) {
        Atomics.store(cells, BATCH_COLD, 1);
      }
      reply = { batch: job.batch, index: i, ok: true, hash };
    } catch (err) {
      const error = err instanceof Error ? err.message : String(err);
      reply = { batch: job.batch, index: i, ok: false, path, error };
    }
    self.postMessage(reply);
    Atomics.store(cells, job.slot, 0);
  }
  self.postMessage({ batch: job.batch, done: true } satisfies HashBatchReply);
}

self.onmessage = async (e: MessageEvent<HashJob | HashBatchJob>) => {
  if ("batch" in e.data) return await runBatch(e.data);
  const { id, path, chunkSize, overlap, keepOpen } = e.data;
  let reply: HashReply;
  try {
    reply = { id, ok: true, hash: await hashFile(path, { chunkSize, overlap, keepOpen }) };
  } catch (err) {
    reply = { id, ok: false, path, error: err instanceof Error ? err.message : String(err) };
  }
  self.postMessage(reply);
};
