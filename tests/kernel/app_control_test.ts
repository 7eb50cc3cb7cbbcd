/**
 * Kernel core, real kernel: verdicts come from precomputed maps, so the first connect of a
 * one-shot client is decided right. Everything attaches to a test cgroup and pins under a test
 * instance; both are removed on every path.
 */
import assert from "node:assert/strict";
import { AppControl, disableInstance } from "../../src/kernel/app_control.ts";
import { pinExists, pinPaths } from "../../src/kernel/pins.ts";
import { identityOf } from "../../src/identity/running.ts";
import { fileTimes, statIdentity } from "../../src/integrity/hash.ts";
import { decodeEvent, HW, LAYOUT } from "../../ffi/structs.ts";
import { BpfObject, mapInfo } from "../../ffi/libbpf.ts";
import { HASHWALL_OBJECT } from "../../src/kernel/objects.ts";
import { createTestCgroup, removeTestParentIfEmpty, type TestCgroup } from "../helpers/cgroup.ts";
import { loopbackListener, netclientCopy } from "../helpers/netclient.ts";

interface Fixture {
  cg: TestCgroup;
  core: AppControl;
  dir: string;
  /** approved, inherit = true */
  inh: string;
  /** approved, inherit = false */
  plain: string;
  /** not approved (same bytes, other inode) */
  unknown: string;
  instance: string;
}

async function setup(mode: number, name: string): Promise<Fixture> {
  const dir = await Deno.makeTempDir({ prefix: "hw-core-" });
  const inh = await netclientCopy(`${dir}/inh`);
  const plain = await netclientCopy(`${dir}/plain`);
  const unknown = await netclientCopy(`${dir}/unknown`);
  const cg = await createTestCgroup(name);
  const instance = `test-${name}-${crypto.randomUUID().slice(0, 8)}`;
  let core: AppControl | undefined;
  try {
    core = AppControl.open({
      pins: pinPaths(instance),
      cgroupPath: cg.path,
      settings: { mode, allowLoopback: false, daemonTgid: Deno.pid, dedupMs: 10_000 },
    });
    core.attachLineage();
    core.approve({
      key: identityOf(await Deno.stat(inh)),
      appId: 1,
      flags: HW.APP_INHERIT,
      times: fileTimes(statIdentity(inh)),
    });
    core.approve({
      key: identityOf(await Deno.stat(plain)),
      appId: 2,
      flags: 0,
      times: fileTimes(statIdentity(plain)),
    });
    core.attachHooks();
    return { cg, core, dir, inh, plain, unknown, instance };
  } catch (e) {
    core?.close();
    disableInstance(pinPaths(instance));
    await cg.remove();
    await Deno.remove(dir, { recursive: true });
    throw e;
  }
}

async function teardown(f: Fixture) {
  try {
    f.core.close();
  } finally {
    disableInstance(pinPaths(f.instance));
    await f.cg.remove();
    await removeTestParentIfEmpty();
    await Deno.remove(f.dir, { recursive: true });
  }
}

async function attempt(f: Fixture, argv: string[]): Promise<string> {
  const r = await f.cg.run(argv);
  return r.stdout.trim().split("\n").pop() ?? "";
}

