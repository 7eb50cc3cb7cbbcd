/**
 * decodeEvent on hand-built records: C strings (ASCII fast path, UTF-8 fallback, full-length
 * without NUL), identities and lineage read at the header's offsets.
 */
import assert from "node:assert/strict";
import { decodeEvent, HW, LAYOUT } from "../../ffi/structs.ts";
import { IdentityPaths, recordToConnEvent } from "../../src/kernel/events.ts";
import { openStore } from "../../src/store/store.ts";

function record(o: { comm: Uint8Array; path: string; depth: number }): Uint8Array {
  const f = LAYOUT.hw_event.fields;
  const a = LAYOUT.hw_ancestor;
  const b = new Uint8Array(LAYOUT.hw_event.size);
  const v = new DataView(b.buffer);
  v.setBigUint64(f["exe.dev"], 0x1_0000_0003n, true);
  v.setBigUint64(f["exe.dev"] + 8, 2n ** 63n + 5n, true);
  v.setUint32(f.tgid, 4242, true);
  v.setUint16(f.depth, o.depth, true);
  b.set(o.comm, f.comm);
  b.set(new TextEncoder().encode(o.path), f.exe_path);
  for (let i = 0; i < Math.min(o.depth, HW.LINEAGE_DEPTH); i++) {
    const base = f.lineage + i * a.size;
    v.setBigUint64(base + a.fields["exe.dev"], BigInt(i + 1), true);
    v.setBigUint64(base + a.fields["exe.dev"] + 8, BigInt(100 + i), true);
    v.setUint32(base + a.fields.tgid, 10 + i, true);
    b.set(new TextEncoder().encode(`anc${i}`), base + a.fields.comm);
  }
  return b;
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
    depth: HW.LINEAGE_DEPTH + 3, // more than the array holds: clamped
  }));
  assert.equal(full.comm, "x".repeat(HW.COMM_LEN));
  assert.equal(full.exePath, "/usr/bin/curl");
  assert.equal(full.lineage.length, HW.LINEAGE_DEPTH);
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
  const f = LAYOUT.hw_event.fields;
  const anc = LAYOUT.hw_ancestor;
  c.set(new TextEncoder().encode("renamed\0"), f.lineage + anc.size + anc.fields.comm);
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

Deno.test("toConnEvent: a revocation at a writable open names the approved file by its identity", () => {
  const rec = record({ comm: new TextEncoder().encode("vim"), path: "", depth: 0 });
  const v = new DataView(rec.buffer);
  rec[LAYOUT.hw_event.fields.kind] = HW.EV_WRITE_OPEN;
  rec[LAYOUT.hw_event.fields.verdict] = HW.VERDICT_DENY;
  v.setUint32(LAYOUT.hw_event.fields.reason, HW.REASON_WRITE_OPEN, true);
  const paths = new IdentityPaths();
  paths.set({ dev: 0x1_0000_0003n, ino: 2n ** 63n + 5n }, "/opt/app/bin/app");
  const ev = recordToConnEvent(rec, paths, 0);
  assert.equal(ev.kind, "write_open");
  assert.equal(ev.reason, "write_open");
  assert.equal(ev.verdict, "deny");
  assert.equal(ev.exe, "/opt/app/bin/app", "the approved file, not the opener");
  assert.equal(ev.comm, "vim");
  assert.equal(ev.tgid, 4242, "the opener");
});
