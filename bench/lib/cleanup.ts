/**
 * Cleanup for benchmarks on every path: normal end, thrown error, and SIGINT/SIGTERM (run_all.sh
 * runs each benchmark under `timeout`, which sends SIGTERM — `finally` blocks do not run then).
 *
 * @module
 */

/** A stack of undo steps, run last-in first-out, each one even when an earlier one failed. */
export class Cleanup {
  #steps: { label: string; fn: () => unknown }[] = [];
  #running: Promise<string[]> | undefined;

  /**
   * Registers an undo step (runs before the ones registered earlier).
   *
   * @example
   * ```ts
   * const dir = await Deno.makeTempDir();
   * cleanup.defer(`remove ${dir}`, () => Deno.remove(dir, { recursive: true }));
   * ```
   */
  defer(label: string, fn: () => unknown): void {
    if (this.#running) throw new Error(`Cleanup.defer(${label}): cleanup already started`);
    this.#steps.push({ label, fn });
  }

  /**
   * Runs every step once; resolves to the failures as "label: message" (never rejects). A second
   * caller (a signal arriving while the benchmark fails, or the reverse) waits for the same run,
   * so nobody exits the process halfway through the cleanup.
   */
  run(): Promise<string[]> {
    this.#running ??= (async () => {
      const failures: string[] = [];
      for (const step of [...this.#steps].reverse()) {
        try {
          await step.fn();
        } catch (e) {
          failures.push(`${step.label}: ${e instanceof Error ? e.message : e}`);
        }
      }
      return failures;
    })();
    return this.#running;
  }
}

/**
 * Runs `main` with a {@link Cleanup} that runs after it returns or throws, and also when the
 * process gets SIGINT or SIGTERM. Exits non-zero when `main` threw or a cleanup step failed
 * (run_all.sh marks the benchmark failed), printing what went wrong to stderr.
 *
 * @example
 * ```ts
 * await runBench(async (cleanup) => {
 *   const cg = await createTestCgroup("bench");
 *   cleanup.defer("remove cgroup", () => cg.remove());
 * });
 * ```
 */
export async function runBench(main: (cleanup: Cleanup) => Promise<void>): Promise<void> {
  const cleanup = new Cleanup();
  let interrupted = false;
  const onSignal = (sig: Deno.Signal, code: number) => async () => {
    interrupted = true;
    console.error(`${sig}: cleaning up`);
    const failures = await cleanup.run();
    for (const f of failures) console.error(`cleanup failed: ${f}`);
    Deno.exit(code);
  };
  const handlers: [Deno.Signal, () => void][] = [
    ["SIGINT", onSignal("SIGINT", 130)],
    ["SIGTERM", onSignal("SIGTERM", 143)],
  ];
  for (const [sig, h] of handlers) Deno.addSignalListener(sig, h);
  let failed = false;
  try {
    await main(cleanup);
  } catch (e) {
    failed = true;
    // After a signal, the error is the cleanup killing the benchmark's processes: not news.
    if (!interrupted) console.error(e instanceof Error ? (e.stack ?? e.message) : String(e));
  } finally {
    const failures = await cleanup.run();
    if (!interrupted) { for (const f of failures) console.error(`cleanup failed: ${f}`); }
    if (failures.length) failed = true;
    for (const [sig, h] of handlers) Deno.removeSignalListener(sig, h);
  }
  if (failed) Deno.exit(1);
}
