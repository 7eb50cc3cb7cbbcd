/**
 * Closing the live sockets whose trust ended (bpf/sockets.h): fills hw_sock_revoke with the
 * identities that left the approved map, runs the iter/tcp and iter/udp programs once each (they
 * call bpf_sock_destroy on every socket whose record names one of them) and decodes the one
 * record per socket they write.
 *
 * The socket records live in the kernel (by cookie, or in a listener's socket storage; both maps
 * are pinned), so a restarted
 * daemon closes sockets opened before it started just the same.
 *
 * @example
 * ```ts
 * const closed = closer.close([{ key, appId: 7, reason: HW.CLOSE_REVOKED }], { dryRun: false });
 * ```
 *
 * @module
 */
import { closeBpfFd, iterCreate, linkCreate, type MapHandle } from "../../ffi/libbpf.ts";
import { BPF_TRACE_ITER } from "../../ffi/bpf_iter.ts";
import { close as closeFd, readFd } from "../../ffi/libc.ts";
import {
  decodeSockClosed,
  encodeSockCtl,
  encodeSockRevokeKey,
  type ExeKey,
  HW,
  LAYOUT,
  type SockClosed,
  u32Key,
} from "../../ffi/structs.ts";

/** An identity whose sockets are to close, and why (HW_CLOSE_*). */
export interface CloseTarget {
  key: ExeKey;
  appId: number;
  reason: number;
}

/** Options of one run. */
export interface CloseOptions {
  /** Learning mode: report what would close, destroy nothing. */
  dryRun: boolean;
  /**
   * Also every recorded socket whose trust is not approved now (the switch to enforcing), with
   * this HW_CLOSE_* reason.
   */
  unapprovedReason?: number;
  /**
   * Run even with no target: every run also closes the sockets of processes that were written
   * into (hw_tainted, bpf/sockets.h); this asks for a run for their sake alone.
   */
  tainted?: boolean;
}

/** An iterator program: its name and fd. */
export interface IterProgram {
  name: string;
  fd: number;
}

/** The kernel objects a {@link SocketCloser} drives (the hashwall object's, loaded or pinned). */
export interface SocketCloserParts {
  revoke: MapHandle;
  ctl: MapHandle;
  /** The iterator programs (by fd: from a loaded object or from their pins). */
  iterTcp: IterProgram;
  iterUdp: IterProgram;
}

/** Runs the closing iterators; one instance per loaded object, used from one thread. */
export class SocketCloser {
  #parts: SocketCloserParts;
  /** Iterator link fds by program name, made at first use. */
  #links = new Map<string, number>();
  #buf = new Uint8Array(64 * 1024);
  #noRecord = false;

  constructor(parts: SocketCloserParts) {
    this.#parts = parts;
  }

  /**
   * Whether the connect/sendmsg/bind hooks record socket trust at all (off with
   * `close_on_revoke = false`: then a connect pays nothing for a feature that is not used).
   */
  setRecording(on: boolean): void {
    this.#noRecord = !on;
    this.#parts.ctl.update(u32Key(0), encodeSockCtl({ dryRun: true, noRecord: this.#noRecord }));
  }

  /**
   * Closes (or with `dryRun` only reports) the sockets resting on `targets`, TCP then UDP,
   * returning one record per socket. At most HW_SOCK_REVOKE_MAX identities per run: more are
   * done in several runs.
   */
  close(targets: CloseTarget[], opts: CloseOptions): SockClosed[] {
    if (targets.length === 0 && !opts.unapprovedReason && !opts.tainted) return [];
    const out: SockClosed[] = [];
    const max = HW.SOCK_REVOKE_MAX;
    for (let i = 0; i === 0 || i < targets.length; i += max) {
      out.push(...this.#run(targets.slice(i, i + max), opts));
    }
    return out;
  }

  #run(targets: CloseTarget[], opts: CloseOptions): SockClosed[] {
    const { revoke, ctl } = this.#parts;
    const keys = targets.map((t) => encodeSockRevokeKey(t.key, t.appId));
    const reason = new Uint8Array(4);
    try {
      targets.forEach((t, i) => {
        new DataView(reason.buffer).setUint32(0, t.reason, true);
        revoke.update(keys[i], reason);
      });
      ctl.update(u32Key(0), encodeSockCtl({ ...opts, noRecord: this.#noRecord }));
      return [...this.#iterate(this.#parts.iterTcp), ...this.#iterate(this.#parts.iterUdp)];
    } finally {
      ctl.update(u32Key(0), encodeSockCtl({ dryRun: true, noRecord: this.#noRecord }));
      for (const k of keys) revoke.delete(k);
    }
  }

  /** One run of an iterator program: read its output to the end and decode the records. */
  #iterate(prog: IterProgram): SockClosed[] {
    let link = this.#links.get(prog.name);
    if (link === undefined) {
      link = linkCreate(prog.fd, 0, BPF_TRACE_ITER);
      this.#links.set(prog.name, link);
    }
    const fd = iterCreate(link);
    const size = LAYOUT.hw_sock_closed.size;
    const chunks: Uint8Array[] = [];
    let total = 0;
    try {
      for (;;) {
        const n = readFd(fd, this.#buf);
        if (n === 0) break;
        chunks.push(this.#buf.slice(0, n));
        total += n;
      }
    } finally {
      closeFd(fd);
    }
    const all = new Uint8Array(total);
    let at = 0;
    for (const c of chunks) {
      all.set(c, at);
      at += c.length;
    }
    const out: SockClosed[] = [];
    for (let off = 0; off + size <= total; off += size) out.push(decodeSockClosed(all, off));
    return out;
  }

  /** Detaches the iterator links (nothing else is held). */
  dispose(): void {
    for (const l of this.#links.values()) {
      try {
        closeBpfFd(l);
      } catch { /* closing anyway */ }
    }
    this.#links.clear();
  }
}
