/**
 * The control socket server: a Unix stream socket speaking newline-delimited JSON, where the
 * kernel-reported peer credentials (SO_PEERCRED) decide the role — root is admin, members of group
 * `hashwall` are viewers, everyone else is refused.
 *
 * The socket is driven over libc FFI with non-blocking fds. One loop waits in poll(2) on a worker
 * thread (so the daemon's event loop never blocks); reads, writes, accepts and closes happen only
 * on the main thread, and an eventfd wakes the poller when there is new output or a connection to
 * close. Fds are closed only between polls, so the poller never sees a recycled fd.
 *
 * Protocol: request `{"id":1,"op":"status","args":{}}` → `{"id":1,"ok":true,"result":…}` or
 * `{"id":1,"ok":false,"error":"…","code":"forbidden"|"bad_request"|"not_found"|"error"}`.
 * `subscribe` answers once, then streams `{"id":1,"event":<LiveMessage>}` lines until the client
 * closes.
 *
 * @module
 */
import { dirname } from "node:path";
import {
  type Caller,
  ForbiddenError,
  type HashwallApi,
  type LiveMessage,
  type Role,
} from "../api/types.ts";
import { CONTROL_OPS, OP_NAMES } from "./control_ops.ts";
import { RequestError } from "../api/requests.ts";
import { resolvePeerRole, VIEWER_GROUP } from "./peercred.ts";
import { type GroupEntry, lookupGroup } from "../base/users.ts";
import {
  acceptConn,
  drainEventFd,
  Errno,
  listenUnix,
  makeEventFd,
  peerCred,
  Poll,
  PollSet,
  pollWait,
  probeUnix,
  readFd,
  sendFd,
  signalEventFd,
} from "../../ffi/socket.ts";
import { closeFd, errnoText } from "../../ffi/libc.ts";

import { RUNTIME_DIR } from "./socket_path.ts";
export { controlSocketPath, RUNTIME_CONTROL_SOCKET, RUNTIME_DIR } from "./socket_path.ts";

/** Error codes of the protocol. */
export type ErrorCode = "forbidden" | "bad_request" | "not_found" | "error";

/** Limits and knobs of the server. */
export interface ControlServerOptions {
  /** Connections served at once; more wait in the listen backlog (default 64). */
  maxConnections?: number;
  /**
   * Connections one non-root uid may hold at once (default 16). Without it, one local viewer
   * holding `events --follow` connections could take every slot.
   */
  maxPerUid?: number;
  /** Slots only root may take (default 8): the admin can always get in to fix things. */
  reservedForRoot?: number;
  /** Largest request line in bytes; larger → `bad_request` and close (default 1 MiB). */
  maxRequestBytes?: number;
  /** Close a connection with no request in flight after this long without traffic (default 60 s). */
  idleTimeoutMs?: number;
  /** Requests one connection may have in flight before its input is left unread (default 8). */
  maxInFlight?: number;
  /** Unsent output one connection may pile up before it is dropped (default 64 MiB). */
  maxOutputBytes?: number;
  /** Group whose members get read-only access (default "hashwall"). */
  viewerGroup?: string;
  /**
   * Records writes refused here because the caller is a viewer (they never reach the API, which
   * audits the writes it runs). The daemon passes the store's `audit`.
   */
  audit?: (caller: Caller, action: string, detail: unknown, ok: boolean, error?: string) => void;
  /** Where to report unexpected server trouble (default: console.error). */
  log?: (msg: string) => void;
}

/** A running control server. */
export interface ControlServer {
  /** Path of the socket file. */
  readonly path: string;
  /** Connections currently open. */
  connections(): number;
  /** Stops accepting, closes every connection and removes the socket file. */
  close(): Promise<void>;
}

const SCRATCH = new Uint8Array(64 * 1024);
const NEWLINE = 0x0a;
/** A subscriber whose unsent output passes this is dropped rather than buffered without bound. */
const SUBSCRIBER_BACKLOG = 4 * 1024 * 1024;
/** A full server may close a peer idle this long to admit a waiting caller. */
const EVICT_IDLE_MS = 1000;
/** Bytes read from one connection per poll round, so one busy peer cannot starve the others. */
const READ_BUDGET = 1024 * 1024;

class Conn {
  readonly fd: number;
  readonly caller: Caller | undefined;
  inChunks: Uint8Array[] = [];
  inLen = 0;
  out: Uint8Array[] = [];
  outOff = 0;
  outLen = 0;
  inFlight = 0;
  /** The peer sent EOF: answer what is in flight, then close. */
  eof = false;
  /** No more input is read; close once output is flushed. */
  closeAfterFlush = false;
  dead = false;
  lastActive = Date.now();
  subs = new Map<unknown, () => void>();

