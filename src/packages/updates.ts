/**
 * The state machine of package-backed approvals across an upgrade, kept apart from the daemon so
 * it can be tested alone. The daemon feeds it facts (dpkg hook began/ended, an app's re-hash did
 * not match, a package-trust verdict) and asks it what to do (try a decision now, retry later,
 * give up and leave the app revoked).
 *
 * - Decisions follow each unpack, not the end of the dpkg run: an app whose new hash does not
 *   check out yet (its package still `half-installed`, say) waits in `pending` and is tried again
 *   as soon as the state it was tried under changed ({@link PackageUpdates.due}; the daemon keys
 *   that state by its package's recorded version and state while dpkg runs, by the whole dpkg
 *   database otherwise). No refusal is final while dpkg may still be at work.
 * - Pending apps are retried until a verdict is final or {@link PENDING_MAX_MS} passed.
 * - At the hook's Post-Invoke every pending app is decided once more, and that decision is final.
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
  /** The dpkg state key the last attempt was made under. */
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
   * Pending apps worth a new attempt: those not yet tried under the dpkg state `keyOf(name)` says
   * is current for them. Apps pending longer than {@link PENDING_MAX_MS} are dropped (returned
   * in `expired`).
   */
  due(keyOf: (name: string) => string, now: number): { tryNow: string[]; expired: string[] } {
    const tryNow: string[] = [];
    const expired: string[] = [];
    for (const [name, p] of this.#pending) {
      if (now - p.since > PENDING_MAX_MS) {
        expired.push(name);
        this.#pending.delete(name);
        continue;
      }
      if (p.tried === keyOf(name)) continue;
      tryNow.push(name);
    }
    return { tryNow, expired };
  }

  /**
   * Records the verdict of an attempt for `name` made under dpkg state `key` (taken before the
   * attempt read anything), and says what follows: `approve`; `retry` (not final: dpkg may still
   * be at work, or the hook has yet to end); `final` (stays revoked). Only the end of a hook
   * session (`opts.final`) makes a refusal final: otherwise even "unsigned" or "differs" is
   * retried when the key changes, until {@link PENDING_MAX_MS}.
   */
  verdict(name: string, v: ShipsVerdict, key: string, opts: { final: boolean }): Next {
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
    p.tried = key;
    this.#pending.set(name, p);
    return "retry";
  }
}