Deno.test("enforcing: approved client connects on its first attempt, unapproved copy gets EPERM", async () => {
  const f = await setup(HW.MODE_ENFORCING, "first");
  const v4 = loopbackListener("127.0.0.1");
  const v6 = loopbackListener("::1");
  try {
    // Each is a brand-new process making exactly one connect: no retry could hide a race.
    assert.equal(await attempt(f, [f.plain, "tcp4", "127.0.0.1", `${v4.port}`]), "ok");
    assert.equal(await attempt(f, [f.unknown, "tcp4", "127.0.0.1", `${v4.port}`]), "EPERM");
    // IPv6, IPv4-mapped IPv6 (goes through connect6 only), UDP without connect, raw ICMP.
    assert.equal(await attempt(f, [f.plain, "tcp6", "::1", `${v6.port}`]), "ok");
    assert.equal(await attempt(f, [f.unknown, "tcp6", "::1", `${v6.port}`]), "EPERM");
    assert.equal(await attempt(f, [f.plain, "tcp6", "::ffff:127.0.0.1", `${v4.port}`]), "ok");
    assert.equal(
      await attempt(f, [f.unknown, "tcp6", "::ffff:127.0.0.1", `${v4.port}`]),
      "EPERM",
    );
    assert.equal(await attempt(f, [f.plain, "udp4", "127.0.0.1", "9"]), "ok");
    assert.equal(await attempt(f, [f.unknown, "udp4", "127.0.0.1", "9"]), "EPERM");
    assert.equal(await attempt(f, [f.plain, "udp6", "::1", "9"]), "ok");
    assert.equal(await attempt(f, [f.unknown, "udp6", "::1", "9"]), "EPERM");
    assert.equal(await attempt(f, [f.plain, "icmp4"]), "ok");
    assert.equal(await attempt(f, [f.unknown, "icmp4"]), "EPERM");
    assert.equal(await attempt(f, [f.unknown, "icmp6"]), "EPERM");
    // ICMP datagram ("ping") sockets, in a private network namespace whose ping_group_range
    // allows them (the sysctl is per namespace: the host's stays as it is).
    const ping = (client: string, mode: string) =>
      attempt(f, [
        "unshare",
        "--net",
        "sh",
        "-c",
        `sysctl -qw net.ipv4.ping_group_range="0 2147483647" && exec "${client}" ${mode}`,
      ]);
    assert.equal(await ping(f.plain, "ping4"), "ok");
    assert.equal(await ping(f.unknown, "ping4"), "EPERM");
    assert.equal(await ping(f.plain, "ping6"), "ok");
    assert.equal(await ping(f.unknown, "ping6"), "EPERM");
    // Processes outside the test cgroup are untouched (this test process connects freely).
    const c = await Deno.connect({ hostname: "127.0.0.1", port: v4.port });
    c.close();
    const counters = f.core.counters();
    assert.ok(counters.deny >= 7, `deny counter ${counters.deny}`);
  } finally {
    v4.close();
    v6.close();
    await teardown(f);
  }
});

Deno.test("lineage: inherit passes trust to fork children and to what they exec; without it exec re-decides by identity", async () => {
  const f = await setup(HW.MODE_ENFORCING, "lineage");
  const l = loopbackListener();
  const tcp = ["tcp4", "127.0.0.1", `${l.port}`];
  try {
    // inherit = true: a forked child and a fork+exec of the same binary are trusted.
    assert.equal(await attempt(f, [f.inh, "fork", ...tcp]), "ok");
    assert.equal(await attempt(f, [f.inh, "forkexec", ...tcp]), "ok");
    // inherit = false: the forked child is not trusted...
    assert.equal(await attempt(f, [f.plain, "fork", ...tcp]), "EPERM");
    // ...while an exec is decided by the binary's own identity (approved → trusted).
    assert.equal(await attempt(f, [f.plain, "forkexec", ...tcp]), "ok");
    // exec of another (unapproved) binary under an inheriting parent: trusted via it (issue 21);
    // under a parent without inherit it is on its own.
    assert.equal(await attempt(f, [f.inh, "exec", f.unknown, ...tcp]), "ok");
    assert.equal(await attempt(f, [f.inh, "fork", "exec", f.unknown, ...tcp]), "ok");
    assert.equal(await attempt(f, [f.plain, "exec", f.unknown, ...tcp]), "EPERM");
    assert.equal(await attempt(f, [f.plain, "fork", "exec", f.unknown, ...tcp]), "EPERM");
    // exec of an approved binary from an unknown one is trusted by its own identity.
    assert.equal(await attempt(f, [f.unknown, "exec", f.plain, ...tcp]), "ok");
    // Exit removes the entry: after the clients exited no trusted entry of theirs is left.
    assert.ok(f.core.counters().inherited >= 2);
  } finally {
    l.close();
    await teardown(f);
  }
});

Deno.test("socket records: every trusted connect is recorded by cookie, and the record leaves with the socket", async () => {
  const f = await setup(HW.MODE_ENFORCING, "sockrec");
  const l = loopbackListener();
  try {
    // Records live in hw_sock_slots (a slot is owned while its cookie, at offset 8, is set) or,
    // when a slot was taken, in hw_sock_cookie (hw_sock_hashed counts those).
    const records = () => {
      const slots = f.core.map("hw_sock_slots");
      let owned = 0;
      for (const k of slots.keys()) {
        const v = slots.lookup(k);
        if (v && new DataView(v.buffer, v.byteOffset).getBigUint64(8, true) !== 0n) owned++;
      }
      const hashed = new DataView(f.core.map("hw_sock_hashed").lookup(new Uint8Array(4))!.buffer)
        .getBigUint64(0, true);
      return owned + [...f.core.map("hw_sock_cookie").keys()].length + Number(hashed);
    };
    // A client that connects 300 times (TCP) and one connected UDP socket, each closed at once.
    const r = await f.cg.run([f.plain, "loop", "300", "tcp4", "127.0.0.1", `${l.port}`]);
    assert.match(r.stdout, /ok=300 eperm=0/);
    assert.equal(await attempt(f, [f.plain, "udp4", "127.0.0.1", "9"]), "ok");
    // Records exist while their sockets live (tests/e2e/sockets_test.ts closes by them); released
    // at close, so nothing piles up until the map is full.
    assert.equal(records(), 0);
  } finally {
    l.close();
    await teardown(f);
  }
});

