/**
 * decodeEvent on hand-built records: C strings (ASCII fast path, UTF-8 fallback, full-length
 * without NUL), identities and lineage read at the header's offsets.
 */
import assert from "node:assert/strict";
import { decodeEvent, encodeEventRecord, HW, LAYOUT } from "../../ffi/structs.ts";
import { IdentityPaths, recordToConnEvent } from "../../src/kernel/events.ts";
import { openStore } from "../../src/store/store.ts";

const enc = new TextEncoder();

/** A record as the kernel writes it: head, `depth` ancestors, the path's bytes. */
function record(o: { comm: Uint8Array; path: string; depth: number }): Uint8Array {
  return encodeEventRecord({
    exe: { dev: 0x1_0000_0003n, ino: 2n ** 63n + 5n },
    tgid: 4242,
    uid: 0,
    kind: HW.EV_CONNECT,
    verdict: 0,
    family: 0,
    proto: 0,
    dport: 0,
    reason: 0,
    flags: 0,
    rule: 0,
    viaApp: 0,
    daddr: new Uint8Array(16),
    comm: o.comm,
    exePath: enc.encode(o.path),
    lineage: Array.from({ length: o.depth }, (_, i) => ({
      exe: { dev: BigInt(i + 1), ino: BigInt(100 + i) },
      tgid: 10 + i,
      comm: enc.encode(`anc${i}`),
    })),
  });
}

Deno.test("decodeEvent: ASCII and UTF-8 strings, a comm without NUL, identities, lineage", () => {
  const utf8 = decodeEvent(record({
    comm: new TextEncoder().encode("café"),
    path: "/opt/naïve/bin",
    depth: 2,
  }));
  assert.equal(utf8.comm, "café");
  assert.equal(utf8.exePath, "/opt/naïve/bin");
  assert.deepEqual(utf8.exe, { dev: 0x1_0000_0003n, ino: 2n ** 63n + 5n });
  assert.equal(utf8.tgid, 4242);
  assert.deepEqual(utf8.lineage, [
    { exe: { dev: 1n, ino: 100n }, tgid: 10, comm: "anc0" },
    { exe: { dev: 2n, ino: 101n }, tgid: 11, comm: "anc1" },
  ]);

  // The kernel fills comm up to its size; a full field has no NUL and must not run over.
  const full = decodeEvent(record({
    comm: new TextEncoder().encode("x".repeat(HW.COMM_LEN)),
    path: "/usr/bin/curl",
    depth: HW.LINEAGE_DEPTH,
  }));
  assert.equal(full.comm, "x".repeat(HW.COMM_LEN));
  assert.equal(full.exePath, "/usr/bin/curl");
  assert.equal(full.lineage.length, HW.LINEAGE_DEPTH);
});

Deno.test("decodeEvent: records are as long as their head says, no longer; bad heads are refused", () => {
  const rec = record({ comm: enc.encode("c"), path: "/bin/true", depth: 2 });
  assert.equal(rec.length, LAYOUT.hw_event.size + 2 * LAYOUT.hw_ancestor.size + 9);
  assert.equal(decodeEvent(rec).exePath, "/bin/true");
  // No path: the record ends after the lineage and the path reads "".
  const bare = record({ comm: enc.encode("c"), path: "", depth: 1 });
  assert.equal(bare.length, LAYOUT.hw_event.size + LAYOUT.hw_ancestor.size);
  assert.equal(decodeEvent(bare).exePath, "");
  // A record cut short, a depth beyond the lineage's bound: errors, not garbage.
  assert.throws(() => decodeEvent(rec.subarray(0, rec.length - 1)), /short hw_event record/);
  const deep = rec.slice();
  new DataView(deep.buffer).setUint16(LAYOUT.hw_event.fields.depth, HW.LINEAGE_DEPTH + 1, true);
  assert.throws(() => decodeEvent(deep), /bad hw_event record: depth 9/);
});

Deno.test("recordToConnEvent: identical ancestors share one frozen lineage; a change rebuilds it", async () => {
  const resolver = new IdentityPaths();
  resolver.set({ dev: 1n, ino: 100n }, "/usr/bin/parent-app");
  const a = record({ comm: new TextEncoder().encode("cli"), path: "/usr/bin/cli", depth: 3 });
  const b = a.slice(); // same ancestors, another event
  const ea = recordToConnEvent(a, resolver, 0);
  const eb = recordToConnEvent(b, resolver, 0);
  assert.equal(ea.lineage, eb.lineage, "the same array object");
  assert.ok(Object.isFrozen(ea.lineage) && Object.isFrozen(ea.lineage[0]));
  assert.deepEqual(ea.lineage[0], {
    tgid: 10,
    comm: "anc0",
    exe: "/usr/bin/parent-app",
    dev: "1",
    ino: "100",
  });
  assert.deepEqual(ea.lineage.map((l) => l.comm), ["anc0", "anc1", "anc2"]);

  // The grandparent renamed itself (prctl): same pids, other bytes → a new lineage.
  const c = a.slice();
  const anc = LAYOUT.hw_ancestor;
  c.set(new TextEncoder().encode("renamed\0"), LAYOUT.hw_event.size + anc.size + anc.fields.comm);
  const ec = recordToConnEvent(c, resolver, 0);
  assert.notEqual(ec.lineage, ea.lineage);
  assert.deepEqual(ec.lineage.map((l) => l.comm), ["anc0", "renamed", "anc2"]);

  // The store writes the shared lineage correctly for every row.
  const dir = await Deno.makeTempDir({ prefix: "hw-lineage-" });
  const store = openStore(`${dir}/h.db`);
  try {
    store.insertEvents([ea, eb, ec]);
    const rows = store.queryEvents({ limit: 10 });
    assert.equal(rows.length, 3);
    assert.deepEqual(
      rows.map((r) => r.lineage.map((l) => l.comm).join(">")).sort(),
      ["anc0>anc1>anc2", "anc0>anc1>anc2", "anc0>renamed>anc2"],
    );
  } finally {
    store.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("toConnEvent: a kind this build does not know is shown as kind_N, never as connect", () => {
  const rec = record({ comm: new TextEncoder().encode("x"), path: "/usr/bin/x", depth: 0 });
  rec[LAYOUT.hw_event.fields.kind] = 77;
  const ev = recordToConnEvent(rec, new IdentityPaths(), 0);
  assert.equal(ev.kind, "kind_77");
  rec[LAYOUT.hw_event.fields.kind] = HW.EV_SENDMSG;
  assert.equal(recordToConnEvent(rec, new IdentityPaths(), 0).kind, "sendmsg");
});
