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
  /** `only_via`: trusted only when a process trusted as one of these apps started it. */
  onlyVia?: string[];
  /** File the app was declared in. */
  source: string;
  /** Epoch ms of the last successful hash check. */
  lastVerified?: number;
  /** Kernel identity while approved in the kernel (dev in kernel encoding). */
  dev?: string;
  ino?: string;
  /** Whether the identity is currently in the kernel's approved map. */
  approvedInKernel: boolean;
  /** `package`: the approval follows signed updates of the owning package; else hash only. */
  trust?: "hash" | "package";
  /**
   * The package the file belongs to, its version, and what the current hash rests on: `admin`
   * (approved by hand), `deb` (SHA-256 from the package archive apt verified), `md5sums` (dpkg's
   * recorded MD5, weaker).
   */
  package?: { name: string; version?: string; level: "admin" | "deb" | "md5sums" };
  /** Why a package-backed app's new hash was not approved automatically (while invalid). */
  packageRefusal?: { reason: string; detail: string };
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
  /**
   * The hook; "close"/"would_close": a live socket whose trust ended (closed, or in learning mode
   * reported only); "exec": trust refused at exec or at the interpreter's open of its script
   * (reason "script_mismatch" or "stale"), no destination; "write_open": the kernel revoked an
   * approved file (`exe`) at an open for writing by `tgid`/`comm` (bpf/write_revoke.h), no
   * destination; "taint": a trusted process (`tgid`, trust `exe`) was written into by `comm`
   * (vector in the reason), read by the daemon to close its sockets, never stored; `kind_N` for a
   * kind this build does not know (a newer kernel object).
   */
  kind:
    | "connect"
    | "sendmsg"
    | "sock_create"
    | "close"
    | "would_close"
    | "exec"
    | "write_open"
    | "taint"
    | `kind_${number}`;
  verdict: "allow" | "deny";
  reason:
    | "unknown_app"
    | "not_inherited"
    | "revoked"
    | "interpreter"
    | "script_unresolved"
    | "not_via"
    | "script_pending"
    | "script_mismatch"
    | "stale"
    | "write_open"
    | "rule"
    | string;
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
  /** Id of the rule that decided, when `reason === "rule"` (the "why" shown in history). */
  ruleId?: string;
  /** For a script's attempt: the interpreter that ran it (`exe` is then the script). */
  interpreter?: string;
  /** Trusted via this inheriting app (an ancestor of it started it; `lineage` has the chain). */
  via?: string;
  /** The name the process resolved the destination from (kernel DNS view), when known. */
  host?: string;
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
  /** Package-backed approvals: updates since local midnight, a dpkg run in progress, waiting apps. */
  packages?: { updatedToday: number; dpkgRunning: boolean; waiting: number };
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
  /**
   * Also write one app-scoped `remote_host` allow rule per named destination the Learning list
   * shows for this executable ("allow curl to api.github.com:443"), appended to rules.toml.
   */
  hosts?: boolean;
}

/** A live notification pushed to subscribers (UI Server-Sent Events, `events --follow`). */
export type LiveMessage =
  | { type: "event"; event: ConnEvent }
  | { type: "app"; app: AppInfo }
  | { type: "rehash-progress"; done: number; total: number; path?: string }
  | { type: "integrity"; path: string; change: string; oldHash?: string; newHash?: string }
  | { type: "mode"; mode: Mode };

/** A problem in submitted rules.toml text, located for display at its line (1-based). */
export interface RulesProblem {
  line: number;
  col: number;
  message: string;
}

/** One active rule as the UI lists it, with its hit counter. */
export interface RuleInfo {
  id: string;
  action: "allow" | "deny";
  direction: "in" | "out";
  protocol: string;
  /** CIDRs as written; absent = any. */
  remote?: string[];
  /** Host name patterns (`remote_host`; a blocklist shows its first 20). */
  remoteHost?: string[];
  /** Ports/ranges as written ("443", "8000-8080"); absent = any. */
  ports?: string[];
  app?: string;
  /** `via`: the rule matches only processes this app started (at any depth). */
  via?: string;
  comment?: string;
  /** Packets/connections this rule decided since the daemon started. */
  hits: number;
  /** Line of the rule's `[[rule]]` header in rules.toml. */
  line: number;
}

/** rules.toml as text plus the active, parsed rules. */
export interface RulesView {
  path: string;
  text: string;
  rules: RuleInfo[];
  /** The `[[blocklist]]`s and the copy of each in force. */
  blocklists?: BlocklistInfo[];
}

/** One `[[blocklist]]` as the daemon holds it. */
export interface BlocklistInfo {
  id: string;
  source: string;
  format: "hosts" | "domains" | "cidr";
  /** Entries in force (0 when the list never loaded). */
  entries: number;
  /** Epoch ms of the fetch of the copy in force. */
  fetchedAt?: number;
  /** Why the last refresh failed (the previous copy stays in force). */
  error?: string;
  /** The copy in force came from the state folder. */
  fromCache?: boolean;
  /** Denials reported under this list since the daemon started. */
  hits?: number;
}

/** A packet to explain ("which rule would decide this, and why"). */
export interface ExplainRequest {
  direction: "in" | "out";
  protocol: "tcp" | "udp" | "icmp" | "icmpv6";
  /** Remote address (IPv4 or IPv6 literal). */
  remote: string;
  port: number;
  /** Executable path of the local process (out only), for app-scoped rules and approvals. */
  exe?: string;
  /**
   * Name of the app that started the process, at any depth (out only): rules with
   * `via = "NAME"` apply, as with `hashwall rules explain ... --via NAME`.
   */
  via?: string;
}

