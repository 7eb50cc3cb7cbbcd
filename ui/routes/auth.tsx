/**
 * Login with a one-time link, logout, and the middleware that admits only sessions: no session
 * → the login page (HTML) or 401 (API, metrics); a state-changing request without the session's
 * CSRF token (or from a foreign Origin) → 403; a viewer's write → 403.
 *
 * @module
 */
import type { Context, Hono, MiddlewareHandler } from "hono";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import { renderToString } from "preact-render-to-string";
import { checkLoginQuery } from "../auth/login_link.ts";
import { SESSION_COOKIE } from "../auth/sessions.ts";
import { csrfMatches, isStateChanging } from "../http_guard.ts";
import { LoginPage } from "../pages/login.tsx";
import { callerFor, type UiDeps, type UiEnv } from "../ui_env.ts";

/** Paths that need no session. */
function isPublic(path: string): boolean {
  return path === "/login" || path.startsWith("/static/");
}

/** Whether a path answers JSON/text rather than pages. */
function isMachinePath(path: string): boolean {
  return path.startsWith("/api/") || path === "/api" || path === "/metrics";
}

/** Renders the login page with `status`. */
export function loginResponse(c: Context, deps: UiDeps, status: 200 | 401, problem?: string) {
  return c.html(
    "<!doctype html>" + renderToString(<LoginPage assets={deps.assets} problem={problem} />),
    status,
  );
}

/** Registers GET /login and POST /logout. */
export function authRoutes(app: Hono<UiEnv>, deps: UiDeps): void {
  app.get("/login", async (c) => {
    const q = new URL(c.req.url).searchParams;
    if (!q.has("sig")) return loginResponse(c, deps, 401);
    const check = await checkLoginQuery(deps.tokens, q);
    if (!check.ok) return loginResponse(c, deps, 401, `This link is not valid: ${check.reason}.`);
    if (!deps.nonces.consume(check.claim.nonce, check.claim.exp)) {
      return loginResponse(c, deps, 401, "This link was already used. Ask for a new one.");
    }
    const s = deps.sessions.create(check.claim.role);
    setCookie(c, SESSION_COOKIE, s.id, {
      httpOnly: true,
      sameSite: "Strict",
      path: "/",
    });
    // Redirect so the signed link leaves the address bar and history entry.
    return c.redirect("/", 303);
  });

  app.post("/logout", (c) => {
    deps.sessions.delete(c.var.session.id);
    deleteCookie(c, SESSION_COOKIE, { path: "/" });
    return c.redirect("/login", 303);
  });
}

/** Constant-time check of a `Authorization: Bearer <token>` against both tokens (for scrapers). */
function bearerRole(c: Context, deps: UiDeps): "admin" | "viewer" | undefined {
  const h = c.req.header("authorization") ?? "";
  const m = /^Bearer ([0-9a-f]{64})$/.exec(h);
  if (!m) return undefined;
  if (csrfMatches(deps.tokens.admin, m[1])) return "admin";
  if (csrfMatches(deps.tokens.viewer, m[1])) return "viewer";
  return undefined;
}

/** The session gate (see module doc). */
export function requireSession(deps: UiDeps): MiddlewareHandler<UiEnv> {
  return async (c, next) => {
    const path = c.req.path;
    if (isPublic(path)) return await next();
    const session = deps.sessions.get(getCookie(c, SESSION_COOKIE));
    if (!session) {
      if (path === "/metrics" && bearerRole(c, deps)) return await next();
      if (isMachinePath(path) || isStateChanging(c.req.method)) {
        return c.json({ error: "not logged in: open a link from `hashwall ui url`" }, 401);
      }
      return loginResponse(c, deps, 401);
    }
    c.set("session", session);
    c.set("caller", callerFor(session));
    if (isStateChanging(c.req.method)) {
      const origin = c.req.header("origin");
      const self = new URL(c.req.url).origin;
      if (origin !== undefined && origin !== self && origin !== "null") {
        return c.json({ error: `cross-origin request from ${origin} refused` }, 403);
      }
      let submitted = c.req.header("x-csrf-token");
      const type = c.req.header("content-type") ?? "";
      if (!submitted && type.startsWith("application/x-www-form-urlencoded")) {
        const f = (await c.req.parseBody())["_csrf"];
        submitted = typeof f === "string" ? f : undefined;
      }
      if (!csrfMatches(session.csrf, submitted)) {
        return c.json({ error: "missing or wrong CSRF token" }, 403);
      }
      if (session.role !== "admin" && path !== "/logout") {
        return c.json({ error: "viewer sessions cannot change anything" }, 403);
      }
    }
    await next();
  };
}
