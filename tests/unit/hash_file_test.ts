import assert from "node:assert/strict";
import { hashFile, type OpenFileHash } from "../../src/integrity/hash.ts";
import { closeFd } from "../../ffi/libc.ts";
import { HashPool, isHashError } from "../../src/integrity/hash_pool.ts";

const EMPTY = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
const ABC = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

async function sha256sum(path: string): Promise<string> {
  const out = await new Deno.Command("sha256sum", { args: [path], stdout: "piped" }).output();
  assert.equal(out.code, 0);
  return new TextDecoder().decode(out.stdout).split(" ")[0];
}

Deno.test("hashFile: known vectors and the identity of the same fd", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hw-hash-" });
  try {
    await Deno.writeFile(`${dir}/empty`, new Uint8Array());
    await Deno.writeTextFile(`${dir}/abc`, "abc");
    await Deno.chmod(`${dir}/abc`, 0o640);
    const e = await hashFile(`${dir}/empty`);
    assert.equal(e.sha256, EMPTY);
    assert.equal(e.size, 0);
    const a = await hashFile(`${dir}/abc`);
    assert.equal(a.sha256, ABC);
    assert.equal(a.size, 3);
    const st = await Deno.stat(`${dir}/abc`);
    assert.equal(a.ino, String(st.ino));
    assert.equal(a.dev, String(st.dev));
    assert.equal(a.mode, st.mode);
    assert.equal(a.mode & 0o777, 0o640);
    assert.equal(a.uid, st.uid);
    assert.equal(a.gid, st.gid);
    // ns timestamps agree with Deno's ms view.
    assert.equal(BigInt(a.mtimeNs) / 1_000_000n, BigInt(st.mtime!.getTime()));
    assert.equal(a.changedDuringHash, false);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("hashFile: a 100 MB file equals sha256sum, for several read sizes", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hw-hash-" });
  try {
    const path = `${dir}/big`;
    const f = await Deno.open(path, { write: true, create: true });
    const block = new Uint8Array(1 << 20);
    for (let i = 0; i < 100; i++) {
      crypto.getRandomValues(block.subarray(0, 65536));
      block[65536 + i] = i; // every MiB differs
      await f.write(block);
    }
    await f.write(new Uint8Array([1, 2, 3])); // an unaligned tail
    f.close();
    const want = await sha256sum(path);
    for (const chunkSize of [1 << 20, 4 << 20, 65536 + 7]) {
      for (const overlap of [true, false]) {
        const h = await hashFile(path, { chunkSize, overlap });
        assert.equal(h.sha256, want, `chunkSize ${chunkSize} overlap ${overlap}`);
        assert.equal(h.size, 100 * (1 << 20) + 3);
        assert.equal(h.changedDuringHash, false);
      }
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("hashFile: bad input is refused with the path named", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hw-hash-" });
  try {
    await assert.rejects(hashFile(`${dir}/missing`), /open\(".*missing"\): .*\(ENOENT\)/);
    await assert.rejects(hashFile(dir), /not a regular file/);
    const mk = await new Deno.Command("mkfifo", { args: [`${dir}/fifo`] }).output();
    assert.equal(mk.code, 0);
    // A FIFO with no writer must not block: it is refused at once.
    await assert.rejects(hashFile(`${dir}/fifo`), /not a regular file/);
    await Deno.writeTextFile(`${dir}/x`, "x");
    await assert.rejects(hashFile(`${dir}/x`, { chunkSize: 10 }), /chunkSize/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("HashPool: results equal single-thread results, in order, with progress", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hw-pool-" });
  const pool = new HashPool({ workers: 2 });
  try {
    const paths: string[] = [];
    for (let i = 0; i < 24; i++) {
      const data = new Uint8Array(1000 + i * 50_000);
      crypto.getRandomValues(data.subarray(0, Math.min(data.length, 65536)));
      data[data.length - 1] = i;
      paths.push(`${dir}/f${i}`);
      await Deno.writeFile(paths[i], data);
    }
    paths.push(`${dir}/missing`);
    let last = 0;
    const results = await pool.hashMany(paths, (done, total) => {
      assert.equal(done, last + 1);
      assert.equal(total, paths.length);
      last = done;
    });
    assert.equal(last, paths.length);
    for (let i = 0; i < 24; i++) {
      const r = results[i];
      assert.ok(!isHashError(r));
      const single = await hashFile(paths[i]);
      assert.equal(r.path, paths[i]);
      assert.equal(r.sha256, single.sha256);
      assert.equal(r.ino, single.ino);
    }
    const miss = results[24];
    assert.ok(isHashError(miss));
    assert.match(miss.error, /ENOENT/);
  } finally {
    pool.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("HashPool: refuses a bad worker count and work after close", async () => {
  assert.throws(() => new HashPool({ workers: 0 }), /workers must be/);
  const pool = new HashPool({ workers: 1 });
  pool.close();
  await assert.rejects(pool.hash("/bin/true"), /closed/);
});

/** Fails when `p` takes longer than `ms`: a pool that hangs must fail the test, not stall it. */
async function within<T>(ms: number, p: Promise<T>, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

Deno.test("HashPool: a worker module that cannot load fails the jobs instead of hanging", async () => {
  const pool = new HashPool({
    workers: 2,
    workerUrl: new URL("file:///nonexistent-hashwall/hash_worker.js"),
  });
  try {
    const results = await within(
      15_000,
      pool.hashMany(["/bin/true", "/bin/false", "/bin/sh"]),
      "hashMany",
    );
    assert.equal(results.length, 3);
    for (const r of results) {
      assert.ok(isHashError(r), JSON.stringify(r));
      assert.match(r.error, /hash worker crashed/);
    }
  } finally {
    pool.close();
  }
});

Deno.test("HashPool: a crash fails only its job; the worker is replaced", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hw-pool-crash-" });
  const pool = new HashPool({
    workers: 1,
    workerUrl: new URL("../fixtures/crashy_hash_worker.ts", import.meta.url),
  });
  try {
    await Deno.writeTextFile(`${dir}/abc`, "abc");
    const [before, crashed, after] = await within(
      15_000,
      pool.hashMany([`${dir}/abc`, `${dir}/crash`, `${dir}/abc`]),
      "hashMany",
    );
    assert.ok(!isHashError(before) && before.sha256 === ABC, JSON.stringify(before));
    assert.ok(isHashError(crashed), JSON.stringify(crashed));
    assert.match(crashed.error, /hash worker crashed: .*asked to crash/);
    assert.ok(!isHashError(after) && after.sha256 === ABC, JSON.stringify(after));
  } finally {
    pool.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("HashPool: workers start on demand and end when idle", async () => {
  const pool = new HashPool({ workers: 2, idleMs: 200 });
  try {
    assert.equal(pool.liveWorkers, 0, "no worker before the first job");
    const [a, b] = await pool.hashMany(["/bin/true", "/bin/false"]);
    assert.ok(!isHashError(a) && !isHashError(b));
    assert.equal(pool.liveWorkers, 2);
    const deadline = performance.now() + 5_000;
    while (pool.liveWorkers > 0 && performance.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(pool.liveWorkers, 0, "idle workers were ended");
    const again = await pool.hash("/bin/true");
    assert.ok(!isHashError(again), "a new worker starts for the next job");
  } finally {
    pool.close();
  }
});

Deno.test("HashPool: prewarm starts every worker idle; they hash and end when idle", async () => {
  const pool = new HashPool({ workers: 2, idleMs: 300 });
  try {
    pool.prewarm();
    assert.equal(pool.liveWorkers, 2, "both workers started before any job");
    pool.prewarm();
    assert.equal(pool.liveWorkers, 2, "no more than `workers`");
    const [a, b] = await pool.hashAll(["/bin/true", "/bin/false"]);
    assert.deepEqual([a, b].map((r) => isHashError(r) ? r.error : r.sha256), [
      (await hashFile("/bin/true")).sha256,
      (await hashFile("/bin/false")).sha256,
    ]);
    assert.equal(pool.liveWorkers, 2, "the prewarmed workers did the work");
    const deadline = performance.now() + 5_000;
    while (pool.liveWorkers > 0 && performance.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(pool.liveWorkers, 0, "idle prewarmed workers were ended");
  } finally {
    pool.close();
  }
});

Deno.test("HashPool.hashAll: one shared batch gives the single-thread results, in order", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hw-pool-batch-" });
  const pool = new HashPool({ workers: 2 });
  try {
    const paths: string[] = [];
    for (let i = 0; i < 40; i++) {
      const data = new Uint8Array(100 + i * 30_000);
      crypto.getRandomValues(data.subarray(0, Math.min(data.length, 65536)));
      data[data.length - 1] = i;
      paths.push(`${dir}/f${i}`);
      await Deno.writeFile(paths[i], data);
    }
    paths.splice(7, 0, `${dir}/missing`);
    let progress = 0;
    const results = await pool.hashAll(paths, {
      keepOpen: true,
      onProgress: (done, total) => {
        assert.equal(done, ++progress);
        assert.equal(total, paths.length);
      },
    });
    assert.equal(progress, paths.length);
    assert.equal(results.length, paths.length);
    for (const [i, r] of results.entries()) {
      assert.equal(r.path, paths[i]);
      if (i === 7) {
        assert.ok(isHashError(r));
        assert.match(r.error, /ENOENT/);
        continue;
      }
      assert.ok(!isHashError(r), JSON.stringify(r));
      const single = await hashFile(paths[i]);
      assert.equal(r.sha256, single.sha256);
      // keepOpen: the hashed fd is still open in this process (workers share the fd table).
      const fd = (r as OpenFileHash).fd;
      assert.ok(fd > 2);
      assert.equal(Deno.readLinkSync(`/proc/self/fd/${fd}`), paths[i]);
      closeFd(fd);
    }
    assert.deepEqual(await pool.hashAll([]), []);
  } finally {
    pool.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("HashPool.hashAll: a crash fails only the file being hashed; the rest complete", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hw-pool-batch-crash-" });
  const pool = new HashPool({
    workers: 2,
    workerUrl: new URL("../fixtures/crashy_hash_worker.ts", import.meta.url),
  });
  try {
    await Deno.writeTextFile(`${dir}/abc`, "abc");
    const paths = [...Array(6).fill(`${dir}/abc`), `${dir}/crash`, ...Array(6).fill(`${dir}/abc`)];
    const results = await within(60_000, pool.hashAll(paths), "hashAll");
    for (const [i, r] of results.entries()) {
      if (i === 6) {
        assert.ok(isHashError(r), JSON.stringify(r));
        assert.match(r.error, /hash worker crashed: .*asked to crash/);
      } else assert.ok(!isHashError(r) && r.sha256 === ABC, `${i}: ${JSON.stringify(r)}`);
    }
    // Single jobs still run after a batch (the crashed worker was replaced).
    const again = await pool.hash(`${dir}/abc`);
    assert.ok(!isHashError(again) && again.sha256 === ABC);
  } finally {
    pool.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("HashPool.hashAll: a worker module that cannot load fails the batch instead of hanging", async () => {
  const pool = new HashPool({
    workers: 2,
    workerUrl: new URL("file:///nonexistent-hashwall/hash_worker.js"),
  });
  try {
    const results = await within(
      15_000,
      pool.hashAll(["/bin/true", "/bin/false", "/bin/sh"]),
      "hashAll",
    );
    assert.equal(results.length, 3);
    for (const r of results) {
      assert.ok(isHashError(r), JSON.stringify(r));
      assert.match(r.error, /hash worker crashed/);
    }
  } finally {
    pool.close();
  }
});
