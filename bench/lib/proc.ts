/**
 * Process and system facts a benchmark reads or sets: peak RSS, page-cache dropping.
 *
 * @module
 */

/**
 * Peak resident set size (VmHWM) of a process in bytes; "self" is this process.
 *
 * @example
 * ```ts
 * const mb = peakRssBytes() / 1e6;
 * ```
 */
export function peakRssBytes(pid: number | "self" = "self"): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  const m = /^VmHWM:\s*(\d+)\s*kB$/m.exec(status);
  if (!m) throw new Error(`peakRssBytes: no VmHWM in /proc/${pid}/status`);
  return Number(m[1]) * 1024;
}

/**
 * Resident set size now (VmRSS) in bytes.
 *
 * @example
 * ```ts
 * const now = rssBytes();
 * ```
 */
export function rssBytes(pid: number | "self" = "self"): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  const m = /^VmRSS:\s*(\d+)\s*kB$/m.exec(status);
  if (!m) throw new Error(`rssBytes: no VmRSS in /proc/${pid}/status`);
  return Number(m[1]) * 1024;
}

/**
 * Writes dirty pages out and drops the page cache, dentries and inodes (root only), so the next
 * start reads every file from disk: a cold start.
 *
 * @example
 * ```ts
 * await dropCaches();
 * ```
 */
export async function dropCaches(): Promise<void> {
  const sync = await new Deno.Command("sync").output();
  if (sync.code !== 0) throw new Error("dropCaches: sync failed");
  await Deno.writeTextFile("/proc/sys/vm/drop_caches", "3");
}
