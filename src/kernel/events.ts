/**
 * Turns ring-buffer records into the API's {@link ConnEvent}: names for reasons and hooks,
 * printable addresses, and executable paths resolved while the process may still be alive.
 *
 * @module
 */
import type { ConnEvent } from "../api/types.ts";
import {
  type Ancestor,
  decodeEventHead,
  decodeLineage,
  type ExeKey,
  HW,
  LAYOUT,
  lineageSpan,
  type RawEvent,
  type SockClosed,
} from "../../ffi/structs.ts";
import { keyString } from "../identity/running.ts";
import { envVarName, tamperVectorName } from "../policy/interpreters.ts";
import { kernelDev } from "../identity/devno.ts";
import { viaMagicLink } from "../identity/magic_path.ts";

const KINDS: Record<number, ConnEvent["kind"]> = {
  [HW.EV_CONNECT]: "connect",
  [HW.EV_SENDMSG]: "sendmsg",
  [HW.EV_SOCK_CREATE]: "sock_create",
  [HW.EV_EXEC]: "exec",
  [HW.EV_WRITE_OPEN]: "write_open",
  [HW.EV_TAINT]: "taint",
};
const REASONS: Record<number, string> = {
  [HW.REASON_UNKNOWN_APP]: "unknown_app",
  [HW.REASON_NOT_INHERITED]: "not_inherited",
  [HW.REASON_REVOKED]: "revoked",
  [HW.REASON_INTERPRETER]: "interpreter",
  [HW.REASON_SCRIPT_UNRESOLVED]: "script_unresolved",
  [HW.REASON_RULE]: "rule",
  [HW.REASON_TRACED]: "traced",
  [HW.REASON_ARGV]: "argv",
  [HW.REASON_USERNS]: "userns_mount",
  [HW.REASON_NOT_VIA]: "not_via",
  [HW.REASON_SCRIPT_PENDING]: "script_pending",
  [HW.REASON_SCRIPT_MISMATCH]: "script_mismatch",
  [HW.REASON_STALE]: "stale",
  [HW.REASON_WRITE_OPEN]: "write_open",
};

/** The reason text; the trust guards name their detail ("env:LD_PRELOAD", "injected:ptrace"). */
function reasonText(raw: RawEvent): string {
  if (raw.reason === HW.REASON_ENV) return `env:${envVarName(raw.rule)}`;
  if (raw.reason === HW.REASON_INJECTED) return `injected:${tamperVectorName(raw.rule)}`;
  return REASONS[raw.reason] ?? `code_${raw.reason}`;
}

/** Why sockets were closed (HW_CLOSE_*), as history shows it. */
export const CLOSE_REASONS: Record<number, string> = {
  [HW.CLOSE_CHANGED]: "file_changed",
  [HW.CLOSE_REVOKED]: "app_revoked", // not "revoked": that names a denied attempt (learning list)
  [HW.CLOSE_MISMATCH]: "hash_mismatch",
  [HW.CLOSE_ENDED]: "approval_ended",
  [HW.CLOSE_NOT_APPROVED]: "not_approved",
  [HW.CLOSE_TAINTED]: "process_injected",
};

/**
 * One socket the closing iterators closed (kind "close", verdict "deny") or, in learning mode,
 * would have closed (kind "would_close", verdict "allow": nothing was done). `who` names the app
 * the socket's trust rested on; the destination is the socket's peer.
 */
export function closedToConnEvent(
  r: SockClosed,
  who: { exe: string; app?: string },
  time = Date.now(),
): ConnEvent {
  const closed = r.result !== HW.SOCK_RES_WOULD_CLOSE;
  const ev: ConnEvent = {
    time,
    kind: closed ? "close" : "would_close",
    verdict: closed ? "deny" : "allow",
    reason: (CLOSE_REASONS[r.reason] ?? `code_${r.reason}`) +
      (r.result === HW.SOCK_RES_FAILED ? `_failed_${-r.err}` : ""),
    tgid: r.tgid,
    uid: r.uid,
    comm: "",
    exe: who.exe,
    dev: r.trustKey.dev.toString(),
    ino: r.trustKey.ino.toString(),
    family: r.family as 4 | 6,
    daddr: formatAddr(r.daddr),
    dport: r.dport,
    proto: r.proto,
    lineage: [],
  };
  if (who.app) ev.app = who.app;
  return ev;
}

