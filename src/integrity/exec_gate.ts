/**
 * The exec gate (opt-in, `[defaults] exec_gate = true`): refuses to exec an approved binary whose
 * content no longer matches its approved hash. Unapproved binaries are never blocked — only the
 * approved binaries' inodes carry marks (`FAN_OPEN_EXEC_PERM`, inode marks only, never mount or
 * filesystem marks).
 *
 * The decision never hashes: a binary is "tainted" from its first modification (seen by the gate's
 * own FAN_MODIFY mark, in kernel order before any later exec) until the caller re-hashed it, the
 * hash matched, and {@link ExecGate.untaint} confirmed the file is still that exact inode/ctime.
 *
 * Fail behaviour:
 * - Permission events are answered by a dedicated Worker (own event loop) from an in-memory map.
 * - If the gate process exits or is killed (even -9), the kernel closes the group fd, releases every
 *   pending exec (allowed) and drops the marks: execs are never stuck on a dead daemon.
 * - A watchdog pings the worker; when it stops answering for `watchdogMs` (default 2000 ms) the
 *   main thread closes the group fd itself (same kernel release: fail-open), terminates the worker
 *   and reports `onFailure`. The kernel has no per-event timeout of its own.
 *
 * @module
 */
import { siblingWorkerUrl } from "./worker_url.ts";
import { libc } from "../../ffi/fanotify.ts";
import { closeFd } from "../../ffi/libc.ts";
import type { GateIdentity, GateMessage, GateRequest } from "./exec_gate_protocol.ts";

export type { GateIdentity } from "./exec_gate_protocol.ts";

/** One exec decision, reported after the kernel got its answer. */
export interface ExecDecision {
  path: string;
  pid: number;
  allowed: boolean;
  dev: string;
  ino: string;
}

/** Options of {@link ExecGate}. */
export interface ExecGateOptions {
  /** Every decision on an approved binary (after the answer went to the kernel). */
  onDecision?: (d: ExecDecision) => void;
  /** The gate saw the first write to an approved binary (it is tainted now). */
  onTaint?: (path: string, pid: number) => void;
  /** The worker stopped answering; the gate failed open. */
  onFailure?: (reason: string) => void;
  /** Worker silence that counts as hung, in ms. Default 2000. */
  watchdogMs?: number;
}

const SHA256_HEX = /^[0-9a-f]{64}$/;
type Pending = { resolve: (tainted: boolean) => void; reject: (e: Error) => void };

/**
 * The exec gate.
 *
 * @example
 * ```ts
 * const gate = new ExecGate({ onDecision: (d) => console.log(d) });
 * await gate.start();
 * const h = await hashFile("/usr/local/bin/app");
 * await gate.setApproved("/usr/local/bin/app", h, approvedSha256);
 * // … on a watcher `modify`: await gate.taint(path); after a matching rehash: await gate.untaint(path, h2)
 * await gate.stop();
 * ```
 */
export class ExecGate {
  #opts: ExecGateOptions;
  #worker?: Worker;
  #fds?: { group: number; wakeWrite: number; wakeRead: number };
  #pending = new Map<number, Pending>();
  #nextId = 1;
  #lastHeard = 0;
  #watchdog?: ReturnType<typeof setInterval>;
  #stopped = false;

  constructor(opts: ExecGateOptions = {}) {
    this.#opts = opts;
  }

