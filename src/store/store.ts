/**
 * The history store: one SQLite file (`<stateDir>/hashwall.db`) holding connection events, the
 * hash history of approved apps, integrity changes and the audit log of administrative actions.
 *
 * Durability: WAL journal with `synchronous=FULL`. In WAL mode NORMAL already survives a killed
 * process, but may drop the last commits on power loss; FULL fsyncs the WAL on every commit, so a
 * row whose insert returned is on disk — that is the promise "acknowledged rows are never lost".
 * The cost is one fsync per batch, and the daemon writes in batches ({@link EventBatcher}).
 *
 * @module
 */
import { DatabaseSync, type SQLInputValue, type StatementSync } from "node:sqlite";
import type { Caller, ConnEvent, EventCounts, EventQuery, LineageEntry } from "../api/types.ts";
import { applyMigrations, schemaVersion } from "./migrate.ts";
import { MIGRATIONS } from "./migrations.ts";
import {
  checkPositiveInt,
  MAX_QUERY_LIMIT,
  normalizeEventQuery,
  StoreInputError,
  validateConnEvent,
} from "./validate.ts";

/** File name of the database inside the state folder. */
export const DB_FILE = "hashwall.db";

/** How long a writer waits for another connection's lock before failing (ms). */
const BUSY_TIMEOUT_MS = 5000;
/** Rows deleted per retention transaction, so a large purge never holds the lock for long. */
const RETENTION_CHUNK = 10_000;

/** Options of {@link openStore}. */
export interface OpenStoreOptions {
  /** Open without writing (no migrations); for `hashwall events` reading a stopped daemon's file. */
  readOnly?: boolean;
}

/** One entry of an app's hash history. */
export interface AppHashRecord {
  id?: number;
  /** Epoch ms; defaults to now. */
  time?: number;
  name: string;
  path: string;
  oldSha256?: string;
  newSha256?: string;
  /** e.g. "approved", "valid", "invalid", "missing", "revoked". */
  status: string;
  who: string;
}

/** A stored hash-history entry (id and time always set). */
export type AppHashEntry = AppHashRecord & { id: number; time: number };

/** One integrity change as stored. */
export interface IntegrityChangeRecord {
  id?: number;
  /** Epoch ms; defaults to now. */
  time?: number;
  path: string;
  /** "modified" | "created" | "deleted" | "metadata" | … */
  change: string;
  oldHash?: string;
  newHash?: string;
  details?: Record<string, unknown>;
  /** Process that made the change, when fanotify told. */
  pid?: number;
  exe?: string;
}

/** Filters for {@link Store.integrityChanges}; newest first. */
export interface IntegrityQuery {
  since?: number;
  path?: string;
  /** Default 100, at most 10000. */
  limit?: number;
  before?: number;
}

/** One audit-log entry. */
export interface AuditEntry {
  id: number;
  time: number;
  who: string;
  channel: string;
  role: string;
  uid?: number;
  pid?: number;
  action: string;
  detail: unknown;
  ok: boolean;
  error?: string;
}

/** Caps for {@link Store.applyRetention}; an absent cap is not applied. */
export interface RetentionPolicy {
  /** Delete connection events and integrity changes older than this many days. */
  maxAgeDays?: number;
  /** Keep at most this many connection events (and as many integrity changes). */
  maxRows?: number;
  /** "Now" in epoch ms (tests); defaults to `Date.now()`. */
  now?: number;
}

/** Rows removed by one retention run. */
export interface RetentionResult {
  events: number;
  integrity: number;
}

/** An executable that connected without being a known app, summed up (Learning page input). */
export interface UnknownExeSummary {
  exe: string;
  attempts: number;
  firstSeen: number;
  lastSeen: number;
  /** Most recent event of this exe (lineage, tgid, comm). */
  last: ConnEvent;
}

