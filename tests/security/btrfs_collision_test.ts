/**
 * btrfs numbers inodes per subvolume, and every subvolume of a filesystem shares one superblock
 * (one `s_dev`). An unprivileged user may create a subvolume in any folder it can write to
 * (BTRFS_IOC_SUBVOL_CREATE), so uid nobody can make a file whose (`s_dev`, `i_ino`) equals an
 * approved binary's in another subvolume. The kernel key therefore uses the subvolume's
 * anonymous device on btrfs (bpf/inode_key.h): the stranger must be refused.
 *
 * Everything lives on a btrfs loop file made by the test under a folder with a random name;
 * the mounts (and with them the loop device and the subvolumes) are undone on every path.
 */
import assert from "node:assert/strict";
import { sha256Of, startTestDaemon, type TestDaemon } from "../helpers/daemon.ts";
import { loopbackListener, netclientCopy } from "../helpers/netclient.ts";
import { createLoopFs, type LoopFs, sh } from "../helpers/loopfs.ts";

const NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"];

/** Runs argv as uid nobody in the daemon's test cgroup; throws when it fails. */
async function asNobody(d: TestDaemon, argv: string[]): Promise<string> {
  const r = await d.cg.run([...NOBODY, ...argv]);
  if (r.code !== 0) throw new Error(`${argv.join(" ")}: exit ${r.code}: ${r.stderr}`);
  return r.stdout;
}

/** One connect from `client` in the test cgroup; "ok" | "EPERM" | "ERR:…". */
async function connect(d: TestDaemon, client: string, port: number, nobody = false) {
  const r = await d.cg.run([...(nobody ? NOBODY : []), client, "tcp4", "127.0.0.1", `${port}`]);
  return r.stdout.trim() || r.stderr.trim();
}

/** An approved binary in subvolume `a`, and nobody's stranger with its inode in subvolume `pub/b`. */
async function collide(fsys: LoopFs, d: TestDaemon, app: string): Promise<string> {
  const btr = `${fsys.root}/btrfs`;
  const appIno = (await Deno.stat(app)).ino!;
  // The stranger nobody copies: the same client plus one byte, so not the approved file.
  const strangerSrc = await netclientCopy(`${fsys.root}/src`, "stranger");
  await Deno.writeFile(strangerSrc, new Uint8Array([0]), { append: true });
  // As nobody, in the test cgroup: a new subvolume, then copies until the inode numbers meet.
  await asNobody(d, ["btrfs", "subvolume", "create", `${btr}/pub/b`]);
  let stranger = "";
  for (let i = 0; i < 64 && !stranger; i++) {
    const p = `${btr}/pub/b/s${i}`;
    await asNobody(d, ["cp", strangerSrc, p]);
    const ino = (await Deno.stat(p)).ino!;
    if (ino === appIno) stranger = p;
    else assert.ok(ino < appIno, `inode ${ino} passed ${appIno} without meeting it`);
  }
  assert.ok(stranger, `no copy reached inode ${appIno}`);
  await asNobody(d, ["chmod", "755", stranger]);
  const st = await Deno.stat(stranger);
  assert.equal(st.ino, appIno, "same inode number as the approved binary");
  assert.equal(st.uid, 65534, "the stranger belongs to nobody");
  assert.notEqual(await sha256Of(stranger), await sha256Of(app), "not the approved content");
  return stranger;
}

/** A btrfs loop filesystem with subvolume `a` holding `app`, and a folder anyone may write. */
async function btrfsWithApp(fsys: LoopFs): Promise<string> {
  const btr = await fsys.loop("btrfs", "btrfs");
  await sh("btrfs", "subvolume", "create", `${btr}/a`);
  // A folder uid nobody may write to (like /tmp or a shared data folder).
  await Deno.mkdir(`${btr}/pub`);
  await Deno.chmod(`${btr}/pub`, 0o1777);
  return await netclientCopy(`${btr}/a`, "app");
}

Deno.test("btrfs: nobody's file with an approved binary's inode number, in nobody's subvolume, is refused at exec", async () => {
  const fsys = await createLoopFs("btrfskey");
  const listener = loopbackListener();
  let d: TestDaemon | undefined;
  try {
    const app = await btrfsWithApp(fsys);
    d = await startTestDaemon({
      mode: "enforcing",
      apps: [{ name: "btrfs-app", path: app, sha256: await sha256Of(app) }],
    });
    assert.equal(await connect(d, app, listener.port), "ok", "the approved app connects");
    const stranger = await collide(fsys, d, app);
    assert.equal(
      await connect(d, stranger, listener.port, true),
      "EPERM",
      "the colliding stranger run by nobody",
    );
    assert.equal(await connect(d, app, listener.port), "ok", "the approved app still connects");
  } finally {
    await d?.stop();
    listener.close();
    await fsys.cleanup();
  }
});

Deno.test("btrfs: nobody's colliding file already running at the daemon's first start is not trusted by the scan", async () => {
  const fsys = await createLoopFs("btrfskey-scan");
  const listener = loopbackListener();
  let d: TestDaemon | undefined;
  let waiting: Deno.ChildProcess | undefined;
  let control: Deno.ChildProcess | undefined;
  try {
    const app = await btrfsWithApp(fsys);
    d = await startTestDaemon({
      mode: "enforcing",
      apps: [{ name: "btrfs-app", path: app, sha256: await sha256Of(app) }],
    });
    const stranger = await collide(fsys, d, app);
    // Stop the daemon and remove its pins: the next start is a first start, which scans the
    // processes already running (src/identity/trust_scan.ts) by their executables' kernel keys.
    d.signal("SIGTERM");
    await d.process.status;
    const off = await d.cli(["disable"]);
    assert.equal(off.code, 0, off.stderr);
    // nobody's stranger starts now and connects once the daemon is back.
    const delay = 12;
    const started = Date.now();
    waiting = d.cg.spawn([
      ...NOBODY,
      stranger,
      "sleep-then",
      `${delay}`,
      "tcp4",
      "127.0.0.1",
      `${listener.port}`,
    ]);
    // Control: a stranger on another filesystem, also running since before the start.
    control = d.cg.spawn([
      ...NOBODY,
      `${fsys.root}/src/stranger`,
      "sleep-then",
      `${delay}`,
      "tcp4",
      "127.0.0.1",
      `${listener.port}`,
    ]);
    await d.restart();
    assert.ok(Date.now() - started < delay * 1000 - 1000, "the daemon was up before the connect");
    const ctl = await control.output();
    control = undefined;
    assert.equal(new TextDecoder().decode(ctl.stdout).trim(), "EPERM", "a non-colliding stranger");
    const out = await waiting.output();
    waiting = undefined;
    const dec = new TextDecoder();
    assert.equal(
      dec.decode(out.stdout).trim() || dec.decode(out.stderr).trim(),
      "EPERM",
      "the colliding stranger that was running at start",
    );
    assert.equal(await connect(d, app, listener.port), "ok", "the approved app connects");
  } finally {
    for (const c of [waiting, control]) {
      try {
        c?.kill("SIGKILL");
        await c?.output();
      } catch { /* exited */ }
    }
    await d?.stop();
    listener.close();
    await fsys.cleanup();
  }
});
