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

Deno.test("migration 6: rows written before it keep their lineage; a read-only open of a schema-5 file reads them", () =>
  withTempDir((dir) => {
    const path = `${dir}/hashwall.db`;
    const lineage = [{ tgid: 1, comm: "systemd", dev: "1", ino: "2", exe: "/sbin/init" }];
    const db = new DatabaseSync(path);
    db.exec("PRAGMA journal_mode = WAL");
    applyMigrations(db, MIGRATIONS.slice(0, 5));
    db.prepare(
      `INSERT INTO conn_events (time, kind, verdict, reason, tgid, uid, comm, exe, dev, ino,
         family, daddr, dport, proto, lineage) VALUES (1, 'connect', 'deny', 'unknown_app', 5, 0,
         'curl', '/usr/bin/curl', '1', '3', 4, '10.0.0.1', 443, 6, ?)`,
    ).run(JSON.stringify(lineage));
    db.close();
    // This build's CLI reading the file of an older daemon (not migrated yet).
    const r = openStore(path, { readOnly: true });
    assert.equal(r.schemaVersion(), 5);
    assert.deepEqual(r.queryEvents().map((e) => e.lineage), [lineage]);
    assert.deepEqual(r.unknownExes()[0].last.lineage, lineage);
    r.close();
    // Migrated: the old row still reads its own lineage, a new one the shared table's.
    const w = openStore(path);
    assert.equal(w.schemaVersion(), 6);
    w.insertEvents([{ ...w.queryEvents()[0], id: undefined, time: 2, tgid: 6 }]);
    assert.deepEqual(w.queryEvents().map((e) => [e.tgid, e.lineage]), [[6, lineage], [5, lineage]]);
    w.close();
  }));