/** Formats a 4- or 16-byte address (network order); "" for none. */
export function formatAddr(b: Uint8Array): string {
  if (b.length === 4) return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
  if (b.length !== 16) return "";
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((b[i] << 8) | b[i + 1]).toString(16));
  // Compress the longest run of zero groups (RFC 5952).
  let best = -1, bestLen = 0;
  for (let i = 0; i < 8;) {
    if (groups[i] !== "0") {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === "0") j++;
    if (j - i > bestLen && j - i > 1) [best, bestLen] = [i, j - i];
    i = j;
  }
  if (best === -1) return groups.join(":");
  return `${groups.slice(0, best).join(":")}::${groups.slice(best + bestLen).join(":")}`;
}

/** Resolves identities and pids to paths: known apps first, then /proc while alive. */
export interface PathResolver {
  /** The path of the identity whose {@link keyString} is `key` (a string: computed once). */
  byIdentity(key: string): string | undefined;
  /** The id of the rule at `index` in file order (for reason "rule"). */
  ruleId?(index: number): string | undefined;
  /** The name of the app with kernel id `id` (for "via NAME"). */
  appName?(id: number): string | undefined;
}

function procExe(tgid: number): string | undefined {
  try {
    return Deno.readLinkSync(`/proc/${tgid}/exe`);
  } catch {
    return undefined;
  }
}

/**
 * The real path of the process's executable, accepted only when the file at that path is the
 * identity the kernel reported (same device and inode): a pid reused, or a process that exec'd
 * again since the event, gives no answer rather than a wrong one.
 */
export function verifiedExe(tgid: number, dev: bigint, ino: bigint): string | undefined {
  let path: string;
  try {
    path = Deno.readLinkSync(`/proc/${tgid}/exe`);
  } catch {
    return undefined; // exited already
  }
  if (!path.startsWith("/") || path.endsWith(" (deleted)")) return undefined;
  try {
    const st = Deno.statSync(path);
    if (kernelDev(BigInt(st.dev)) === dev && BigInt(st.ino ?? 0) === ino) return path;
  } catch { /* renamed or removed since */ }
  return undefined;
}

/**
 * A process that re-execs itself through `/proc/self/exe` is most often the forked child of the
 * same program (a zygote): when it exited before its event was read, an ancestor running the
 * same file (same identity, checked) still names it.
 */
function sameFileAncestor(raw: RawEvent, lineage: ConnEvent["lineage"]): string | undefined {
  const dev = raw.exe.dev.toString(), ino = raw.exe.ino.toString();
  for (const a of lineage) {
    if (a.dev !== dev || a.ino !== ino) continue;
    const p = verifiedExe(a.tgid, raw.exe.dev, raw.exe.ino);
    if (p) return p;
  }
  return undefined;
}

/**
 * The verified path of a process run through a magic link, remembered for its identity once
 * found: a re-exec'ing program (a zygote) reports many times, and each lookup costs a readlink
 * and a stat.
 */
function verifiedMagic(
  raw: RawEvent,
  key: string,
  lineage: ConnEvent["lineage"],
): string | undefined {
  const p = verifiedExe(raw.tgid, raw.exe.dev, raw.exe.ino) ?? sameFileAncestor(raw, lineage);
  if (p !== undefined) verified.remember(key, p);
  return p;
}

/**
 * An executable whose path could not be learned, shown honestly by its identity (never as the
 * magic link it was run through, which is not a path anyone can approve).
 */
function unresolved(dev: string, ino: string, via: string): string {
  return `(unresolved: dev ${dev} inode ${ino}, exec'd as ${via})`;
}

/**
 * Identity → path learned from /proc, bounded (LRU by insertion refresh). Ancestors repeat on
 * almost every event (shells, sshd, systemd), and a readlink per ancestor per event was the
 * ingest bottleneck (bench/ingest.ts). A recycled inode could show a stale name in a lineage
 * label until evicted; verdicts never depend on it.
 */
