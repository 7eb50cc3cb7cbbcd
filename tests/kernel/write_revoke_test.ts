/**
 * Revocation at the writable open (bpf/write_revoke.h), real kernel: an approved file opened for
 * writing — by any name and any open call — is out of hw_approved before the open returns, so
 * the map is checked right after the open, before anything is written. Read-only opens change
 * nothing; a process trusting through the identity is denied at its next connect; a uid-nobody
 * process without write permission cannot revoke; the approval guard refuses an approval whose
 * hash predates a writable open.
 */
import assert from "node:assert/strict";
import { AppControl, disableInstance } from "../../src/kernel/app_control.ts";
import { pinPaths } from "../../src/kernel/pins.ts";
import { identityOf } from "../../src/identity/running.ts";
import { fileTimes, statIdentity } from "../../src/integrity/hash.ts";
import { bootNs, close as closeFd, O_RDONLY, openPath } from "../../ffi/libc.ts";
import { decodeEvent, type ExeKey, HW } from "../../ffi/structs.ts";
import { createTestCgroup, removeTestParentIfEmpty, type TestCgroup } from "../helpers/cgroup.ts";
import { loopbackListener, netclientCopy } from "../helpers/netclient.ts";

const sys = Deno.dlopen("/lib/x86_64-linux-gnu/libc.so.6", {
  syscall: { parameters: ["i64", "i64", "buffer", "buffer", "u64"], result: "i64" },
  creat: { parameters: ["buffer", "u32"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
});
const SYS_OPENAT2 = 437n;
const AT_FDCWD = -100n;
const O_RDWR = 2n;
const cstr = (s: string) => new TextEncoder().encode(s + "\0");

interface Fixture {
  cg: TestCgroup;
  core: AppControl;
  dir: string;
  instance: string;
  /** An approved data file (appId 7): any file can be an approved identity (scripts are). */
  file: string;
  key: ExeKey;
}

async function setup(name: string): Promise<Fixture> {
  const dir = await Deno.makeTempDir({ prefix: "hw-wrev-" });
  await Deno.chmod(dir, 0o755); // nobody may look inside (and open read-only)
  const file = `${dir}/approved`;
  await Deno.writeTextFile(file, "#!/bin/sh\necho approved\n", { mode: 0o644 });
  await Deno.chmod(file, 0o644);
  const cg = await createTestCgroup(name);
  const instance = `test-${name}-${crypto.randomUUID().slice(0, 8)}`;
  try {
    const core = AppControl.open({
      pins: pinPaths(instance),
      cgroupPath: cg.path,
      settings: {
        mode: HW.MODE_ENFORCING,
        allowLoopback: false,
        daemonTgid: Deno.pid,
        dedupMs: 1,
      },
    });
    core.attachLineage();
    core.attachHooks();
    const f = { cg, core, dir, instance, file, key: identityOf(await Deno.stat(file)) };
    approve(f);
    return f;
  } catch (e) {
    disableInstance(pinPaths(instance));
    await cg.remove();
    await Deno.remove(dir, { recursive: true });
    throw e;
  }
}

function approve(f: Fixture, hashedSince?: bigint): boolean {
  return f.core.approve({
    key: f.key,
    appId: 7,
    flags: 0,
    times: fileTimes(statIdentity(f.file)),
  }, hashedSince);
}

const approved = (f: Fixture) => f.core.approvedAppId(f.key) === 7;

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

/** `argv` as uid/gid nobody (setpriv), in the test cgroup. */
function asNobody(f: Fixture, script: string) {
  return f.cg.run([
    "setpriv",
    "--reuid=65534",
    "--regid=65534",
    "--clear-groups",
    "/bin/sh",
    "-c",
    script,
  ]);
}

Deno.test("every way to open an approved file for writing revokes it before the open returns", async () => {
  const f = await setup("wrev-opens");
  const mnt = `${f.dir}/bindtarget`;
  let mounted = false;
  try {
    // Each case: approved again, opened, the map read before any write or close.
    const cases: [string, () => number | (() => void)][] = [
      ["O_WRONLY", () => {
        const h = Deno.openSync(f.file, { write: true });
        return () => h.close();
      }],
      ["O_RDWR", () => {
        const h = Deno.openSync(f.file, { read: true, write: true });
        return () => h.close();
      }],
      ["O_WRONLY|O_APPEND", () => {
        const h = Deno.openSync(f.file, { append: true });
        return () => h.close();
      }],
      ["openat2(O_RDWR)", () => {
        const how = new BigUint64Array([O_RDWR, 0n, 0n]); // flags, mode, resolve
        const fd = Number(
          sys.symbols.syscall(
            SYS_OPENAT2,
            AT_FDCWD,
            cstr(f.file),
            new Uint8Array(how.buffer),
            24n,
          ),
        );
        assert.ok(fd >= 0, "openat2 opened");
        return () => sys.symbols.close(fd);
      }],
      ["a second hard link", () => {
        const link = `${f.dir}/link-${crypto.randomUUID().slice(0, 6)}`;
        Deno.linkSync(f.file, link);
        const h = Deno.openSync(link, { write: true });
        return () => {
          h.close();
          Deno.removeSync(link);
        };
      }],
      ["/proc/self/fd of a read-only fd", () => {
        const ro = openPath(f.file, O_RDONLY);
        assert.ok(approved(f), "a read-only open leaves it approved");
        const h = Deno.openSync(`/proc/self/fd/${ro}`, { write: true });
        return () => {
          h.close();
          closeFd(ro);
        };
      }],
    ];
    for (const [name, open] of cases) {
      approve(f);
      assert.ok(approved(f), `${name}: approved before`);
      const done = open();
      const gone = !approved(f); // read before any write or close
      if (typeof done === "function") done();
      assert.ok(gone, `${name}: hw_approved entry gone right after the open`);
    }

    // A bind mount of the file onto another name.
    await Deno.writeTextFile(mnt, "");
    const m = await new Deno.Command("mount", { args: ["--bind", f.file, mnt] }).output();
    assert.equal(m.code, 0, new TextDecoder().decode(m.stderr));
    mounted = true;
    approve(f);
    const h = Deno.openSync(mnt, { write: true });
    const gone = !approved(f);
    h.close();
    assert.ok(gone, "bind mount: gone right after the open");

    // creat(2) and O_TRUNC rewrite the content: last.
    approve(f);
    const fd = sys.symbols.creat(cstr(f.file), 0o644);
    assert.ok(fd >= 0, "creat opened");
    const goneCreat = !approved(f);
    sys.symbols.close(fd);
    assert.ok(goneCreat, "creat: gone right after the open");
    await Deno.writeTextFile(f.file, "#!/bin/sh\necho approved\n");
    approve(f);
    const t = Deno.openSync(f.file, { write: true, truncate: true });
    const goneTrunc = !approved(f);
    t.close();
    assert.ok(goneTrunc, "O_TRUNC: gone right after the open");

    // Read-only opens, by any name, leave it alone.
    approve(f);
    for (let i = 0; i < 3; i++) Deno.readFileSync(f.file);
    Deno.readFileSync(mnt);
    assert.ok(approved(f), "read-only opens revoke nothing");

    // The daemon hears of it: one HW_EV_WRITE_OPEN report per revocation, naming the opener.
    const seen: ReturnType<typeof decodeEvent>[] = [];
    f.core.startDrain((rec) => seen.push(decodeEvent(rec)), 60_000);
    f.core.drain(100_000);
    const mine = seen.filter((e) =>
      e.kind === HW.EV_WRITE_OPEN && e.exe.ino === f.key.ino && e.exe.dev === f.key.dev
    );
    assert.equal(mine.length, cases.length + 3, "one report per revocation");
    assert.ok(mine.every((e) => e.tgid === Deno.pid && e.reason === HW.REASON_WRITE_OPEN));
    assert.ok(mine.every((e) => e.rule === 7), "the report carries the app id");
  } finally {
    if (mounted) await new Deno.Command("umount", { args: [mnt] }).output();
    await teardown(f);
  }
});

Deno.test("a process trusting through the identity is denied at its next connect after the open", async () => {
  const f = await setup("wrev-connect");
  const l = loopbackListener("127.0.0.1");
  try {
    const client = await netclientCopy(`${f.dir}/client`);
    // Two processes trusted through the approved file's identity (as an interpreter running an
    // approved script is): each sleeps, then connects once.
    const spawn = async (secs: number) => {
      const p = f.cg.spawn([client, "sleep-then", `${secs}`, "tcp4", "127.0.0.1", `${l.port}`]);
      // Trusted once it runs the client (the exec of an unapproved binary drops any entry).
      const end = Date.now() + 5000;
      while (Deno.readLinkSync(`/proc/${p.pid}/exe`).replace(/ \(deleted\)$/, "") !== client) {
        if (Date.now() > end) throw new Error("client never exec'd");
        await new Promise((r) => setTimeout(r, 5));
      }
      assert.ok(f.core.trustProcess(p.pid, { key: f.key, appId: 7, flags: 0 }));
      return p;
    };
    const control = await spawn(1);
    const victim = await spawn(3);
    const dec = (o: Deno.CommandOutput) => new TextDecoder().decode(o.stdout).trim();
    assert.equal(dec(await control.output()), "ok", "trusted: its connect passes");
    Deno.openSync(f.file, { write: true }).close(); // nothing written
    assert.equal(dec(await victim.output()), "EPERM", "denied after the writable open");
  } finally {
    l.close();
    await teardown(f);
  }
});

Deno.test("uid nobody: without write permission no revocation; with it, as today, it can", async () => {
  const f = await setup("wrev-nobody");
  try {
    // Attacker: a stranger tries every writable open it can think of; each is refused by the
    // kernel's permission check before an fd exists, so nothing is revoked.
    const r = await asNobody(
      f,
      // (`true`, a regular builtin: a failed redirection does not end the shell.)
      `true >>'${f.file}' || echo refused-append; true <>'${f.file}' || echo refused-rdwr; ` +
        `true >'${f.file}' || echo refused-trunc; cat '${f.file}' > /dev/null && echo read-ok`,
    );
    assert.match(r.stdout, /refused-append/);
    assert.match(r.stdout, /refused-rdwr/);
    assert.match(r.stdout, /refused-trunc/);
    assert.match(r.stdout, /read-ok/);
    assert.ok(approved(f), "a stranger without write permission cannot revoke");
    // Documented: a user WITH write permission can revoke (it could change the file anyway,
    // which revoked it before this change through fanotify).
    await Deno.chmod(f.file, 0o666);
    const w = await asNobody(f, `true >>'${f.file}' && echo opened`);
    assert.match(w.stdout, /opened/);
    assert.ok(!approved(f), "write permission: the open revokes");
  } finally {
    await teardown(f);
  }
});

Deno.test("an approval whose hash began before a writable open is refused; after the open's close it holds", async () => {
  const f = await setup("wrev-guard");
  try {
    const since = bootNs();
    const h = Deno.openSync(f.file, { write: true }); // a writer opens while "hashing"
    assert.ok(!approved(f));
    assert.equal(approve(f, since), false, "hashed before the open: refused");
    assert.ok(!approved(f), "and not left in the map");
    h.close();
    const later = bootNs(); // the re-hash after the writer's close
    assert.equal(approve(f, later), true, "hashed after the open: approved");
    assert.ok(approved(f));
    assert.ok(f.core.writeWatch(f.key)!.seq > since);
    // Pruning keeps what it is told and drops the rest.
    f.core.pruneWriteWatch(new Set());
    assert.equal(f.core.writeWatch(f.key), undefined);
  } finally {
    await teardown(f);
  }
});
