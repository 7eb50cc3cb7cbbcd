/**
 * Applies {@link MIGRATIONS} to an open database: each pending migration in its own transaction,
 * recorded in the `schema_version` table and in `PRAGMA user_version` (which is what is checked on
 * open, since reading it needs no table).
 *
 * @module
 */
import type { DatabaseSync } from "node:sqlite";
import { type Migration, MIGRATIONS } from "./migrations.ts";

/** What {@link applyMigrations} did: the schema version before and after. */
export interface MigrationResult {
  from: number;
  to: number;
}

/** Throws when `list` is not numbered 1, 2, 3, … in order (a broken append). */
export function checkMigrationList(list: readonly Migration[]): void {
  list.forEach((m, i) => {
    if (m.version !== i + 1) {
      throw new Error(
        `migration list is broken: entry ${i} ("${m.name}") has version ${m.version}, expected ${
          i + 1
        } (versions must be 1, 2, 3, … in order; append only)`,
      );
    }
  });
}

/** Reads `PRAGMA user_version`. */
export function schemaVersion(db: DatabaseSync): number {
  const row = db.prepare("PRAGMA user_version").get() as { user_version: number };
  return row.user_version;
}

/**
 * Brings `db` up to the newest migration. A database written by a newer hashwall (higher version
 * than this build knows) is refused rather than guessed at.
 *
 * @example
 * ```ts
 * const { from, to } = applyMigrations(db); // e.g. { from: 0, to: 1 } on a new file
 * ```
 */
export function applyMigrations(
  db: DatabaseSync,
  list: readonly Migration[] = MIGRATIONS,
): MigrationResult {
  checkMigrationList(list);
  const from = schemaVersion(db);
  if (from > list.length) {
    throw new Error(
      `database schema version ${from} is newer than this hashwall build knows (${list.length}); ` +
        `upgrade hashwall or point it at another state folder`,
    );
  }
  db.exec(
    `CREATE TABLE IF NOT EXISTS schema_version (
       version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)`,
  );
  for (const m of list.slice(from)) {
    // IMMEDIATE takes the write lock first, so two processes opening a new file at once
    // serialise instead of both trying the same migration.
    db.exec("BEGIN IMMEDIATE");
    try {
      if (schemaVersion(db) >= m.version) {
        db.exec("COMMIT");
        continue;
      }
      db.exec(m.sql);
      db.prepare("INSERT INTO schema_version (version, name, applied_at) VALUES (?, ?, ?)")
        .run(m.version, m.name, Date.now());
      db.exec(`PRAGMA user_version = ${m.version}`);
      db.exec("COMMIT");
    } catch (e) {
      if (db.isTransaction) db.exec("ROLLBACK");
      throw new Error(
        `migration ${m.version} (${m.name}) failed: ${e instanceof Error ? e.message : e}`,
      );
    }
  }
  return { from, to: schemaVersion(db) };
}
