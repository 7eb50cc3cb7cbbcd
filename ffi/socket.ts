/**
 * libc socket calls over FFI for the control socket: Deno's own `Deno.listen({transport: "unix"})`
 * hides the file descriptor, so it cannot ask the kernel for the peer's credentials
 * (SO_PEERCRED). Every call returns a plain number; failures come back as `-errno` so callers never
 * have to read `errno` after an intervening allocation (see PLATFORM-FACTS: errno is clobbered
 * easily).
 *
 * All sockets made here are non-blocking; the only call that may wait is {@link pollWait}, which
 * runs on a worker thread (`nonblocking: true`) so the daemon's event loop never stalls.
 *
 * @module
 */

import { bindLibc, closeFd, errno, ErrnoError, libc } from "./libc.ts";

const lib = bindLibc(
  {
    socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
    bind: { parameters: ["i32", "buffer", "u32"], result: "i32" },
    listen: { parameters: ["i32", "i32"], result: "i32" },
    connect: { parameters: ["i32", "buffer", "u32"], result: "i32" },
    accept4: { parameters: ["i32", "pointer", "pointer", "i32"], result: "i32" },
    getsockopt: { parameters: ["i32", "i32", "i32", "buffer", "buffer"], result: "i32" },
    send: { parameters: ["i32", "buffer", "usize", "i32"], result: "isize" },
    write: { parameters: ["i32", "buffer", "usize"], result: "isize" },
    eventfd: { parameters: ["u32", "i32"], result: "i32" },
    umask: { parameters: ["u32"], result: "u32" },
    poll: { parameters: ["buffer", "u64", "i32"], result: "i32" },
    poll_wait: {
      name: "poll",
      parameters: ["buffer", "u64", "i32"],
      result: "i32",
      nonblocking: true,
    },
  } as const,
);

/** Turns a libc `-1 + errno` result into `-errno`. */
function check(r: number): number {
  return r < 0 ? -errno() : r;
}

/** Linux errno values the control socket reacts to. */
export const Errno = {
  EINTR: 4,
  EAGAIN: 11,
  EACCES: 13,
  ENOENT: 2,
  EMFILE: 24,
  ENFILE: 23,
  EPIPE: 32,
  ECONNREFUSED: 111,
  ECONNRESET: 104,
  EADDRINUSE: 98,
} as const;

/** poll(2) event bits. */
export const Poll = { IN: 0x1, OUT: 0x4, ERR: 0x8, HUP: 0x10, NVAL: 0x20 } as const;

const AF_UNIX = 1;
const SOCK_STREAM = 1;
const SOCK_NONBLOCK = 0o4000;
const SOCK_CLOEXEC = 0o2000000;
const SOL_SOCKET = 1;
const SO_PEERCRED = 17;
const MSG_NOSIGNAL = 0x4000;
const EFD_NONBLOCK = 0o4000;
const EFD_CLOEXEC = 0o2000000;
/** sizeof(sockaddr_un.sun_path): the path plus its NUL must fit. */
const SUN_PATH_MAX = 108;

/** Credentials of the process at the other end of a Unix socket, as the kernel recorded them. */
export interface PeerCred {
  pid: number;
  uid: number;
  gid: number;
}

/** Builds a `struct sockaddr_un` for `path`; throws when the path is too long for the kernel. */
function sockaddrUn(path: string): Uint8Array {
  const bytes = new TextEncoder().encode(path);
  if (bytes.length >= SUN_PATH_MAX) {
    throw new Error(
      `socket path ${path} is ${bytes.length} bytes; Unix sockets allow at most ${
        SUN_PATH_MAX - 1
      }`,
    );
  }
  const addr = new Uint8Array(2 + SUN_PATH_MAX);
  new DataView(addr.buffer).setUint16(0, AF_UNIX, true);
  addr.set(bytes, 2);
  return addr;
}

/**
 * Creates a non-blocking listening Unix stream socket at `path` (which must not exist).
 * `mode` is applied through the umask during bind, so the socket never exists with wider rights.
 * Returns the fd, or throws an Error naming the path and the reason.
 */