/** The history store. Not safe to share across threads; one per process is the intent. */
export interface Store {
  /** Absolute path of the database file. */
  readonly path: string;
  /** Inserts `rows` in ONE transaction; returns how many were inserted. All or nothing. */
  insertEvents(rows: ConnEvent[]): number;
  /** Connection events matching `q`, newest first. */
  queryEvents(q?: EventQuery): ConnEvent[];
  /** Events with `time >= since` by verdict; `unknown` counts `reason = "unknown_app"`. */
  countEvents(q?: { since?: number }): EventCounts;
  /** Unknown executables seen since `since`, most recent first (for the learning list). */
  unknownExes(q?: { since?: number; limit?: number }): UnknownExeSummary[];
  /** Appends an audit entry for `caller` doing `action`; returns its id. */
  audit(caller: Caller, action: string, detail: unknown, ok: boolean, error?: string): number;
  /** The newest `limit` audit entries (default 100), newest first. */
  auditList(limit?: number): AuditEntry[];
  /** Appends to an app's hash history; returns the id. */
  recordAppHash(r: AppHashRecord): number;
  /** An app's hash history, newest first. */
  appHashHistory(name: string, limit?: number): AppHashEntry[];
  /** Appends an integrity change; returns the id. */
  recordIntegrityChange(r: IntegrityChangeRecord): number;
  /** Integrity changes matching `q`, newest first. */
  integrityChanges(q?: IntegrityQuery): IntegrityChangeRecord[];
  /** Deletes the oldest connection events and integrity changes beyond the caps. */
  applyRetention(p: RetentionPolicy): RetentionResult;
  /**
   * Copies the WAL into the main file and truncates it, giving its space back. Returns false when
   * that failed (e.g. no room to grow the main file). The daemon's batcher calls it after a failed
   * write, because a WAL is otherwise only reset after an automatic checkpoint at 1000 pages.
   */
  checkpoint(): boolean;
  /** `PRAGMA integrity_check` result ("ok" when sound). */
  integrityCheck(): string;
  /** Schema version of the file. */
  schemaVersion(): number;
  /** Closes the database. Further calls throw. */
  close(): void;
}

/**
 * JSON of a lineage, once per array: the event path shares one frozen array among the events of
 * the same ancestors (src/kernel/events.ts), so a flood serializes it once, not per row.
 */
const lineageJsonCache = new WeakMap<object, string>();
/** Columns insertEvents writes, in the order #eventArgs binds them. */
const EVENT_COLUMNS = `time, kind, verdict, reason, rule_id, tgid, uid, comm, exe, dev, ino,
  family, daddr, dport, proto, app, lineage_id, interpreter, via, host`;
const EVENT_COLS = 20;
/** Rows per INSERT statement in insertEvents (20 values each, far below SQLite's limit). */
const ROWS_PER_INSERT = 100;
function eventInsertSql(rows: number): string {
  const one = `(${new Array(EVENT_COLS).fill("?").join(", ")})`;
  return `INSERT INTO conn_events (${EVENT_COLUMNS}) VALUES ${
    new Array(rows).fill(one).join(", ")
  }`;
}
/** Lineage ids remembered by JSON per store. */
const LINEAGE_CACHE = 4096;
/** The event columns, with the lineage's JSON from the lineages table (see rowToEvent). */
const EVENT_SELECT = `SELECT e.*, l.json AS lineage_json
  FROM conn_events e LEFT JOIN lineages l ON l.id = e.lineage_id`;
/**
 * The same for a database not migrated to schema 6 yet (a read-only open, e.g. `hashwall events`
 * of this build while an older daemon still runs): every row holds its own lineage.
 */
const EVENT_SELECT_V5 = "SELECT e.*, NULL AS lineage_json FROM conn_events e";
function lineageJson(lineage: ConnEvent["lineage"]): string {
  if (!Object.isFrozen(lineage)) return JSON.stringify(lineage);
  let json = lineageJsonCache.get(lineage);
  if (json === undefined) lineageJsonCache.set(lineage, json = JSON.stringify(lineage));
  return json;
}

interface EventRow {
  id: number;
  time: number;
  kind: string;
  verdict: "allow" | "deny";
  reason: string;
  rule_id: string | null;
  tgid: number;
  uid: number;
  comm: string;
  exe: string;
  dev: string;
  ino: string;
  family: number;
  daddr: string;
  dport: number;
  proto: number;
  app: string | null;
  /** The row's own lineage JSON (rows before schema 6; '[]' for rows with a lineage_id). */
  lineage: string;
  /** The shared lineage's JSON (lineages table), when the row has a lineage_id. */
  lineage_json: string | null;
  interpreter: string | null;
  via: string | null;
  host: string | null;
}

