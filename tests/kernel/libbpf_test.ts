/**
 * Real-kernel tests of the libbpf FFI binding (ffi/libbpf.ts) against
 * tests/fixtures/bpf/fixture.bpf.c. Programs are attached only to test cgroups under
 * `<cgroup2>/hashwall-test/`, pins live in a per-test bpffs folder, and every path cleans up.
 *
 * Run: deno test -A tests/kernel/libbpf_test.ts
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  AttachType,
  BPF_EXIST,
  BPF_NOEXIST,
  BpfError,
  type BpfLink,
  BpfObject,
  closeBpfFd,
  enableStats,
  isBpffsMounted,
  LIBBPF_LAYOUT,
  linkCreate,
  linkDetach,
  linkUpdate,
  mapDelete,
  mapInfo,
  mapKeys,
  mapLookup,
  mapLookupPerCpu,
  MapType,
  mapUpdate,
  mountBpffs,
  numPossibleCpus,
  objGet,
  objPin,
  progInfo,
  setPrint,
} from "../../ffi/libbpf.ts";
import { RingReader } from "../../ffi/ringbuf.ts";
import { close, O_CLOEXEC, O_DIRECTORY, O_RDONLY, openPath } from "../../ffi/libc.ts";
import { buildNetclient } from "../helpers/netclient.ts";
import { createTestCgroup, removeTestParentIfEmpty, type TestCgroup } from "../helpers/cgroup.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const FIXTURE_SRC = `${ROOT}tests/fixtures/bpf/fixture.bpf.c`;
const FIXTURE_OBJ = `${ROOT}build/fixtures/fixture.bpf.o`;
const VMLINUX_H = `${ROOT}build/vmlinux/vmlinux.h`;

async function sh(cmd: string, args: string[]): Promise<string> {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  const dec = new TextDecoder();
  if (!out.success) {
    throw new Error(`${cmd} ${args.join(" ")} failed:\n${dec.decode(out.stderr)}`);
  }
  return dec.decode(out.stdout);
}

function mtime(path: string): number {
  try {
    return Deno.statSync(path).mtime?.getTime() ?? 0;
  } catch {
    return -1;
  }
}

/** The fixture object, compiled here when build.sh has not (or the source is newer). */
async function fixtureBytes(): Promise<Uint8Array> {
  if (mtime(FIXTURE_OBJ) < mtime(FIXTURE_SRC)) {
    if (mtime(VMLINUX_H) < 0) {
      await Deno.mkdir(`${ROOT}build/vmlinux`, { recursive: true });
      const h = await sh("bpftool", [
        "btf",
        "dump",
        "file",
        "/sys/kernel/btf/vmlinux",
        "format",
        "c",
      ]);
      await Deno.writeTextFile(VMLINUX_H, h);
    }
    await Deno.mkdir(`${ROOT}build/fixtures`, { recursive: true });
    await sh("clang", [
      "-O2",
      "-g",
      "-target",
      "bpf",
      "-D__TARGET_ARCH_x86",
      "-I",
      `${ROOT}build/vmlinux`,
      "-I",
      `${ROOT}bpf`,
      "-c",
      FIXTURE_SRC,
      "-o",
      FIXTURE_OBJ,
    ]);
  }
  return Deno.readFileSync(FIXTURE_OBJ);
}

const FIXTURE = await fixtureBytes();
const MAGIC = 0xc0ffee;

function u32(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n, true);
  return b;
}
function u64(n: bigint): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, n, true);
  return b;
}
function readU64(b: Uint8Array, off = 0): bigint {
  return new DataView(b.buffer, b.byteOffset, b.byteLength).getBigUint64(off, true);
}
function readU32(b: Uint8Array, off = 0): number {
  return new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(off, true);
}

/** Opens the fixture with fx_magic set in .rodata (the only program set up to load). */
function openFixture(): BpfObject {
  const obj = BpfObject.openMem(FIXTURE, "fixture");
  try {
    obj.map(".rodata").setInitialValue(u32(MAGIC));
  } catch (e) {
    obj.close();
    throw e;
  }
  return obj;
}

/** A fresh folder in bpffs for this test's pins; removed with everything pinned in it. */
async function pinDir(): Promise<AsyncDisposable & { path: string }> {
  mountBpffs();
  const path = `/sys/fs/bpf/hashwall-test-${crypto.randomUUID().slice(0, 8)}`;
  await Deno.mkdir(path);
  return {
    path,
    async [Symbol.asyncDispose]() {
      await Deno.remove(path, { recursive: true }).catch(() => {});
    },
  };
}