Deno.test("revoking an approval in the kernel denies running and new processes at once", async () => {
  const f = await setup(HW.MODE_ENFORCING, "revoke");
  const l = loopbackListener();
  try {
    const child = f.cg.spawn([f.inh, "sleep-then", "0.4", "tcp4", "127.0.0.1", `${l.port}`]);
    await new Promise((r) => setTimeout(r, 100));
    assert.ok(f.core.revoke(identityOf(await Deno.stat(f.inh))));
    const out = new TextDecoder().decode((await child.output()).stdout).trim();
    assert.equal(out, "EPERM", "the process exec'd while approved lost its trust on revoke");
    assert.equal(await attempt(f, [f.inh, "tcp4", "127.0.0.1", `${l.port}`]), "EPERM");
  } finally {
    l.close();
    await teardown(f);
  }
});

Deno.test("learning: unknown client connects and a deduplicated event with its lineage arrives", async () => {
  const f = await setup(HW.MODE_LEARNING, "learn");
  const l = loopbackListener();
  const records: Uint8Array[] = [];
  try {
    f.core.startDrain((r) => records.push(r.slice()), 20);
    const argv = [f.unknown, "loop", "5", "tcp4", "127.0.0.1", `${l.port}`];
    const r = await f.cg.run(argv);
    assert.equal(r.stdout.trim(), "ok=5 eperm=0 other=0");
    await new Promise((res) => setTimeout(res, 100));
    f.core.drain();
    const unknownId = identityOf(await Deno.stat(f.unknown));
    const mineRaw = records.filter((r) => decodeEvent(r).exe.ino === unknownId.ino);
    const mine = mineRaw.map(decodeEvent);
    assert.equal(mine.length, 1, "five attempts to one destination → one report (dedup)");
    const ev = mine[0];
    // Variable length: the head, the ancestors there are, the path's bytes, nothing more.
    assert.equal(
      mineRaw[0].length,
      LAYOUT.hw_event.size + ev.lineage.length * LAYOUT.hw_ancestor.size +
        new TextEncoder().encode(f.unknown).length,
    );
    assert.equal(ev.verdict, HW.VERDICT_ALLOW);
    assert.equal(ev.reason, HW.REASON_UNKNOWN_APP);
    assert.equal(ev.kind, HW.EV_CONNECT);
    assert.equal(ev.family, 4);
    assert.deepEqual([...ev.daddr], [127, 0, 0, 1]);
    assert.equal(ev.dport, l.port);
    assert.equal(ev.exe.dev, unknownId.dev);
    assert.equal(ev.comm, "netclient");
    assert.equal(ev.exePath, f.unknown);
    // The client was started by sh, which exec'd it: its parent is this test process.
    assert.equal(ev.lineage[0].tgid, Deno.pid);
    assert.ok(ev.lineage.length >= 2 && ev.lineage.length <= HW.LINEAGE_DEPTH);
    assert.ok(f.core.counters().deduped >= 4);
  } finally {
    l.close();
    await teardown(f);
  }
});

Deno.test("restart: a connect loop runs while the core is closed and reopened; no wrong verdict", async () => {
  const f = await setup(HW.MODE_ENFORCING, "restart");
  const l = loopbackListener();
  let core2: AppControl | undefined;
  try {
    // Time-bounded: a count would end too soon on the (fast) EPERM side.
    const good = f.cg.spawn([f.plain, "loopfor", "1.5", "tcp4", "127.0.0.1", `${l.port}`]);
    const bad = f.cg.spawn([f.unknown, "loopfor", "1.5", "tcp4", "127.0.0.1", `${l.port}`]);
    let finished = 0;
    good.status.then(() => finished++);
    bad.status.then(() => finished++);
    await new Promise((r) => setTimeout(r, 30));
    // The daemon goes away: its handles close, pins keep every program and map alive...
    f.core.close();
    await new Promise((r) => setTimeout(r, 30));
    // ...and a new one takes over the pinned maps and swaps programs under the pinned links.
    const pins = pinPaths(f.instance);
    core2 = AppControl.open({
      pins,
      cgroupPath: f.cg.path,
      settings: { mode: HW.MODE_ENFORCING, allowLoopback: false, daemonTgid: 0, dedupMs: 10_000 },
    });
    core2.attachLineage();
    core2.attachHooks();
    assert.equal(finished, 0, "both loops were still running across the restart");
    const dec = new TextDecoder();
    const [g, b] = await Promise.all([good.output(), bad.output()]);
    assert.match(dec.decode(g.stdout).trim(), /^ok=[1-9]\d* eperm=0 other=0$/);
    assert.match(dec.decode(b.stdout).trim(), /^ok=0 eperm=[1-9]\d* other=0$/);
    assert.ok(pinExists(`${pins.links}/hw_connect4`));
    assert.equal(core2.approvedKeys().length, 2, "approvals survived in the pinned map");
  } finally {
    l.close();
    core2?.close();
    // f.core is already closed; teardown's close is idempotent.
    await teardown(f);
  }
});

