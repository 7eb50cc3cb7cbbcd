import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { applyMigrations } from "../../src/store/migrate.ts";
import { HashCache } from "../../src/integrity/hash_cache.ts";
import { hashFile, statIdentity } from "../../src/integrity/hash.ts";
import { FileWatcher } from "../../src/integrity/watch.ts";

function openDb(path: string): DatabaseSync {
  const db = new DatabaseSync(path);
  applyMigrations(db);
  return db;
}

Deno.test("hash cache: hits only for the same stat key in the current watch epoch", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hw-cache-" });
  let db = openDb(`${dir}/h.db`);
  try {
    const file = `${dir}/bin`;
    await Deno.writeTextFile(file, "content-1");
    let cache = new HashCache(db);
    assert.equal(cache.lookup(statIdentity(file)), null, "epoch 0 trusts nothing");
    const e1 = cache.beginEpoch("test start");
    const h = await hashFile(file);
    assert.equal(cache.put(h, { watched: true }), true);
    assert.equal(cache.lookup(statIdentity(file)), h.sha256);

    // Not under the watch before hashing → stored, but never continuity-trusted.
    const other = `${dir}/other`;
    await Deno.writeTextFile(other, "o");
    const ho = await hashFile(other);
    cache.put(ho, { watched: false });
    assert.equal(cache.lookup(statIdentity(other)), null);
    assert.equal(cache.lookup(statIdentity(other), "stat-key"), ho.sha256);

    // A hash taken while the file moved is not stored at all.
    assert.equal(cache.put({ ...ho, changedDuringHash: true, ino: "1" }, { watched: true }), false);
    assert.equal(cache.row({ ...ho, ino: "1" }), null);

    // Restart: a new epoch. The row still matches the stat key, but continuity is broken.
    db.close();
    db = openDb(`${dir}/h.db`);
    cache = new HashCache(db);
    const e2 = cache.beginEpoch("restart");
    assert.ok(e2 > e1);
    assert.equal(cache.lookup(statIdentity(file)), null, "restart → re-hash");
    assert.equal(cache.lookup(statIdentity(file), "stat-key"), h.sha256);
    assert.equal(cache.row(statIdentity(file))?.watchEpoch, e1);

    // Any write changes ctime (and here size): the row no longer matches, in either mode.
    await Deno.writeTextFile(file, "content-2");
    assert.equal(cache.lookup(statIdentity(file), "stat-key"), null);
    // Same size, same mtime forged with utime: ctime still moved.
    const h2 = await hashFile(file);
    cache.put(h2, { watched: true });
    await Deno.writeTextFile(file, "content-3");
    const mt = BigInt(h2.mtimeNs);
    await Deno.utime(file, Number(mt / 1_000_000_000n), Number(mt / 1_000_000_000n));
    assert.equal(cache.lookup(statIdentity(file), "stat-key"), null);
  } finally {
    db.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("hash cache: a watch event invalidates the row (daemon wiring, real fanotify)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hw-cache-" });
  const db = openDb(`${dir}/h.db`);
  const cache = new HashCache(db);
  let modified: () => void = () => {};
  const gotModify = new Promise<void>((r) => modified = r);
  const w = new FileWatcher({
    ignorePids: [],
    onEvent: (e) => {
      if ((e.kind === "modify" || e.kind === "replaced") && e.dev && e.ino) {
        cache.invalidate(e.dev, e.ino);
        modified();
      }
    },
  });
  try {
    const file = `${dir}/app`;
    await Deno.writeTextFile(file, "abc");
    w.addFile(file);
    w.start();
    cache.beginEpoch("start");
    const h = await hashFile(file);
    cache.put(h, { watched: true });
    const key = statIdentity(file);
    assert.equal(cache.lookup(key), h.sha256);
    const f = await Deno.open(file, { write: true });
    await f.write(new TextEncoder().encode("x")); // in place, same size
    f.close();
    await gotModify;
    assert.equal(cache.row(key), null, "invalidated by the modify event");
  } finally {
    await w.close();
    db.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("hash cache: refuses a database without the migration", () => {
  const db = new DatabaseSync(":memory:");
  try {
    assert.throws(() => new HashCache(db), /hash_cache missing/);
  } finally {
    db.close();
  }
});

Deno.test("hash cache: batch writes its rows in one transaction, a throw keeps none", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hw-cache-" });
  const db = openDb(`${dir}/h.db`);
  try {
    const cache = new HashCache(db);
    cache.beginEpoch("test start");
    const files = [`${dir}/a`, `${dir}/b`];
    for (const f of files) await Deno.writeTextFile(f, f);
    const hashes = await Promise.all(files.map((f) => hashFile(f)));
    // Another connection sees nothing until the batch commits (WAL: readers see commits only).
    const other = new DatabaseSync(`${dir}/h.db`);
    const count = () =>
      (other.prepare("SELECT COUNT(*) AS n FROM hash_cache").get() as { n: number }).n;
    try {
      cache.batch(() => {
        for (const h of hashes) cache.put(h, { watched: true });
        assert.equal(count(), 0, "rows visible before the commit");
      });
      assert.equal(count(), 2);
      assert.throws(() =>
        cache.batch(() => {
          cache.invalidatePath(files[0]);
          throw new Error("boom");
        }), /boom/);
      assert.equal(count(), 2, "the failed batch's delete was rolled back");
    } finally {
      other.close();
    }
  } finally {
    db.close();
    await Deno.remove(dir, { recursive: true });
  }
});