/** A cgroup fd for attaching (O_CLOEXEC: children must not inherit it). */
function cgroupFd(cg: TestCgroup): number {
  return openPath(cg.path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

/** One TCP connect from a bash in the cgroup; returns its pid and how it ended. */
async function connectFrom(
  cg: TestCgroup,
  port: number,
): Promise<{ pid: number; ok: boolean; stderr: string }> {
  const r = await cg.run([
    "/bin/bash",
    "-c",
    'echo $$; exec 3<>"/dev/tcp/127.0.0.1/$0"',
    String(port),
  ]);
  return { pid: Number(r.stdout.trim()), ok: r.code === 0, stderr: r.stderr };
}

function assertDenied(r: { ok: boolean; stderr: string }, what: string): void {
  assert.equal(r.ok, false, `${what}: connect should fail`);
  assert.match(r.stderr, /Operation not permitted/, `${what}: expected EPERM, got ${r.stderr}`);
}

function assertAllowed(r: { ok: boolean; stderr: string }, what: string): void {
  assert.equal(r.ok, true, `${what}: connect should succeed, got ${r.stderr}`);
}

/** Two loopback listeners: one port the fixture will deny, one it allows. */
function listeners(): { allowed: Deno.TcpListener; denied: Deno.TcpListener } & Disposable {
  const allowed = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const denied = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  return {
    allowed,
    denied,
    [Symbol.dispose]() {
      allowed.close();
      denied.close();
    },
  };
}

interface FxEvent {
  magic: number;
  tgid: number;
  port: number;
  verdict: number;
  seq: number;
  comm: string;
}

function decodeEvent(b: Uint8Array): FxEvent {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const comm = b.subarray(16, 32);
  const end = comm.indexOf(0);
  return {
    magic: dv.getUint32(0, true),
    tgid: dv.getUint32(4, true),
    port: dv.getUint16(8, true),
    verdict: dv.getUint8(10),
    seq: dv.getUint32(12, true),
    comm: new TextDecoder().decode(end < 0 ? comm : comm.subarray(0, end)),
  };
}

function sumPerCpu(values: Uint8Array[]): bigint {
  return values.reduce((acc, v) => acc + readU64(v), 0n);
}

Deno.test("struct layouts hand-built in libbpf.ts match the installed headers", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hw-layout-" });
  try {
    await Deno.writeTextFile(
      `${dir}/probe.c`,
      `#include <stdio.h>
#include <stddef.h>
#include <linux/bpf.h>
#include <bpf/libbpf.h>
#define O(s, f) printf("%zu\\n", offsetof(struct s, f))
int main(void) {
  printf("%zu\\n", sizeof(struct bpf_object_open_opts));
  O(bpf_object_open_opts, object_name); O(bpf_object_open_opts, kernel_log_buf);
  O(bpf_object_open_opts, kernel_log_size);
  printf("%zu\\n", sizeof(struct bpf_prog_info));
  O(bpf_prog_info, type); O(bpf_prog_info, id); O(bpf_prog_info, created_by_uid);
  O(bpf_prog_info, nr_map_ids); O(bpf_prog_info, map_ids); O(bpf_prog_info, name);
  O(bpf_prog_info, run_time_ns); O(bpf_prog_info, run_cnt);
  printf("%zu\\n", sizeof(struct bpf_map_info));
  O(bpf_map_info, type); O(bpf_map_info, id); O(bpf_map_info, key_size);
  O(bpf_map_info, value_size); O(bpf_map_info, max_entries); O(bpf_map_info, map_flags);
  O(bpf_map_info, name);
  return 0;
}
`,
    );
    await sh("gcc", ["-o", `${dir}/probe`, `${dir}/probe.c`]);
    const got = (await sh(`${dir}/probe`, [])).trim().split("\n").map(Number);
    const o = LIBBPF_LAYOUT.openOpts, p = LIBBPF_LAYOUT.progInfo, m = LIBBPF_LAYOUT.mapInfo;
    assert.deepEqual(got, [
      o.size,
      o.objectName,
      o.kernelLogBuf,
      o.kernelLogSize,
      p.size,
      p.type,
      p.id,
      p.createdByUid,
      p.nrMapIds,
      p.mapIds,
      p.name,
      p.runTimeNs,
      p.runCnt,
      m.size,
      m.type,
      m.id,
      m.keySize,
      m.valueSize,
      m.maxEntries,
      m.mapFlags,
      m.name,
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("openMem names the object; maps and programs are listed with their metadata", () => {
  const obj = openFixture();
  try {
    const names = obj.maps().map((m) => m.name).sort();
    // object_name makes the rodata map name stable ("fixture.rodata", not "<addr>-<size>.rodata").
    assert.deepEqual(names, [
      "fixture.rodata",
      "fx_array",
      "fx_config",
      "fx_counts",
      "fx_events",
      "fx_hash",
      "fx_pchash",
    ]);
    assert.deepEqual(obj.programs().map((p) => p.name), [
      "fx_connect_deny",
      "fx_allow_all",
      "fx_exec_count",
      "fx_tc_gate",
      "fx_bad_deref",
    ]);
    assert.equal(obj.program("fx_connect_deny").section, "cgroup/connect4");
    assert.equal(obj.program("fx_bad_deref").autoload, false, '"?" sections do not autoload');
    const hash = obj.map("fx_hash");
    assert.equal(hash.type, MapType.HASH);
    assert.equal(hash.keySize, 4);
    assert.equal(hash.valueSize, 8);
    assert.equal(hash.maxEntries, 64);
    assert.equal(obj.map("fx_events").type, MapType.RINGBUF);
    assert.deepEqual(obj.map(".rodata").initialValue(), u32(MAGIC));

    hash.setMaxEntries(128);
    obj.load();
    assert.equal(hash.maxEntries, 128);
    const info = mapInfo(hash.fd);
    assert.equal(info.maxEntries, 128, "the kernel map got the new size");
    assert.equal(info.name, "fx_hash");
    assert.equal(info.keySize, 4);
    assert.equal(info.valueSize, 8);
    assert.equal(info.type, MapType.HASH);
    assert.ok(info.id > 0);

    assert.throws(() => obj.map("nope"), /has no map "nope" \(maps: .*fx_hash/);
    assert.throws(() => obj.program("nope"), /has no program "nope" \(programs: .*fx_allow_all/);
  } finally {
    obj.close();
  }
  obj.close(); // idempotent
  assert.throws(() => obj.map("fx_hash"), /closed/);
});

Deno.test("bad input to openMem and pre-load setters is rejected with a clear error", () => {
  assert.throws(() => BpfObject.openMem(new Uint8Array(0), "x"), /non-empty/);
  assert.throws(() => BpfObject.openMem(FIXTURE, "bad name"), /invalid object name/);
  assert.throws(() => BpfObject.openMem(FIXTURE, "x", { logSize: 10 }), /logSize/);
  assert.throws(
    () => BpfObject.openMem(new Uint8Array(64).fill(1), "junk"),
    (e: unknown) =>
      e instanceof BpfError && e.code === "LIBBPF_ERRNO__FORMAT" && e.errno === 4001 &&
      /open_mem\(junk\).*not a proper ELF/s.test(e.message),
  );
  const obj = openFixture();
  try {
    const ro = obj.map(".rodata");
    assert.throws(() => ro.setInitialValue(new Uint8Array(3)), /3 bytes, the map expects 4/);
    assert.deepEqual(ro.initialValue(), u32(MAGIC), "a rejected value changes nothing");
    assert.throws(() => obj.map("fx_hash").setMaxEntries(0), /invalid size/);
    assert.throws(() => obj.map("fx_hash").fd, (e: unknown) => e instanceof BpfError);
    obj.load();
    // After load .rodata is frozen: libbpf refuses with EBUSY/EINVAL and a BpfError.
    assert.throws(() => ro.setInitialValue(u32(1)), (e: unknown) => e instanceof BpfError);
  } finally {
    obj.close();
  }
});

Deno.test("hash map: update flags, lookup, delete and keys; errors carry errno", () => {
  const obj = openFixture();
  try {
    obj.load();
    const m = obj.map("fx_hash");
    for (let i = 10; i < 15; i++) m.update(u32(i), u64(BigInt(i) * 1000n));
    assert.equal(readU64(m.lookup(u32(12))!), 12000n);
    assert.equal(m.lookup(u32(99)), null);

    assert.throws(
      () => m.update(u32(12), u64(1n), BPF_NOEXIST),
      (e: unknown) =>
        e instanceof BpfError && e.errno === 17 && e.code === "EEXIST" &&
        e.message.includes("bpf_map_update_elem(fx_hash)") && e.message.includes("File exists"),
    );
    assert.throws(
      () => m.update(u32(99), u64(1n), BPF_EXIST),
      (e: unknown) => e instanceof BpfError && e.errno === 2,
    );
    m.update(u32(12), u64(7n), BPF_EXIST);
    assert.equal(readU64(m.lookup(u32(12))!), 7n);

    const keys = [...m.keys()].map((k) => readU32(k)).sort((a, b) => a - b);
    assert.deepEqual(keys, [10, 11, 12, 13, 14]);

    assert.equal(m.delete(u32(11)), true);
    assert.equal(m.delete(u32(11)), false, "absent → false");
    assert.equal(m.lookup(u32(11)), null);

    assert.throws(() => m.update(u32(1).subarray(0, 2), u64(1n)), /key is 2 bytes.*expects 4/);
    assert.throws(() => m.update(u32(1), u32(1)), /value is 4 bytes.*expects 8/);
    assert.equal(m.lookup(u32(1)), null, "rejected writes changed nothing");
    assert.equal([...m.keys()].length, 4);

    // Deleting while iterating (the daemon's sync does this) visits every key once.
    for (const k of m.keys()) m.delete(k);
    assert.equal([...m.keys()].length, 0);
  } finally {
    obj.close();
  }
});

Deno.test("array map: zero-filled slots, out-of-range is absent, delete is EINVAL", () => {
  const obj = openFixture();
  try {
    obj.load();
    const a = obj.map("fx_array");
    assert.equal(a.type, MapType.ARRAY);
    assert.deepEqual(a.lookup(u32(3)), new Uint8Array(8));
    a.update(u32(3), u64(0x1122334455667788n));
    assert.equal(readU64(a.lookup(u32(3))!), 0x1122334455667788n);
    assert.equal(a.lookup(u32(8)), null);
    assert.throws(() => a.delete(u32(3)), (e: unknown) => e instanceof BpfError && e.errno === 22);
    assert.equal([...a.keys()].length, 8);
  } finally {
    obj.close();
  }
});

Deno.test("per-CPU maps: one 8-byte-aligned slot per possible CPU, object and raw fd API", () => {
  const obj = openFixture();
  try {
    obj.load();
    const n = numPossibleCpus();
    assert.ok(n >= 1);
    assert.equal(
      n,
      (() => {
        // /sys/devices/system/cpu/possible is "0-N" or a list; count the CPUs it names.
        const spec = Deno.readTextFileSync("/sys/devices/system/cpu/possible").trim();
        return spec.split(",").reduce((acc, part) => {
          const [a, b] = part.split("-").map(Number);
          return acc + (b === undefined ? 1 : b - a + 1);
        }, 0);
      })(),
    );

    // fx_counts: 8-byte values, stride 8.
    const c = obj.map("fx_counts");
    assert.equal(c.perCpu, true);
    assert.equal(c.valueBufferSize, 8 * n);
    const all = new Uint8Array(8 * n);
    for (let i = 0; i < n; i++) all.set(u64(BigInt(100 + i)), i * 8);
    c.update(u32(2), all);
    assert.deepEqual(c.lookup(u32(2)), all);
    const per = mapLookupPerCpu(c.fd, u32(2), 8)!;
    assert.equal(per.length, n);
    per.forEach((v, i) => assert.equal(readU64(v), BigInt(100 + i)));
    assert.deepEqual(c.lookupPerCpu(u32(2)), per);
    assert.throws(() => obj.map("fx_hash").lookupPerCpu(u32(2)), /not per-CPU/);
    assert.throws(() => c.update(u32(2), u64(1n)), /value is 8 bytes, the map expects/);

    // fx_pchash: 4-byte values are padded to an 8-byte stride per CPU.
    const h = obj.map("fx_pchash");
    assert.equal(h.type, MapType.PERCPU_HASH);
    assert.equal(h.valueBufferSize, 8 * n);
    const vals = new Uint8Array(8 * n);
    for (let i = 0; i < n; i++) vals.set(u32(0xabc0 + i), i * 8);
    h.update(u32(5), vals);
    const got = mapLookupPerCpu(h.fd, u32(5), 4)!;
    assert.deepEqual(got.map((v) => readU32(v)), [...Array(n)].map((_, i) => 0xabc0 + i));
    assert.ok(got.every((v) => v.length === 4));
    assert.deepEqual(h.lookupPerCpu(u32(5)), got);
    assert.equal(h.lookupPerCpu(u32(6)), null);
    assert.equal(mapLookupPerCpu(h.fd, u32(6), 4), null);
    assert.throws(() => mapLookupPerCpu(h.fd, u32(5), 8), /valueSize 8 does not match/);
    assert.throws(() => mapLookupPerCpu(obj.map("fx_hash").fd, u32(5), 8), /not per-CPU/);
  } finally {
    obj.close();
  }
});

Deno.test("pinned maps: objGet + raw fd helpers, reuseFd and setPinPath share one kernel map", async () => {
  await using dir = await pinDir();
  assert.ok(isBpffsMounted());
  const a = openFixture();
  let b: BpfObject | null = null;
  let c: BpfObject | null = null;
  let fd = -1;
  try {
    a.load();
    const pin = `${dir.path}/fx_hash`;
    a.map("fx_hash").pin(pin);
    a.map("fx_hash").update(u32(1), u64(111n));

    fd = objGet(pin);
    assert.equal(mapInfo(fd).id, mapInfo(a.map("fx_hash").fd).id);
    assert.equal(readU64(mapLookup(fd, u32(1), 8)!), 111n);
    mapUpdate(fd, u32(2), u64(222n));
    assert.equal(readU64(a.map("fx_hash").lookup(u32(2))!), 222n);
    assert.deepEqual([...mapKeys(fd, 4)].map((k) => readU32(k)).sort(), [1, 2]);
    assert.equal(mapDelete(fd, u32(2)), true);
    assert.equal(mapDelete(fd, u32(2)), false);
    assert.equal(mapLookup(fd, u32(2), 8), null);
    assert.throws(() => mapUpdate(fd, u32(3), u32(3)), /value is 4 bytes, the map expects 8/);
    assert.throws(() => mapLookup(fd, u32(3), 4), /valueSize 4 does not match the map \(8\)/);
    assert.throws(() => [...mapKeys(fd, 8)], /keySize 8 does not match/);
    assert.throws(() => mapUpdate(fd, u32(3).subarray(0, 1), u64(3n)), /key is 1 bytes/);

    // A second object reuses the pinned map by fd.
    b = openFixture();
    b.map("fx_hash").reuseFd(fd);
    b.load();
    assert.equal(mapInfo(b.map("fx_hash").fd).id, mapInfo(fd).id);
    assert.equal(readU64(b.map("fx_hash").lookup(u32(1))!), 111n);

    // A third object finds it by pin path at load.
    c = openFixture();
    c.map("fx_hash").setPinPath(pin);
    c.load();
    assert.equal(mapInfo(c.map("fx_hash").fd).id, mapInfo(fd).id);

    // objPin pins another name for the same map; unpin removes the file.
    objPin(fd, `${dir.path}/again`);
    const fd2 = objGet(`${dir.path}/again`);
    try {
      assert.equal(mapInfo(fd2).id, mapInfo(fd).id);
    } finally {
      closeBpfFd(fd2);
    }
    a.map("fx_hash").unpin(pin);
    assert.throws(
      () => objGet(pin),
      (e: unknown) =>
        e instanceof BpfError && e.errno === 2 && e.code === "ENOENT" &&
        e.message.includes(pin),
    );
    assert.throws(
      () => objPin(fd, `${dir.path}/again`),
      (e: unknown) => e instanceof BpfError && e.errno === 17,
    );
  } finally {
    if (fd >= 0) closeBpfFd(fd);
    a.close();
    b?.close();
    c?.close();
  }
});

Deno.test({
  name:
    "cgroup connect4: denied port gets EPERM in the test cgroup only; ring buffer, counters, stats",
  async fn() {
    await using cg = await createTestCgroup("libbpf");
    using l = listeners();
    const allowedPort = (l.allowed.addr as Deno.NetAddr).port;
    const deniedPort = (l.denied.addr as Deno.NetAddr).port;
    const obj = openFixture();
    let cgfd = -1;
    let link: BpfLink | null = null;
    let rb: RingReader | null = null;
    let stats = -1;
    try {
      obj.load();
      obj.map("fx_config").update(u32(0), u32(deniedPort));
      obj.map("fx_array").update(u32(0), u64(42n));
      const events: FxEvent[] = [];
      rb = new RingReader(obj.map("fx_events").fd, (d) => events.push(decodeEvent(d)));
      cgfd = cgroupFd(cg);
      const prog = obj.program("fx_connect_deny");
      link = prog.attachCgroup(cgfd);
      stats = enableStats();

      const denied = await connectFrom(cg, deniedPort);
      assertDenied(denied, "denied port from the test cgroup");
      const allowed = await connectFrom(cg, allowedPort);
      assertAllowed(allowed, "other port from the test cgroup");
      // This process is outside the test cgroup: the program must not see it.
      (await Deno.connect({ hostname: "127.0.0.1", port: deniedPort })).close();

      assert.equal(rb.consume(), 2);
      assert.equal(rb.consume(), 0, "nothing left");
      assert.deepEqual(events, [
        { magic: MAGIC, tgid: denied.pid, port: deniedPort, verdict: 0, seq: 42, comm: "bash" },
        { magic: MAGIC, tgid: allowed.pid, port: allowedPort, verdict: 1, seq: 42, comm: "bash" },
      ]);

      const counts = obj.map("fx_counts");
      assert.equal(sumPerCpu(mapLookupPerCpu(counts.fd, u32(0), 8)!), 2n);
      assert.equal(sumPerCpu(mapLookupPerCpu(counts.fd, u32(1), 8)!), 1n);

      const info = progInfo(prog.fd);
      assert.equal(info.name, "fx_connect_deny");
      assert.equal(info.type, 18); // BPF_PROG_TYPE_CGROUP_SOCK_ADDR
      assert.equal(info.runCnt, 2n);
      assert.ok(info.runTimeNs > 0n);
      // bpftool reads the same struct with its own headers: ids, names and counters must agree.
      const tool = JSON.parse(await sh("bpftool", ["prog", "show", "id", String(info.id), "-j"]));
      assert.equal(tool.id, info.id);
      assert.equal(tool.name, info.name);
      assert.equal(tool.type, "cgroup_sock_addr");
      assert.equal(BigInt(tool.run_cnt), info.runCnt);
      assert.equal(BigInt(tool.run_time_ns), info.runTimeNs);

      link.destroy();
      link = null;
      assertAllowed(await connectFrom(cg, deniedPort), "after the link is destroyed");
    } finally {
      if (stats >= 0) close(stats);
      rb?.free();
      link?.destroy();
      if (cgfd >= 0) close(cgfd);
      obj.close();
      await cg.remove();
      await removeTestParentIfEmpty();
    }
  },
});

Deno.test("pinned link: linkUpdate swaps programs with no reload; disconnect keeps it alive", async () => {
  await using dir = await pinDir();
  await using cg = await createTestCgroup("libbpf-link");
  using l = listeners();
  const deniedPort = (l.denied.addr as Deno.NetAddr).port;
  const obj = openFixture();
  let cgfd = -1;
  let link: BpfLink | null = null;
  let linkFd = -1;
  const pin = `${dir.path}/link`;
  try {
    obj.load();
    obj.map("fx_config").update(u32(0), u32(deniedPort));
    const deny = obj.program("fx_connect_deny");
    const allow = obj.program("fx_allow_all");
    cgfd = cgroupFd(cg);
    link = deny.attachCgroup(cgfd);
    link.pin(pin);
    assertDenied(await connectFrom(cg, deniedPort), "deny program attached");

    linkFd = objGet(pin);
    linkUpdate(linkFd, allow.fd);
    assertAllowed(await connectFrom(cg, deniedPort), "after linkUpdate to allow-all");
    link.update(deny.fd);
    assertDenied(await connectFrom(cg, deniedPort), "after link.update back to deny");
    assert.throws(
      () => linkUpdate(linkFd, 999_999),
      (e: unknown) => e instanceof BpfError && e.errno === 9 && e.code === "EBADF",
    );

    // Disconnected + pinned: destroying our handle leaves the kernel link (and the verdict).
    link.disconnect();
    link.destroy();
    link = null;
    assertDenied(await connectFrom(cg, deniedPort), "pinned link outlives its destroyed handle");

    // bpf_link_detach on the pinned link's fd removes the program from the hook.
    linkDetach(linkFd);
    assertAllowed(await connectFrom(cg, deniedPort), "after linkDetach");
  } finally {
    if (linkFd >= 0) closeBpfFd(linkFd);
    await Deno.remove(pin).catch(() => {});
    link?.destroy();
    if (cgfd >= 0) close(cgfd);
    obj.close();
    await cg.remove();
    await removeTestParentIfEmpty();
  }
});

Deno.test("link.pin/unpin, and linkCreate makes a raw cgroup link that closing removes", async () => {
  await using dir = await pinDir();
  await using cg = await createTestCgroup("libbpf-raw");
  using l = listeners();
  const deniedPort = (l.denied.addr as Deno.NetAddr).port;
  const obj = openFixture();
  let cgfd = -1;
  let raw = -1;
  let link: BpfLink | null = null;
  try {
    obj.load();
    obj.map("fx_config").update(u32(0), u32(deniedPort));
    cgfd = cgroupFd(cg);
    raw = linkCreate(obj.program("fx_connect_deny").fd, cgfd, AttachType.CGROUP_INET4_CONNECT);
    assertDenied(await connectFrom(cg, deniedPort), "raw link");
    close(raw);
    raw = -1;
    assertAllowed(await connectFrom(cg, deniedPort), "raw link closed");

    assert.throws(
      () => linkCreate(obj.program("fx_connect_deny").fd, cgfd, AttachType.TCX_EGRESS),
      (e: unknown) => e instanceof BpfError && e.errno > 0,
    );

    link = obj.program("fx_allow_all").attachCgroup(cgfd);
    link.pin(`${dir.path}/l2`);
    const fd = objGet(`${dir.path}/l2`);
    closeBpfFd(fd);
    link.unpin();
    assert.throws(
      () => objGet(`${dir.path}/l2`),
      (e: unknown) => e instanceof BpfError && e.errno === 2,
    );
  } finally {
    if (raw >= 0) close(raw);
    link?.destroy();
    if (cgfd >= 0) close(cgfd);
    obj.close();
    await cg.remove();
    await removeTestParentIfEmpty();
  }
});

Deno.test("attach() by section (tp_btf) counts real execs; autoload off leaves a program unloaded", async () => {
  const obj = openFixture();
  let link: BpfLink | null = null;
  try {
    obj.load();
    link = obj.program("fx_exec_count").attach();
    for (let i = 0; i < 3; i++) await sh("/bin/true", []);
    const n = readU64(obj.map("fx_hash").lookup(u32(1))!);
    assert.ok(n >= 3n, `exec counter ${n}`);
    link.destroy();
    link = null;
  } finally {
    link?.destroy();
    obj.close();
  }

  const quiet = openFixture();
  try {
    quiet.program("fx_exec_count").setAutoload(false);
    quiet.load();
    assert.throws(() => quiet.program("fx_exec_count").fd, (e: unknown) => e instanceof BpfError);
    assert.ok(quiet.program("fx_connect_deny").fd > 0);
  } finally {
    quiet.close();
  }
});

Deno.test("a program the verifier rejects: BpfError with errno, libbpf's words and the verifier log", () => {
  const obj = openFixture();
  try {
    obj.program("fx_bad_deref").setAutoload(true);
    assert.throws(() => obj.load(), (e: unknown) => {
      assert.ok(e instanceof BpfError);
      assert.equal(e.errno, 13);
      assert.equal(e.code, "EACCES");
      assert.equal(e.op, "bpf_object__load(fixture)");
      assert.match(e.message, /prog 'fx_bad_deref': BPF program load failed/);
      assert.match(e.message, /verifier log \(tail\):/);
      assert.match(e.log, /R0 invalid mem access 'map_value_or_null'/);
      return true;
    });
  } finally {
    obj.close();
  }
});

Deno.test("RingReader: a throwing consumer stops consume() with its error; the rest stays queued", async () => {
  await using cg = await createTestCgroup("libbpf-rb");
  using l = listeners();
  const port = (l.allowed.addr as Deno.NetAddr).port;
  const obj = openFixture();
  let cgfd = -1;
  let link: BpfLink | null = null;
  let rb: RingReader | null = null;
  try {
    obj.load();
    const seen: number[] = [];
    let fail = true;
    rb = new RingReader(obj.map("fx_events").fd, (d) => {
      if (fail) {
        fail = false;
        throw new Error("consumer broke");
      }
      seen.push(decodeEvent(d).tgid);
    });
    cgfd = cgroupFd(cg);
    link = obj.program("fx_connect_deny").attachCgroup(cgfd);
    const pids = [];
    for (let i = 0; i < 3; i++) pids.push((await connectFrom(cg, port)).pid);
    assert.throws(() => rb!.consume(), /consumer broke/);
    assert.equal(rb.consume(), 2);
    assert.deepEqual(seen, pids.slice(1));
    rb.free();
    rb.free(); // idempotent
    assert.throws(() => rb!.consume(), /freed/);
    assert.throws(
      () => new RingReader(obj.map("fx_hash").fd, () => {}),
      (e: unknown) => e instanceof BpfError && e.errno === 22,
    );
  } finally {
    rb?.free();
    link?.destroy();
    if (cgfd >= 0) close(cgfd);
    obj.close();
    await cg.remove();
    await removeTestParentIfEmpty();
  }
});

Deno.test("RingReader: records that wrap around the end of the ring arrive whole", async () => {
  await using cg = await createTestCgroup("libbpf-rb-wrap");
  using l = listeners();
  const deniedPort = (l.denied.addr as Deno.NetAddr).port;
  const client = await buildNetclient();
  const obj = openFixture();
  let cgfd = -1;
  let link: BpfLink | null = null;
  let rb: RingReader | null = null;
  try {
    obj.load();
    obj.map("fx_config").update(u32(0), u32(deniedPort));
    const events: FxEvent[] = [];
    rb = new RingReader(obj.map("fx_events").fd, (d) => events.push(decodeEvent(d)));
    // 40 bytes per record (header included) in a 64 KiB ring: a record straddles the end once
    // every lap, and 5 batches of 1 000 make three laps.
    assert.equal(rb.size, 64 * 1024);
    cgfd = cgroupFd(cg);
    link = obj.program("fx_connect_deny").attachCgroup(cgfd);
    let consumed = 0;
    for (let batch = 0; batch < 5; batch++) {
      const r = await cg.run([client, "loop", "1000", "tcp4", "127.0.0.1", String(deniedPort)]);
      assert.equal(r.stdout.trim(), "ok=0 eperm=1000 other=0");
      assert.equal(rb.pending(), 1000 * 40);
      consumed += rb.consume();
      assert.equal(consumed, (batch + 1) * 1000);
      assert.equal(rb.pending(), 0);
    }
    const tgids = new Set(events.map((e) => e.tgid));
    assert.equal(tgids.size, 5, "one producer process per batch");
    for (const e of events) {
      assert.deepEqual({ ...e, tgid: 0 }, {
        magic: MAGIC,
        tgid: 0,
        port: deniedPort,
        verdict: 0,
        seq: 0,
        comm: "netclient",
      });
    }
  } finally {
    rb?.free();
    link?.destroy();
    if (cgfd >= 0) close(cgfd);
    obj.close();
    await cg.remove();
    await removeTestParentIfEmpty();
  }
});

Deno.test("setPrint receives libbpf's formatted messages; null silences them", () => {
  const got: Array<[number, string]> = [];
  setPrint((level, msg) => got.push([level, msg]));
  try {
    assert.throws(() => BpfObject.openMem(new Uint8Array(64).fill(7), "printme"));
    assert.ok(
      got.some(([lvl, m]) =>
        lvl === 0 && m === "libbpf: elf: 'printme' is not a proper ELF object\n"
      ),
      JSON.stringify(got),
    );
    got.length = 0;
    setPrint(null);
    assert.throws(() => BpfObject.openMem(new Uint8Array(64).fill(7), "silent"));
    assert.equal(got.length, 0);
  } finally {
    setPrint(null);
  }
});

/**
 * Runs in the second namespace (bpf_link_create resolves the ifindex in the caller's netns):
 * attaches fx_tc_gate as tcx ingress on the veth end there and reports what a TCP connect from
 * the first namespace sees while it passes, while it drops, and after the link fd is closed.
 */
const TCX_CHILD = `
import { AttachType, BpfObject, linkCreate } from "${ROOT}ffi/libbpf.ts";
import { close } from "${ROOT}ffi/libc.ts";
const [objPath, ifindex, peerNs, addr] = Deno.args;
const tryConnect = async () => {
  const out = await new Deno.Command("nsenter", {
    args: ["--net=/run/netns/" + peerNs, "timeout", "2", "bash", "-c",
      'exec 3<>"/dev/tcp/' + addr + '/9"'],
    stdout: "null", stderr: "piped",
  }).output();
  return { code: out.code, stderr: new TextDecoder().decode(out.stderr) };
};
const count = (obj) => {
  const v = obj.map("fx_counts").lookup(new Uint8Array([2, 0, 0, 0]));
  let n = 0n;
  for (let i = 0; i < v.length; i += 8) n += new DataView(v.buffer).getBigUint64(i, true);
  return Number(n);
};
const obj = BpfObject.openMem(Deno.readFileSync(objPath), "fixture");
const res = {};
try {
  obj.load();
  const fd = linkCreate(obj.program("fx_tc_gate").fd, Number(ifindex), AttachType.TCX_INGRESS);
  try {
    res.pass = await tryConnect();
    res.countPass = count(obj);
    const drop = new Uint8Array(8); drop[0] = 1;
    obj.map("fx_array").update(new Uint8Array([1, 0, 0, 0]), drop);
    res.drop = await tryConnect();
    res.countDrop = count(obj);
  } finally {
    close(fd);
  }
  res.closed = await tryConnect();
  res.countClosed = count(obj);
} finally {
  obj.close();
}
console.log(JSON.stringify(res));
`;

Deno.test("linkCreate attaches a tcx ingress program to a veth in a test netns; closing detaches", async () => {
  const tag = crypto.randomUUID().slice(0, 6);
  const ns1 = `hwt-a-${tag}`, ns2 = `hwt-b-${tag}`;
  const dir = await Deno.makeTempDir({ prefix: "hw-tcx-" });
  try {
    await sh("ip", ["netns", "add", ns1]);
    await sh("ip", ["netns", "add", ns2]);
    await sh("ip", [
      "-n",
      ns1,
      "link",
      "add",
      "hwa",
      "type",
      "veth",
      "peer",
      "name",
      "hwb",
      "netns",
      ns2,
    ]);
    await sh("ip", ["-n", ns1, "addr", "add", "10.251.0.1/24", "dev", "hwa"]);
    await sh("ip", ["-n", ns2, "addr", "add", "10.251.0.2/24", "dev", "hwb"]);
    await sh("ip", ["-n", ns1, "link", "set", "hwa", "up"]);
    await sh("ip", ["-n", ns2, "link", "set", "hwb", "up"]);
    const ifindex = JSON.parse(await sh("ip", ["-n", ns2, "-j", "link", "show", "dev", "hwb"]))[0]
      .ifindex;
    await Deno.writeTextFile(`${dir}/child.ts`, TCX_CHILD);
    // nsenter (not ip netns exec) keeps /sys and bpffs as they are.
    const out = await sh("nsenter", [
      `--net=/run/netns/${ns2}`,
      Deno.execPath(),
      "run",
      "-A",
      "--no-config",
      "--no-lock",
      "--no-check",
      `${dir}/child.ts`,
      FIXTURE_OBJ,
      String(ifindex),
      ns1,
      "10.251.0.2",
    ]);
    const r = JSON.parse(out);
    // Passing: the SYN reaches 10.251.0.2, which has nothing on port 9 and answers RST.
    assert.equal(r.pass.code, 1, JSON.stringify(r));
    assert.match(r.pass.stderr, /Connection refused/);
    assert.ok(r.countPass > 0, "the tcx program saw the packets");
    // Dropping: nothing comes back, the connect times out (timeout(1) exits 124).
    assert.equal(r.drop.code, 124, JSON.stringify(r));
    assert.ok(r.countDrop > r.countPass);
    // Link fd closed: the program is gone, traffic flows and is no longer counted.
    assert.match(r.closed.stderr, /Connection refused/, JSON.stringify(r));
    assert.equal(r.countClosed, r.countDrop);
  } finally {
    await sh("ip", ["netns", "del", ns1]).catch(() => {});
    await sh("ip", ["netns", "del", ns2]).catch(() => {});
    await Deno.remove(dir, { recursive: true });
  }
});
