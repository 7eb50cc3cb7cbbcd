/**
 * Identity on real filesystems: the key the daemon writes for an approved file is the key the
 * hooks compute, on ext4, xfs, btrfs (a subvolume, and one file reached through two mounts of
 * it), overlayfs (lower layer, then after a copy-up), tmpfs, and bind mounts of each. Every
 * filesystem is made by the test on a loop file (or tmpfs), under a folder with a random name,
 * and undone on every path. In enforcing mode an approved copy of the test client connects on
 * its first try, a stranger on the same filesystem run by uid nobody is refused, and a write to
 * the approved file revokes it.
 */
import assert from "node:assert/strict";
import { sha256Of, startTestDaemon, type TestDaemon } from "../helpers/daemon.ts";
import { loopbackListener, netclientCopy } from "../helpers/netclient.ts";
import { createLoopFs, sh } from "../helpers/loopfs.ts";
import { until } from "../helpers/wait.ts";

/** One connect from `client`, optionally as uid nobody; "ok" | "EPERM" | "ERR:…". */
async function connect(d: TestDaemon, client: string, port: number, nobody = false) {
  const argv = nobody
    ? ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", client]
    : [client];
  const r = await d.cg.run([...argv, "tcp4", "127.0.0.1", `${port}`]);
  return r.stdout.trim() || r.stderr.trim();
}

interface Case {
  /** Name of the filesystem case. */
  fs: string;
  /** Folder holding app, stranger and b/bindapp. */
  dir: string;
  /** A bind mount of dir/b. */
  bind: string;
  /** Other paths that reach dir/app (second subvolume mount). */
  alsoApp?: string[];
}

Deno.test("identity: approved on ext4, xfs, btrfs, overlayfs, tmpfs and bind mounts; strangers refused; writes revoke", async () => {
  const fsys = await createLoopFs("identity");
  const listener = loopbackListener();
  let d: TestDaemon | undefined;
  try {
    const cases: Case[] = [];
    const add = async (fs: string, dir: string, alsoApp?: string[]) => {
      await netclientCopy(dir, "app");
      await netclientCopy(dir, "stranger");
      await netclientCopy(`${dir}/b`, "bindapp");
      await Deno.chmod(`${dir}/b`, 0o755);
      cases.push({ fs, dir, bind: "", alsoApp });
    };
    await add("ext4", await fsys.loop("ext4", "ext4"));
    await add("xfs", await fsys.loop("xfs", "xfs"));
    // btrfs: the binaries live in a subvolume, mounted twice (the Fedora/openSUSE root layout).
    const btr = await fsys.loop("btrfs", "btrfs");
    await sh("btrfs", "subvolume", "create", `${btr}/sv`);
    const dev = (await sh("findmnt", "-no", "SOURCE", btr)).trim();
    const sv1 = await fsys.mount(["-o", "subvol=sv", dev], "sv1");
    const sv2 = await fsys.mount(["-o", "subvol=sv", dev], "sv2");
    await add("btrfs", sv1, [`${sv2}/app`, `${btr}/sv/app`]);
    await add("tmpfs", await fsys.mount(["-t", "tmpfs", "-o", "size=16m", "tmpfs"], "tmpfs"));
    // overlayfs: everything starts in the lower layer.
    const ovl = await fsys.mount(["-t", "tmpfs", "-o", "size=16m", "tmpfs"], "ovl-dirs");
    for (const sub of ["lower", "upper", "work"]) await Deno.mkdir(`${ovl}/${sub}`);
    await netclientCopy(`${ovl}/lower`, "app");
    await netclientCopy(`${ovl}/lower`, "stranger");
    await netclientCopy(`${ovl}/lower/b`, "bindapp");
    await Deno.chmod(`${ovl}/lower/b`, 0o755);
    const merged = await fsys.mount([
      "-t",
      "overlay",
      "-o",
      `lowerdir=${ovl}/lower,upperdir=${ovl}/upper,workdir=${ovl}/work`,
      "overlay",
    ], "merged");
    cases.push({ fs: "overlay", dir: merged, bind: "" });
    for (const c of cases) c.bind = await fsys.bind(`${c.dir}/b`, `${c.fs}-bind`);

    const apps = [];
    for (const c of cases) {
      apps.push({
        name: `${c.fs}-app`,
        path: `${c.dir}/app`,
        sha256: await sha256Of(`${c.dir}/app`),
      });
      apps.push({
        name: `${c.fs}-bind`,
        path: `${c.bind}/bindapp`,
        sha256: await sha256Of(`${c.bind}/bindapp`),
      });
    }
    d = await startTestDaemon({ mode: "enforcing", apps });

    for (const c of cases) {
      assert.equal(await connect(d, `${c.dir}/app`, listener.port), "ok", `${c.fs}: approved app`);
      assert.equal(await connect(d, `${c.bind}/bindapp`, listener.port), "ok", `${c.fs}: via bind`);
      assert.equal(
        await connect(d, `${c.dir}/b/bindapp`, listener.port),
        "ok",
        `${c.fs}: bind target`,
      );
      for (const p of c.alsoApp ?? []) {
        assert.equal(await connect(d, p, listener.port), "ok", `${c.fs}: ${p}`);
      }
      assert.equal(
        await connect(d, `${c.dir}/stranger`, listener.port, true),
        "EPERM",
        `${c.fs}: a stranger run by nobody`,
      );
    }

    // overlayfs copy-up (metadata change copies the lower file up): still the approved file.
    await sh("touch", `${merged}/app`);
    assert.ok((await Deno.stat(`${ovl}/upper/app`)).isFile, "copied up");
    const re = await d.cli(["apps", "rehash", "overlay-app", "--json"]);
    assert.equal(re.code, 0, re.stderr);
    assert.equal(JSON.parse(re.stdout)[0].status, "valid");
    assert.equal(await connect(d, `${merged}/app`, listener.port), "ok", "overlay after copy-up");
    assert.equal(
      await connect(d, `${merged}/stranger`, listener.port, true),
      "EPERM",
      "overlay stranger after copy-up",
    );

    // A write to each approved file revokes it.
    for (const c of cases) {
      const f = await Deno.open(`${c.dir}/app`, { append: true });
      await f.write(new Uint8Array([0]));
      f.close();
      await until(
        `${c.fs}: write revokes`,
        async () => (await connect(d!, `${c.dir}/app`, listener.port)) === "EPERM",
      );
      const f2 = await Deno.open(`${c.bind}/bindapp`, { append: true });
      await f2.write(new Uint8Array([0]));
      f2.close();
      await until(
        `${c.fs}: write via bind revokes`,
        async () => (await connect(d!, `${c.bind}/bindapp`, listener.port)) === "EPERM",
      );
    }
  } catch (e) {
    if (Deno.env.get("HW_DEBUG")) {
      console.log(d?.logs().join("\n"));
      console.log((await d?.cli(["apps", "list", "--json"]))?.stdout);
    }
    throw e;
  } finally {
    await d?.stop();
    listener.close();
    await fsys.cleanup();
  }
});
