/**
 * Writes the approval state (the registry) into the kernel's maps: hw_approved exactly the valid
 * apps' identities, the exec hook's interpreter kinds / allow_env bits / only_via starters, the
 * script maps, and — at a first start only — trust for running processes of approved apps. The
 * approval state machine (approvals.ts) calls these after any change.
 *
 * @module
 */
import { appFlags, type AppRegistry, type AppState } from "../identity/registry.ts";
import { keyString } from "../identity/running.ts";
import { type ScanApproval, trustRunningProcesses } from "../identity/trust_scan.ts";
import { envAllowMask, interpreterKind } from "../policy/interpreters.ts";
import { fileTimes } from "../integrity/hash.ts";
import type { ScriptEntry } from "../kernel/app_control.ts";
import { HW, NO_TIMES } from "../../ffi/structs.ts";
import type { ApprovalPorts } from "./approval_ports.ts";
import type { Revoker } from "./revocation.ts";

/** The device number of the synthetic `--for once` identities (no real file has it). */
export const ONCE_DEV = 0xffff_ffff_ffff_ffffn;

/**
 * Makes hw_approved exactly the identities of valid apps (interpreters too, flagged: the kernel
 * needs their identity to explain a denial), keeping the `--for once` approvals whose process
 * `onceLive` says still runs; everything else found there is revoked (with its sockets).
 */
export function syncKernel(
  registry: AppRegistry,
  ports: ApprovalPorts,
  revoker: Revoker,
  onceLive: (tgid: number) => boolean,
): void {
  const kernel = ports.kernel;
  const want = new Map<string, AppState>();
  for (const s of registry.list()) {
    if (s.status === "valid" && s.key) want.set(keyString(s.key), s);
  }
  for (const k of kernel.approvedKeys()) {
    const ks = keyString(k);
    const onceTgid = k.dev === ONCE_DEV ? Number(k.ino) : undefined;
    if (onceTgid !== undefined && onceLive(onceTgid)) continue;
    if (!want.has(ks)) revoker.revoke(k, revoker.whyGone(k, onceTgid !== undefined));
  }
  for (const s of registry.list()) s.approvedInKernel = false;
  for (const s of want.values()) {
    kernel.approve({
      key: s.key!,
      appId: s.id,
      flags: appFlags(s.app),
      times: s.lastHash ? fileTimes(s.lastHash) : NO_TIMES,
    });
    s.approvedInKernel = true;
  }
  syncExecMaps(registry, ports);
}

/** The exec hook's per-app entries and the script maps, from the apps approved in the kernel. */
export function syncExecMaps(registry: AppRegistry, ports: ApprovalPorts): void {
  syncAppExec(registry, ports);
  syncScripts(registry, ports);
}

/**
 * Approved apps that are scripts (not ELF binaries) go to the kernel's script maps, so an
 * approved interpreter running them is trusted from its first connect. A binary never does:
 * `python3 /usr/bin/curl` must not borrow curl's approval.
 */
function syncScripts(registry: AppRegistry, ports: ApprovalPorts): void {
  const scripts: ScriptEntry[] = [];
  for (const s of registry.list()) {
    if (!s.approvedInKernel || !s.key || s.app.interpreter) continue;
    try {
      if (ports.proc.isElf(s.app.path)) continue;
      const dir = s.app.path.slice(0, s.app.path.lastIndexOf("/")) || "/";
      scripts.push({
        path: s.app.path,
        dirKey: ports.identity.dirKey(dir),
        key: s.key,
        appId: s.id,
        flags: appFlags(s.app),
      });
    } catch { /* vanished meanwhile: the watch reports it */ }
  }
  ports.kernel.setScripts(scripts);
}

/** Interpreter kinds and allow_env bits of the approved apps, for the exec hook. */
function syncAppExec(registry: AppRegistry, ports: ApprovalPorts): void {
  const m = new Map<number, { kind: number; envAllow: number }>();
  for (const s of registry.list()) {
    if (!s.approvedInKernel) continue;
    m.set(s.id, {
      kind: s.app.interpreter ? interpreterKind(s.app.path) : HW.KIND_OTHER,
      envAllow: envAllowMask(s.app.allowEnv ?? []),
    });
  }
  ports.kernel.setAppExec(m);
  // only_via: starters by kernel app id; a starter without an approval yet is 0 (never matches).
  const via = new Map<number, number[]>();
  for (const s of registry.list()) {
    if (!s.approvedInKernel || !s.app.onlyVia?.length) continue;
    via.set(s.id, s.app.onlyVia.map((n) => registry.idOf(n) ?? 0));
  }
  ports.kernel.setOnlyVia(via);
}

/**
 * Trusts running processes whose executable is an approved (non-interpreter) app, at a first
 * start only, by the guarded scan of src/identity/trust_scan.ts. Returns how many.
 */
export function trustRunning(registry: AppRegistry, ports: ApprovalPorts): number {
  const approved = new Map<string, ScanApproval>();
  for (const s of registry.list()) {
    if (s.approvedInKernel && s.key && !s.app.interpreter) {
      approved.set(keyString(s.key), { appId: s.id, flags: appFlags(s.app) });
    }
  }
  return trustRunningProcesses(ports.kernel, approved, ports.identity).trusted;
}
