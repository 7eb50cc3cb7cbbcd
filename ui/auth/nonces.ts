/**
 * Remembers login-link nonces until their links expire, so each link logs in once. Memory is
 * bounded by expiry: a nonce is forgotten only when its link could no longer be accepted anyway.
 *
 * @module
 */

/** A set of used nonces with expiry. */
export class UsedNonces {
  #used = new Map<string, number>();

  /**
   * Marks `nonce` used until `expS` (epoch seconds). Returns false when it was already used,
   * which is the caller's cue to refuse the login.
   */
  consume(nonce: string, expS: number, nowMs: number = Date.now()): boolean {
    this.#prune(nowMs);
    if (this.#used.has(nonce)) return false;
    this.#used.set(nonce, expS);
    return true;
  }

  #prune(nowMs: number): void {
    const nowS = Math.floor(nowMs / 1000);
    for (const [n, exp] of this.#used) if (exp < nowS) this.#used.delete(n);
  }
}
