/**
 * The TypeScript mirror of bpf/hashwall.h: sizes, offsets and constants of every struct the
 * kernel programs and userspace exchange, with encoders and decoders built on those offsets.
 *
 * This is the only place userspace knows the binary layout. tests/unit/structs_layout_test.ts
 * compiles a C probe against bpf/hashwall.h and checks every size, offset and constant here.
 *
 * @module
 */

/** Constants of hashwall.h (names without the `HW_` prefix). */
export const HW = {
  MAX_APPS: 65536,
  MAX_PROCS: 131072,
  MAX_DEDUP: 16384,
  LINEAGE_DEPTH: 8,
  COMM_LEN: 16,
  PATH_LEN: 256,
  RINGBUF_BYTES: 8 * 1024 * 1024,
  MAX_SCRIPTS: 16384,
  SCRIPT_NAME_LEN: 128,
  /** Longest ring-buffer record: head, 8 ancestors, a 256-byte path. */
  EVENT_MAX: 96 + 40 * 8 + 256,
  APP_INHERIT: 0x1,
  APP_INTERPRETER: 0x2,
  TRUST_OWN: 1,
  TRUST_INHERITED: 2,
  MODE_LEARNING: 0,
  MODE_ENFORCING: 1,
  CNT_ALLOW: 0,
  CNT_DENY: 1,
  CNT_UNKNOWN: 2,
  CNT_LOST: 3,
  CNT_DEDUPED: 4,
  CNT_LOOPBACK: 5,
  CNT_INHERITED: 6,
  CNT_EXEC_TRUSTED: 7,
  CNT_EVENTS: 8,
  CNT_MAX: 16,
  EV_CONNECT: 1,
  EV_SENDMSG: 2,
  EV_SOCK_CREATE: 3,
  EV_EXEC: 4,
  VERDICT_ALLOW: 0,
  VERDICT_DENY: 1,
  REASON_UNKNOWN_APP: 1,
  REASON_NOT_INHERITED: 2,
  REASON_REVOKED: 3,
  REASON_INTERPRETER: 4,
  REASON_SCRIPT_UNRESOLVED: 5,
  REASON_RULE: 6,
  REASON_SCRIPT_PENDING: 32,
  REASON_SCRIPT_MISMATCH: 33,
  REASON_STALE: 34,
  // revocation at the writable open (bpf/write_revoke.h)
  EV_WRITE_OPEN: 5,
  EV_TAINT: 6,
  REASON_WRITE_OPEN: 35,
  MAX_WRITE_WATCH: 131072,
  EVF_SCRIPT: 0x1,
  // borrowed trust (bpf/argv_grammar.h, bpf/exec_env.h, bpf/tamper.h)
  REASON_ENV: 16,
  REASON_TRACED: 17,
  REASON_INJECTED: 18,
  REASON_ARGV: 19,
  REASON_USERNS: 20,
  ENV_TOO_LARGE: 255,
  ENV_MAX_VARS: 256,
  ENV_NAME_LEN: 32,
  ENV_ALL_KINDS: 0x80000000,
  TAMPER_PTRACE: 1,
  TAMPER_VM_WRITE: 2,
  TAMPER_PROC_MEM: 3,
  TAMPER_SET_MM: 4,
  TAMPER_GETFD: 5,
  KIND_OTHER: 0,
  KIND_PYTHON: 1,
  KIND_SHELL: 2,
  KIND_PERL: 3,
  KIND_NODE: 4,
  KIND_RUBY: 5,
  KIND_JAVA: 6,
  KIND_MAX: 8,
  // lineage through exec (bpf/lineage.h)
  TRUST_VIA: 3,
  EVF_VIA: 0x100,
  REASON_NOT_VIA: 24,
  VIA_MAX: 8,
  ARG_FLAG: 1,
  ARG_VALUE: 2,
  ARG_CODE: 3,
  ARG_END: 4,
  ARG_SCRIPT: 5,
  ARG_PREFIX: 6,
  ARG_CHECKED: 7,
  ARG_VALUES: 0x100,
  ARGK_KNOWN: 0x1,
  ARGK_CLUSTER: 0x2,
  ARGK_ATTACHED: 0x4,
  ARGK_PLUS: 0x8,
  ARGK_SCRIPT_ONLY: 0x10,
  ARG_OPT_LEN: 28,
  ARG_MAX: 32,
  ARG_CLUSTER_MAX: 16,
  SOCK_REVOKE_MAX: 4096,
  SOCK_COOKIE_MAX: 65536,
  SOCK_TRUSTED: 0x1,
  SOCK_UNKNOWN: 0x2,
  SOCK_BOUND: 0x4,
  CLOSE_CHANGED: 1,
  CLOSE_REVOKED: 2,
  CLOSE_MISMATCH: 3,
  CLOSE_ENDED: 4,
  CLOSE_NOT_APPROVED: 5,
  CLOSE_TAINTED: 6,
  SOCK_RES_CLOSED: 1,
  SOCK_RES_WOULD_CLOSE: 2,
  SOCK_RES_FAILED: 3,
} as const;

