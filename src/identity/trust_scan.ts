/**
 * The one /proc scan that may grant trust: at the daemon's first start, for processes that
 * exec'd before the lineage tracepoints existed (nothing in the kernel saw their exec). It is a
 * start-up convenience, never a source of trust on reload or after an approval: /proc/PID/exe
 * can be pointed at an approved file (prctl(PR_SET_MM_MAP) inside a user namespace), so:
 *
 * - a process in a user namespace other than init's is skipped (that is where an unprivileged
 *   user may rewrite its exe link);
 * - a process the kernel marked tainted (prctl(PR_SET_MM), ptrace, memory writes) is skipped;
 * - after the map write, the pid is checked again (same start time, same exe identity, still
 *   not tainted); a mismatch removes the entry just written.
 *
 * @module
 */
import type { ExeKey, Taint } from "../../ffi/structs.ts";
import { identityOf, keyString, runningProcesses } from "./running.ts";

/** What the scan needs from the kernel core (src/kernel/app_control.ts implements it). */
export interface TrustTarget {
  /** BPF_NOEXIST write of a trust entry; false when one exists (the kernel decided). */
  trustProcess(tgid: number, a: { key: ExeKey; appId: number; flags: number }): boolean;
  untrustProcess(tgid: number): void;
  tainted(tgid: number): Taint | undefined;
}

/** An approved, non-interpreter identity. */
export interface ScanApproval {
  appId: number;
  flags: number;
}

function userNs(pid: number | "self"): string | undefined {
  try {
    return Deno.readLinkSync(`/proc/${pid}/ns/user`);
  } catch {
    return undefined;
  }
}

function startTicks(tgid: number): string | undefined {
  try {
    const stat = Deno.readTextFileSync(`/proc/${tgid}/stat`);
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
  } catch {
    return undefined;
  }
}

function exeKey(tgid: number): string | undefined {
  try {
    return keyString(identityOf(Deno.statSync(`/proc/${tgid}/exe`)));
  } catch {
    return undefined;
  }
}

/** Result of {@link trustRunningProcesses}: how many were trusted and why others were not. */
export interface ScanResult {
  trusted: number;
  skippedNamespace: number;
  skippedTainted: number;
  /** Changed between the scan and the write (exited, exec'd, exe link rewritten). */
  undone: number;
}

/** Trusts running processes whose executable is approved (see the module notes for the rules). */
export function trustRunningProcesses(
  k: TrustTarget,
  approved: Map<string, ScanApproval>,
): ScanResult {
  const r: ScanResult = { trusted: 0, skippedNamespace: 0, skippedTainted: 0, undone: 0 };
  if (approved.size === 0) return r;
  // init's user namespace (our own, as root on the host; /proc/1 may be hidden in a container).
  const initNs = userNs(1) ?? userNs("self");
  for (const p of runningProcesses()) {
    const ks = keyString(p.key);
    const a = approved.get(ks);
    if (!a) continue;
    const ns = userNs(p.tgid);
    if (!ns || ns !== initNs) {
      r.skippedNamespace++;
      continue;
    }
    if (k.tainted(p.tgid)) {
      r.skippedTainted++;
      continue;
    }
    const start = startTicks(p.tgid);
    if (!start || !k.trustProcess(p.tgid, { key: p.key, appId: a.appId, flags: a.flags })) {
      continue;
    }
    // The same process, the same exe, still in init's namespace, and not tainted meanwhile?
    const same = startTicks(p.tgid) === start && exeKey(p.tgid) === ks &&
      userNs(p.tgid) === initNs && !k.tainted(p.tgid);
    if (same) r.trusted++;
    else {
      k.untrustProcess(p.tgid);
      r.undone++;
    }
  }
  return r;
}