class SeenPaths {
  /** A miss is remembered briefly too: a failed readlink throws, and throwing is costly. */
  static readonly MISS_TTL_MS = 5_000;
  #m = new Map<string, { path?: string; at: number; gen: number }>();
  /** Insertions so far: an entry's age in insertions tells whether it nears eviction. */
  #gen = 0;
  constructor(private readonly max = 4096) {}
  lookup(k: string, tgid: number): string | undefined {
    const hit = this.#m.get(k);
    if (hit && (hit.path !== undefined || Date.now() - hit.at < SeenPaths.MISS_TTL_MS)) {
      // LRU, approximately: a hit moves to the young end only once it is in the older half.
      // Moving on every hit (delete + set per ancestor per event) kept reallocating the Map's
      // table, which was most of the ingest path's old-generation garbage (bench/ingest.ts).
      if (this.#gen - hit.gen > this.max / 2) {
        this.#m.delete(k);
        hit.gen = this.#gen++;
        this.#m.set(k, hit);
      }
      return hit.path;
    }
    let path = procExe(tgid);
    if (path?.endsWith(" (deleted)")) path = undefined;
    this.remember(k, path);
    return path;
  }
  /** The path remembered for `k`, without asking /proc. */
  peek(k: string): string | undefined {
    return this.#m.get(k)?.path;
  }
  /** Remembers `path` (or a miss) for `k`. */
  remember(k: string, path: string | undefined): void {
    if (this.#m.has(k)) this.#m.delete(k);
    else if (this.#m.size >= this.max) this.#m.delete(this.#m.keys().next().value!);
    this.#m.set(k, { path, at: Date.now(), gen: this.#gen++ });
  }
}

const seen = new SeenPaths();
/** Paths of magic-link executables, only as verified against the identity (verifiedExe). */
const verified = new SeenPaths(1024);
/** Relative script paths made absolute, by pid and path: one /proc lookup per process. */
const scripts = new SeenPaths(1024);

/** A script path as the kernel saw it, made absolute with the process's cwd while it lives. */
function scriptPath(raw: RawEvent): string {
  if (raw.exePath.startsWith("/")) return raw.exePath;
  const k = `${raw.tgid}\0${raw.exePath}`;
  const known = scripts.peek(k);
  if (known !== undefined) return known;
  let path: string;
  try {
    const cwd = Deno.readLinkSync(`/proc/${raw.tgid}/cwd`);
    path = `${cwd}/${raw.exePath.replace(/^\.\//, "")}`;
  } catch {
    return raw.exePath; // exited: not remembered, the pid may come back as another process
  }
  scripts.remember(k, path);
  return path;
}

/** Builds the lineage of an event: each ancestor with its executable's path where known. */
function lineageEntries(ancestors: Ancestor[], resolver: PathResolver): ConnEvent["lineage"] {
  const lineage: ConnEvent["lineage"] = [];
  for (const a of ancestors) {
    const dev = a.exe.dev.toString();
    const ino = a.exe.ino.toString();
    const key = `${dev}:${ino}`;
    lineage.push({
      tgid: a.tgid,
      comm: a.comm,
      exe: resolver.byIdentity(key) ?? seen.lookup(key, a.tgid),
      dev,
      ino,
    });
  }
  return lineage;
}

/**
 * Lineages seen recently, by the parent's pid, with the raw bytes they were built from. A flood
 * comes from few processes, and their ancestors repeat on every record: when the bytes match
 * (same pids, identities and names), the event reuses the same frozen array instead of building
 * up to 8 objects and 16 number strings and resolving paths again. That was most of the event
 * path's garbage and a third of its time (bench/ingest.ts). Shared arrays are never mutated.
 */
class LineageCache {
  #m = new Map<number, { raw: Uint8Array; entries: ConnEvent["lineage"] }>();
  constructor(private readonly max = 1024) {}

  /** The lineage of record `rec`, built or reused. */
  of(rec: Uint8Array, resolver: PathResolver): ConnEvent["lineage"] {
    const { offset, length } = lineageSpan(rec);
    if (length === 0) return NO_LINEAGE;
    const t = offset + LAYOUT.hw_ancestor.fields.tgid; // lineage[0].tgid, little-endian u32
    const parent = (rec[t] | (rec[t + 1] << 8) | (rec[t + 2] << 16) | (rec[t + 3] << 24)) >>> 0;
    const hit = this.#m.get(parent);
    if (hit && sameBytes(hit.raw, rec, offset, length)) return hit.entries;
    const entries = Object.freeze(lineageEntries(decodeLineage(rec), resolver).map(Object.freeze));
    if (hit) this.#m.delete(parent);
    else if (this.#m.size >= this.max) this.#m.delete(this.#m.keys().next().value!);
    this.#m.set(parent, {
      raw: rec.slice(offset, offset + length),
      entries: entries as ConnEvent["lineage"],
    });
    return entries as ConnEvent["lineage"];
  }
}

const NO_LINEAGE: ConnEvent["lineage"] = Object.freeze([]) as unknown as ConnEvent["lineage"];

function sameBytes(a: Uint8Array, b: Uint8Array, offset: number, length: number): boolean {
  if (a.length !== length) return false;
  for (let i = 0; i < length; i++) if (a[i] !== b[offset + i]) return false;
  return true;
}

const lineages = new LineageCache();

/**
 * A u64 in decimal. Through a Number when exact: V8 caches the strings of recent numbers, so the
 * same device and inode on every record of a flood cost no new string (bigint toString does).
 */
function u64String(v: bigint): string {
  return v <= 0x1f_ffff_ffff_ffffn ? String(Number(v)) : v.toString();
}

/**
 * Converts a decoded record into a ConnEvent (`time` in epoch ms, from the boot clock). The
 * lineage is built from `raw.lineage` unless given.
 */
export function toConnEvent(
  raw: RawEvent,
  resolver: PathResolver,
  bootEpochMs: number,
  lineage: ConnEvent["lineage"] = lineageEntries(raw.lineage, resolver),
): ConnEvent {
  const dev = u64String(raw.exe.dev);
  const ino = u64String(raw.exe.ino);
  const key = `${dev}:${ino}`;
  const magic = viaMagicLink(raw.exePath);
  const binary = resolver.byIdentity(key) ??
    (raw.exePath.startsWith("/") && !(raw.flags & HW.EVF_SCRIPT) && !magic
      ? raw.exePath
      : undefined) ??
    (magic
      ? verified.peek(key) ?? verifiedMagic(raw, key, lineage) ?? unresolved(dev, ino, raw.exePath)
      : seen.lookup(key, raw.tgid) ?? (raw.exePath || raw.comm));
  // An interpreter's attempt is reported under the script's name, the interpreter shown beside.
  const isScript = (raw.flags & HW.EVF_SCRIPT) !== 0 && raw.exePath !== "";
  const ev: ConnEvent = {
    // Milliseconds: a double holds the boot clock's ns exactly enough (to the ns for 104 days).
    time: Math.round(bootEpochMs + Number(raw.tsNs) / 1e6),
    // An unknown kind is shown as such, never passed off as a connect.
    kind: KINDS[raw.kind] ?? `kind_${raw.kind}`,
    verdict: raw.verdict === HW.VERDICT_DENY ? "deny" : "allow",
    reason: reasonText(raw),
    tgid: raw.tgid,
    uid: raw.uid,
    comm: raw.comm,
    exe: isScript ? scriptPath(raw) : binary,
    dev,
    ino,
    family: raw.family as 0 | 4 | 6,
    daddr: formatAddr(raw.daddr),
    dport: raw.dport,
    proto: raw.proto,
    lineage,
  };
  if (isScript) ev.interpreter = binary;
  if (raw.viaApp && (raw.flags & HW.EVF_VIA)) {
    const via = resolver.appName?.(raw.viaApp);
    if (via !== undefined) ev.via = via;
  }
  if (raw.reason === HW.REASON_RULE) {
    const ruleId = resolver.ruleId?.(raw.rule);
    if (ruleId !== undefined) ev.ruleId = ruleId;
  }
  return ev;
}

/**
 * Decodes a ring-buffer record and converts it. `rec` may be a view into the ring: nothing of
 * it is kept.
 */
export function recordToConnEvent(
  rec: Uint8Array,
  resolver: PathResolver,
  bootEpochMs: number,
): ConnEvent {
  return toConnEvent(decodeEventHead(rec), resolver, bootEpochMs, lineages.of(rec, resolver));
}

/** Epoch ms at which the boot clock (bpf_ktime_get_boot_ns / CLOCK_BOOTTIME) read zero. */
export function bootEpochMs(): number {
  const uptimeSec = Number(Deno.readTextFileSync("/proc/uptime").split(" ")[0]);
  return Date.now() - uptimeSec * 1000;
}

/** A tiny identity → path map fed by the app registry. */
export class IdentityPaths implements PathResolver {
  #m = new Map<string, string>();
  /** Remembers that `key` is the file at `path`. */
  set(key: ExeKey, path: string): void {
    this.#m.set(keyString(key), path);
  }
  /** The path of a known identity, by its {@link keyString}. */
  byIdentity(key: string): string | undefined {
    return this.#m.get(key);
  }
}
