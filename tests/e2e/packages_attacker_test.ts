/**
 * Attacker test for package trust (a new way for a file to become trusted): an unprivileged user
 * (uid nobody, inside the test cgroup) holds the bytes a signed package version ships — the very
 * content dpkg's md5sums and the verified .deb vouch for — and tries to get them approved without
 * the package manager installing them:
 *
 * 1. a copy at a path of their own (not an approved app);
 * 2. a forged `.dpkg-new` renamed over an approved path in a folder they can write, both for an
 *    app approved with `trust = "package"` whose file no package owns, and for a hand-written app
 *    that claims the package (`package = "<pkg>"`) at a path the package does not ship — with a
 *    dpkg hook run (as apt would) afterwards;
 * 3. a .deb of their own, which they cannot install (`dpkg -i` needs root).
 *
 * Every attempt stays denied (EPERM) and the approved paths stay invalid. A second test makes the
 * same kind of attempt in the middle of a dpkg run (see below).
 */
import assert from "node:assert/strict";
import { hashwallCommand, startTestDaemon, type TestDaemon } from "../helpers/daemon.ts";
import { loopbackListener } from "../helpers/netclient.ts";
import { run, TestAptRepo } from "../helpers/apt_repo.ts";
import { callDaemon } from "../../src/daemon/client.ts";
import type { AppInfo } from "../../src/api/types.ts";
import { aptHookOptions } from "../../src/packages/apt_hook.ts";
import { until } from "../helpers/wait.ts";

const NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"];

async function app(d: TestDaemon, name: string): Promise<AppInfo | undefined> {
  return (await callDaemon(d.stateDir, "apps.list") as AppInfo[]).find((a) => a.name === name);
}

