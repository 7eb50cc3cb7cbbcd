/**
 * Disk full and read-only state folder: the daemon's state folder is put on a small ext4 image
 * that this test loop-mounts (and unmounts on every path). While the file system is full the daemon
 * keeps enforcing (real connect verdicts), says so in `status` warnings and in its log, and once
 * space returns it writes the held history by itself. Then the file system fails and turns
 * read-only under it (ext4 `errors=remount-ro`, triggered through sysfs): enforcement goes on, the
 * warning and log say "read-only"; after the admin's repair (stop, fsck, mount, start; the kernel
 * cannot remount an emergency read-only ext4 writable) history is written again, and the pinned
 * programs decided connects while the daemon was down.
 *
 * (A tmpfs cannot be made read-only while files are open for writing: remount fails EBUSY.)
 */
import assert from "node:assert/strict";
import { dirname } from "node:path";
import { sha256Of, startTestDaemon, type TestDaemon } from "../helpers/daemon.ts";
import { loopbackListener, netclientCopy } from "../helpers/netclient.ts";
import { cliJson, hwloadCopy, until } from "../helpers/stress.ts";
import type { StatusInfo } from "../../src/api/types.ts";

async function sh(cmd: string, args: string[]): Promise<string> {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  const dec = new TextDecoder();
  if (!out.success) throw new Error(`${cmd} ${args.join(" ")}: ${dec.decode(out.stderr)}`);
  return dec.decode(out.stdout);
}

/** Copies a folder's files (flat, what the state folder holds at rest) to `to`. */
async function copyFlat(from: string, to: string): Promise<void> {
  for await (const e of Deno.readDir(from)) {
    if (e.isFile) await Deno.copyFile(`${from}/${e.name}`, `${to}/${e.name}`);
    else if (e.isDirectory) {
      await Deno.mkdir(`${to}/${e.name}`, { recursive: true });
      await copyFlat(`${from}/${e.name}`, `${to}/${e.name}`);
    }
  }
}

/** Fills the file system holding `dir` with one file until ENOSPC; returns its path. */
async function fill(dir: string): Promise<string> {
  const path = `${dir}/filler`;
  const f = await Deno.open(path, { write: true, create: true });
  const chunk = new Uint8Array(64 * 1024).fill(1);
  try {
    for (;;) await f.write(chunk);
  } catch (e) {
    if (!/No space left|os error 28/.test(String(e))) throw e;
  } finally {
    f.close();
  }
  return path;
}

async function verdicts(d: TestDaemon, good: string, bad: string, port: number): Promise<string> {
  const g = (await d.cg.run([good, "tcp4", "127.0.0.1", `${port}`])).stdout.trim();
  const b = (await d.cg.run([bad, "tcp4", "127.0.0.1", `${port}`])).stdout.trim();
  return `${g}/${b}`;
}

