/**
 * Polling for a condition in tests that watch a real daemon, kernel or browser.
 *
 * @module
 */

/**
 * Calls `f` every `stepMs` until it returns something other than `undefined` or `false`, and
 * returns that; throws "timed out after N ms: <what>" after `ms`.
 *
 * @example
 * ```ts
 * const change = await until("change recorded", async () => (await list()).find((c) => c.ok));
 * await until("daemon gone", async () => !(await alive()));
 * ```
 */
export async function until<T>(
  what: string,
  f: () => Promise<T | undefined | false>,
  ms = 8000,
  stepMs = 25,
): Promise<T> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const v = await f();
    if (v !== undefined && v !== false) return v;
    await new Promise((r) => setTimeout(r, stepMs));
  }
  throw new Error(`timed out after ${ms} ms: ${what}`);
}