/** Names of the counters, indexed by their HW_CNT_* value. */
export const COUNTER_NAMES: readonly string[] = [
  "allow",
  "deny",
  "unknown",
  "lost",
  "deduped",
  "loopback",
  "inherited",
  "exec_trusted",
  "events",
];

/** Size and field offsets of each shared struct (nested fields as `a.b`, arrays as `a[i].b`). */
export const LAYOUT = {
  hw_exe_key: { size: 16, fields: { dev: 0, ino: 8 } },
  hw_app_val: {
    size: 32,
    fields: {
      app_id: 0,
      flags: 4,
      mtime_sec: 8,
      ctime_sec: 16,
      mtime_nsec: 24,
      ctime_nsec: 28,
    },
  },
  hw_proc_val: {
    size: 32,
    fields: {
      "trust_key.dev": 0,
      "trust_key.ino": 8,
      app_id: 16,
      source: 20,
      from_tgid: 24,
      flags: 28,
    },
  },
  hw_settings: {
    size: 24,
    fields: {
      mode: 0,
      allow_loopback: 4,
      daemon_tgid: 8,
      dedup_ms: 12,
      generation: 16,
      daemon_start: 20,
    },
  },
  hw_ancestor: { size: 40, fields: { "exe.dev": 0, "exe.ino": 8, tgid: 16, comm: 24 } },
  hw_event: {
    size: 96,
    fields: {
      ts_ns: 0,
      "exe.dev": 8,
      "exe.ino": 16,
      tgid: 24,
      uid: 28,
      kind: 32,
      verdict: 33,
      family: 34,
      proto: 35,
      dport: 36,
      depth: 38,
      reason: 40,
      flags: 44,
      daddr: 48,
      comm: 64,
      rule: 80,
      via_app: 84,
      path_len: 88,
    },
  },
  hw_event_buf: {
    size: 680,
    fields: { head: 0, lineage: 96, "lineage[1].tgid": 152, path_room: 416, busy: 672 },
  },
  hw_script_key: { size: 256, fields: { path: 0 } },
  hw_script_rel_key: { size: 144, fields: { "dir.dev": 0, "dir.ino": 8, name: 16 } },
  hw_script_val: { size: 24, fields: { "key.dev": 0, "key.ino": 8, app_id: 16, flags: 20 } },
  hw_argv_key: { size: 32, fields: { kind: 0, opt: 4 } },
  hw_argv_val: { size: 4, fields: { action: 0 } },
  hw_app_exec: { size: 8, fields: { kind: 0, env_allow: 4 } },
  hw_env_key: { size: 32, fields: { name: 0 } },
  hw_env_val: { size: 8, fields: { bit: 0, kinds: 4 } },
  hw_taint: { size: 8, fields: { vector: 0, by_tgid: 4 } },
  hw_write_watch: { size: 16, fields: { seq: 0, tgid: 8, count: 12 } },
  hw_lineage: { size: 32, fields: { apps: 0 } },
  hw_only_via: { size: 32, fields: { apps: 0 } },
  hw_dedup_key: {
    size: 40,
    fields: {
      "exe.dev": 0,
      "exe.ino": 8,
      daddr: 16,
      dport: 32,
      proto: 34,
      kind: 35,
      script_hash: 36,
    },
  },
  hw_sock_val: {
    size: 32,
    fields: { "trust_key.dev": 0, "trust_key.ino": 8, app_id: 16, tgid: 20, uid: 24, flags: 28 },
  },
  hw_sock_rkey: { size: 24, fields: { "key.dev": 0, "key.ino": 8, app_id: 16 } },
  hw_sock_ctl: {
    size: 16,
    fields: { dry_run: 0, unapproved: 4, unapproved_reason: 8, no_record: 12 },
  },
  hw_sock_closed: {
    size: 80,
    fields: {
      "trust_key.dev": 0,
      "trust_key.ino": 8,
      app_id: 16,
      tgid: 20,
      uid: 24,
      reason: 28,
      flags: 32,
      err: 36,
      result: 40,
      family: 41,
      proto: 42,
      state: 43,
      dport: 44,
      sport: 46,
      daddr: 48,
      saddr: 64,
    },
  },
} as const;

