/**
 * The small interfaces through which the approval state machine (approvals.ts, revocation.ts)
 * reaches the outside: the kernel's approval maps, the socket closer, the exec gate, the file
 * watch, the hash cache, the store, the config files and the daemon's reporting. The real parts
 * (AppControl, SocketCloser, ExecGate, FileWatcher, HashCache, Store, PackageApprovals,
 * KernelIdentity) satisfy them structurally; tests/unit/approvals_test.ts drives the machine with
 * fakes of them.
 *
 * @module
 */
import type { Policy } from "../config/model.ts";
import type { LearnedApp } from "../config/learned.ts";
import type { AppState } from "../identity/registry.ts";
import type { Identified, KeyedHash, KeyedResult } from "../identity/kernel_key.ts";
import type { ProcessSource, TrustTarget } from "../identity/trust_scan.ts";
import type { Approval, ScriptEntry } from "../kernel/app_control.ts";
import type { CloseOptions, CloseTarget } from "../kernel/sockets.ts";
import type { GateIdentity } from "../integrity/exec_gate.ts";
import type { WatchEvent } from "../integrity/watch.ts";
import type { CacheRow, StatKey } from "../integrity/hash_cache.ts";
import type { FileHash } from "../integrity/hash.ts";
import type { DpkgPackage } from "../packages/dpkg_db.ts";
import type { AppHashRecord } from "../store/store.ts";
import type { ExeKey, SockClosed } from "../../ffi/structs.ts";
import type { ConnEvent, LiveMessage } from "../api/types.ts";
import type { EventRecord } from "./event_log.ts";
import type { Logger } from "./log.ts";

/** The kernel's approval maps (src/kernel/app_control.ts `AppControl`). */
export interface ApprovalKernel extends TrustTarget {
  /**
   * hw_approved: from now on the identity's processes' connects pass. With `hashedSince`
   * (boot-clock ns before the hash began): refused (false, left out) when the kernel saw a
   * writable open of the file after it (bpf/write_revoke.h).
   */
  approve(a: Approval, hashedSince?: bigint): boolean;
  /** Keeps in hw_write_watch only the identities in `keep` ("dev:ino"). */
  pruneWriteWatch(keep: Set<string>): void;
  /** Out of hw_approved: every process trusting through it is denied at once. */
  revoke(key: ExeKey): boolean;
  /** The app id an identity is approved under, or undefined. */
  approvedAppId(key: ExeKey): number | undefined;
  /** Every identity in hw_approved. */
  approvedKeys(): ExeKey[];
  /** Undoes a trustProcess resting on `key` (a `--for once` approval that lost its race). */
  untrustProcessIf(tgid: number, key: ExeKey): boolean;
  /** The approved scripts (hw_scripts, hw_scripts_rel), exactly. */
  setScripts(scripts: ScriptEntry[]): void;
  /** Interpreter kind and allow_env bits per approved app id. */
  setAppExec(entries: Map<number, { kind: number; envAllow: number }>): void;
  /** only_via starters per app id. */
  setOnlyVia(entries: Map<number, number[]>): void;
}

/** The closing iterators (src/kernel/sockets.ts `SocketCloser`). */
export interface LiveSockets {
  close(targets: CloseTarget[], opts: CloseOptions): SockClosed[];
}

/** The opt-in exec gate (src/integrity/exec_gate.ts `ExecGate`). */
export interface ApprovalGate {
  start(): Promise<void>;
  stop(): Promise<void>;
  setApproved(path: string, identity: GateIdentity | null, sha256: string): Promise<boolean>;
  taint(path: string): Promise<boolean>;
}

/** The approved files' watch (src/integrity/watch.ts `FileWatcher`). */
export interface ApprovalWatcher {
  addFile(path: string): unknown;
  watchedFiles(): string[];
  start(): void;
  close(): Promise<void>;
}

/** The hash cache (src/integrity/hash_cache.ts `HashCache`). */
export interface ApprovalCache {
  beginEpoch(reason: string): number;
  put(hash: FileHash, opts: { watched: boolean }): boolean;
  /** Runs `fn` (several puts) as one transaction; absent: each put commits alone. */
  batch?<T>(fn: () => T): T;
  lookup(key: StatKey): string | null;
  row(key: StatKey): CacheRow | null;
  invalidate(dev: string, ino: string): void;
  invalidatePath(path: string): void;
}