/** The answer of an explain. */
export interface ExplainResult {
  verdict: "allow" | "deny";
  /** The deciding rule, when one matched. */
  ruleId?: string;
  /** One human sentence: which rule, default or app approval decided. */
  why: string;
}

/** A watched file or folder of `[[integrity.watch]]`. */
export interface IntegrityWatchInfo {
  path: string;
  recursive: boolean;
  /** Files covered by the baseline under this path. */
  files: number;
  /** False while the path does not exist: "not present yet", watched for its creation. */
  present: boolean;
}

/** One detected integrity change. */
export interface IntegrityChange {
  /** Epoch ms. */
  time: number;
  path: string;
  change: "modified" | "created" | "deleted" | "metadata" | "package-update" | string;
  oldHash?: string;
  newHash?: string;
  /** For a package update: app, package, oldVersion, newVersion, level, approvedBy. */
  details?: Record<string, unknown>;
}

/** Integrity watch and baseline state. */
export interface IntegrityInfo {
  watches: IntegrityWatchInfo[];
  baseline: { status: "none" | "clean" | "changed"; createdAt?: number; files: number };
  /** Most recent first. */
  changes: IntegrityChange[];
}

/** One destination an unapproved app tried. */
export interface LearningDestination {
  /** The name the app resolved the destination from, when known (destinations group by it). */
  host?: string;
  /** The address (the latest one, for a named destination). */
  daddr: string;
  dport: number;
  proto: number;
  count: number;
  lastSeen: number;
}

/** An executable that tried to connect without approval, grouped by exe (Learning page). */
export interface LearningEntry {
  exe: string;
  /** SHA-256 of the file when hashed. */
  sha256?: string;
  attempts: number;
  firstSeen: number;
  lastSeen: number;
  /** Lineage of the most recent attempt, nearest ancestor first. */
  lineage: LineageEntry[];
  /** Recent process ids that tried. */
  tgids: number[];
  destinations: LearningDestination[];
  /**
   * Set when `exe` is an approved app whose file changed to a hash nobody approved, e.g. a
   * package installed with `dpkg -i` (not from a signed source): the app and, when known, the
   * package and version that brought the new hash.
   */
  newHash?: { app: string; package?: string; version?: string; reason?: string };
}

/** Verdict counts over a time window (Overview tiles). `unknown` counts unknown-app attempts. */
export interface EventCounts {
  allow: number;
  deny: number;
  unknown: number;
}

/** The operations the daemon exposes. Writes reject with an Error when caller is a viewer. */
export interface HashwallApi {
  status(caller: Caller): Promise<StatusInfo>;
  appsList(caller: Caller): Promise<AppInfo[]>;
  appsAllow(caller: Caller, req: AllowRequest): Promise<AppInfo>;
  appsRevoke(caller: Caller, name: string): Promise<void>;
  /** Rehash one app (by name or path) or all when `target` is undefined. */
  appsRehash(caller: Caller, target?: string): Promise<AppInfo[]>;
  /**
   * Switches mode. `opts.closeUnapproved` (switching to enforcing) also closes the live sockets
   * of apps that are not approved; the answer says how many.
   */
  setMode(
    caller: Caller,
    mode: Mode,
    opts?: { closeUnapproved?: boolean },
  ): Promise<void | { closed: number }>;
  reload(caller: Caller): Promise<{ ok: boolean; errors: string[] }>;
  events(caller: Caller, q: EventQuery): Promise<ConnEvent[]>;
  /** rules.toml text and the active rules with hit counters. */
  rulesGet(caller: Caller): Promise<RulesView>;
  /**
   * Validates `text` as rules.toml; when valid, writes it atomically and reloads. When invalid,
   * returns every located problem and changes nothing.
   */
  rulesSave(caller: Caller, text: string): Promise<{ ok: boolean; errors: RulesProblem[] }>;
  /** Which rule/default/approval would decide this packet. Read-only. */
  rulesExplain(caller: Caller, req: ExplainRequest): Promise<ExplainResult>;
  /** Watched paths, baseline status and recent changes. */
  integrityStatus(caller: Caller): Promise<IntegrityInfo>;
  /** Unapproved executables that tried to connect and were neither approved nor denied yet. */
  learningList(caller: Caller): Promise<LearningEntry[]>;
  /** Removes `exe` from the learning list (it stays unapproved, so enforcing mode denies it). */
  learningDeny(caller: Caller, exe: string): Promise<void>;
  /** Verdict counts of events with `time >= since` (epoch ms). */
  eventCounts(caller: Caller, since: number): Promise<EventCounts>;
  /**
   * The dpkg hook: `pre` when an upgrade starts, `post` when it ended; `post` resolves after
   * every changed package-backed app was re-checked (approved again or left revoked).
   */
  packagesHook(
    caller: Caller,
    phase: "pre" | "post",
  ): Promise<{ phase: string; updated: unknown[]; refused: unknown[] }>;
  /** Subscribe to live messages; returns the unsubscribe function. */
  subscribe(caller: Caller, listener: (m: LiveMessage) => void): () => void;
}

/** Thrown for a write attempted by a viewer. */
export class ForbiddenError extends Error {
  override name = "ForbiddenError";
}