Deno.test("package trust attacker: uid nobody cannot get signed package bytes approved", async () => {
  await using repo = await TestAptRepo.create("attack");
  const l = loopbackListener();
  const port = `${l.port}`;
  try {
    await repo.build({ version: "1.0" });
    await repo.build({ version: "1.1" });
    await repo.publish();
    await using d = await startTestDaemon({ mode: "enforcing" });
    const hook = aptHookOptions(hashwallCommand().join(" "), d.stateDir);
    await repo.install("1.0", hook);

    // A folder nobody can write, with two approved copies of the 1.0 client in it.
    const w = `${repo.dir}/userdir`;
    await Deno.mkdir(w, { mode: 0o777 });
    await Deno.chmod(w, 0o777);
    for (const n of ["netclient", "claimed"]) {
      await Deno.copyFile(repo.binPath, `${w}/${n}`);
      await Deno.chmod(`${w}/${n}`, 0o755);
    }
    assert.equal((await d.cli(["apps", "allow", repo.binPath, "--name", "client"])).code, 0);
    // Hand-written apps with package trust in that folder: one naming no package (no package
    // owns the file), one claiming the package for a path the package does not ship.
    const sha = (await callDaemon(d.stateDir, "apps.list") as AppInfo[])[0].sha256;
    await Deno.writeTextFile(
      `${d.configDir}/apps.toml`,
      `\n[[app]]\nname = "usercopy"\npath = "${w}/netclient"\nsha256 = "${sha}"\n` +
        `trust = "package"\n` +
        `\n[[app]]\nname = "claimed"\npath = "${w}/claimed"\nsha256 = "${sha}"\n` +
        `trust = "package"\npackage = "${repo.pkg}"\npackage_version = "1.0"\n`,
      { append: true },
    );
    assert.equal((await d.cli(["reload"])).code, 0);
    for (const n of ["usercopy", "claimed"]) {
      await until(`${n} approved`, async () => (await app(d, n))?.status === "valid");
    }
    for (const n of ["netclient", "claimed"]) {
      const r = await d.cg.run([...NOBODY, `${w}/${n}`, "tcp4", "127.0.0.1", port]);
      assert.equal(r.stdout.trim(), "ok", `${n} approved before the attack: ${r.stderr}`);
    }

    // The system upgrade to the signed 1.1: dpkg's md5sums and apt's cache now vouch for the
    // 1.1 bytes — the most favourable moment for the attacker.
    await repo.install("1.1", hook);
    assert.equal((await app(d, "client"))?.package?.version, "1.1");
    const signed = await Deno.readFile(repo.binPath);
    const bytes = `${repo.dir}/signed-1.1`;
    await Deno.writeFile(bytes, signed, { mode: 0o644 });

    // 1. A copy of the signed bytes at the user's own path: an unknown app.
    const own = await d.cg.run([
      ...NOBODY,
      "/bin/sh",
      "-c",
      `cp ${bytes} ${w}/mine && chmod 755 ${w}/mine && ${w}/mine tcp4 127.0.0.1 ${port}`,
    ]);
    assert.equal(own.stdout.trim(), "EPERM", `own copy: ${own.stdout} ${own.stderr}`);

    // 2. A forged .dpkg-new renamed over each approved path in the user's folder.
    for (const n of ["netclient", "claimed"]) {
      const r = await d.cg.run([
        ...NOBODY,
        "/bin/sh",
        "-c",
        `cp ${bytes} ${w}/${n}.dpkg-new && chmod 755 ${w}/${n}.dpkg-new && ` +
        `mv -f ${w}/${n}.dpkg-new ${w}/${n} && echo renamed`,
      ]);
      assert.equal(r.stdout.trim(), "renamed", r.stderr);
    }
    const name = (n: string) => n === "netclient" ? "usercopy" : "claimed";
    for (const n of ["netclient", "claimed"]) {
      await until(`${n} revoked`, async () => (await app(d, name(n)))?.status === "invalid");
    }
    // An apt run happens meanwhile (the hook's end decides every waiting app, for good).
    const again = await repo.apt(["install", "--reinstall", `${repo.pkg}=1.1`], hook);
    assert.equal(again.code, 0, again.stderr);
    await new Promise((r) => setTimeout(r, 1000)); // retry ticks without the hook
    for (const n of ["netclient", "claimed"]) {
      const a = await app(d, name(n));
      assert.equal(a?.status, "invalid", `${n} stays revoked`);
      const r = await d.cg.run([...NOBODY, `${w}/${n}`, "tcp4", "127.0.0.1", port]);
      assert.equal(r.stdout.trim(), "EPERM", `${n} after the forged rename`);
    }
    assert.equal((await app(d, "claimed"))?.packageRefusal?.reason, "not-listed");

    // 3. A .deb of their own: nobody can build it but not install it.
    const mk = await d.cg.run([
      ...NOBODY,
      "/bin/sh",
      "-c",
      `mkdir -p ${w}/deb/DEBIAN ${w}/deb/usr/lib/${repo.pkg} && ` +
      `cp ${bytes} ${w}/deb/usr/lib/${repo.pkg}/netclient && printf '%s\\n' ` +
      `'Package: ${repo.pkg}' 'Version: 9.9' 'Architecture: all' 'Maintainer: x <x@x>' ` +
      `'Description: x' > ${w}/deb/DEBIAN/control && ` +
      `dpkg-deb --root-owner-group --build ${w}/deb ${w}/evil.deb >/dev/null && ` +
      `dpkg -i ${w}/evil.deb; echo rc=$?`,
    ]);
    assert.match(mk.stdout, /rc=[12]/, `dpkg -i as nobody refused: ${mk.stdout} ${mk.stderr}`);
    assert.match(mk.stderr, /superuser|root|Permission denied/i);
    assert.equal(await repo.installedVersion(), "1.1");
  } finally {
    l.close();
  }
});

/**
 * Decisions follow each unpack (dpkg's journal is read while dpkg runs), so the moment to attack
 * is mid-run: while dpkg unpacks ANOTHER package (its preinst runs as root and lets uid nobody
 * act then), nobody replaces two approved package-backed files in folders they can write — one
 * with another package's signed file (the right bytes for a different path), one with the signed
 * bytes of its own package's next version, which is published but not installed. Neither package
 * is being unpacked: their recorded versions are the installed 1.0, so both stay revoked and red
 * during the run, after it and after the hook's final decision. (Against a daemon that trusts
 * whatever sits at a package's path while dpkg runs, both victims were approved mid-run.)
 */
