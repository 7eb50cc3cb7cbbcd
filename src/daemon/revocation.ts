/**
 * How an approval ends: out of hw_approved, and the live sockets resting on it closed
 * ([defaults] close_on_revoke). Every path by which an approval ends (first write, replacement,
 * re-hash mismatch, `apps revoke`/UI, once/session ending, an app leaving the config) comes
 * through {@link Revoker.revoke}, so none of them leaves a connection behind.
 *
 * @module
 */
import { closedToConnEvent } from "../kernel/events.ts";
import type { CloseTarget } from "../kernel/sockets.ts";
import type { AppRegistry, AppState } from "../identity/registry.ts";
import { keyString } from "../identity/running.ts";
import { type ExeKey, HW, type SockClosed } from "../../ffi/structs.ts";
import type { ApprovalPorts } from "./approval_ports.ts";

/** Delay of the second closing pass after a revocation (see {@link Revoker.closeSockets}). */
export const SECOND_PASS_MS = 20;

/** Who owned a closed socket, for its history event. */
export type SocketOwner = (r: SockClosed) => { app?: string; exe: string };

/** Revocations and socket closing for one daemon. */
export class Revoker {
  #p: ApprovalPorts;
  #registry: AppRegistry;
  /** Set by stop(): late timers (the second closing pass) must not touch closed handles. */
  #stopping = false;

  constructor(ports: ApprovalPorts, registry: AppRegistry) {
    this.#p = ports;
    this.#registry = registry;
  }

  /** No more second passes: the kernel handles are closing. */
  stop(): void {
    this.#stopping = true;
  }

  /**
   * Takes an identity out of hw_approved — new connects of every process trusting through it are
   * denied at once — and closes the live sockets resting on it.
   */
  revoke(key: ExeKey, reason: number, s?: AppState): void {
    const kernel = this.#p.kernel;
    const st = s ?? this.#registry.byKey(key);
    // The kernel may have taken the approval out itself (a writable open, bpf/write_revoke.h)
    // before this daemon heard of it; the sockets resting on it still close.
    const appId = kernel.approvedAppId(key) ??
      (st?.approvedInKernel && st.key && keyString(st.key) === keyString(key) ? st.id : undefined);
    kernel.revoke(key);
    if (appId === undefined) return;
    this.closeSockets([{ key, appId, reason }], (r) => ({
      app: st?.app.name,
      // An approval of an earlier run (session, once) has no registry entry: name the process.
      exe: st?.app.path ?? this.#registry.byKeyString(keyString(r.trustKey))?.app.path ??
        this.#p.proc.exe(r.tgid) ?? "",
    }));
  }

  /**
   * Closes the sockets of processes that were written into (the kernel's taint report, kind
   * "taint"): the iterators doom every record whose process is in hw_tainted (bpf/sockets.h).
   */
  closeTainted(): void {
    this.closeSockets(
      [],
      (r) => {
        const st = this.#registry.byKeyString(keyString(r.trustKey));
        return { app: st?.app.name, exe: st?.app.path ?? this.#p.proc.exe(r.tgid) ?? "" };
      },
      undefined,
      true,
    );
  }

  /**
   * Runs the closing iterators ([defaults] close_on_revoke): in enforcing mode the sockets are
   * destroyed, in learning mode only reported ("would_close"). One history event per socket.
   * Returns how many sockets the first pass closed (or would close).
   */
  closeSockets(
    targets: CloseTarget[],
    who: SocketOwner,
    unapprovedReason?: number,
    tainted = false,
  ): number {
    if (!this.#p.config.policy().defaults.closeOnRevoke) return 0;
    const dryRun = !this.#p.enforcing();
    let recs: SockClosed[];
    try {
      recs = this.#p.sockets.close(targets, { dryRun, unapprovedReason, tainted });
    } catch (e) {
      this.#p.report.warn("sockets", `closing live sockets failed: ${(e as Error).message}`);
      return 0;
    }
    this.#reportClosed(recs, who, dryRun);
    if (!dryRun && targets.length) {
      // A connect whose hook allowed it just before the revocation may not be in the socket
      // tables yet when the first pass ran; a second pass a moment later closes it too.
      setTimeout(() => {
        if (this.#stopping) return;
        try {
          this.#reportClosed(this.#p.sockets.close(targets, { dryRun: false }), who, false);
        } catch (e) {
          this.#p.report.warn("sockets", `closing live sockets failed: ${(e as Error).message}`);
        }
      }, SECOND_PASS_MS);
    }
    return recs.length;
  }

  #reportClosed(recs: SockClosed[], who: SocketOwner, dryRun: boolean): void {
    const now = Date.now();
    for (const r of recs) this.#p.report.history(closedToConnEvent(r, who(r), now));
    if (recs.length) {
      this.#p.report.log.log(
        "notice",
        `${dryRun ? "would close" : "closed"} ${recs.length} live socket(s)`,
        { apps: [...new Set(recs.map((r) => who(r).app ?? who(r).exe))] },
      );
    }
  }

  /**
   * Why an identity found in the kernel is no longer wanted (a kernel sync): a once or session
   * approval of an earlier run ended; the file no longer hashes right (changed while no daemon
   * watched); it changed or vanished; or it was revoked / left the config.
   */
  whyGone(k: ExeKey, once: boolean): number {
    const st = this.#registry.byKey(k);
    if (once || !st) return HW.CLOSE_ENDED;
    if (st.status === "invalid") return HW.CLOSE_MISMATCH;
    if (st.status === "missing" || st.status === "pending") return HW.CLOSE_CHANGED;
    return HW.CLOSE_REVOKED;
  }
}
