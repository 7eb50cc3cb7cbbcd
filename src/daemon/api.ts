/**
 * The daemon's internal API: the one set of operations that both the CLI (through the control
 * socket, src/daemon/control.ts) and the web UI (in process, ui/server.ts) call. Nothing outside
 * src/daemon and src/kernel touches FFI; callers only see these plain JSON-able types.
 *
 * Every operation takes a {@link Caller}; writes require `role === "admin"` and are audited.
 *
 * @module
 */
import type { Duration, Mode } from "../config/model.ts";

/** admin: read/write. viewer: read-only. */
export type Role = "admin" | "viewer";

/** Who is asking, and through which channel (for roles and the audit log). */
export interface Caller {
  role: Role;
  channel: "cli" | "ui" | "internal";
  /** Kernel-reported peer uid (control socket) or the UI session's role name. */
  uid?: number;
  pid?: number;
  /** Free text for the audit log, e.g. "uid 0 pid 1234" or "ui session 3f2a…". */
  who: string;
}

/** Status of an approved app's file versus its approved hash. */
export type AppStatus = "valid" | "invalid" | "missing" | "pending";

/** One registered app as the API shows it. */
export interface AppInfo {
  name: string;
  path: string;
  /** Approved SHA-256 (from apps.toml / apps.d). */
  sha256: string;
  /** SHA-256 of the file as last hashed; differs from `sha256` when invalid. */
  actualSha256?: string;
  status: AppStatus;
  inherit: boolean;
  interpreter: boolean;
  duration?: Duration;
  /** File the app was declared in. */
  source: string;
  /** Epoch ms of the last successful hash check. */
  lastVerified?: number;
  /** Kernel identity while approved in the kernel (dev in kernel encoding). */
  dev?: string;
  ino?: string;
  /** Whether the identity is currently in the kernel's approved map. */
  approvedInKernel: boolean;
}

/** A peer in an event's lineage. */
export interface LineageEntry {
  tgid: number;
  comm: string;
  /** Resolved executable path when known. */
  exe?: string;
  dev: string;
  ino: string;
}

/** One connection attempt / verdict as stored and shown. */
export interface ConnEvent {
  id?: number;
  /** Epoch ms. */
  time: number;
  kind: "connect" | "sendmsg" | "sock_create";
  verdict: "allow" | "deny";
  reason: "unknown_app" | "not_inherited" | "revoked" | "interpreter" | "rule" | string;
  tgid: number;
  uid: number;
  comm: string;
  exe: string;
  dev: string;
  ino: string;
  family: 0 | 4 | 6;
  daddr: string;
  dport: number;
  proto: number;
  lineage: LineageEntry[];
  /** Name of the matching app, when one is known. */
  app?: string;
}

/** Status of the running instance. */
export interface StatusInfo {
  version: string;
  mode: Mode;
  instance: string;
  stateDir: string;
  configDir: string;
  cgroup: string;
  pid: number;
  startedAt: number;
  counters: Record<string, number>;
  lostEvents: number;
  attachPoints: string[];
  apps: { total: number; valid: number; invalid: number; missing: number; pending: number };
  ui: string | null;
  /** Problems the daemon wants an admin to see (disk full, etc.). */
  warnings: string[];
}

/** Query for `events`. */
export interface EventQuery {
  /** Epoch ms lower bound. */
  since?: number;
  app?: string;
  verdict?: "allow" | "deny";
  limit?: number;
  /** Return rows with id < before (pagination). */
  before?: number;
}

/** Arguments of `apps allow`. */
export interface AllowRequest {
  path: string;
  name?: string;
  inherit?: boolean;
  duration?: Duration;
  /** For "once": the process that asked. */
  tgid?: number;
  /** Approve only if the file hashes to this (UI "approve new hash"). */
  sha256?: string;
}

/** A live notification pushed to subscribers (UI Server-Sent Events, `events --follow`). */
export type LiveMessage =
  | { type: "event"; event: ConnEvent }
  | { type: "app"; app: AppInfo }
  | { type: "rehash-progress"; done: number; total: number; path?: string }
  | { type: "integrity"; path: string; change: string; oldHash?: string; newHash?: string }
  | { type: "mode"; mode: Mode };

/** The operations the daemon exposes. Writes reject with an Error when caller is a viewer. */
export interface HashwallApi {
  status(caller: Caller): Promise<StatusInfo>;
  appsList(caller: Caller): Promise<AppInfo[]>;
  appsAllow(caller: Caller, req: AllowRequest): Promise<AppInfo>;
  appsRevoke(caller: Caller, name: string): Promise<void>;
  /** Rehash one app (by name or path) or all when `target` is undefined. */
  appsRehash(caller: Caller, target?: string): Promise<AppInfo[]>;
  setMode(caller: Caller, mode: Mode): Promise<void>;
  reload(caller: Caller): Promise<{ ok: boolean; errors: string[] }>;
  events(caller: Caller, q: EventQuery): Promise<ConnEvent[]>;
  /** Subscribe to live messages; returns the unsubscribe function. */
  subscribe(caller: Caller, listener: (m: LiveMessage) => void): () => void;
}

/** Thrown for a write attempted by a viewer. */
export class ForbiddenError extends Error {
  override name = "ForbiddenError";
}
