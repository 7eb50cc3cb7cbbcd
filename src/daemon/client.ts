/**
 * The CLI side of the control socket: one request, one answer ({@link callDaemon}), or a stream
 * of live messages ({@link streamDaemon}). Uses only `Deno.connect`, no FFI, so it runs as an
 * unprivileged user and bundles into a single file.
 *
 * @module
 */
import { controlSocketPath } from "./socket_path.ts";
import { reachProblem } from "./reach.ts";

/** Why a call failed: the server's codes plus `not_running` and `protocol` (a garbled answer). */
export type DaemonErrorCode =
  | "forbidden"
  | "bad_request"
  | "not_found"
  | "error"
  | "not_running"
  | "protocol"
  | "timeout";

/** A failed control-socket call. */
export class DaemonError extends Error {
  override name = "DaemonError";
  constructor(readonly code: DaemonErrorCode, message: string) {
    super(message);
  }
}

/** Options of {@link callDaemon} and {@link streamDaemon}. */
export interface CallOptions {
  /** Use this socket instead of the one derived from the state folder. */
  socketPath?: string;
  /** Give up after this long (default 60 s for a call; none for a stream). */
  timeoutMs?: number;
  /** Stop a stream (or call) early. */
  signal?: AbortSignal;
}

const KNOWN_CODES = new Set(["forbidden", "bad_request", "not_found", "error"]);

/** How long a connect keeps retrying while the daemon's listen backlog is full (EAGAIN). */
const BACKLOG_RETRY_MS = 5000;

async function connect(path: string): Promise<Deno.UnixConn> {
  const until = Date.now() + BACKLOG_RETRY_MS;
  for (let wait = 5;; wait = Math.min(wait * 2, 200)) {
    try {
      return await Deno.connect({ transport: "unix", path });
    } catch (e) {
      // A Unix socket refuses at once with EAGAIN when its backlog is full (a burst of callers):
      // the daemon is there and busy, so wait a little before giving up.
      if (!(e instanceof Deno.errors.WouldBlock) || Date.now() >= until) {
        throw connectError(e, path);
      }
      await new Promise((r) => setTimeout(r, wait));
    }
  }
}

function connectError(e: unknown, path: string): DaemonError {
  if (e instanceof Deno.errors.NotFound) {
    return new DaemonError("not_running", `daemon not running (no socket at ${path})`);
  }
  if (e instanceof Deno.errors.ConnectionRefused) {
    return new DaemonError("not_running", `daemon not running (stale socket at ${path})`);
  }
  if (e instanceof Deno.errors.PermissionDenied) {
    return new DaemonError("forbidden", reachProblem(path));
  }
  return new DaemonError("error", `cannot connect to ${path}: ${(e as Error).message}`);
}

/** Reads newline-delimited JSON messages from `conn` and hands each to `onMessage`. */
async function readMessages(
  conn: Deno.UnixConn,
  onMessage: (m: Record<string, unknown>) => boolean | void,
): Promise<void> {
  const decoder = new TextDecoder();
  let buf = "";
  const chunk = new Uint8Array(64 * 1024);
  for (;;) {
    let n: number | null;
    try {
      n = await conn.read(chunk);
    } catch (e) {
      // The server may answer and close before reading everything we sent (refusal, oversize):
      // what already arrived was handled; a reset after that is just the end.
      if (
        e instanceof Deno.errors.ConnectionReset || e instanceof Deno.errors.BadResource ||
        e instanceof Deno.errors.Interrupted
      ) {
        n = null;
      } else {
        throw e;
      }
    }
    if (n === null) {
      if (buf.trim() !== "") throw new DaemonError("protocol", "daemon closed mid-message");
      return;
    }
    buf += decoder.decode(chunk.subarray(0, n), { stream: true });
    let nl: number;
    while ((nl = buf.indexOf("\n")) !== -1) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (line.trim() === "") continue;
      let msg: unknown;
      try {
        msg = JSON.parse(line);
      } catch {
        throw new DaemonError(
          "protocol",
          `daemon sent a line that is not JSON: ${line.slice(0, 80)}`,
        );
      }
      if (typeof msg !== "object" || msg === null) {
        throw new DaemonError("protocol", "daemon sent a message that is not an object");
      }
      if (onMessage(msg as Record<string, unknown>) === false) return;
    }
  }
}

function toError(msg: Record<string, unknown>): DaemonError {
  const code = typeof msg.code === "string" && KNOWN_CODES.has(msg.code)
    ? msg.code as DaemonErrorCode
    : "error";
  return new DaemonError(code, typeof msg.error === "string" ? msg.error : "request failed");
}

