/**
 * Worker side of {@link HashPool}: hashes the paths it is sent, one at a time, and posts each
 * result back. Module worker; started by src/integrity/hash_pool.ts only.
 *
 * @module
 */
/// <reference lib="deno.worker" />
import { hashFile } from "./hash.ts";
import type { HashJob, HashReply } from "./hash_pool.ts";

self.onmessage = async (e: MessageEvent<HashJob>) => {
  const { id, path, chunkSize, overlap, keepOpen } = e.data;
  let reply: HashReply;
  try {
    reply = { id, ok: true, hash: await hashFile(path, { chunkSize, overlap, keepOpen }) };
  } catch (err) {
    reply = { id, ok: false, path, error: err instanceof Error ? err.message : String(err) };
  }
  self.postMessage(reply);
};