  constructor(fd: number, caller: Caller | undefined) {
    this.fd = fd;
    this.caller = caller;
  }
}

function errorCode(e: unknown): ErrorCode {
  if (e instanceof ForbiddenError) return "forbidden";
  if (e instanceof RequestError) return "bad_request";
  const name = e instanceof Error ? e.name : "";
  if (name === "StoreInputError" || name === "UsageError") return "bad_request";
  if (name === "NotFoundError" || (e as { code?: unknown })?.code === "not_found") {
    return "not_found";
  }
  return "error";
}

function concat(chunks: Uint8Array[], len: number): Uint8Array {
  if (chunks.length === 1) return chunks[0];
  const out = new Uint8Array(len);
  let o = 0;
  for (const c of chunks) {
    out.set(c, o);
    o += c.length;
  }
  return out;
}

/**
 * Makes sure `dir` is a folder of ours (root's, not a symlink, writable by nobody else), so no one
 * else can place or swap the socket. Fixes its mode to `mode`, group to `gid` when given.
 */
function ownFolder(dir: string, mode: number, gid?: number): void {
  try {
    Deno.mkdirSync(dir, { mode });
  } catch (e) {
    if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
  }
  const info = Deno.lstatSync(dir);
  if (!info.isDirectory) throw new Error(`refusing to use ${dir}: not a folder (or a symlink)`);
  if (info.uid !== Deno.uid()) {
    throw new Error(`refusing to use ${dir}: owned by uid ${info.uid}, not by this daemon`);
  }
  if (gid !== undefined && info.gid !== gid) Deno.chownSync(dir, null, gid);
  if ((info.mode! & 0o7777) !== mode) Deno.chmodSync(dir, mode);
}

/**
 * Creates the socket's folder. Under /run/hashwall: the folder itself 0755 (the default
 * instance's socket lives there), an instance folder `/run/hashwall/<instance>` 0750 with group
 * `hashwall`, so viewers (and only they) can reach the socket inside. Elsewhere (tests with an
 * explicit path): created 0755 if missing.
 */
function prepareSocketFolder(dir: string, group: GroupEntry | undefined): void {
  if (dir === RUNTIME_DIR) {
    ownFolder(RUNTIME_DIR, 0o755);
  } else if (dirname(dir) === RUNTIME_DIR) {
    ownFolder(RUNTIME_DIR, 0o755);
    ownFolder(dir, 0o750, group?.gid);
  } else {
    Deno.mkdirSync(dir, { recursive: true, mode: 0o755 });
  }
}

/**
 * Prepares the socket file: creates the folder, refuses to run beside a live daemon, removes a
 * stale socket, and never replaces something that is not a socket.
 */