/** Where app hash changes are recorded (src/store/store.ts `Store`). */
export interface ApprovalStore {
  recordAppHash(r: AppHashRecord): number;
}

/** Kernel identities of files and processes (src/identity/kernel_key.ts `KernelIdentity`). */
export interface ApprovalIdentity extends ProcessSource {
  hash(path: string): Promise<KeyedHash>;
  /** `pool` is the daemon's hash pool, passed through untouched ({@link ApprovalPorts.pool}). */
  hashMany(
    pool: never,
    paths: string[],
    onProgress?: (done: number, total: number, last: KeyedResult) => void,
  ): Promise<KeyedResult[]>;
  identify(path: string): Identified;
  identifyMany(paths: string[]): (Identified | Error)[];
  dirKey(path: string): ExeKey;
}

/**
 * Start-up hashes begun before the kernel identity readout exists (src/identity/early_hash.ts
 * `EarlyHashes`): `finish` keys them once it does, `abandon` closes their fds.
 */
export interface EarlyHashing {
  finish(
    onProgress?: (done: number, total: number, last: KeyedResult) => void,
  ): Promise<KeyedResult[]>;
  abandon(): Promise<void>;
}

/** Package trust (src/daemon/package_approvals.ts `PackageApprovals`). */
export interface ApprovalPackages {
  /** A re-hash did not match: approve the new content when its package update ships it. */
  reconsider(s: AppState): Promise<void>;
  /** Whether a new approval gets `trust = "package"` by default. */
  defaultTrust(packageTrust: boolean | undefined): boolean;
  /** The package that owns `path`, if any. */
  owner(path: string): DpkgPackage | undefined;
}

/** The config files: the policy in force and apps.d/learned.toml. */
export interface ApprovalConfig {
  /** The policy in force. */
  policy(): Policy;
  /** Re-reads the config files into the policy in force (throws on a bad config). */
  reload(): Promise<void>;
  /** Appends a `forever` approval to learned.toml. */
  appendLearned(app: LearnedApp): Promise<void>;
  /** Removes an app from learned.toml (when it is there). */
  removeLearned(name: string): Promise<void>;
}

/** What the machine reports to the rest of the daemon. */
export interface ApprovalReporter {
  log: Logger;
  /** A status warning (logged once per distinct message). */
  warn(key: string, msg: string): void;
  /** A live message for the UI/CLI subscribers. */
  publish(m: LiveMessage): void;
  /** A /metrics counter. */
  count(name: string): void;
  /** An event record for the log pipeline (event_log.ts). */
  logEvent(r: EventRecord): void;
  /** A history row (a closed socket). */
  history(ev: ConnEvent): void;
  /** The path was approved: off the learning list. */
  approved(path: string): void;
}

/** Facts about processes and files read from /proc and the file itself (proc.ts). */
export interface ProcessFacts {
  /** The start time of process `tgid`, or undefined when gone. */
  start(tgid: number): string | undefined;
  /** The executable of a live process, or undefined. */
  exe(tgid: number): string | undefined;
  /** Whether the file is an ELF binary (throws when it cannot be read). */
  isElf(path: string): boolean;
}

/** Everything the machine is given. Getters are fine: parts open later than the machine. */
export interface ApprovalPorts {
  readonly kernel: ApprovalKernel;
  readonly sockets: LiveSockets;
  readonly identity: ApprovalIdentity;
  readonly store: ApprovalStore;
  readonly cache?: ApprovalCache;
  readonly packages: ApprovalPackages;
  readonly config: ApprovalConfig;
  readonly report: ApprovalReporter;
  readonly proc: ProcessFacts;
  /** The hash pool handed to identity.hashMany. */
  readonly pool: unknown;
  /** Starts hashing `paths` on the pool now, before the kernel objects load (start only). */
  earlyHash(paths: string[]): EarlyHashing;
  /** Creates the file watch (started by the machine). */
  newWatcher(onEvent: (e: WatchEvent) => void): ApprovalWatcher;
  /** Creates the exec gate (started by the machine when the policy asks for it). */
  newGate(onFailure: (reason: string) => void): ApprovalGate;
  /** Re-hashes every app after the watch lost events (the core audits it as the daemon's). */
  rehashAll(): Promise<unknown>;
  /** True while the kernel enforces (false: learning, sockets are only reported). */
  enforcing(): boolean;
}
