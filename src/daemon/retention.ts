/**
 * History retention: trims connection events and integrity changes to the `[history]` caps of
 * rules.toml (`max_age_days`, `max_rows`) once at start and then every hour. The policy is read
 * again at every run, so a reload takes effect at the next one.
 *
 * @module
 */
import type { Policy } from "../config/model.ts";
import { DEFAULT_HISTORY } from "../config/validate.ts";
import type { RetentionPolicy, Store } from "../store/store.ts";
import type { Logger } from "./log.ts";

/** How often retention runs after the first run at start. */
export const RETENTION_INTERVAL_MS = 60 * 60 * 1000;

/** Options of {@link startRetention} (tests shorten the interval). */
export interface RetentionOptions {
  /** Time between runs; default {@link RETENTION_INTERVAL_MS}. */
  intervalMs?: number;
}

/**
 * The store caps for a validated policy: its `[history]` table, or the built-in defaults
 * (30 days, 1 000 000 rows) for a policy made without one.
 *
 * @example
 * ```ts
 * retentionPolicyOf(core.policy); // { maxAgeDays: 30, maxRows: 1000000 }
 * ```
 */
export function retentionPolicyOf(policy: Pick<Policy, "history">): RetentionPolicy {
  const h = policy.history ?? DEFAULT_HISTORY;
  return { maxAgeDays: h.maxAgeDays, maxRows: h.maxRows };
}

/**
 * Applies `policyGetter()` to `store` now and then every hour; returns the function that stops
 * it. A failed run is logged (error) and the next run tries again: retention must never take
 * the daemon down. Runs that removed rows are logged (notice).
 *
 * @example
 * ```ts
 * const stop = startRetention(core.store, () => retentionPolicyOf(core.policy), core.log);
 * // on shutdown, before the store closes:
 * stop();
 * ```
 */
export function startRetention(
  store: Pick<Store, "applyRetention">,
  policyGetter: () => RetentionPolicy,
  log: Logger,
  opts: RetentionOptions = {},
): () => void {
  const runOnce = () => {
    let policy: RetentionPolicy | undefined;
    try {
      policy = policyGetter();
      const r = store.applyRetention(policy);
      if (r.events > 0 || r.integrity > 0) {
        log.log(
          "notice",
          `history retention removed ${r.events} events and ${r.integrity} integrity changes`,
          { maxAgeDays: policy.maxAgeDays, maxRows: policy.maxRows },
        );
      }
    } catch (e) {
      log.log("error", `history retention failed: ${(e as Error).message}`, {
        maxAgeDays: policy?.maxAgeDays,
        maxRows: policy?.maxRows,
      });
    }
  };
  runOnce();
  const timer = setInterval(runOnce, opts.intervalMs ?? RETENTION_INTERVAL_MS);
  // An hourly chore must not keep a process alive that is otherwise done.
  Deno.unrefTimer(timer);
  return () => clearInterval(timer);
}
