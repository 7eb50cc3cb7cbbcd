/**
 * Package trust end to end, with real dpkg and apt, a real kernel and an enforcing daemon: an
 * approved client installed from a local signed repository stays approved across `apt-get`
 * upgrades (with the dpkg hook: allowed on the first connect after apt returns; without it: once
 * the fanotify path reconciled), history records the update and the apps list shows the new
 * version. A change not made by the package manager (dd), a `.deb` installed with `dpkg -i` from
 * outside the repository, and a version that drops the file are not approved.
 */
import assert from "node:assert/strict";
import { hashwallCommand, sha256Of, startTestDaemon, type TestDaemon } from "../helpers/daemon.ts";
import { loopbackListener } from "../helpers/netclient.ts";
import { run, TestAptRepo } from "../helpers/apt_repo.ts";
import { callDaemon } from "../../src/daemon/client.ts";
import type { AppInfo, IntegrityInfo, LearningEntry, StatusInfo } from "../../src/api/types.ts";
import { aptHookOptions } from "../../src/packages/apt_hook.ts";
import { until } from "../helpers/wait.ts";

async function app(d: TestDaemon, path: string): Promise<AppInfo | undefined> {
  return (await callDaemon(d.stateDir, "apps.list") as AppInfo[]).find((a) => a.path === path);
}

function hookOptions(d: TestDaemon): string[] {
  return aptHookOptions(hashwallCommand().join(" "), d.stateDir);
}

async function connect(d: TestDaemon, bin: string, port: number): Promise<string> {
  return (await d.cg.run([bin, "tcp4", "127.0.0.1", `${port}`])).stdout.trim();
}

/** Logs in to the daemon's UI over plain HTTP and returns the HTML of `paths`. */
async function uiPages(d: TestDaemon, paths: string[]): Promise<Record<string, string>> {
  const link = (await d.cli(["ui", "url"])).stdout.trim();
  const r = await fetch(link, { redirect: "manual" });
  await r.body?.cancel();
  const cookie = r.headers.get("set-cookie")!.split(";")[0];
  const out: Record<string, string> = {};
  for (const p of paths) {
    out[p] = await (await fetch(`${d.uiUrl}${p}`, { headers: { cookie } })).text();
  }
  return out;
}

async function packageUpdates(d: TestDaemon, path: string) {
  const info = await callDaemon(d.stateDir, "integrity.status") as IntegrityInfo;
  return info.changes.filter((c) => c.path === path && c.change === "package-update");
}

Deno.test("package trust with the dpkg hook: upgrade keeps the approval; dd, a dropped file do not", async () => {
  await using repo = await TestAptRepo.create("hook");
  const l = loopbackListener();
  try {
    await repo.build({ version: "1.0" });
    await repo.build({ version: "1.1" });
    await repo.publish();
    await using d = await startTestDaemon({ mode: "enforcing", ui: true });
    const hook = hookOptions(d);
    await repo.install("1.0", hook);
    const bin = repo.binPath;
    assert.equal(await connect(d, bin, l.port), "EPERM", "not approved yet");

    // Approval records the owning package and its version.
    const allowed = await d.cli(["apps", "allow", bin, "--name", "client"]);
    assert.equal(allowed.code, 0, allowed.stderr);
    const a1 = await app(d, bin);
    assert.equal(a1?.trust, "package");
    assert.deepEqual(a1?.package, { name: repo.pkg, version: "1.0", level: "admin" });
    assert.equal(await connect(d, bin, l.port), "ok");
    const listed = await d.cli(["apps", "list"]);
    assert.match(listed.stdout, new RegExp(`${repo.pkg} 1\\.0`));

    // Upgrade through apt with the hook: the first connect after apt returned is allowed.
    const oldHash = await sha256Of(bin);
    const up = await repo.install("1.1", hook);
    assert.match(up.stdout, /client approved by package \(1\.0 → 1\.1, deb\)/, up.stdout);
    assert.equal(await connect(d, bin, l.port), "ok", "first connect after the upgrade");
    const a2 = await app(d, bin);
    assert.equal(a2?.status, "valid");
    assert.equal(a2?.sha256, await sha256Of(bin));
    assert.notEqual(a2?.sha256, oldHash);
    assert.deepEqual(a2?.package, { name: repo.pkg, version: "1.1", level: "deb" });
    const updates = await packageUpdates(d, bin);
    assert.equal(updates.length, 1);
    assert.equal(updates[0].oldHash, oldHash);
    assert.equal(updates[0].newHash, a2?.sha256);
    assert.deepEqual(
      [
        updates[0].details?.oldVersion,
        updates[0].details?.newVersion,
        updates[0].details?.approvedBy,
      ],
      ["1.0", "1.1", "package"],
    );
    const status = JSON.parse((await d.cli(["status", "--json"])).stdout) as StatusInfo;
    assert.equal(status.packages?.updatedToday, 1);
    const listed2 = await d.cli(["apps", "list"]);
    assert.match(listed2.stdout, new RegExp(`${repo.pkg} 1\\.1 \\(deb\\)`));
    // The Apps page shows the new version and what it rests on; Overview counts the update;
    // the Integrity page shows the update as its own kind.
    const pages = await uiPages(d, ["/apps", "/", "/integrity"]);
    assert.match(pages["/apps"], new RegExp(`${repo.pkg} 1\\.1`));
    assert.match(pages["/apps"], /approved by package \(archive SHA-256\)/);
    assert.match(
      pages["/"],
      /<div class="tile-value">1<\/div><div class="tile-label">updated by packages today/,
    );
    assert.match(pages["/integrity"], /package update 1\.0 → 1\.1 \(approved by package\)/);

    // The same binary changed by cp (the signed 1.0 bytes: a real package file, but not what
    // the installed 1.1 ships) and by dd, not by the package manager: denied, red, and stays so.
    const old = `${repo.dir}/old`;
    const x = await run("dpkg-deb", ["-x", `${repo.repo}/${repo.pkg}_1.0_all.deb`, old]);
    assert.equal(x.code, 0, x.stderr);
    const changes = [
      ["cp", `${old}${bin}`, bin],
      ["dd", "if=/dev/zero", `of=${bin}`, "bs=1", "count=16", "oflag=append", "conv=notrunc"],
    ];
    for (const change of changes) {
      const r = await run(change[0], change.slice(1));
      assert.equal(r.code, 0, r.stderr);
      await until(`${change[0]}: invalid`, async () => (await app(d, bin))?.status === "invalid");
      assert.equal(await connect(d, bin, l.port), "EPERM", change[0]);
      await new Promise((r) => setTimeout(r, 1500)); // several retry ticks
      const a3 = await app(d, bin);
      assert.equal(a3?.status, "invalid", change[0]);
      assert.equal(a3?.packageRefusal?.reason, "differs", change[0]);
      assert.equal(await connect(d, bin, l.port), "EPERM", change[0]);
    }

    // A reinstall of the signed 1.1 restores the file: approved by package again.
    const re = await repo.apt(["install", "--reinstall", `${repo.pkg}=1.1`], hook);
    assert.equal(re.code, 0, re.stderr);
    assert.equal((await app(d, bin))?.status, "valid");
    assert.equal(await connect(d, bin, l.port), "ok");

    // A new version that drops the file: the app is missing.
    await repo.build({ version: "1.2", withBinary: false });
    await repo.publish();
    await repo.install("1.2", hook);
    await until("dropped file is missing", async () => (await app(d, bin))?.status === "missing");
  } finally {
    l.close();
  }
});

