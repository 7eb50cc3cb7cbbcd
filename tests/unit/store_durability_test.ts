import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { openStore } from "../../src/store/store.ts";

const STORE_URL = import.meta.resolve("../../src/store/store.ts");

/** Inserts batches forever; after each commit prints the newest id, which is then acknowledged. */
const CHILD = `
import { openStore } from ${JSON.stringify(STORE_URL)};
const store = openStore(Deno.args[0]);
const ev = (i) => ({
  time: Date.now(), kind: "connect", verdict: i % 2 ? "allow" : "deny", reason: "rule",
  tgid: i, uid: 0, comm: "child", exe: "/bin/child", dev: "1", ino: String(i), family: 4,
  daddr: "127.0.0.1", dport: 80, proto: 6, lineage: [{ tgid: 1, comm: "init", dev: "1", ino: "1" }],
});
console.log("READY");
for (let n = 0; ; n++) {
  const size = 1 + (n * 37) % 300;
  store.insertEvents(Array.from({ length: size }, (_, i) => ev(n * 1000 + i)));
  console.log("ACK " + store.queryEvents({ limit: 1 })[0].id);
}
`;

Deno.test("durability: kill -9 mid-insert never corrupts the file or loses an acknowledged row", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hw-durable-" });
  const children: Deno.ChildProcess[] = [];
  try {
    await Deno.writeTextFile(`${dir}/child.js`, CHILD);
    const dbPath = `${dir}/hashwall.db`;
    let lastAck = 0;
    for (let round = 0; round < 3; round++) {
      const child = new Deno.Command(Deno.execPath(), {
        args: ["run", "--no-config", "-A", `${dir}/child.js`, dbPath],
        stdout: "piped",
        stderr: "piped",
        stdin: "null",
      }).spawn();
      children.push(child);
      const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
      let buf = "";
      let acks = 0;
      // Kill at a random moment after the child has committed at least a few batches.
      const killAfter = 20 + Math.floor(Math.random() * 200);
      const deadline = Date.now() + 20_000;
      let killed = false;
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value;
        const lines = buf.split("\n");
        buf = lines.pop()!;
        for (const line of lines) {
          if (!line.startsWith("ACK ")) continue;
          const id = Number(line.slice(4));
          assert.ok(id >= lastAck, "acknowledged ids only grow");
          lastAck = id;
          acks++;
        }
        if (!killed && (acks >= killAfter || Date.now() > deadline)) {
          child.kill("SIGKILL");
          killed = true;
        }
      }
      const status = await child.status;
      await child.stderr.cancel();
      assert.equal(status.signal, "SIGKILL", `round ${round}: the child was killed, not exited`);
      assert.ok(acks >= killAfter, `round ${round}: got ${acks} acks before the kill`);

      // Raw SQLite first: the file must be sound before hashwall code touches it.
      const raw = new DatabaseSync(dbPath);
      const check = raw.prepare("PRAGMA integrity_check").all() as { integrity_check: string }[];
      assert.deepEqual(check.map((r) => r.integrity_check), ["ok"]);
      const row = raw.prepare("SELECT count(*) AS n, max(id) AS m FROM conn_events WHERE id <= ?")
        .get(lastAck) as { n: number; m: number };
      assert.equal(
        row.n,
        lastAck,
        `round ${round}: every acknowledged id 1..${lastAck} is present`,
      );
      assert.equal(row.m, lastAck);
      raw.close();
    }
    const store = openStore(dbPath);
    assert.equal(store.integrityCheck(), "ok");
    assert.ok(store.queryEvents({ limit: 1 })[0].id! >= lastAck);
    store.close();
  } finally {
    for (const c of children) {
      try {
        c.kill("SIGKILL");
      } catch { /* already gone */ }
    }
    await Deno.remove(dir, { recursive: true });
  }
});