/** A kernel executable identity (dev in kernel s_dev encoding). */
export interface ExeKey {
  dev: bigint;
  ino: bigint;
}

/** Encodes a `struct hw_exe_key`. */
export function encodeExeKey(k: ExeKey): Uint8Array {
  const b = new Uint8Array(LAYOUT.hw_exe_key.size);
  const v = new DataView(b.buffer);
  v.setBigUint64(LAYOUT.hw_exe_key.fields.dev, k.dev, true);
  v.setBigUint64(LAYOUT.hw_exe_key.fields.ino, k.ino, true);
  return b;
}

/** Decodes a `struct hw_exe_key` at `offset`. */
export function decodeExeKey(b: Uint8Array, offset = 0): ExeKey {
  return exeKeyAt(new DataView(b.buffer, b.byteOffset, b.byteLength), offset);
}

/** Reads a `struct hw_exe_key` at `offset` of a view the caller already has. */
function exeKeyAt(v: DataView, offset: number): ExeKey {
  const f = LAYOUT.hw_exe_key.fields;
  return { dev: v.getBigUint64(offset + f.dev, true), ino: v.getBigUint64(offset + f.ino, true) };
}

/**
 * A file's mtime and ctime in nanoseconds since the epoch, from the fstat that preceded its hash
 * (userspace `st_mtim`/`st_ctim`: the kernel masks its multigrain flag there too).
 */
export interface FileTimes {
  mtimeNs: bigint;
  ctimeNs: bigint;
}

/** Times of an approval that is not a file (never compared: no inode has that identity). */
export const NO_TIMES: FileTimes = { mtimeNs: 0n, ctimeNs: 0n };

/** `struct hw_app_val`. */
export interface AppVal {
  appId: number;
  flags: number;
  /** Times the kernel requires the inode to still have (bpf/stale.h). */
  times: FileTimes;
}

const NS = 1_000_000_000n;

/** Encodes a `struct hw_app_val`. */
export function encodeAppVal(a: AppVal): Uint8Array {
  const f = LAYOUT.hw_app_val.fields;
  const b = new Uint8Array(LAYOUT.hw_app_val.size);
  const v = new DataView(b.buffer);
  v.setUint32(f.app_id, a.appId, true);
  v.setUint32(f.flags, a.flags, true);
  // Floor division, so times before 1970 split like the kernel's (sec < 0, 0 <= nsec < 1e9).
  const split = (ns: bigint): [bigint, number] => {
    const r = ((ns % NS) + NS) % NS;
    return [(ns - r) / NS, Number(r)];
  };
  const [ms, mn] = split(a.times.mtimeNs);
  const [cs, cn] = split(a.times.ctimeNs);
  v.setBigInt64(f.mtime_sec, ms, true);
  v.setBigInt64(f.ctime_sec, cs, true);
  v.setUint32(f.mtime_nsec, mn, true);
  v.setUint32(f.ctime_nsec, cn, true);
  return b;
}

