/**
 * The state machine of package-backed approvals across an upgrade, kept apart from the daemon so
 * it can be tested alone. The daemon feeds it facts (dpkg hook began/ended, an app's re-hash did
 * not match, a package-trust verdict) and asks it what to do (try a decision now, retry later,
 * give up and leave the app revoked).
 *
 * - While dpkg runs (between the hook's Pre-Invoke and Post-Invoke) files are half-written and
 *   dpkg's database is stale (its status is journalled and merged at the end), so no decision is
 *   final: an app whose new hash does not check out yet waits in `pending`.
 * - Without the hook the daemon retries pending apps whenever dpkg's database changed
 *   ({@link PackageUpdates.due}), until a verdict is final or {@link PENDING_MAX_MS} passed.
 * - At Post-Invoke every pending app is decided once more, and that decision is final.
 *
 * @module
 */
import type { ShipsVerdict } from "./trust.ts";

/** A dpkg run (Pre-Invoke without Post-Invoke) is assumed over after this long. */
export const DPKG_SESSION_MAX_MS = 60 * 60_000;
/** A pending app is retried for this long without the hook, then left revoked. */
export const PENDING_MAX_MS = 30 * 60_000;

/** What to do after a verdict. */
export type Next = "approve" | "retry" | "final";

interface Pending {
  since: number;
  /** dpkg database stamp at the last attempt. */
  tried?: string;
}

/** Tracks dpkg sessions and apps waiting for a package decision. */
export class PackageUpdates {
  #sessionUntil = 0;
  #pending = new Map<string, Pending>();
  #refused = new Map<string, ShipsVerdict & { ok: false }>();

  /** The dpkg hook's Pre-Invoke: an upgrade is running. */
  begin(now: number): void {
    this.#sessionUntil = now + DPKG_SESSION_MAX_MS;
  }

  /** The dpkg hook's Post-Invoke: the run ended. Returns the apps to decide now, for good. */
  end(): string[] {
    this.#sessionUntil = 0;
    return [...this.#pending.keys()];
  }

  /** Whether a dpkg run announced by the hook is in progress. */
  running(now: number): boolean {
    return now < this.#sessionUntil;
  }

  /** Marks `name` as waiting for a decision (its re-hash did not match the approval). */
  wait(name: string, now: number): void {
    if (!this.#pending.has(name)) this.#pending.set(name, { since: now });
  }

  /** Whether `name` waits for a decision. */
  waiting(name: string): boolean {
    return this.#pending.has(name);
  }

  /** Forgets `name` (approved, revoked by an admin, removed). */
  done(name: string): void {
    this.#pending.delete(name);
    this.#refused.delete(name);
  }

  /** Stops waiting for `name` (decided for good) but keeps its refusal for display. */
  settle(name: string): void {
    this.#pending.delete(name);
  }

  /** The last refusal of `name` (why its new hash was not taken from its package), if any. */
  refusal(name: string): (ShipsVerdict & { ok: false }) | undefined {
    return this.#refused.get(name);
  }

  /** Names waiting now. */
  pending(): string[] {
    return [...this.#pending.keys()];
  }

  /**
   * Pending apps worth a new attempt: none while the hook says dpkg runs; otherwise those not yet
   * tried under dpkg database state `stamp`. Apps pending longer than {@link PENDING_MAX_MS} are
   * dropped (returned in `expired`).
   */
  due(stamp: string, now: number): { tryNow: string[]; expired: string[] } {
    const tryNow: string[] = [];
    const expired: string[] = [];
    for (const [name, p] of this.#pending) {
      if (now - p.since > PENDING_MAX_MS) {
        expired.push(name);
        this.#pending.delete(name);
        continue;
      }
      if (this.running(now) || p.tried === stamp) continue;
      tryNow.push(name);
    }
    return { tryNow, expired };
  }

  /**
   * Records the verdict of an attempt for `name` made under `stamp`, and says what follows:
   * `approve`; `retry` (not final: dpkg may still be at work, or the hook has yet to end);
   * `final` (stays revoked). Only the end of a hook session (`opts.final`) makes a refusal final:
   * without the hook dpkg's status may be stale (it is journalled), so even "unsigned" or
   * "differs" is retried when dpkg's database changes, until {@link PENDING_MAX_MS}.
   */
  verdict(name: string, v: ShipsVerdict, stamp: string, opts: { final: boolean }): Next {
    if (v.ok) {
      this.#pending.delete(name);
      this.#refused.delete(name);
      return "approve";
    }
    this.#refused.set(name, v);
    if (opts.final) {
      this.#pending.delete(name);
      return "final";
    }
    const p = this.#pending.get(name) ?? { since: Date.now() };
    // "not-settled" (dpkg still at work) is retried at every look, not only on a new stamp:
    // dpkg may write its last status before it releases its lock.
    p.tried = v.reason === "not-settled" ? undefined : stamp;
    this.#pending.set(name, p);
    return "retry";
  }
}
