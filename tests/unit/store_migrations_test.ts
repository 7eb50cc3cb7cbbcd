import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { openStore } from "../../src/store/store.ts";
import { MIGRATIONS } from "../../src/store/migrations.ts";
import { applyMigrations, checkMigrationList } from "../../src/store/migrate.ts";

async function withTempDir(fn: (dir: string) => Promise<void> | void): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "hw-store-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("migrations: an empty file is migrated to the newest version and reopens unchanged", () =>
  withTempDir((dir) => {
    const path = `${dir}/hashwall.db`;
    const s1 = openStore(path);
    assert.equal(s1.schemaVersion(), MIGRATIONS.length);
    s1.audit({ role: "admin", channel: "cli", who: "uid 0" }, "test", { a: 1 }, true);
    s1.close();

    const raw = new DatabaseSync(path);
    const versions = raw.prepare("SELECT version, name FROM schema_version ORDER BY version").all();
    assert.deepEqual(
      versions.map((v) => ({ ...v })),
      MIGRATIONS.map((m) => ({ version: m.version, name: m.name })),
    );
    const mode = raw.prepare("PRAGMA journal_mode").get() as { journal_mode: string };
    assert.equal(mode.journal_mode, "wal");
    raw.close();

    const s2 = openStore(path);
    assert.equal(s2.schemaVersion(), MIGRATIONS.length);
    assert.equal(s2.auditList().length, 1, "re-open keeps data and does not re-run migrations");
    assert.equal(s2.integrityCheck(), "ok");
    s2.close();
  }));

Deno.test("migrations: a later appended migration is applied on reopen, in its own transaction", () =>
  withTempDir((dir) => {
    const path = `${dir}/hashwall.db`;
    openStore(path).close();
    const db = new DatabaseSync(path);
    const extended = [
      ...MIGRATIONS,
      { version: MIGRATIONS.length + 1, name: "extra", sql: "CREATE TABLE extra (x INTEGER)" },
    ];
    assert.deepEqual(applyMigrations(db, extended), {
      from: MIGRATIONS.length,
      to: MIGRATIONS.length + 1,
    });
    // A failing migration rolls back entirely and leaves the version where it was.
    const broken = [
      ...extended,
      {
        version: extended.length + 1,
        name: "broken",
        sql: "CREATE TABLE half (x INTEGER); THIS IS NOT SQL",
      },
    ];
    assert.throws(() => applyMigrations(db, broken), /migration \d+ \(broken\) failed/);
    assert.equal(
      (db.prepare("PRAGMA user_version").get() as { user_version: number }).user_version,
      extended.length,
    );
    assert.equal(
      db.prepare("SELECT name FROM sqlite_master WHERE name = 'half'").get(),
      undefined,
      "the half-applied table was rolled back",
    );
    db.close();
  }));

Deno.test("migrations: a newer database and a gapped migration list are refused clearly", () =>
  withTempDir((dir) => {
    const path = `${dir}/hashwall.db`;
    openStore(path).close();
    const db = new DatabaseSync(path);
    db.exec("PRAGMA user_version = 999");
    db.close();
    assert.throws(() => openStore(path), /schema version 999 is newer/);
    assert.throws(
      () => checkMigrationList([{ version: 2, name: "x", sql: "" }]),
      /entry 0 \("x"\) has version 2, expected 1/,
    );
  }));

Deno.test("store: read-only open reads without writing and refuses a missing file", () =>
  withTempDir((dir) => {
    const path = `${dir}/hashwall.db`;
    assert.throws(() => openStore(path, { readOnly: true }), /no history database at/);
    const w = openStore(path);
    w.audit({ role: "admin", channel: "cli", who: "root" }, "x", {}, true);
    const r = openStore(path, { readOnly: true });
    assert.equal(r.auditList().length, 1);
    assert.throws(
      () => r.audit({ role: "admin", channel: "cli", who: "root" }, "y", {}, true),
      /readonly/,
    );
    r.close();
    w.close();
  }));
