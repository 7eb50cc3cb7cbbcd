/**
 * Programs that re-exec themselves through `/proc/self/exe` (Chromium, Electron apps, many Go and
 * Rust tools): events and Learning show the real file, approving the Learning entry approves that
 * file, and a path under /proc is refused by `apps allow` (to the daemon, `/proc/self/exe` is its
 * own runtime). The fixture is tests/fixtures/netclient.c: `netclient exec /proc/self/exe MODE…`
 * calls execv("/proc/self/exe", …) on itself.
 */
import assert from "node:assert/strict";
import { sha256Of, startTestDaemon } from "../helpers/daemon.ts";
import { loopbackListener, netclientCopy } from "../helpers/netclient.ts";
import { until } from "../helpers/wait.ts";
import { callDaemon } from "../../src/daemon/client.ts";
import type { AppInfo, ConnEvent, LearningEntry } from "../../src/api/types.ts";

Deno.test("apps: a program re-exec'd through /proc/self/exe is shown and approved as its real file", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hw-selfexec-" });
  const l = loopbackListener();
  try {
    const client = await netclientCopy(`${dir}/bin`, "selfexec");
    const other = await netclientCopy(`${dir}/bin`, "unapproved");
    const ino = String(Deno.statSync(client).ino);
    const port = `${l.port}`;
    await using d = await startTestDaemon({ mode: "learning" });

    // Alive while its events are read (a long-lived app, as Chromium is).
    const r = await d.cg.run([
      client,
      "exec",
      "/proc/self/exe",
      "loopfor",
      "1",
      "tcp4",
      "127.0.0.1",
      port,
    ]);
    assert.match(r.stdout, /ok=\d+ eperm=0/, r.stderr);
    const events = async () =>
      await callDaemon(d.stateDir, "events", { limit: 1000 }) as ConnEvent[];
    const ev = await until(
      "an event of the re-exec'd program",
      async () => (await events()).find((e) => e.ino === ino),
    );
    assert.equal(ev.exe, client, `the event names the real file: ${JSON.stringify(ev)}`);

    // Short-lived: exited before its event is read. Never "/proc/self/exe" (which the daemon would
    // read as its own runtime): the real path when it could be checked, else the identity.
    const once = await d.cg.run([client, "exec", "/proc/self/exe", "tcp4", "127.0.0.1", port]);
    assert.equal(once.stdout.trim(), "ok", once.stderr);
    await new Promise((res) => setTimeout(res, 300));
    for (const e of await events()) {
      assert.ok(!e.exe.startsWith("/proc/"), `no magic link as a path: ${JSON.stringify(e)}`);
      if (e.ino === ino && e.exe !== client) {
        assert.match(e.exe, /^\(unresolved: dev \d+ inode \d+/);
      }
    }

    const learning = await until("the Learning entry", async () => {
      const list = await callDaemon(d.stateDir, "learning.list") as LearningEntry[];
      return list.find((e) => e.exe === client) && list;
    });
    assert.ok(!learning.some((e) => e.exe.startsWith("/proc/")), JSON.stringify(learning));

    // A path under /proc is refused with a clear error, also behind a symlink.
    const proc = await d.cli(["apps", "allow", "/proc/self/exe"]);
    assert.equal(proc.code, 1, proc.stdout);
    assert.match(proc.stderr, /under \/proc or \/dev\/fd.*approve the real file/);
    await Deno.symlink("/proc/self/exe", `${dir}/looks-fine`);
    const viaLink = await d.cli(["apps", "allow", `${dir}/looks-fine`]);
    assert.equal(viaLink.code, 1, viaLink.stdout);
    assert.match(viaLink.stderr, /through .*looks-fine -> \/proc\/self\/exe\)/);
    assert.doesNotMatch((await d.cli(["apps", "list"])).stdout, /deno|\/proc/);

    // Approving the Learning entry approves the real file, and the kernel trusts it.
    const entry = learning.find((e) => e.exe === client)!;
    const allow = await d.cli(["apps", "allow", entry.exe, "--json"]);
    assert.equal(allow.code, 0, allow.stderr);
    const app = JSON.parse(allow.stdout) as AppInfo;
    assert.equal(app.path, client);
    assert.equal(app.sha256, await sha256Of(client));
    assert.equal((await d.cli(["mode", "enforcing"])).code, 0);
    const ok = await d.cg.run([client, "exec", "/proc/self/exe", "tcp4", "127.0.0.1", port]);
    assert.equal(ok.stdout.trim(), "ok", ok.stderr);
    // Another program re-exec'ing itself the same way borrows nothing.
    const denied = await d.cg.run([other, "exec", "/proc/self/exe", "tcp4", "127.0.0.1", port]);
    assert.equal(denied.stdout.trim(), "EPERM", denied.stderr);
    // Attacker: uid nobody in the cgroup, through /proc/self/exe of an unapproved program and
    // through a symlink to the approved file's name: neither runs the approved code, neither is
    // trusted.
    await Deno.chmod(dir, 0o755);
    await Deno.chmod(`${dir}/bin`, 0o755);
    const asNobody = (argv: string[]) =>
      d.cg.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", ...argv]);
    const n1 = await asNobody([other, "exec", "/proc/self/exe", "tcp4", "127.0.0.1", port]);
    assert.equal(n1.stdout.trim(), "EPERM", `nobody via /proc/self/exe: ${n1.stderr}`);
    await Deno.symlink(client, `${dir}/bin/alias`);
    const n2 = await asNobody([other, "exec", `${dir}/bin/alias`, "tcp4", "127.0.0.1", port]);
    assert.equal(n2.stdout.trim(), "ok", `nobody running the approved file itself: ${n2.stderr}`);
    const n3 = await asNobody([
      "/bin/bash",
      "-c",
      `exec -a ${client} ${other} tcp4 127.0.0.1 ${port}`,
    ]);
    assert.equal(
      n3.stdout.trim(),
      "EPERM",
      `nobody naming the approved path as argv[0]: ${n3.stderr}`,
    );
  } finally {
    l.close();
    await Deno.remove(dir, { recursive: true });
  }
});