export function listenUnix(path: string, mode: number, backlog = 128): number {
  const c = lib();
  const addr = sockaddrUn(path);
  const fd = check(c.socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (fd < 0) throw new ErrnoError("socket(AF_UNIX)", -fd);
  const old = c.umask(~mode & 0o777);
  const b = check(c.bind(fd, addr, addr.length));
  c.umask(old);
  if (b < 0) {
    closeFd(fd);
    throw new ErrnoError(`cannot bind control socket ${path}`, -b);
  }
  const l = check(c.listen(fd, backlog));
  if (l < 0) {
    closeFd(fd);
    throw new ErrnoError(`cannot listen on control socket ${path}`, -l);
  }
  return fd;
}

/**
 * Tries a non-blocking connect to `path` and closes right away. Returns 0 when something listens,
 * else `-errno` (ECONNREFUSED for a stale socket file, ENOENT when absent, EAGAIN when a listener
 * exists but its backlog is full).
 */
export function probeUnix(path: string): number {
  const c = lib();
  const addr = sockaddrUn(path);
  const fd = check(c.socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (fd < 0) return fd;
  const r = check(c.connect(fd, addr, addr.length));
  closeFd(fd);
  return r < 0 ? r : 0;
}

/** accept4 with SOCK_NONBLOCK|SOCK_CLOEXEC. Returns the new fd or `-errno`. */
export function acceptConn(listenFd: number): number {
  return check(lib().accept4(listenFd, null, null, SOCK_NONBLOCK | SOCK_CLOEXEC));
}

/** The kernel's SO_PEERCRED record for a connected Unix socket, or `-errno`. */
export function peerCred(fd: number): PeerCred | number {
  const buf = new Uint8Array(12);
  const len = new Uint8Array(4);
  new DataView(len.buffer).setUint32(0, 12, true);
  const r = check(lib().getsockopt(fd, SOL_SOCKET, SO_PEERCRED, buf, len));
  if (r < 0) return r;
  const v = new DataView(buf.buffer);
  return { pid: v.getInt32(0, true), uid: v.getUint32(4, true), gid: v.getUint32(8, true) };
}

/** Reads into `buf`. Returns bytes read (0 = peer closed) or `-errno`. */
export function readFd(fd: number, buf: Uint8Array): number {
  return check(Number(libc().read(fd, buf, BigInt(buf.length))));
}

/** Sends without raising SIGPIPE on a closed peer. Returns bytes sent or `-errno`. */
export function sendFd(fd: number, buf: Uint8Array): number {
  return check(Number(lib().send(fd, buf, BigInt(buf.length), MSG_NOSIGNAL)));
}

/** A non-blocking eventfd used to wake a thread blocked in {@link pollWait}. */
export function makeEventFd(): number {
  const fd = check(lib().eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (fd < 0) throw new ErrnoError("eventfd", -fd);
  return fd;
}

const ONE = new Uint8Array(new BigUint64Array([1n]).buffer);

/** Wakes a poller on `eventFd`. */
export function signalEventFd(eventFd: number): void {
  lib().write(eventFd, ONE, 8n);
}

/** Resets `eventFd` after it woke a poller. */
export function drainEventFd(eventFd: number): void {
  const buf = new Uint8Array(8);
  libc().read(eventFd, buf, 8n);
}

/** A `struct pollfd[]` in one buffer. */
export class PollSet {
  /** Raw pollfd array (8 bytes per entry). */
  buf: Uint8Array = new Uint8Array(0);
  #view = new DataView(this.buf.buffer);
  /** Number of entries in use. */
  count = 0;

  /** Empties the set, keeping room for `capacity` entries. */
  reset(capacity: number): void {
    if (this.buf.length < capacity * 8) {
      this.buf = new Uint8Array(capacity * 8);
      this.#view = new DataView(this.buf.buffer);
    }
    this.count = 0;
  }

  /** Appends `fd` with the `events` mask; returns its index. */
  add(fd: number, events: number): number {
    const i = this.count++;
    this.#view.setInt32(i * 8, fd, true);
    this.#view.setInt16(i * 8 + 4, events, true);
    this.#view.setInt16(i * 8 + 6, 0, true);
    return i;
  }

  /** The `revents` of entry `i` after a poll. */
  revents(i: number): number {
    return this.#view.getInt16(i * 8 + 6, true);
  }
}

/**
 * poll(2) on a worker thread, waiting at most `timeoutMs`. Resolves to the number of ready fds or
 * a negative value on failure (errno is not readable across threads; callers just poll again).
 * The set must not be changed and its fds must not be closed until the promise resolves.
 */
export async function pollWait(set: PollSet, timeoutMs: number): Promise<number> {
  return await lib().poll_wait(set.buf, BigInt(set.count), timeoutMs);
}
