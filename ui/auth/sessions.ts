/**
 * Server-side sessions: the browser holds only a random id in an HttpOnly cookie; role, CSRF
 * token and expiry live here. Sessions end at the daemon's restart (memory only) — logging in
 * again takes one `hashwall ui url`.
 *
 * @module
 */
import type { Role } from "../../src/api/types.ts";
import { randomHex } from "./tokens.ts";

/** Session cookie name. */
export const SESSION_COOKIE = "hashwall_session";
/** How long a session lasts without use, ms. */
export const SESSION_IDLE_MS = 8 * 3600_000;

/** A one-shot message shown on the next page (result of a form POST). */
export interface Flash {
  kind: "ok" | "error";
  text: string;
}

/** One logged-in browser. */
export interface Session {
  id: string;
  role: Role;
  /** Per-session CSRF token, required on every state-changing request. */
  csrf: string;
  createdAt: number;
  expiresAt: number;
  flash?: Flash;
}

/** In-memory session store with idle expiry. */
export class SessionStore {
  #sessions = new Map<string, Session>();

  /** Starts a session for `role`. */
  create(role: Role, nowMs: number = Date.now()): Session {
    this.#prune(nowMs);
    const s: Session = {
      id: randomHex(32),
      role,
      csrf: randomHex(32),
      createdAt: nowMs,
      expiresAt: nowMs + SESSION_IDLE_MS,
    };
    this.#sessions.set(s.id, s);
    return s;
  }

  /** The live session for `id`, extending its idle expiry; undefined when unknown or expired. */
  get(id: string | undefined, nowMs: number = Date.now()): Session | undefined {
    if (!id) return undefined;
    const s = this.#sessions.get(id);
    if (!s) return undefined;
    if (s.expiresAt < nowMs) {
      this.#sessions.delete(id);
      return undefined;
    }
    s.expiresAt = nowMs + SESSION_IDLE_MS;
    return s;
  }

  /** Ends a session (logout). */
  delete(id: string): void {
    this.#sessions.delete(id);
  }

  #prune(nowMs: number): void {
    for (const [id, s] of this.#sessions) if (s.expiresAt < nowMs) this.#sessions.delete(id);
  }
}
