/**
 * `GET /api/live`: the daemon's live messages as Server-Sent Events, one JSON message per
 * `data:` frame, with a comment keep-alive so idle proxies and browsers keep the stream open.
 *
 * @module
 */
import type { Hono } from "hono";
import type { UiDeps, UiEnv } from "../ui_env.ts";

/** Keep-alive interval, ms. */
const KEEPALIVE_MS = 15_000;

/** Registers the live stream route. */
export function liveRoutes(app: Hono<UiEnv>, deps: UiDeps): void {
  app.get("/api/live", (c) => {
    const caller = c.var.caller;
    const enc = new TextEncoder();
    let stop = () => {};
    const body = new ReadableStream<Uint8Array>({
      start(ctrl) {
        let open = true;
        const send = (s: string) => {
          if (!open) return;
          try {
            ctrl.enqueue(enc.encode(s));
          } catch {
            stop();
          }
        };
        const unsubscribe = deps.api.subscribe(
          caller,
          (m) => send(`data: ${JSON.stringify(m)}\n\n`),
        );
        const timer = setInterval(() => send(": keep-alive\n\n"), KEEPALIVE_MS);
        stop = () => {
          if (!open) return;
          open = false;
          clearInterval(timer);
          unsubscribe();
          deps.liveStreams.delete(stop);
          try {
            ctrl.close();
          } catch {
            // already closed by the client
          }
        };
        deps.liveStreams.add(stop);
        send("retry: 3000\n: connected\n\n");
      },
      cancel() {
        stop();
      },
    });
    return new Response(body, {
      headers: { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-store" },
    });
  });
}