function rowToEvent(r: EventRow): ConnEvent {
  let lineage: LineageEntry[] = [];
  try {
    lineage = JSON.parse(r.lineage_json ?? r.lineage);
  } catch { /* a damaged lineage cell must not hide the event */ }
  const ev: ConnEvent = {
    id: r.id,
    time: r.time,
    kind: r.kind as ConnEvent["kind"],
    verdict: r.verdict,
    reason: r.reason,
    tgid: r.tgid,
    uid: r.uid,
    comm: r.comm,
    exe: r.exe,
    dev: r.dev,
    ino: r.ino,
    family: r.family as ConnEvent["family"],
    daddr: r.daddr,
    dport: r.dport,
    proto: r.proto,
    lineage,
  };
  if (r.app !== null) ev.app = r.app;
  if (r.rule_id !== null) ev.ruleId = r.rule_id;
  if (r.interpreter !== null) ev.interpreter = r.interpreter;
  if (r.via !== null) ev.via = r.via;
  if (r.host !== null && r.host !== undefined) ev.host = r.host;
  return ev;
}

function parseJson(text: string | null, fallback: unknown): unknown {
  if (text === null) return fallback;
  try {
    return JSON.parse(text);
  } catch {
    return fallback;
  }
}

function checkOptString(where: string, field: string, v: unknown): string | null {
  if (v === undefined || v === null) return null;
  if (typeof v !== "string") {
    throw new StoreInputError(`${where}: "${field}" must be a string (got ${JSON.stringify(v)})`);
  }
  return v;
}

function checkString(where: string, field: string, v: unknown): string {
  if (typeof v !== "string" || v === "") {
    throw new StoreInputError(
      `${where}: "${field}" must be a non-empty string (got ${JSON.stringify(v)})`,
    );
  }
  return v;
}

function checkTime(where: string, v: unknown): number {
  if (v === undefined) return Date.now();
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0) {
    throw new StoreInputError(`${where}: "time" must be epoch milliseconds (got ${v})`);
  }
  return v;
}

/**
 * Opens (creating and migrating when needed) the history database at `path`.
 *
 * @example
 * ```ts
 * const store = openStore("/var/lib/hashwall/hashwall.db");
 * store.insertEvents([ev]);
 * const last = store.queryEvents({ verdict: "deny", limit: 10 });
 * store.close();
 * ```
 */