Deno.test("a ring pinned by an older build keeps its size; the reader takes it from the map", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hw-core-ring-" });
  const unknown = await netclientCopy(`${dir}/unknown`);
  const cg = await createTestCgroup("ring-size");
  const instance = `test-ring-${crypto.randomUUID().slice(0, 8)}`;
  const pins = pinPaths(instance);
  const l = loopbackListener();
  let core: AppControl | undefined;
  try {
    // An older build's pinned event ring: 16 MiB, twice today's HW.RINGBUF_BYTES.
    const OLD = 16 * 1024 * 1024;
    assert.notEqual(OLD, HW.RINGBUF_BYTES);
    await Deno.mkdir(pins.maps, { recursive: true });
    const old = BpfObject.openMem(HASHWALL_OBJECT, "hashwall-old");
    try {
      old.map("hw_events").setMaxEntries(OLD);
      old.load();
      old.map("hw_events").pin(`${pins.maps}/hw_events`);
    } finally {
      old.close();
    }

    core = AppControl.open({
      pins,
      cgroupPath: cg.path,
      settings: { mode: HW.MODE_LEARNING, allowLoopback: false, daemonTgid: Deno.pid, dedupMs: 0 },
    });
    assert.equal(mapInfo(core.map("hw_events").fd).maxEntries, OLD, "the pinned ring was reused");
    core.attachLineage();
    core.attachHooks();
    const records: Uint8Array[] = [];
    core.startDrain((r) => records.push(r.slice()), 20);
    const r = await cg.run([unknown, "tcp4", "127.0.0.1", `${l.port}`]);
    assert.equal(r.stdout.trim(), "ok");
    core.drain();
    const ino = identityOf(await Deno.stat(unknown)).ino;
    assert.equal(records.map(decodeEvent).filter((e) => e.exe.ino === ino).length, 1);
  } finally {
    l.close();
    core?.close();
    disableInstance(pins);
    await cg.remove();
    await removeTestParentIfEmpty();
    await Deno.remove(dir, { recursive: true });
  }
});

/** This process's open BPF link and perf event fds (what keeps a program attached). */
function attachmentFds(): number {
  let n = 0;
  for (const e of Deno.readDirSync("/proc/self/fd")) {
    try {
      const t = Deno.readLinkSync(`/proc/self/fd/${e.name}`);
      if (t === "anon_inode:bpf_link" || t === "anon_inode:[perf_event]") n++;
    } catch {
      // the fd of readDirSync itself, closed by now
    }
  }
  return n;
}

Deno.test("close + disable leaves no link or perf event fd open: the pins alone held the programs", async () => {
  // An fd left open keeps its program attached until the process exits: a daemon's `disable`
  // would not detach, and a process that opens instances one after another (the test runner)
  // reaches the kernel's 64 programs per tracepoint (E2BIG at sys_exit_openat).
  const before = attachmentFds();
  for (let i = 0; i < 2; i++) {
    const f = await setup(HW.MODE_ENFORCING, "fds");
    const l = loopbackListener();
    try {
      assert.equal(attachmentFds(), before, "every link is held by its pin only, none by an fd");
      // Held by their pins alone, the hooks still decide.
      assert.equal(await attempt(f, [f.plain, "tcp4", "127.0.0.1", `${l.port}`]), "ok");
      assert.equal(await attempt(f, [f.unknown, "tcp4", "127.0.0.1", `${l.port}`]), "EPERM");
    } finally {
      l.close();
      await teardown(f);
    }
    assert.equal(attachmentFds(), before, "after close + disable nothing is left in this process");
  }
});