Deno.test("package trust without the hook; dpkg -i of a local .deb is not auto-approved", async () => {
  // A file: source: apt caches no .deb, so the approval rests on dpkg's md5sums.
  await using repo = await TestAptRepo.create("nohook", "file");
  const l = loopbackListener();
  try {
    await repo.build({ version: "1.0" });
    await repo.build({ version: "1.1" });
    await repo.publish();
    await using d = await startTestDaemon({ mode: "enforcing" });
    await repo.install("1.0");
    const bin = repo.binPath;
    assert.equal((await d.cli(["apps", "allow", bin, "--name", "client"])).code, 0);
    assert.equal(await connect(d, bin, l.port), "ok");

    // Upgrade without the hook: fanotify sees the rename; the daemon reconciles on its own.
    await repo.install("1.1");
    const a = await until("approved by package without the hook", async () => {
      const x = await app(d, bin);
      return x?.status === "valid" && x.package?.version === "1.1" ? x : undefined;
    }, 10_000).catch((e) => {
      throw new Error(`${e.message}\n${d.logs().filter((x) => /package/.test(x)).join("\n")}`);
    });
    assert.equal(a.sha256, await sha256Of(bin));
    assert.equal(a.package?.level, "md5sums");
    assert.equal(await connect(d, bin, l.port), "ok");
    assert.equal((await packageUpdates(d, bin)).length, 1);

    // A .deb built outside the repository, installed with dpkg -i: not from a signed source.
    const outside = await Deno.makeTempDir({ dir: repo.dir, prefix: "outside-" });
    const deb = await repo.build({ version: "1.3" }, outside);
    const di = await repo.dpkgInstall(deb);
    assert.equal(di.code, 0, di.stderr);
    await until("dpkg -i'd client invalid", async () => (await app(d, bin))?.status === "invalid");
    const refused = await until("refused as unsigned", async () => {
      const x = await app(d, bin);
      return x?.packageRefusal?.reason === "unsigned" ? x : undefined;
    }, 10_000);
    assert.equal(refused.status, "invalid");
    assert.equal(await connect(d, bin, l.port), "EPERM");
    // It lands in Learning as a new hash with the package named.
    const learning = await callDaemon(d.stateDir, "learning.list") as LearningEntry[];
    const e = learning.find((x) => x.exe === bin);
    assert.equal(e?.newHash?.package, repo.pkg);
    assert.equal(e?.newHash?.version, "1.3");
    assert.equal(e?.sha256, await sha256Of(bin));
    // One click (apps allow) approves it by hand.
    assert.equal((await d.cli(["apps", "allow", bin, "--name", "client"])).code, 0);
    assert.deepEqual((await app(d, bin))?.package, {
      name: repo.pkg,
      version: "1.3",
      level: "admin",
    });
    assert.equal(await connect(d, bin, l.port), "ok");
  } finally {
    l.close();
  }
});
