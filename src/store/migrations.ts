/**
 * The history database schema as an ordered list of migrations. `openStore` applies every
 * migration newer than the database's `PRAGMA user_version`, each in its own transaction, and
 * records it in `schema_version`.
 *
 * APPEND-ONLY: never edit, reorder or remove a migration that has been committed — databases in the
 * field have already run it. To change the schema, append a new entry with the next version number
 * (other modules, e.g. the integrity engine's hash cache, append theirs here too).
 *
 * @module
 */

/** One schema step. `version` numbers are 1, 2, 3, … without gaps, in list order. */
export interface Migration {
  version: number;
  /** Short slug shown in `schema_version`. */
  name: string;
  /** SQL run inside the migration's transaction (may hold several statements). */
  sql: string;
}

/** Every migration, oldest first. Append only. */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: "history-core",
    sql: `
      -- AUTOINCREMENT: ids are never reused after retention deletes old rows, so a client paging
      -- with "before <id>" never sees a new row under an old id.
      CREATE TABLE conn_events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        time INTEGER NOT NULL,
        kind TEXT NOT NULL,
        verdict TEXT NOT NULL CHECK (verdict IN ('allow', 'deny')),
        reason TEXT NOT NULL,
        rule_id TEXT,
        tgid INTEGER NOT NULL,
        uid INTEGER NOT NULL,
        comm TEXT NOT NULL,
        exe TEXT NOT NULL,
        dev TEXT NOT NULL,
        ino TEXT NOT NULL,
        family INTEGER NOT NULL,
        daddr TEXT NOT NULL,
        dport INTEGER NOT NULL,
        proto INTEGER NOT NULL,
        app TEXT,
        lineage TEXT NOT NULL DEFAULT '[]'
      );
      CREATE INDEX conn_events_time ON conn_events (time);
      CREATE INDEX conn_events_app ON conn_events (app, id);
      CREATE INDEX conn_events_verdict ON conn_events (verdict, id);
      CREATE INDEX conn_events_exe ON conn_events (exe, id);

      CREATE TABLE app_hashes (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        time INTEGER NOT NULL,
        name TEXT NOT NULL,
        path TEXT NOT NULL,
        old_sha256 TEXT,
        new_sha256 TEXT,
        status TEXT NOT NULL,
        who TEXT NOT NULL
      );
      CREATE INDEX app_hashes_name ON app_hashes (name, id);

      CREATE TABLE integrity_changes (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        time INTEGER NOT NULL,
        path TEXT NOT NULL,
        change TEXT NOT NULL,
        old_hash TEXT,
        new_hash TEXT,
        details TEXT NOT NULL DEFAULT '{}',
        pid INTEGER,
        exe TEXT
      );
      CREATE INDEX integrity_changes_time ON integrity_changes (time);
      CREATE INDEX integrity_changes_path ON integrity_changes (path, id);

      CREATE TABLE audit_log (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        time INTEGER NOT NULL,
        who TEXT NOT NULL,
        channel TEXT NOT NULL,
        role TEXT NOT NULL,
        uid INTEGER,
        pid INTEGER,
        action TEXT NOT NULL,
        detail TEXT NOT NULL DEFAULT '{}',
        ok INTEGER NOT NULL CHECK (ok IN (0, 1)),
        error TEXT
      );
      CREATE INDEX audit_log_time ON audit_log (time);
    `,
  },
  {
    version: 2,
    name: "integrity-hash-cache",
    sql: `
      -- One row per inode: the last hash and the stat key it was taken under (src/integrity/
      -- hash_cache.ts). A row is used only while size, mtime_ns and ctime_ns still match AND,
      -- by default, watch_epoch is the current unbroken fanotify watch.
      CREATE TABLE hash_cache (
        dev TEXT NOT NULL,
        ino TEXT NOT NULL,
        size INTEGER NOT NULL,
        mtime_ns TEXT NOT NULL,
        ctime_ns TEXT NOT NULL,
        sha256 TEXT NOT NULL,
        path TEXT NOT NULL,
        hashed_at INTEGER NOT NULL,
        watch_epoch INTEGER NOT NULL,
        PRIMARY KEY (dev, ino)
      );
      -- Each daemon start and each lost-event overflow begins a new epoch (continuity broken).
      CREATE TABLE watch_epochs (
        epoch INTEGER PRIMARY KEY AUTOINCREMENT,
        started_at INTEGER NOT NULL,
        reason TEXT NOT NULL
      );
    `,
  },
  {
    version: 3,
    name: "conn-events-interpreter",
    sql: `
      -- For a script's attempts (issue: scripts are apps): the interpreter that ran it. The
      -- event's exe is the script, so the learning list groups by script.
      ALTER TABLE conn_events ADD COLUMN interpreter TEXT;
    `,
  },
  {
    version: 4,
    name: "conn-events-via",
    sql: `
      -- Lineage through exec (issue 21): the inheriting app a process was trusted via.
      ALTER TABLE conn_events ADD COLUMN via TEXT;
    `,
  },
  {
    version: 5,
    name: "conn-events-host",
    sql: `
      -- Hostnames: the name the app resolved the destination from (kernel DNS view), when known.
      ALTER TABLE conn_events ADD COLUMN host TEXT;
    `,
  },
  {
    version: 6,
    name: "conn-events-lineages",
    sql: `
      -- Ingest (issue 22): a flood comes from few processes and repeats the same ancestors on every
      -- row. Each distinct lineage (its JSON) is stored once and rows point at it; rows written
      -- before this keep theirs in conn_events.lineage (rows with a lineage_id keep '[]' there).
      CREATE TABLE lineages (
        id INTEGER PRIMARY KEY,
        json TEXT NOT NULL UNIQUE
      );
      ALTER TABLE conn_events ADD COLUMN lineage_id INTEGER;
    `,
  },
];
