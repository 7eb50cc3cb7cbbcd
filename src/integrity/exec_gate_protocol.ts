/**
 * Messages between {@link ExecGate} (src/integrity/exec_gate.ts) and its Worker
 * (src/integrity/exec_gate_worker.ts).
 *
 * @module
 */
import type { FileHash } from "./hash.ts";

/** The identity fields the gate compares against the file it marks. */
export type GateIdentity = Pick<
  FileHash,
  "sha256" | "dev" | "ino" | "size" | "mtimeNs" | "ctimeNs" | "changedDuringHash"
>;

/** Main → worker. */
export type GateRequest =
  | { id: number; op: "approve"; path: string; identity: GateIdentity | null; sha256: string }
  | { id: number; op: "taint"; path: string }
  | { id: number; op: "untaint"; path: string; identity: GateIdentity }
  | { id: number; op: "forget"; path: string }
  | { id: number; op: "ping" };

/** Worker → main. */
export type GateMessage =
  | { type: "started"; fd: number; wakeFd: number; wakeReadFd: number }
  | { type: "fatal"; error: string }
  | { type: "reply"; id: number; ok: true; tainted?: boolean }
  | { type: "reply"; id: number; ok: false; error: string }
  | { type: "decision"; path: string; pid: number; allowed: boolean; dev: string; ino: string }
  | { type: "tainted"; path: string; pid: number };