/** Decodes a `struct hw_app_val`. */
export function decodeAppVal(b: Uint8Array): AppVal {
  const f = LAYOUT.hw_app_val.fields;
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  return {
    appId: v.getUint32(f.app_id, true),
    flags: v.getUint32(f.flags, true),
    times: {
      mtimeNs: v.getBigInt64(f.mtime_sec, true) * NS + BigInt(v.getUint32(f.mtime_nsec, true)),
      ctimeNs: v.getBigInt64(f.ctime_sec, true) * NS + BigInt(v.getUint32(f.ctime_nsec, true)),
    },
  };
}

/** `struct hw_proc_val`. */
export interface ProcVal {
  trustKey: ExeKey;
  appId: number;
  source: number;
  fromTgid: number;
  flags: number;
}

/** Encodes a `struct hw_proc_val`. */
export function encodeProcVal(p: ProcVal): Uint8Array {
  const f = LAYOUT.hw_proc_val.fields;
  const b = new Uint8Array(LAYOUT.hw_proc_val.size);
  const v = new DataView(b.buffer);
  v.setBigUint64(f["trust_key.dev"], p.trustKey.dev, true);
  v.setBigUint64(f["trust_key.ino"], p.trustKey.ino, true);
  v.setUint32(f.app_id, p.appId, true);
  v.setUint32(f.source, p.source, true);
  v.setUint32(f.from_tgid, p.fromTgid, true);
  v.setUint32(f.flags, p.flags, true);
  return b;
}

/** Decodes a `struct hw_proc_val`. */
export function decodeProcVal(b: Uint8Array): ProcVal {
  const f = LAYOUT.hw_proc_val.fields;
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  return {
    trustKey: decodeExeKey(b, f["trust_key.dev"]),
    appId: v.getUint32(f.app_id, true),
    source: v.getUint32(f.source, true),
    fromTgid: v.getUint32(f.from_tgid, true),
    flags: v.getUint32(f.flags, true),
  };
}

/** `struct hw_settings`. */
export interface Settings {
  mode: number;
  allowLoopback: boolean;
  daemonTgid: number;
  dedupMs: number;
  generation: number;
  /**
   * Start time of `daemonTgid` (clock ticks since boot, low 32 bits, as /proc/PID/stat field 22):
   * the exemption holds only for that very process. AppControl fills it in when absent.
   */
  daemonStart?: number;
}

/** Encodes a `struct hw_settings`. */
export function encodeSettings(s: Settings): Uint8Array {
  const f = LAYOUT.hw_settings.fields;
  const b = new Uint8Array(LAYOUT.hw_settings.size);
  const v = new DataView(b.buffer);
  v.setUint32(f.mode, s.mode, true);
  v.setUint32(f.allow_loopback, s.allowLoopback ? 1 : 0, true);
  v.setUint32(f.daemon_tgid, s.daemonTgid, true);
  v.setUint32(f.dedup_ms, s.dedupMs, true);
  v.setUint32(f.generation, s.generation, true);
  v.setUint32(f.daemon_start, (s.daemonStart ?? 0) >>> 0, true);
  return b;
}

/** Decodes a `struct hw_settings`. */
export function decodeSettings(b: Uint8Array): Settings {
  const f = LAYOUT.hw_settings.fields;
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  return {
    mode: v.getUint32(f.mode, true),
    allowLoopback: v.getUint32(f.allow_loopback, true) !== 0,
    daemonTgid: v.getUint32(f.daemon_tgid, true),
    dedupMs: v.getUint32(f.dedup_ms, true),
    generation: v.getUint32(f.generation, true),
    daemonStart: v.getUint32(f.daemon_start, true),
  };
}

/** One ancestor of a reported process. */
export interface Ancestor {
  tgid: number;
  exe: ExeKey;
  comm: string;
}

/** A decoded `struct hw_event`. */
export interface RawEvent {
  tsNs: bigint;
  exe: ExeKey;
  tgid: number;
  uid: number;
  kind: number;
  verdict: number;
  family: number;
  proto: number;
  dport: number;
  reason: number;
  /** HW_EVF_*: with EVF_SCRIPT, `exePath` is the script an interpreter runs. */
  flags: number;
  /** With REASON_RULE: the deciding rule's index in file order. */
  rule: number;
  /** With EVF_VIA: the kernel app id of the inheriting app the process is trusted via. */
  viaApp: number;
  /** 4 bytes for family 4, 16 for family 6, empty for family 0. */
  daddr: Uint8Array;
  comm: string;
  exePath: string;
  lineage: Ancestor[];
}