export function openStore(path: string, opts: OpenStoreOptions = {}): Store {
  const readOnly = opts.readOnly ?? false;
  if (readOnly) {
    try {
      Deno.statSync(path);
    } catch (e) {
      throw new Error(`no history database at ${path}: ${e instanceof Error ? e.message : e}`);
    }
  }
  let db: DatabaseSync;
  try {
    db = new DatabaseSync(path, {
      readOnly,
      timeout: BUSY_TIMEOUT_MS,
      enableForeignKeyConstraints: true,
    });
  } catch (e) {
    throw new Error(`cannot open history database ${path}: ${e instanceof Error ? e.message : e}`);
  }
  try {
    db.exec(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`);
    db.exec("PRAGMA foreign_keys = ON");
    if (readOnly) {
      const v = schemaVersion(db);
      if (v > MIGRATIONS.length) {
        throw new Error(
          `database schema version ${v} is newer than this hashwall build knows (${MIGRATIONS.length})`,
        );
      }
      if (v === 0) throw new Error(`${path} is not a hashwall history database (schema version 0)`);
    } else {
      const mode = db.prepare("PRAGMA journal_mode = WAL").get() as { journal_mode: string };
      if (mode.journal_mode.toLowerCase() !== "wal") {
        throw new Error(`could not switch ${path} to WAL mode (got ${mode.journal_mode})`);
      }
      db.exec("PRAGMA synchronous = FULL");
      applyMigrations(db);
    }
  } catch (e) {
    db.close();
    throw e;
  }
  return new SqliteStore(db, path);
}

class SqliteStore implements Store {
  readonly #db: DatabaseSync;
  readonly #stmts = new Map<string, StatementSync>();
  /** Ids of lineages written already: by shared array, and by JSON (bounded). */
  #lineageByArray = new WeakMap<object, number>();
  readonly #lineageByJson = new Map<string, number>();
  /** Cache entries added by the transaction in progress (undone if it rolls back). */
  readonly #newLineages: (string | object)[] = [];
  /** Bound values of one multi-row insert, reused. */
  readonly #insertArgs: SQLInputValue[] = new Array(ROWS_PER_INSERT * EVENT_COLS).fill(null);
  readonly path: string;

  /** EVENT_SELECT, or EVENT_SELECT_V5 for a database without the lineages table. */
  readonly #eventSelect: string;

  constructor(db: DatabaseSync, path: string) {
    this.#db = db;
    this.path = path;
    const hasLineages = db.prepare(
      "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'lineages'",
    ).get() !== undefined;
    this.#eventSelect = hasLineages ? EVENT_SELECT : EVENT_SELECT_V5;
  }

  /** Prepared statements are cached by their SQL text: each is compiled once per store. */
  #stmt(sql: string): StatementSync {
    let s = this.#stmts.get(sql);
    if (!s) {
      s = this.#db.prepare(sql);
      this.#stmts.set(sql, s);
    }
    return s;
  }

  #tx<T>(fn: () => T): T {
    this.#db.exec("BEGIN IMMEDIATE");
    try {
      const r = fn();
      this.#db.exec("COMMIT");
      return r;
    } catch (e) {
      // A failed COMMIT (disk full) may already have rolled back on its own.
      if (this.#db.isTransaction) {
        try {
          this.#db.exec("ROLLBACK");
        } catch { /* nothing left to undo */ }
      }
      throw e;
    }
  }

  insertEvents(rows: ConnEvent[]): number {
    if (!Array.isArray(rows)) throw new StoreInputError("insertEvents: rows must be an array");
    rows.forEach(validateConnEvent);
    if (rows.length === 0) return 0;
    // Many rows per statement: each run() has a fixed cost (binding, stepping, a result object)
    // that 100 rows share — a third less CPU per row than one row per run (bench/ingest.ts).
    const many = this.#stmt(eventInsertSql(ROWS_PER_INSERT));
    const one = this.#stmt(eventInsertSql(1));
    const args = this.#insertArgs;
    try {
      return this.#tx(() => {
        let i = 0;
        for (; i + ROWS_PER_INSERT <= rows.length; i += ROWS_PER_INSERT) {
          for (let k = 0; k < ROWS_PER_INSERT; k++) {
            this.#eventArgs(rows[i + k], args, k * EVENT_COLS);
          }
          many.run(...args);
        }
        const single = args.slice(0, EVENT_COLS);
        for (; i < rows.length; i++) {
          this.#eventArgs(rows[i], single, 0);
          one.run(...single);
        }
        this.#newLineages.length = 0;
        return rows.length;
      });
    } catch (e) {
      // The lineages written in the rolled-back transaction are gone: forget their ids.
      for (const k of this.#newLineages) {
        if (typeof k === "string") this.#lineageByJson.delete(k);
        else this.#lineageByArray.delete(k);
      }
      this.#newLineages.length = 0;
      throw e;
    }
  }

  /** Writes the bound values of `e` (EVENT_COLUMNS order) into `out` from `at`. */
  #eventArgs(e: ConnEvent, out: SQLInputValue[], at: number): void {
    out[at] = e.time;
    out[at + 1] = e.kind;
    out[at + 2] = e.verdict;
    out[at + 3] = e.reason;
    out[at + 4] = e.ruleId ?? null;
    out[at + 5] = e.tgid;
    out[at + 6] = e.uid;
    out[at + 7] = e.comm;
    out[at + 8] = e.exe;
    out[at + 9] = e.dev;
    out[at + 10] = e.ino;
    out[at + 11] = e.family;
    out[at + 12] = e.daddr;
    out[at + 13] = e.dport;
    out[at + 14] = e.proto;
    out[at + 15] = e.app ?? null;
    out[at + 16] = this.#lineageId(e.lineage);
    out[at + 17] = e.interpreter ?? null;
    out[at + 18] = e.via ?? null;
    out[at + 19] = e.host ?? null;
  }

  /**
   * The id of `lineage` in the lineages table (null for none), written there on first sight.
   * Called inside insertEvents' transaction. Shared frozen arrays (src/kernel/events.ts) are
   * looked up by identity, others by their JSON.
   */
  #lineageId(lineage: ConnEvent["lineage"]): number | null {
    if (lineage.length === 0) return null;
    const frozen = Object.isFrozen(lineage);
    if (frozen) {
      const id = this.#lineageByArray.get(lineage);
      if (id !== undefined) return id;
    }
    const json = lineageJson(lineage);
    let id = this.#lineageByJson.get(json);
    if (id === undefined) {
      const row = this.#stmt(
        `INSERT INTO lineages (json) VALUES (?)
         ON CONFLICT (json) DO UPDATE SET json = excluded.json RETURNING id`,
      ).get(json) as { id: number };
      id = row.id;
      if (this.#lineageByJson.size >= LINEAGE_CACHE) {
        this.#lineageByJson.delete(this.#lineageByJson.keys().next().value!);
      }
      this.#lineageByJson.set(json, id);
      this.#newLineages.push(json);
    }
    if (frozen) {
      this.#lineageByArray.set(lineage, id);
      this.#newLineages.push(lineage);
    }
    return id;
  }

  queryEvents(query: EventQuery = {}): ConnEvent[] {
    const q = normalizeEventQuery(query);
    const where: string[] = [];
    const params: (string | number)[] = [];
    if (q.since !== undefined) {
      where.push("e.time >= ?");
      params.push(q.since);
    }
    if (q.app !== undefined) {
      where.push("e.app = ?");
      params.push(q.app);
    }
    if (q.verdict !== undefined) {
      where.push("e.verdict = ?");
      params.push(q.verdict);
    }
    if (q.before !== undefined) {
      where.push("e.id < ?");
      params.push(q.before);
    }
    const sql = `${this.#eventSelect}${
      where.length ? ` WHERE ${where.join(" AND ")}` : ""
    } ORDER BY e.id DESC LIMIT ?`;
    params.push(q.limit);
    return (this.#stmt(sql).all(...params) as unknown as EventRow[]).map(rowToEvent);
  }

  countEvents(q: { since?: number } = {}): EventCounts {
    const since = q.since ?? 0;
    if (typeof since !== "number" || !Number.isFinite(since)) {
      throw new StoreInputError(`countEvents: "since" must be epoch milliseconds (got ${since})`);
    }
    const rows = this.#stmt(
      `SELECT verdict, reason = 'unknown_app' AS unknown, count(*) AS n
       FROM conn_events WHERE time >= ? GROUP BY verdict, unknown`,
    ).all(since) as { verdict: string; unknown: number; n: number }[];
    const out: EventCounts = { allow: 0, deny: 0, unknown: 0 };
    for (const r of rows) {
      if (r.verdict === "allow") out.allow += r.n;
      else out.deny += r.n;
      if (r.unknown) out.unknown += r.n;
    }
    return out;
  }

  unknownExes(q: { since?: number; limit?: number } = {}): UnknownExeSummary[] {
    const limit = checkPositiveInt("unknownExes", "limit", q.limit ?? 100, MAX_QUERY_LIMIT);
    const rows = this.#stmt(
      `SELECT exe, count(*) AS attempts, min(time) AS first_seen, max(time) AS last_seen,
              max(id) AS last_id
       FROM conn_events WHERE reason = 'unknown_app' AND time >= ?
       GROUP BY exe ORDER BY last_id DESC LIMIT ?`,
    ).all(q.since ?? 0, limit) as {
      exe: string;
      attempts: number;
      first_seen: number;
      last_seen: number;
      last_id: number;
    }[];
    const byId = this.#stmt(`${this.#eventSelect} WHERE e.id = ?`);
    return rows.map((r) => ({
      exe: r.exe,
      attempts: r.attempts,
      firstSeen: r.first_seen,
      lastSeen: r.last_seen,
      last: rowToEvent(byId.get(r.last_id) as unknown as EventRow),
    }));
  }

  audit(caller: Caller, action: string, detail: unknown, ok: boolean, error?: string): number {
    checkString("audit", "action", action);
    checkString("audit", "caller.who", caller?.who);
    const r = this.#stmt(
      `INSERT INTO audit_log (time, who, channel, role, uid, pid, action, detail, ok, error)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ).run(
      Date.now(),
      caller.who,
      caller.channel,
      caller.role,
      caller.uid ?? null,
      caller.pid ?? null,
      action,
      JSON.stringify(detail ?? {}),
      ok ? 1 : 0,
      error ?? null,
    );
    return Number(r.lastInsertRowid);
  }

  auditList(limit = 100): AuditEntry[] {
    checkPositiveInt("auditList", "limit", limit, MAX_QUERY_LIMIT);
    const rows = this.#stmt("SELECT * FROM audit_log ORDER BY id DESC LIMIT ?").all(limit) as {
      id: number;
      time: number;
      who: string;
      channel: string;
      role: string;
      uid: number | null;
      pid: number | null;
      action: string;
      detail: string;
      ok: number;
      error: string | null;
    }[];
    return rows.map((r) => {
      const e: AuditEntry = {
        id: r.id,
        time: r.time,
        who: r.who,
        channel: r.channel,
        role: r.role,
        action: r.action,
        detail: parseJson(r.detail, {}),
        ok: r.ok === 1,
      };
      if (r.uid !== null) e.uid = r.uid;
      if (r.pid !== null) e.pid = r.pid;
      if (r.error !== null) e.error = r.error;
      return e;
    });
  }

  recordAppHash(rec: AppHashRecord): number {
    const where = "recordAppHash";
    const r = this.#stmt(
      `INSERT INTO app_hashes (time, name, path, old_sha256, new_sha256, status, who)
       VALUES (?, ?, ?, ?, ?, ?, ?)`,
    ).run(
      checkTime(where, rec.time),
      checkString(where, "name", rec.name),
      checkString(where, "path", rec.path),
      checkOptString(where, "oldSha256", rec.oldSha256),
      checkOptString(where, "newSha256", rec.newSha256),
      checkString(where, "status", rec.status),
      checkString(where, "who", rec.who),
    );
    return Number(r.lastInsertRowid);
  }

  appHashHistory(name: string, limit = 100): AppHashEntry[] {
    checkString("appHashHistory", "name", name);
    checkPositiveInt("appHashHistory", "limit", limit, MAX_QUERY_LIMIT);
    const rows = this.#stmt(
      "SELECT * FROM app_hashes WHERE name = ? ORDER BY id DESC LIMIT ?",
    ).all(name, limit) as {
      id: number;
      time: number;
      name: string;
      path: string;
      old_sha256: string | null;
      new_sha256: string | null;
      status: string;
      who: string;
    }[];
    return rows.map((r) => {
      const e: AppHashEntry = {
        id: r.id,
        time: r.time,
        name: r.name,
        path: r.path,
        status: r.status,
        who: r.who,
      };
      if (r.old_sha256 !== null) e.oldSha256 = r.old_sha256;
      if (r.new_sha256 !== null) e.newSha256 = r.new_sha256;
      return e;
    });
  }

  recordIntegrityChange(rec: IntegrityChangeRecord): number {
    const where = "recordIntegrityChange";
    if (rec.pid !== undefined && (!Number.isInteger(rec.pid) || rec.pid < 0)) {
      throw new StoreInputError(`${where}: "pid" must be an integer ≥ 0 (got ${rec.pid})`);
    }
    const r = this.#stmt(
      `INSERT INTO integrity_changes (time, path, change, old_hash, new_hash, details, pid, exe)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    ).run(
      checkTime(where, rec.time),
      checkString(where, "path", rec.path),
      checkString(where, "change", rec.change),
      checkOptString(where, "oldHash", rec.oldHash),
      checkOptString(where, "newHash", rec.newHash),
      JSON.stringify(rec.details ?? {}),
      rec.pid ?? null,
      checkOptString(where, "exe", rec.exe),
    );
    return Number(r.lastInsertRowid);
  }

  integrityChanges(q: IntegrityQuery = {}): IntegrityChangeRecord[] {
    const where: string[] = [];
    const params: (string | number)[] = [];
    if (q.since !== undefined) {
      if (typeof q.since !== "number" || !Number.isFinite(q.since)) {
        throw new StoreInputError(`integrityChanges: "since" must be epoch ms (got ${q.since})`);
      }
      where.push("time >= ?");
      params.push(q.since);
    }
    if (q.path !== undefined) {
      where.push("path = ?");
      params.push(checkString("integrityChanges", "path", q.path));
    }
    if (q.before !== undefined) {
      where.push("id < ?");
      params.push(checkPositiveInt("integrityChanges", "before", q.before));
    }
    params.push(checkPositiveInt("integrityChanges", "limit", q.limit ?? 100, MAX_QUERY_LIMIT));
    const sql = `SELECT * FROM integrity_changes${
      where.length ? ` WHERE ${where.join(" AND ")}` : ""
    } ORDER BY id DESC LIMIT ?`;
    const rows = this.#stmt(sql).all(...params) as {
      id: number;
      time: number;
      path: string;
      change: string;
      old_hash: string | null;
      new_hash: string | null;
      details: string;
      pid: number | null;
      exe: string | null;
    }[];
    return rows.map((r) => {
      const e: IntegrityChangeRecord = {
        id: r.id,
        time: r.time,
        path: r.path,
        change: r.change,
        details: parseJson(r.details, {}) as Record<string, unknown>,
      };
      if (r.old_hash !== null) e.oldHash = r.old_hash;
      if (r.new_hash !== null) e.newHash = r.new_hash;
      if (r.pid !== null) e.pid = r.pid;
      if (r.exe !== null) e.exe = r.exe;
      return e;
    });
  }

  #deleteChunks(sql: string, arg: number): number {
    const stmt = this.#stmt(sql);
    let total = 0;
    for (;;) {
      const n = Number(this.#tx(() => stmt.run(arg, RETENTION_CHUNK)).changes);
      total += n;
      if (n < RETENTION_CHUNK) return total;
    }
  }

  #trimTable(table: "conn_events" | "integrity_changes", p: RetentionPolicy, now: number): number {
    let deleted = 0;
    if (p.maxAgeDays !== undefined) {
      const cutoff = now - p.maxAgeDays * 86_400_000;
      deleted += this.#deleteChunks(
        `DELETE FROM ${table} WHERE id IN
           (SELECT id FROM ${table} WHERE time < ? ORDER BY id LIMIT ?)`,
        cutoff,
      );
    }
    if (p.maxRows !== undefined) {
      const row = this.#stmt(`SELECT id FROM ${table} ORDER BY id DESC LIMIT 1 OFFSET ?`)
        .get(p.maxRows) as { id: number } | undefined;
      if (row) {
        deleted += this.#deleteChunks(
          `DELETE FROM ${table} WHERE id IN
             (SELECT id FROM ${table} WHERE id <= ? ORDER BY id LIMIT ?)`,
          row.id,
        );
      }
    }
    return deleted;
  }

  applyRetention(p: RetentionPolicy): RetentionResult {
    if (p.maxAgeDays !== undefined) {
      if (typeof p.maxAgeDays !== "number" || !(p.maxAgeDays > 0)) {
        throw new StoreInputError(
          `retention: "max_age_days" must be a number > 0 (got ${p.maxAgeDays})`,
        );
      }
    }
    if (p.maxRows !== undefined) checkPositiveInt("retention", "max_rows", p.maxRows);
    const now = p.now ?? Date.now();
    const events = this.#trimTable("conn_events", p, now);
    if (events > 0) this.#trimLineages();
    return { events, integrity: this.#trimTable("integrity_changes", p, now) };
  }

  /** Deletes the lineages no event points at any more (after retention deleted events). */
  #trimLineages(): void {
    this.#tx(() =>
      this.#stmt(
        `DELETE FROM lineages WHERE id NOT IN
           (SELECT lineage_id FROM conn_events WHERE lineage_id IS NOT NULL)`,
      ).run()
    );
    // Some remembered ids may be gone: look them up again.
    this.#lineageByArray = new WeakMap();
    this.#lineageByJson.clear();
  }

  checkpoint(): boolean {
    try {
      const r = this.#db.prepare("PRAGMA wal_checkpoint(TRUNCATE)").get() as { busy: number };
      return r.busy === 0;
    } catch {
      return false;
    }
  }

  integrityCheck(): string {
    const rows = this.#db.prepare("PRAGMA integrity_check").all() as {
      integrity_check: string;
    }[];
    return rows.map((r) => r.integrity_check).join("\n");
  }

  schemaVersion(): number {
    return schemaVersion(this.#db);
  }

  close(): void {
    this.#stmts.clear();
    if (this.#db.isOpen) this.#db.close();
  }
}