async function writeAll(conn: Deno.UnixConn, bytes: Uint8Array): Promise<void> {
  let off = 0;
  while (off < bytes.length) {
    try {
      off += await conn.write(bytes.subarray(off));
    } catch {
      // The server closed early (refusal); its answer, if any, is still readable.
      return;
    }
  }
}

/** Runs `fn` with the connection, closing it on every path and honouring timeout/abort. */
async function withConn<T>(
  path: string,
  opts: CallOptions,
  defaultTimeout: number | undefined,
  fn: (conn: Deno.UnixConn) => Promise<T>,
): Promise<T> {
  const conn = await connect(path);
  let closed = false;
  const closeOnce = () => {
    if (closed) return;
    closed = true;
    try {
      conn.close();
    } catch { /* already closed */ }
  };
  let timedOut = false;
  const timeoutMs = opts.timeoutMs ?? defaultTimeout;
  const timer = timeoutMs === undefined ? undefined : setTimeout(() => {
    timedOut = true;
    closeOnce();
  }, timeoutMs);
  const onAbort = () => closeOnce();
  opts.signal?.addEventListener("abort", onAbort);
  try {
    return await fn(conn);
  } catch (e) {
    if (timedOut) {
      throw new DaemonError("timeout", `no answer from the daemon within ${timeoutMs} ms`);
    }
    if (opts.signal?.aborted && e instanceof Deno.errors.BadResource) return undefined as T;
    throw e;
  } finally {
    clearTimeout(timer);
    opts.signal?.removeEventListener("abort", onAbort);
    closeOnce();
  }
}

/**
 * Writes one request line. A server that refuses the connection (role, too many connections)
 * answers and closes before it reads, so the write can fail with a broken pipe while the reason
 * waits in our receive buffer: such a failure is left to the read that follows, which reports
 * the server's answer (or "closed without answering").
 */
async function sendRequest(conn: Deno.UnixConn, req: Record<string, unknown>): Promise<void> {
  try {
    await writeAll(conn, new TextEncoder().encode(JSON.stringify(req) + "\n"));
  } catch (e) {
    if (!(e instanceof Deno.errors.BrokenPipe || e instanceof Deno.errors.ConnectionReset)) throw e;
  }
}

/**
 * Sends one request to the daemon of `stateDir` and returns its `result`. Throws a
 * {@link DaemonError}: code `not_running` with "daemon not running (no socket at …)" when there is
 * no daemon, or the server's code (`forbidden`, `bad_request`, `not_found`, `error`).
 *
 * @example
 * ```ts
 * const status = await callDaemon("/var/lib/hashwall", "status");
 * await callDaemon(stateDir, "mode", { mode: "enforcing" });
 * ```
 */
export async function callDaemon(
  stateDir: string,
  op: string,
  args: Record<string, unknown> = {},
  opts: CallOptions = {},
): Promise<unknown> {
  const path = opts.socketPath ?? controlSocketPath(stateDir);
  const id = 1;
  return await withConn(path, opts, 60_000, async (conn) => {
    await sendRequest(conn, { id, op, args });
    let reply: Record<string, unknown> | undefined;
    await readMessages(conn, (m) => {
      // id null: the server answered before reading our request (refusal, oversize).
      if (m.id !== id && m.id !== null) return true;
      reply = m;
      return false;
    });
    if (!reply) throw new DaemonError("protocol", "daemon closed the connection without answering");
    if (reply.ok !== true) throw toError(reply);
    return reply.result;
  });
}

/**
 * Sends a streaming request (`subscribe`) and calls `onMessage` with each streamed `event` until
 * the daemon closes, `opts.signal` aborts, or `onMessage` returns false. Rejects with a
 * {@link DaemonError} when the daemon refuses the request.
 *
 * @example
 * ```ts
 * const ac = new AbortController();
 * await streamDaemon(stateDir, "subscribe", {}, (m) => console.log(m), { signal: ac.signal });
 * ```
 */
export async function streamDaemon(
  stateDir: string,
  op: string,
  args: Record<string, unknown>,
  onMessage: (message: unknown) => boolean | void,
  opts: CallOptions = {},
): Promise<void> {
  const path = opts.socketPath ?? controlSocketPath(stateDir);
  const id = 1;
  await withConn(path, opts, undefined, async (conn) => {
    await sendRequest(conn, { id, op, args });
    let failure: DaemonError | undefined;
    let accepted = false;
    await readMessages(conn, (m) => {
      if (m.id !== id && m.id !== null) return true;
      if ("event" in m) return onMessage(m.event);
      if (m.ok !== true) {
        failure = toError(m);
        return false;
      }
      accepted = true;
      return true;
    });
    if (failure) throw failure;
    if (!accepted && !opts.signal?.aborted) {
      throw new DaemonError("protocol", "daemon closed the stream without accepting it");
    }
  });
}