const decoder = new TextDecoder();

/**
 * Strings decoded recently, by a hash of their bytes. A flood repeats the same few names (comm,
 * paths) on every record; building a string per field per record was most of the decoding time
 * (bench/ingest.ts). A hit is checked byte by byte, so a hash collision only costs a rebuild.
 */
const interned = new Map<number, { bytes: Uint8Array; s: string }>();
const INTERN_MAX = 4096;

/** Reads a NUL-terminated C string of at most `max` bytes (UTF-8; ASCII without a decoder call). */
function cString(b: Uint8Array, offset: number, max: number): string {
  const stop = Math.min(offset + max, b.length);
  let end = offset;
  let h = 0x811c9dc5;
  let ascii = true;
  for (; end < stop; end++) {
    const c = b[end];
    if (c === 0) break;
    if (c >= 0x80) ascii = false;
    h = Math.imul(h ^ c, 0x01000193);
  }
  const len = end - offset;
  if (len === 0) return "";
  h = (h ^ len) >>> 0;
  const hit = interned.get(h);
  if (hit !== undefined && hit.bytes.length === len) {
    let same = true;
    for (let i = 0; i < len; i++) {
      if (hit.bytes[i] !== b[offset + i]) {
        same = false;
        break;
      }
    }
    if (same) return hit.s;
  }
  const bytes = b.slice(offset, end);
  const s = ascii
    ? String.fromCharCode.apply(null, bytes as unknown as number[])
    : decoder.decode(bytes);
  if (interned.size >= INTERN_MAX) interned.clear();
  interned.set(h, { bytes, s });
  return s;
}

/** Decodes a `struct hw_event` record (head, lineage, path) from the ring (copied; safe to keep). */
export function decodeEvent(b: Uint8Array): RawEvent {
  const head = decodeEventHead(b);
  head.lineage = decodeLineage(b);
  return head;
}

/**
 * Where the lineage of a record lies: byte offset and length of its ancestors (the head's
 * `depth`, clamped to HW_LINEAGE_DEPTH and to what the record holds).
 */
export function lineageSpan(b: Uint8Array): { offset: number; length: number } {
  const offset = LAYOUT.hw_event.size;
  const size = LAYOUT.hw_ancestor.size;
  const depth = Math.min(
    b[LAYOUT.hw_event.fields.depth] | (b[LAYOUT.hw_event.fields.depth + 1] << 8),
    HW.LINEAGE_DEPTH,
    Math.max(0, Math.floor((b.byteLength - offset) / size)),
  );
  return { offset, length: depth * size };
}

/** The ancestors of a record (lineage[0] is the parent). */
export function decodeLineage(b: Uint8Array): Ancestor[] {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const { offset, length } = lineageSpan(b);
  const ancSize = LAYOUT.hw_ancestor.size;
  const af = LAYOUT.hw_ancestor.fields;
  const lineage: Ancestor[] = [];
  for (let base = offset; base < offset + length; base += ancSize) {
    lineage.push({
      exe: exeKeyAt(v, base + af["exe.dev"]),
      tgid: v.getUint32(base + af.tgid, true),
      comm: cString(b, base + af.comm, HW.COMM_LEN),
    });
  }
  return lineage;
}

/**
 * Decodes everything of a record but its lineage (`lineage` is empty): the event path takes
 * the lineage from a cache when the same ancestors were seen before (src/kernel/events.ts).
 * Throws for a record shorter than its head says (depth, path_len).
 */
