/**
 * HTTP hardening shared by every route: security headers, the Host check against DNS
 * rebinding, and the CSRF check. A localhost UI is reachable by every local user and by any web
 * page open in the admin's browser, so none of these are optional.
 *
 * @module
 */
import { timingSafeEqual } from "node:crypto";
import type { MiddlewareHandler } from "hono";

/** The Content-Security-Policy every response carries: no inline script or style at all. */
export const CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
  "object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/** Adds CSP, nosniff, no-referrer and framing headers; never any CORS header. */
export function securityHeaders(): MiddlewareHandler {
  return async (c, next) => {
    await next();
    const h = c.res.headers;
    h.set("Content-Security-Policy", CSP);
    h.set("X-Content-Type-Options", "nosniff");
    h.set("Referrer-Policy", "no-referrer");
    h.set("X-Frame-Options", "DENY");
    h.set("Cross-Origin-Opener-Policy", "same-origin");
    h.set("Cross-Origin-Resource-Policy", "same-origin");
    if (!h.has("Cache-Control")) h.set("Cache-Control", "no-store");
    for (const k of [...h.keys()]) {
      if (k.toLowerCase().startsWith("access-control-")) h.delete(k);
    }
  };
}

/** The Host header values a request may carry when the UI listens on `host:port`. */
export function allowedHosts(host: string, port: number): Set<string> {
  const hosts = new Set([`localhost:${port}`]);
  if (host === "::1") hosts.add(`[::1]:${port}`);
  else hosts.add(`${host}:${port}`);
  return hosts;
}

/**
 * Answers 421 Misdirected Request when the Host header is not the listen address: a page that
 * re-pointed its own DNS name at 127.0.0.1 (DNS rebinding) carries its own name as Host.
 */
export function hostGuard(allowed: Set<string>): MiddlewareHandler {
  return async (c, next) => {
    const host = (c.req.header("host") ?? "").toLowerCase();
    if (!allowed.has(host)) {
      return c.text(`421 Misdirected Request: host "${host}" is not served here\n`, 421);
    }
    await next();
  };
}

/** Whether a method changes state (and so needs a CSRF token). */
export function isStateChanging(method: string): boolean {
  return !["GET", "HEAD", "OPTIONS"].includes(method.toUpperCase());
}

/** Compares a submitted CSRF token with the session's in constant time. */
export function csrfMatches(expected: string, submitted: string | undefined): boolean {
  if (typeof submitted !== "string" || submitted.length === 0) return false;
  const a = new TextEncoder().encode(expected);
  const b = new TextEncoder().encode(submitted);
  // Length differences leak only the length of a random fixed-size token: harmless.
  if (a.length !== b.length) return false;
  return timingSafeEqual(a, b);
}
