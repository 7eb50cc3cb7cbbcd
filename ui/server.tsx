/**
 * The web UI server: Hono routes rendered with Preact, served by `Deno.serve` on loopback only.
 *
 * Order of the gates, for every request: security headers (on every answer) → Host check (421)
 * → session gate (login page / 401, CSRF 403, viewer write 403) → routes.
 *
 * @example
 * ```ts
 * const ui = await createUiServer(api, { host: "127.0.0.1", port: 7480, stateDir: "/var/lib/hashwall" });
 * console.log(ui.url); // http://127.0.0.1:7480
 * await ui.close();
 * ```
 *
 * @module
 */
import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import type { HashwallApi } from "../src/api/types.ts";
import { loadAssets } from "./assets.ts";
import { removeListenInfo, writeListenInfo } from "./auth/listen_info.ts";
import { UsedNonces } from "./auth/nonces.ts";
import { SessionStore } from "./auth/sessions.ts";
import { loadOrCreateTokens } from "./auth/tokens.ts";
import { allowedHosts, hostGuard, securityHeaders } from "./http_guard.ts";
import { renderMetrics } from "./metrics.ts";
import { apiRoutes } from "./routes/api.ts";
import { authRoutes, requireSession } from "./routes/auth.tsx";
import { liveRoutes } from "./routes/live.ts";
import { pageRoutes } from "./routes/pages.tsx";
import type { UiDeps, UiEnv } from "./ui_env.ts";

/** Options of {@link createUiServer}. */
export interface UiServerOptions {
  /** `127.0.0.1`, `::1` or `localhost` (= 127.0.0.1); anything else is refused. */
  host: string;
  /** 1..65535, or 0 for a free port chosen by the kernel (tests). */
  port: number;
  /** State folder: holds ui-tokens.json and ui-listen.json. */
  stateDir: string;
  /** Aborting closes the server. */
  signal?: AbortSignal;
}

/** A running UI server. */
export interface UiServer {
  /** Base URL, e.g. `http://127.0.0.1:7480`. */
  url: string;
  /** Ends live streams and stops listening. */
  close(): Promise<void>;
}

/** Validates the listen host; returns the address to bind. */
export function loopbackAddress(host: string): "127.0.0.1" | "::1" {
  if (host === "127.0.0.1" || host === "localhost") return "127.0.0.1";
  if (host === "::1" || host === "[::1]") return "::1";
  throw new Error(
    `ui host must be 127.0.0.1, ::1 or localhost (the UI never listens beyond loopback), got "${host}"`,
  );
}

/** Largest request body accepted: a 1 MiB rules.toml, form-encoded, fits. */
export const MAX_BODY_BYTES = 4 * 1024 * 1024;

/** Builds the Hono app (exported for in-process tests of routing without a socket). */
export function buildUiApp(deps: UiDeps, listen: { host: string; port: number }): Hono<UiEnv> {
  const app = new Hono<UiEnv>();
  app.use("*", securityHeaders());
  app.use("*", hostGuard(allowedHosts(listen.host, listen.port)));
  // Bodies are read before the session's role is known (the CSRF field of a form): cap them, or
  // any logged-in viewer could make the daemon buffer gigabytes.
  app.use(
    "*",
    bodyLimit({
      maxSize: MAX_BODY_BYTES,
      onError: (c) => c.json({ error: `request body over ${MAX_BODY_BYTES} bytes` }, 413),
    }),
  );
  app.get("/static/:file", (c) => {
    const asset = [deps.assets.script, deps.assets.style].find((a) => a.path === c.req.path);
    if (!asset) return c.text("not found\n", 404);
    return c.body(asset.body, 200, {
      "content-type": asset.contentType,
      "cache-control": "public, max-age=31536000, immutable",
    });
  });
  app.use("*", requireSession(deps));
  authRoutes(app, deps);
  app.get("/metrics", async (c) => {
    const caller = c.var.caller ?? { role: "viewer", channel: "ui", who: "ui metrics bearer" };
    return c.text(renderMetrics(await deps.api.status(caller)), 200, {
      "content-type": "text/plain; version=0.0.4; charset=utf-8",
    });
  });
  liveRoutes(app, deps);
  apiRoutes(app, deps);
  pageRoutes(app, deps);
  app.notFound((c) =>
    c.req.path.startsWith("/api/") ? c.json({ error: "no such endpoint" }, 404) : c.text(
      "404 not found\n",
      404,
    )
  );
  app.onError((err, c) => {
    console.error(`hashwall ui: ${c.req.method} ${c.req.path}: ${err.stack ?? err}`);
    return c.json({ error: "internal error; see the daemon log" }, 500);
  });
  return app;
}

/** Starts the UI on loopback (see module doc). */
export async function createUiServer(
  api: HashwallApi,
  opts: UiServerOptions,
): Promise<UiServer> {
  const address = loopbackAddress(opts.host);
  if (!Number.isInteger(opts.port) || opts.port < 0 || opts.port > 65535) {
    throw new Error(`ui port must be an integer 0..65535, got ${opts.port}`);
  }
  const tokens = await loadOrCreateTokens(opts.stateDir);
  const deps: UiDeps = {
    api,
    tokens,
    sessions: new SessionStore(),
    nonces: new UsedNonces(),
    assets: await loadAssets(),
    liveStreams: new Set(),
  };
  // The app needs the bound port (for the Host check), known only once the socket listens.
  const bound: { app?: Hono<UiEnv> } = {};
  const server = Deno.serve(
    { hostname: address, port: opts.port, onListen: () => {} },
    (req, info) => bound.app!.fetch(req, { remoteAddr: info.remoteAddr }),
  );
  const port = (server.addr as Deno.NetAddr).port;
  bound.app = buildUiApp(deps, { host: address, port });
  const url = address === "::1" ? `http://[::1]:${port}` : `http://${address}:${port}`;
  await writeListenInfo(opts.stateDir, { url, pid: Deno.pid, startedAt: Date.now() });

  let closed: Promise<void> | undefined;
  const close = () => {
    closed ??= (async () => {
      for (const stop of [...deps.liveStreams]) stop();
      // Graceful: the ended live streams finish their last chunk, so clients see a clean end.
      await server.shutdown();
      await removeListenInfo(opts.stateDir, Deno.pid);
    })();
    return closed;
  };
  opts.signal?.addEventListener("abort", () => void close(), { once: true });
  return { url, close };
}