export function decodeEventHead(b: Uint8Array): RawEvent {
  const f = LAYOUT.hw_event.fields;
  if (b.byteLength < LAYOUT.hw_event.size) {
    throw new Error(`short hw_event record: ${b.byteLength} bytes`);
  }
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const depth = v.getUint16(f.depth, true);
  const pathLen = v.getUint16(f.path_len, true);
  if (depth > HW.LINEAGE_DEPTH || pathLen >= HW.PATH_LEN) {
    throw new Error(`bad hw_event record: depth ${depth}, path_len ${pathLen}`);
  }
  const pathAt = LAYOUT.hw_event.size + depth * LAYOUT.hw_ancestor.size;
  if (b.byteLength < pathAt + pathLen) {
    throw new Error(
      `short hw_event record: ${b.byteLength} bytes for depth ${depth}, path_len ${pathLen}`,
    );
  }
  const family = v.getUint8(f.family);
  const addrLen = family === 4 ? 4 : family === 6 ? 16 : 0;
  return {
    tsNs: v.getBigUint64(f.ts_ns, true),
    exe: exeKeyAt(v, f["exe.dev"]),
    tgid: v.getUint32(f.tgid, true),
    uid: v.getUint32(f.uid, true),
    kind: v.getUint8(f.kind),
    verdict: v.getUint8(f.verdict),
    family,
    proto: v.getUint8(f.proto),
    dport: v.getUint16(f.dport, true),
    reason: v.getUint32(f.reason, true),
    flags: v.getUint32(f.flags, true),
    rule: v.getUint32(f.rule, true),
    viaApp: v.getUint32(f.via_app, true),
    daddr: b.slice(f.daddr, f.daddr + addrLen),
    comm: cString(b, f.comm, HW.COMM_LEN),
    exePath: pathLen === 0 ? "" : cString(b, pathAt, pathLen),
    lineage: [],
  };
}

/**
 * Builds a `struct hw_event` record as the kernel writes it (head, lineage, path), for tests
 * and benchmarks that feed the event path without a kernel.
 */
export function encodeEventRecord(
  head: Omit<RawEvent, "lineage" | "exePath" | "tsNs" | "comm"> & {
    tsNs?: bigint;
    comm?: Uint8Array;
    exePath?: Uint8Array;
    lineage?: { exe: ExeKey; tgid: number; comm: Uint8Array }[];
    /** Overrides the depth written in the head (to build malformed records). */
    depth?: number;
  },
): Uint8Array {
  const f = LAYOUT.hw_event.fields;
  const anc = LAYOUT.hw_ancestor;
  const lineage = head.lineage ?? [];
  const path = head.exePath ?? new Uint8Array(0);
  const pathAt = LAYOUT.hw_event.size + lineage.length * anc.size;
  const b = new Uint8Array(pathAt + path.length);
  const v = new DataView(b.buffer);
  v.setBigUint64(f.ts_ns, head.tsNs ?? 0n, true);
  v.setBigUint64(f["exe.dev"], head.exe.dev, true);
  v.setBigUint64(f["exe.ino"], head.exe.ino, true);
  v.setUint32(f.tgid, head.tgid, true);
  v.setUint32(f.uid, head.uid, true);
  v.setUint8(f.kind, head.kind);
  v.setUint8(f.verdict, head.verdict);
  v.setUint8(f.family, head.family);
  v.setUint8(f.proto, head.proto);
  v.setUint16(f.dport, head.dport, true);
  v.setUint16(f.depth, head.depth ?? lineage.length, true);
  v.setUint32(f.reason, head.reason, true);
  v.setUint32(f.flags, head.flags, true);
  b.set(head.daddr.subarray(0, 16), f.daddr);
  if (head.comm) b.set(head.comm.subarray(0, HW.COMM_LEN), f.comm);
  v.setUint32(f.rule, head.rule, true);
  v.setUint32(f.via_app, head.viaApp, true);
  v.setUint16(f.path_len, path.length, true);
  lineage.forEach((a, i) => {
    const base = LAYOUT.hw_event.size + i * anc.size;
    v.setBigUint64(base + anc.fields["exe.dev"], a.exe.dev, true);
    v.setBigUint64(base + anc.fields["exe.ino"], a.exe.ino, true);
    v.setUint32(base + anc.fields.tgid, a.tgid, true);
    b.set(a.comm.subarray(0, HW.COMM_LEN), base + anc.fields.comm);
  });
  b.set(path, pathAt);
  return b;
}

/** Encodes a u32 map key (tgid, array index). */
export function u32Key(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n, true);
  return b;
}

const encoder = new TextEncoder();