  /** Starts the worker and its fanotify group; resolves once it is ready. */
  start(): Promise<void> {
    if (this.#worker) return Promise.reject(new Error("ExecGate already started"));
    if (this.#stopped) return Promise.reject(new Error("ExecGate is stopped"));
    const w = new Worker(siblingWorkerUrl("exec_gate_worker", import.meta.url), { type: "module" });
    this.#worker = w;
    return new Promise((resolve, reject) => {
      w.onerror = (e) => {
        e.preventDefault();
        reject(new Error(`exec gate worker: ${e.message}`));
        this.#fail(`worker error: ${e.message}`);
      };
      w.onmessage = (e: MessageEvent<GateMessage>) => {
        this.#lastHeard = performance.now();
        const m = e.data;
        if (m.type === "started") {
          this.#fds = { group: m.fd, wakeWrite: m.wakeFd, wakeRead: m.wakeReadFd };
          this.#startWatchdog();
          resolve();
        } else if (m.type === "fatal") {
          reject(new Error(`exec gate: ${m.error}`));
          this.#shutdown();
        } else this.#onMessage(m);
      };
    });
  }

  /**
   * Approves `path` with hash `sha256`. `identity` is the caller's latest hash of the file
   * (`hashFile`), or null when unknown: unless it is a hash of exactly the inode now at `path`,
   * unchanged since and equal to `sha256`, the binary starts tainted (exec denied).
   * Resolves to whether it is tainted.
   */
  setApproved(path: string, identity: GateIdentity | null, sha256: string): Promise<boolean> {
    if (!path.startsWith("/")) return Promise.reject(new Error(`path must be absolute: ${path}`));
    if (!SHA256_HEX.test(sha256)) {
      return Promise.reject(new Error(`sha256 must be 64 lower-case hex digits, got "${sha256}"`));
    }
    return this.#ask({ id: 0, op: "approve", path, identity, sha256 });
  }

  /** Marks `path` tainted now (exec denied); a new inode at the path is marked and tainted too. */
  taint(path: string): Promise<boolean> {
    return this.#ask({ id: 0, op: "taint", path });
  }

  /**
   * Clears the taint after a re-hash matched: rejects unless `identity.sha256` is the approved
   * hash AND the file is still exactly that inode, size, mtime and ctime (any write since the
   * hash changes ctime, so a stale hash cannot untaint).
   */
  untaint(path: string, identity: GateIdentity): Promise<boolean> {
    return this.#ask({ id: 0, op: "untaint", path, identity });
  }

  /** Stops gating `path` (it is no longer approved). */
  forget(path: string): Promise<boolean> {
    return this.#ask({ id: 0, op: "forget", path });
  }

  /** Stops the gate: pending execs are released by the kernel, marks vanish. Safe twice. */
  stop(): Promise<void> {
    this.#shutdown();
    return Promise.resolve();
  }

  #ask(req: GateRequest): Promise<boolean> {
    if (!this.#worker || !this.#fds || this.#stopped) {
      return Promise.reject(new Error("ExecGate is not running"));
    }
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#worker!.postMessage({ ...req, id });
    });
  }

  #onMessage(m: GateMessage): void {
    if (m.type === "reply") {
      const p = this.#pending.get(m.id);
      this.#pending.delete(m.id);
      if (m.ok) p?.resolve(m.tainted ?? false);
      else p?.reject(new Error(m.error));
    } else if (m.type === "decision") {
      const { type: _t, ...d } = m;
      this.#opts.onDecision?.(d);
    } else if (m.type === "tainted") {
      this.#opts.onTaint?.(m.path, m.pid);
    }
  }

  #startWatchdog(): void {
    const limit = this.#opts.watchdogMs ?? 2000;
    const period = Math.max(50, Math.floor(limit / 4));
    this.#lastHeard = performance.now();
    let lastTick = this.#lastHeard;
    this.#watchdog = setInterval(() => {
      const now = performance.now();
      // A late tick means THIS thread was busy and the worker's answers sit unread in our queue:
      // that is no evidence against the worker, so give it a fresh period.
      if (now - lastTick > 2 * period) this.#lastHeard = now;
      lastTick = now;
      if (now - this.#lastHeard > limit) {
        this.#fail(`exec gate worker silent for more than ${limit} ms; failing open`);
        return;
      }
      const id = this.#nextId++;
      this.#worker?.postMessage({ id, op: "ping" } satisfies GateRequest);
    }, period);
    Deno.unrefTimer(this.#watchdog);
  }

  #fail(reason: string): void {
    if (this.#stopped) return;
    this.#shutdown();
    this.#opts.onFailure?.(reason);
  }

  #shutdown(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    if (this.#watchdog !== undefined) clearInterval(this.#watchdog);
    this.#worker?.terminate();
    if (this.#fds) {
      // Wake the worker's poll thread, then close the group: the kernel answers every pending
      // permission event with "allow" and removes the marks.
      libc().write(this.#fds.wakeWrite, new Uint8Array([1]), 1n);
      closeFd(this.#fds.group);
      closeFd(this.#fds.wakeWrite);
      closeFd(this.#fds.wakeRead);
    }
    for (const p of this.#pending.values()) p.reject(new Error("ExecGate stopped"));
    this.#pending.clear();
  }
}