Deno.test("package trust attacker: files replaced by uid nobody while dpkg unpacks another package stay revoked", async () => {
  await using repo = await TestAptRepo.create("midrun");
  const l = loopbackListener();
  const port = `${l.port}`;
  try {
    const [p, r, q] = [repo.extra(0), repo.extra(1), repo.extra(2)];
    const [pBin, rBin, qBin] = [p, r, q].map((n) => repo.binPathOf(n));
    const evilP = `${repo.dir}/evil-p`; // q's signed 1.0 client
    const evilR = `${repo.dir}/evil-r`; // r's signed 1.1 client, not installed
    const mark = `${repo.dir}/attacked`;
    for (const n of [p, r, q]) await repo.build({ version: "1.0", name: n });
    const r11 = await repo.build({ version: "1.1", name: r });
    await repo.build({
      version: "1.1",
      name: q,
      preinst: [
        "#!/bin/sh",
        `[ "$1" = upgrade ] || exit 0`,
        `setpriv --reuid=65534 --regid=65534 --clear-groups -- /bin/sh -c '` +
        `cp ${evilP} ${pBin}.x && chmod 755 ${pBin}.x && mv -f ${pBin}.x ${pBin} && ` +
        `cp ${evilR} ${rBin}.x && chmod 755 ${rBin}.x && mv -f ${rBin}.x ${rBin}' && ` +
        `touch ${mark}`,
        // dpkg keeps running (its lock held) while the daemon sees the replacements.
        "sleep 3",
        "exit 0",
        "",
      ].join("\n"),
    });
    await repo.publish();
    await using d = await startTestDaemon({ mode: "enforcing" });
    const hook = aptHookOptions(hashwallCommand().join(" "), d.stateDir);
    await repo.install("1.0", hook, [p, r, q]);
    for (const [i, bin] of [pBin, rBin].entries()) {
      assert.equal((await d.cli(["apps", "allow", bin, "--name", `victim${i}`])).code, 0);
      await Deno.chmod(bin.slice(0, bin.lastIndexOf("/")), 0o777); // the admin's slip
    }
    await Deno.copyFile(qBin, evilP);
    const x = `${repo.dir}/r11`;
    assert.equal((await run("dpkg-deb", ["-x", r11, x])).code, 0);
    await Deno.copyFile(`${x}${rBin}`, evilR);
    for (const f of [evilP, evilR]) await Deno.chmod(f, 0o644);
    for (const bin of [pBin, rBin]) {
      const ok = await d.cg.run([...NOBODY, bin, "tcp4", "127.0.0.1", port]);
      assert.equal(ok.stdout.trim(), "ok", `${bin} approved before: ${ok.stderr}`);
    }

    // The apt run upgrades q only; its preinst lets nobody replace p's and r's clients. Any
    // approval of a hash other than the 1.0 one, even for a moment during the run, is a failure.
    const approved10 = new Map(
      (await callDaemon(d.stateDir, "apps.list") as AppInfo[]).map((a) => [a.name, a.sha256]),
    );
    const seen = new Set<string>();
    let running = true;
    const watch = (async () => {
      while (running) {
        for (const a of await callDaemon(d.stateDir, "apps.list") as AppInfo[]) {
          if (a.status === "valid" && a.sha256 !== approved10.get(a.name)) {
            seen.add(`${a.name} approved ${a.sha256}`);
          }
        }
        await new Promise((res) => setTimeout(res, 50));
      }
    })();
    try {
      await repo.install("1.1", hook, [q]);
    } finally {
      running = false;
      await watch;
    }
    await Deno.stat(mark); // the preinst ran the attack
    await new Promise((res) => setTimeout(res, 1000)); // retry ticks after dpkg ended
    assert.deepEqual([...seen], [], "never approved, not even for a moment during the run");
    for (const [n, bin] of [["victim0", pBin], ["victim1", rBin]]) {
      const a = await app(d, n);
      assert.equal(a?.status, "invalid", `${n} stays revoked`);
      assert.equal(a?.package?.version, "1.0");
      assert.equal(a?.packageRefusal?.reason, "differs");
      const e = await d.cg.run([...NOBODY, bin, "tcp4", "127.0.0.1", port]);
      assert.equal(e.stdout.trim(), "EPERM", `${n} after the mid-run replacement`);
    }
  } finally {
    l.close();
  }
});