/** Encodes a `struct hw_script_key` (absolute path, NUL-padded); throws when too long. */
export function encodeScriptKey(path: string): Uint8Array {
  const b = new Uint8Array(LAYOUT.hw_script_key.size);
  const p = encoder.encode(path);
  if (p.length >= b.length) throw new RangeError(`script path longer than ${b.length - 1} bytes`);
  b.set(p, 0);
  return b;
}

/** Encodes a `struct hw_script_rel_key` (folder identity + bare name); throws when too long. */
export function encodeScriptRelKey(dir: ExeKey, name: string): Uint8Array {
  const f = LAYOUT.hw_script_rel_key.fields;
  const b = new Uint8Array(LAYOUT.hw_script_rel_key.size);
  const v = new DataView(b.buffer);
  v.setBigUint64(f["dir.dev"], dir.dev, true);
  v.setBigUint64(f["dir.ino"], dir.ino, true);
  const n = encoder.encode(name);
  if (n.length >= HW.SCRIPT_NAME_LEN || name.includes("/")) {
    throw new RangeError(`script name must be under ${HW.SCRIPT_NAME_LEN} bytes without "/"`);
  }
  b.set(n, f.name);
  return b;
}

/** Encodes a `struct hw_script_val`. */
export function encodeScriptVal(key: ExeKey, appId: number, flags: number): Uint8Array {
  const f = LAYOUT.hw_script_val.fields;
  const b = new Uint8Array(LAYOUT.hw_script_val.size);
  const v = new DataView(b.buffer);
  v.setBigUint64(f["key.dev"], key.dev, true);
  v.setBigUint64(f["key.ino"], key.ino, true);
  v.setUint32(f.app_id, appId, true);
  v.setUint32(f.flags, flags, true);
  return b;
}

/** Encodes a `struct hw_argv_key`; throws when the option does not fit. */
export function encodeArgvKey(kind: number, opt: string): Uint8Array {
  const f = LAYOUT.hw_argv_key.fields;
  const b = new Uint8Array(LAYOUT.hw_argv_key.size);
  new DataView(b.buffer).setUint32(f.kind, kind, true);
  const o = encoder.encode(opt);
  if (o.length >= HW.ARG_OPT_LEN) throw new RangeError(`option ${opt} too long for the grammar`);
  b.set(o, f.opt);
  return b;
}

/** Encodes a `struct hw_env_key`; throws when the name does not fit. */
export function encodeEnvKey(name: string): Uint8Array {
  const b = new Uint8Array(LAYOUT.hw_env_key.size);
  const n = encoder.encode(name);
  if (n.length >= HW.ENV_NAME_LEN - 1) throw new RangeError(`variable name ${name} too long`);
  b.set(n, 0);
  return b;
}

/** Encodes two u32 (hw_argv_val has one; hw_app_exec, hw_env_val, hw_taint have two). */
export function encodeU32s(...xs: number[]): Uint8Array {
  const b = new Uint8Array(xs.length * 4);
  const v = new DataView(b.buffer);
  xs.forEach((x, i) => v.setUint32(i * 4, x >>> 0, true));
  return b;
}

/** A decoded `struct hw_write_watch` (bpf/write_revoke.h). */
export interface WriteWatch {
  /** Boot-clock ns of the newest writable open since the daemon wrote the entry; 0: none. */
  seq: bigint;
  /** The process of that open. */
  tgid: number;
  /** Writable opens seen (wraps). */
  count: number;
}

/** Encodes a `struct hw_write_watch`. */
export function encodeWriteWatch(w: WriteWatch): Uint8Array {
  const b = new Uint8Array(LAYOUT.hw_write_watch.size);
  const v = new DataView(b.buffer);
  v.setBigUint64(LAYOUT.hw_write_watch.fields.seq, w.seq, true);
  v.setUint32(LAYOUT.hw_write_watch.fields.tgid, w.tgid >>> 0, true);
  v.setUint32(LAYOUT.hw_write_watch.fields.count, w.count >>> 0, true);
  return b;
}