Deno.test("disk full, then read-only state folder: enforcement goes on, status and log say so, history resumes", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hw-stress-disk-" });
  const listener = loopbackListener();
  let mounted: string | undefined;
  let image: string | undefined;
  let daemonRoot: string | undefined;
  try {
    const good = await netclientCopy(`${dir}/good`);
    const bad = await netclientCopy(`${dir}/bad`);
    // Sweeps of an unapproved copy over many ports: each attempt is a new history row.
    const noisy = await hwloadCopy(`${dir}/noisy`, "hwload");
    await using d = await startTestDaemon({
      mode: "enforcing",
      apps: [{ name: "good", path: good, sha256: await sha256Of(good) }],
    });
    daemonRoot = dirname(d.stateDir);
    const noise = (port: number) =>
      d.cg.run([noisy, "sweep", "0.5", "2000", "1", `${port}`, "1000"]);

    // Move the state folder onto a 16 MiB ext4 image: stop the daemon, copy, mount, copy back.
    d.signal("SIGTERM");
    await d.process.status;
    const saved = `${dir}/saved-state`;
    await Deno.mkdir(saved);
    await copyFlat(d.stateDir, saved);
    image = `${dir}/state.img`;
    await Deno.writeFile(image, new Uint8Array());
    await Deno.truncate(image, 16 * 1024 * 1024);
    await sh("mkfs.ext4", ["-q", "-F", image]);
    const mount = async () => {
      await sh("mount", ["-o", "loop,errors=remount-ro", image!, d.stateDir]);
      mounted = d.stateDir;
    };
    await mount();
    await copyFlat(saved, d.stateDir);
    await d.restart();
    assert.equal(await verdicts(d, good, bad, listener.port), "ok/EPERM");
    let st = await cliJson<StatusInfo>(d, ["status"]);
    assert.deepEqual(st.warnings, []);

    // ---- disk full
    const filler = await fill(d.stateDir);
    const logFrom = d.logs().length;
    await noise(20000);
    await until("status warns that history is not written", async () => {
      st = await cliJson<StatusInfo>(d, ["status"]);
      return st.warnings.some((w) => /history not being written: disk full/.test(w));
    }, 10_000);
    const fullBacklog = st.counters.history_backlog;
    assert.ok(fullBacklog > 0, "rows wait while the disk is full");
    // Enforcement does not depend on the disk.
    for (let i = 0; i < 3; i++) {
      assert.equal(await verdicts(d, good, bad, listener.port), "ok/EPERM");
    }
    await d.waitForLog(/disk full/, 10_000, logFrom);
    const writtenWhileFull = st.counters.history_written;

    // ---- space returns: the backlog is written by itself, the warning goes away
    await Deno.remove(filler);
    await until("history resumes after space returns", async () => {
      st = await cliJson<StatusInfo>(d, ["status"]);
      return st.warnings.length === 0 && st.counters.history_backlog === 0 &&
        st.counters.history_written >= writtenWhileFull + fullBacklog;
    }, 15_000);
    const recoveredFromFull = st.counters.history_written - writtenWhileFull;

    // ---- the file system fails and goes read-only under the running daemon
    const dev = (await sh("findmnt", ["-n", "-o", "SOURCE", d.stateDir])).trim().split("/").pop();
    await Deno.writeTextFile(`/sys/fs/ext4/${dev}/trigger_fs_error`, "1");
    assert.match(await sh("findmnt", ["-n", "-o", "OPTIONS", d.stateDir]), /\bro\b|emergency_ro/);
    const logFrom2 = d.logs().length;
    await noise(30000);
    await until("status warns about the read-only folder", async () => {
      st = await cliJson<StatusInfo>(d, ["status"]);
      return st.warnings.some((w) => /history not being written: (read-only|I\/O error)/.test(w));
    }, 10_000);
    for (let i = 0; i < 3; i++) {
      assert.equal(await verdicts(d, good, bad, listener.port), "ok/EPERM");
    }
    await d.waitForLog(/history not being written: (read-only|I\/O error)/, 10_000, logFrom2);
    const roBacklog = st.counters.history_backlog;
    assert.ok(roBacklog > 0);

    // ---- the admin repairs it; the pinned programs decide while the daemon is down
    d.signal("SIGTERM");
    await d.process.status;
    assert.equal(await verdicts(d, good, bad, listener.port), "ok/EPERM");
    await sh("umount", [d.stateDir]);
    mounted = undefined;
    await new Deno.Command("e2fsck", { args: ["-f", "-y", image], stdout: "null", stderr: "null" })
      .output();
    await mount();
    await d.restart();
    st = await cliJson<StatusInfo>(d, ["status"]);
    assert.deepEqual(st.warnings, []);
    await noise(40000);
    await until("history written again after the repair", async () => {
      st = await cliJson<StatusInfo>(d, ["status"]);
      return st.counters.history_written > 0 && st.counters.history_backlog === 0;
    }, 10_000);
    // The rows written after recovery are really in the history.
    const ev = await d.cli(["events", "--json", "--limit", "10000", "--verdict", "deny"]);
    assert.equal(ev.code, 0, ev.stderr);
    const ports = new Set(
      ev.stdout.trim().split("\n").map((l) => (JSON.parse(l) as { dport: number }).dport),
    );
    assert.ok(ports.has(20000), "rows held while the disk was full reached history");
    assert.ok(ports.has(40000), "rows after the repair reached history");
    assert.equal(await verdicts(d, good, bad, listener.port), "ok/EPERM");
    console.log(
      `disk: full → ${fullBacklog} rows held, ${recoveredFromFull} written after space returned; ` +
        `read-only → ${roBacklog} rows held in memory (lost with the stop for the repair); ` +
        `after repair ${st.counters.history_written} written`,
    );
    // Stop while still mounted so the daemon closes its files there first.
    await d.stop();
  } finally {
    if (mounted) {
      // The daemon (stopped by its helper above) may still be exiting: retry, then detach.
      let ok = false;
      for (let i = 0; i < 20 && !ok; i++) {
        ok = await sh("umount", [mounted]).then(() => true, () => false);
        if (!ok) await new Promise((r) => setTimeout(r, 250));
      }
      if (!ok) await sh("umount", ["-l", mounted]).catch((e) => console.error(`umount: ${e}`));
    }
    listener.close();
    // The daemon helper cannot remove its folder while our mount sits in it: finish that here.
    if (daemonRoot) await Deno.remove(daemonRoot, { recursive: true }).catch(() => {});
    await Deno.remove(dir, { recursive: true });
  }
});