function prepareSocketPath(path: string, group: GroupEntry | undefined): void {
  prepareSocketFolder(dirname(path), group);
  let info: Deno.FileInfo | undefined;
  try {
    info = Deno.lstatSync(path);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  if (!info) return;
  if (!info.isSocket) {
    throw new Error(`refusing to replace ${path}: it exists and is not a socket`);
  }
  const r = probeUnix(path);
  if (r === 0 || r === -Errno.EAGAIN) {
    throw new Error(`another hashwall daemon is already listening on ${path}`);
  }
  Deno.removeSync(path);
}

/**
 * Starts serving `api` on the Unix socket `socketPath` (mode 0660 with group `hashwall` when that
 * group exists, else 0600).
 *
 * @example
 * ```ts
 * const server = startControlServer(api, controlSocketPath(stateDir));
 * // … on shutdown:
 * await server.close();
 * ```
 */
export function startControlServer(
  api: HashwallApi,
  socketPath: string,
  opts: ControlServerOptions = {},
): ControlServer {
  return new Server(api, socketPath, opts);
}

class Server implements ControlServer {
  readonly path: string;
  readonly #api: HashwallApi;
  readonly #max: number;
  readonly #maxPerUid: number;
  readonly #reserved: number;
  readonly #maxReq: number;
  readonly #idleMs: number;
  readonly #maxInFlight: number;
  readonly #maxOut: number;
  readonly #group: string;
  readonly #log: (msg: string) => void;
  readonly #audit: ControlServerOptions["audit"];
  readonly #listenFd: number;
  readonly #eventFd: number;
  readonly #conns = new Set<Conn>();
  readonly #decoder = new TextDecoder("utf-8", { fatal: true });
  readonly #encoder = new TextEncoder();
  #closing = false;
  /** The loop has exited and the eventfd is closed (its number may already be reused). */
  #stopped = false;
  #woken = false;
  #acceptPausedUntil = 0;
  readonly #done: Promise<void>;

  constructor(api: HashwallApi, path: string, opts: ControlServerOptions) {
    this.#api = api;
    this.path = path;
    this.#max = opts.maxConnections ?? 64;
    this.#maxPerUid = opts.maxPerUid ?? 16;
    this.#reserved = opts.reservedForRoot ?? Math.min(8, this.#max - 1);
    this.#maxReq = opts.maxRequestBytes ?? 1024 * 1024;
    this.#idleMs = opts.idleTimeoutMs ?? 60_000;
    this.#maxInFlight = opts.maxInFlight ?? 8;
    this.#maxOut = opts.maxOutputBytes ?? 64 * 1024 * 1024;
    this.#group = opts.viewerGroup ?? VIEWER_GROUP;
    this.#audit = opts.audit;
    this.#log = opts.log ?? ((m) => console.error(`control socket: ${m}`));
    for (
      const [k, v] of Object.entries({
        maxConnections: this.#max,
        maxRequestBytes: this.#maxReq,
        idleTimeoutMs: this.#idleMs,
        maxInFlight: this.#maxInFlight,
        maxOutputBytes: this.#maxOut,
        maxPerUid: this.#maxPerUid,
      })
    ) {
      if (!Number.isInteger(v) || v < 1) {
        throw new Error(`control server option ${k} must be an integer ≥ 1 (got ${v})`);
      }
    }
    if (!Number.isInteger(this.#reserved) || this.#reserved < 0 || this.#reserved >= this.#max) {
      throw new Error(
        `control server option reservedForRoot must be an integer in 0..${this.#max - 1} ` +
          `(got ${this.#reserved})`,
      );
    }

    const group = lookupGroup(this.#group);
    prepareSocketPath(path, group);
    const mode = group ? 0o660 : 0o600;
    this.#listenFd = listenUnix(path, mode);
    try {
      if (group) Deno.chownSync(path, null, group.gid);
      Deno.chmodSync(path, mode);
      this.#eventFd = makeEventFd();
    } catch (e) {
      closeFd(this.#listenFd);
      try {
        Deno.removeSync(path);
      } catch { /* best effort */ }
      throw e;
    }
    this.#done = this.#loop();
  }

  connections(): number {
    return this.#conns.size;
  }

  async close(): Promise<void> {
    this.#closing = true;
    this.#wake();
    await this.#done;
  }

  #wake(): void {
    if (this.#woken || this.#stopped) return;
    this.#woken = true;
    signalEventFd(this.#eventFd);
  }

  async #loop(): Promise<void> {
    const set = new PollSet();
    const polled: Conn[] = [];
    try {
      while (!this.#closing) {
        set.reset(this.#conns.size + 2);
        polled.length = 0;
        set.add(this.#eventFd, Poll.IN);
        const now = Date.now();
        // When full, still watch the listener while some peer sits idle, so a waiting caller
        // can take an idle peer's place instead of waiting out the idle timeout behind it.
        const accepting = now >= this.#acceptPausedUntil &&
          (this.#conns.size < this.#max || this.#longestIdle(now) !== undefined);
        if (accepting) set.add(this.#listenFd, Poll.IN);
        for (const c of this.#conns) {
          let events = 0;
          if (!c.eof && !c.closeAfterFlush && c.inFlight < this.#maxInFlight) events |= Poll.IN;
          if (c.outLen > 0) events |= Poll.OUT;
          set.add(c.fd, events);
          polled.push(c);
        }
        const timeout = Math.min(1000, this.#idleMs, accepting ? 1000 : 100);
        const n = await pollWait(set, timeout);
        if (this.#closing) break;
        if (n > 0) {
          if (set.revents(0) & Poll.IN) {
            drainEventFd(this.#eventFd);
          }
          this.#woken = false;
          let idx = 1;
          if (accepting) {
            if (set.revents(idx) & Poll.IN) {
              // Full: make room by closing the longest-idle peer (never one with work in flight).
              const victim = this.#conns.size >= this.#max
                ? this.#longestIdle(Date.now())
                : undefined;
              if (victim) this.#kill(victim);
              this.#sweep(Date.now());
              this.#acceptAll();
            }
            idx++;
          }
          for (const c of polled) {
            const re = set.revents(idx++);
            if (re === 0 || c.dead) continue;
            try {
              if (re & Poll.IN) this.#readFrom(c);
              if (!c.dead && (re & Poll.OUT)) this.#flush(c);
              if (re & (Poll.ERR | Poll.HUP | Poll.NVAL)) this.#kill(c);
            } catch (e) {
              // A bug met by one connection costs that connection, not the server.
              this.#log(`${c.caller?.who ?? "peer"}: ${e instanceof Error ? e.stack : e}`);
              this.#kill(c);
            }
          }
        } else {
          this.#woken = false;
        }
        this.#sweep(Date.now());
      }
    } catch (e) {
      this.#log(`server loop failed: ${e instanceof Error ? e.stack : e}`);
    } finally {
      for (const c of this.#conns) {
        this.#kill(c);
        closeFd(c.fd);
      }
      this.#conns.clear();
      this.#stopped = true;
      closeFd(this.#listenFd);
      closeFd(this.#eventFd);
      try {
        Deno.removeSync(this.path);
      } catch { /* already gone */ }
      // An instance's own folder under /run/hashwall goes with its socket (if empty).
      if (dirname(dirname(this.path)) === RUNTIME_DIR) {
        try {
          Deno.removeSync(dirname(this.path));
        } catch { /* not empty, or gone */ }
      }
    }
  }

  /**
   * The connection idle longest for at least {@link EVICT_IDLE_MS} with nothing in flight, no
   * subscription and no unsent output: the one a new caller may replace when the server is full
   * (otherwise 64 peers that connect and say nothing lock everyone out for the idle timeout).
   */
  #longestIdle(now: number): Conn | undefined {
    let best: Conn | undefined;
    for (const c of this.#conns) {
      if (c.dead || c.inFlight > 0 || c.subs.size > 0 || c.outLen > 0) continue;
      if (now - c.lastActive < EVICT_IDLE_MS) continue;
      if (!best || c.lastActive < best.lastActive) best = c;
    }
    return best;
  }

  /** Closes dead connections and those idle too long. Runs only between polls. */
  #sweep(now: number): void {
    for (const c of this.#conns) {
      if (
        !c.dead && c.inFlight === 0 && c.subs.size === 0 && c.outLen === 0 &&
        now - c.lastActive > this.#idleMs
      ) {
        this.#kill(c);
      }
      if (c.dead) {
        closeFd(c.fd);
        this.#conns.delete(c);
      }
    }
  }

  #acceptAll(): void {
    while (this.#conns.size < this.#max) {
      const fd = acceptConn(this.#listenFd);
      if (fd < 0) {
        if (fd === -Errno.EAGAIN) return;
        if (fd === -Errno.EINTR) continue;
        if (fd === -Errno.EMFILE || fd === -Errno.ENFILE) {
          // Out of fds: stop accepting for a moment instead of spinning on a readable listener.
          this.#log(`accept failed: ${errnoText(fd)}; pausing accepts for 200 ms`);
          this.#acceptPausedUntil = Date.now() + 200;
          return;
        }
        continue; // ECONNABORTED and friends: that peer is gone, the next one may be fine.
      }
      this.#admit(fd);
    }
  }

  #admit(fd: number): void {
    const cred = peerCred(fd);
    if (typeof cred === "number") {
      const c = new Conn(fd, undefined);
      this.#conns.add(c);
      this.#refuse(c, `access refused: cannot read peer credentials (${errnoText(cred)})`);
      return;
    }
    const r = resolvePeerRole(cred, this.#group);
    if (!r.ok) {
      const c = new Conn(fd, undefined);
      this.#conns.add(c);
      this.#refuse(c, r.reason);
      return;
    }
    const caller: Caller = {
      role: r.role as Role,
      channel: "cli",
      uid: cred.uid,
      pid: cred.pid,
      who: r.who,
    };
    const busy = cred.uid === 0 ? undefined : this.#overLimit(cred.uid, r.who);
    const c = new Conn(fd, caller);
    this.#conns.add(c);
    if (busy) this.#refuse(c, busy);
  }

  /** Why a new connection of non-root `uid` is refused, or undefined when it may stay. */
  #overLimit(uid: number, who: string): string | undefined {
    let mine = 0;
    let nonRoot = 0;
    for (const c of this.#conns) {
      if (c.dead || !c.caller || c.caller.uid === 0) continue;
      nonRoot++;
      if (c.caller.uid === uid) mine++;
    }
    if (mine >= this.#maxPerUid) {
      return `too many connections: uid ${uid} (${who}) already holds ${mine} (limit ` +
        `${this.#maxPerUid}); close some (e.g. \`events --follow\`)`;
    }
    if (nonRoot >= this.#max - this.#reserved) {
      return `the control socket is busy: the last ${this.#reserved} of ${this.#max} ` +
        `connections are kept for root; try again later`;
    }
    return undefined;
  }

  #refuse(c: Conn, reason: string): void {
    this.#send(c, { id: null, ok: false, error: reason, code: "forbidden" });
    c.closeAfterFlush = true;
    if (c.outLen === 0) this.#kill(c);
  }

  #readFrom(c: Conn): void {
    let budget = READ_BUDGET;
    while (budget > 0 && !c.dead && !c.eof && !c.closeAfterFlush) {
      const n = readFd(c.fd, SCRATCH);
      if (n < 0) {
        if (n === -Errno.EAGAIN) return;
        if (n === -Errno.EINTR) continue;
        this.#kill(c);
        return;
      }
      if (n === 0) {
        this.#onEof(c);
        return;
      }
      budget -= n;
      c.lastActive = Date.now();
      this.#consume(c, SCRATCH.subarray(0, n));
      if (c.inFlight >= this.#maxInFlight) return;
    }
  }

  #onEof(c: Conn): void {
    c.eof = true;
    // A subscriber that hangs up is done; a client that half-closed after its request still
    // gets its answers.
    if (c.subs.size > 0) this.#kill(c);
    else this.#maybeFinish(c);
  }

  /** Splits input into lines; a partial line waits for the next read. */
  #consume(c: Conn, data: Uint8Array): void {
    let start = 0;
    while (start < data.length && !c.closeAfterFlush) {
      const nl = data.indexOf(NEWLINE, start);
      const end = nl === -1 ? data.length : nl;
      if (c.inLen + (end - start) > this.#maxReq) {
        c.inChunks = [];
        c.inLen = 0;
        this.#send(c, {
          id: null,
          ok: false,
          code: "bad_request",
          error: `request larger than ${this.#maxReq} bytes; closing the connection`,
        });
        c.closeAfterFlush = true;
        this.#maybeFinish(c);
        return;
      }
      if (nl === -1) {
        // Copy: SCRATCH is reused by the next read.
        c.inChunks.push(data.slice(start));
        c.inLen += data.length - start;
        return;
      }
      c.inChunks.push(data.subarray(start, nl));
      const line = concat(c.inChunks, c.inLen + (nl - start));
      c.inChunks = [];
      c.inLen = 0;
      start = nl + 1;
      this.#handleLine(c, line);
    }
  }

  #handleLine(c: Conn, bytes: Uint8Array): void {
    let text: string;
    try {
      text = this.#decoder.decode(bytes);
    } catch {
      this.#send(c, { id: null, ok: false, code: "bad_request", error: "request is not UTF-8" });
      return;
    }
    if (text.trim() === "") return;
    let req: unknown;
    try {
      req = JSON.parse(text);
    } catch {
      this.#send(c, {
        id: null,
        ok: false,
        code: "bad_request",
        error: 'request is not valid JSON (expected {"id":1,"op":"status","args":{}})',
      });
      return;
    }
    if (typeof req !== "object" || req === null || Array.isArray(req)) {
      this.#send(c, {
        id: null,
        ok: false,
        code: "bad_request",
        error: "request must be an object",
      });
      return;
    }
    const r = req as { id?: unknown; op?: unknown; args?: unknown };
    const id = r.id ?? null;
    if (id !== null && typeof id !== "number" && typeof id !== "string") {
      this.#send(c, {
        id: null,
        ok: false,
        code: "bad_request",
        error: '"id" must be a number or string',
      });
      return;
    }
    const fail = (code: ErrorCode, error: string) => this.#send(c, { id, ok: false, code, error });
    if (typeof r.op !== "string") return fail("bad_request", `"op" must be a string`);
    const args = r.args ?? {};
    if (typeof args !== "object" || args === null || Array.isArray(args)) {
      return fail("bad_request", `"args" must be an object`);
    }
    const caller = c.caller!;
    if (r.op === "subscribe") return this.#subscribe(c, id, caller);
    const op = Object.hasOwn(CONTROL_OPS, r.op) ? CONTROL_OPS[r.op] : undefined;
    if (!op) {
      return fail("bad_request", `unknown op "${r.op}" (known: ${OP_NAMES.join(", ")})`);
    }
    if (op.write && caller.role !== "admin") {
      const error = `"${r.op}" changes state and needs root; ${caller.who} is read-only`;
      try {
        this.#audit?.(caller, r.op, args, false, error);
      } catch (e) {
        this.#log(`audit failed: ${e instanceof Error ? e.message : e}`);
      }
      return fail("forbidden", error);
    }
    c.inFlight++;
    this.#run(c, id, () => op.run(this.#api, caller, args as Record<string, unknown>));
  }

  async #run(c: Conn, id: unknown, work: () => Promise<unknown>): Promise<void> {
    let reply: Record<string, unknown>;
    try {
      // Inside the try: argument checks throw synchronously, before any promise exists.
      const result = await work();
      reply = { id, ok: true, result: result ?? null };
    } catch (e) {
      reply = {
        id,
        ok: false,
        code: errorCode(e),
        error: e instanceof Error ? e.message : String(e),
      };
    }
    c.inFlight--;
    if (c.dead) return;
    this.#send(c, reply);
    this.#maybeFinish(c);
    this.#wake(); // input may have been paused at the in-flight cap
  }

  #subscribe(c: Conn, id: unknown, caller: Caller): void {
    if (c.subs.has(id)) {
      this.#send(c, {
        id,
        ok: false,
        code: "bad_request",
        error: `already subscribed with id ${id}`,
      });
      return;
    }
    let unsub: () => void;
    try {
      unsub = this.#api.subscribe(caller, (m: LiveMessage) => {
        if (c.dead) return;
        if (c.outLen > SUBSCRIBER_BACKLOG) {
          // The reader does not keep up: drop it rather than buffer without bound.
          this.#kill(c);
          this.#wake();
          return;
        }
        this.#send(c, { id, event: m });
      });
    } catch (e) {
      this.#send(c, {
        id,
        ok: false,
        code: errorCode(e),
        error: e instanceof Error ? e.message : String(e),
      });
      return;
    }
    c.subs.set(id, unsub);
    this.#send(c, { id, ok: true, result: { subscribed: true } });
  }

  #send(c: Conn, msg: unknown): void {
    if (c.dead) return;
    let line: string;
    try {
      line = JSON.stringify(msg) + "\n";
    } catch (e) {
      const id = (msg as { id?: unknown }).id ?? null;
      line = JSON.stringify({
        id: typeof id === "number" || typeof id === "string" ? id : null,
        ok: false,
        code: "error",
        error: `reply could not be encoded: ${e instanceof Error ? e.message : e}`,
      }) + "\n";
    }
    const bytes = this.#encoder.encode(line);
    if (c.outLen + bytes.length > this.#maxOut) {
      this.#log(`${c.caller?.who ?? "peer"}: more than ${this.#maxOut} bytes unread; dropping it`);
      this.#kill(c);
      this.#wake();
      return;
    }
    c.out.push(bytes);
    c.outLen += bytes.length;
    this.#flush(c);
    if (c.outLen > 0) this.#wake(); // the poller must now wait for POLLOUT too
  }

  #flush(c: Conn): void {
    while (c.out.length > 0 && !c.dead) {
      const head = c.out[0];
      const n = sendFd(c.fd, c.outOff ? head.subarray(c.outOff) : head);
      if (n < 0) {
        if (n === -Errno.EAGAIN) return;
        if (n === -Errno.EINTR) continue;
        this.#kill(c); // EPIPE/ECONNRESET: the peer is gone
        return;
      }
      c.lastActive = Date.now();
      c.outLen -= n;
      c.outOff += n;
      if (c.outOff === head.length) {
        c.out.shift();
        c.outOff = 0;
      }
    }
    this.#maybeFinish(c);
  }

  #maybeFinish(c: Conn): void {
    if (c.dead || c.outLen > 0 || c.inFlight > 0) return;
    if (c.closeAfterFlush || (c.eof && c.subs.size === 0)) {
      this.#kill(c);
      this.#wake();
    }
  }

  /** Marks a connection dead; its fd is closed by the loop between polls. */
  #kill(c: Conn): void {
    if (c.dead) return;
    c.dead = true;
    c.out = [];
    c.outLen = 0;
    for (const unsub of c.subs.values()) {
      try {
        unsub();
      } catch { /* the API's problem, not the socket's */ }
    }
    c.subs.clear();
  }
}