/** Decodes a `struct hw_write_watch`. */
export function decodeWriteWatch(b: Uint8Array): WriteWatch {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  return {
    seq: v.getBigUint64(LAYOUT.hw_write_watch.fields.seq, true),
    tgid: v.getUint32(LAYOUT.hw_write_watch.fields.tgid, true),
    count: v.getUint32(LAYOUT.hw_write_watch.fields.count, true),
  };
}

/** A decoded `struct hw_taint`. */
export interface Taint {
  vector: number;
  byTgid: number;
}

/** Decodes a `struct hw_taint`. */
export function decodeTaint(b: Uint8Array): Taint {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  return {
    vector: v.getUint32(LAYOUT.hw_taint.fields.vector, true),
    byTgid: v.getUint32(LAYOUT.hw_taint.fields.by_tgid, true),
  };
}

/** Encodes a `struct hw_sock_rkey`: an identity whose sockets are to close. */
export function encodeSockRevokeKey(key: ExeKey, appId: number): Uint8Array {
  const L = LAYOUT.hw_sock_rkey;
  const b = new Uint8Array(L.size);
  const v = new DataView(b.buffer);
  v.setBigUint64(L.fields["key.dev"], key.dev, true);
  v.setBigUint64(L.fields["key.ino"], key.ino, true);
  v.setUint32(L.fields.app_id, appId, true);
  return b;
}

/** Element 0 of hw_sock_ctl: how the next iterator run behaves. */
export interface SockCtl {
  /** Report "would close", destroy nothing. */
  dryRun: boolean;
  /** Also every stored socket whose trust is not approved now, with this HW_CLOSE_* reason. */
  unapprovedReason?: number;
  /** The hooks write no socket records (close_on_revoke = false). */
  noRecord?: boolean;
}

/** Encodes a `struct hw_sock_ctl`. */
export function encodeSockCtl(c: SockCtl): Uint8Array {
  const L = LAYOUT.hw_sock_ctl;
  const b = new Uint8Array(L.size);
  const v = new DataView(b.buffer);
  v.setUint32(L.fields.dry_run, c.dryRun ? 1 : 0, true);
  v.setUint32(L.fields.unapproved, c.unapprovedReason ? 1 : 0, true);
  v.setUint32(L.fields.unapproved_reason, c.unapprovedReason ?? 0, true);
  v.setUint32(L.fields.no_record, c.noRecord ? 1 : 0, true);
  return b;
}

/** A decoded `struct hw_sock_closed`: one socket an iterator closed or would close. */
export interface SockClosed {
  trustKey: ExeKey;
  appId: number;
  tgid: number;
  uid: number;
  reason: number;
  flags: number;
  err: number;
  result: number;
  family: number;
  proto: number;
  state: number;
  dport: number;
  sport: number;
  /** 4 bytes for family 4, else 16 (network order). */
  daddr: Uint8Array;
  saddr: Uint8Array;
}

/** Decodes a `struct hw_sock_closed` at `offset` of `b`. */
export function decodeSockClosed(b: Uint8Array, offset = 0): SockClosed {
  const L = LAYOUT.hw_sock_closed;
  const v = new DataView(b.buffer, b.byteOffset + offset, L.size);
  const f = L.fields;
  const family = v.getUint8(f.family);
  const n = family === 6 ? 16 : 4;
  const at = b.byteOffset + offset;
  return {
    trustKey: {
      dev: v.getBigUint64(f["trust_key.dev"], true),
      ino: v.getBigUint64(f["trust_key.ino"], true),
    },
    appId: v.getUint32(f.app_id, true),
    tgid: v.getUint32(f.tgid, true),
    uid: v.getUint32(f.uid, true),
    reason: v.getUint32(f.reason, true),
    flags: v.getUint32(f.flags, true),
    err: v.getInt32(f.err, true),
    result: v.getUint8(f.result),
    family,
    proto: v.getUint8(f.proto),
    state: v.getUint8(f.state),
    dport: v.getUint16(f.dport, true),
    sport: v.getUint16(f.sport, true),
    daddr: new Uint8Array(b.buffer.slice(at + f.daddr, at + f.daddr + n)),
    saddr: new Uint8Array(b.buffer.slice(at + f.saddr, at + f.saddr + n)),
  };
}
