/**
 * Vector 5 through a real daemon: a reload never grants trust from a /proc scan. An attacker
 * (nobody, in the daemon's cgroup) starts a copy of a binary that is not approved yet, with
 * LD_PRELOAD, and waits; the admin then approves that binary and reloads. The waiting process
 * exec'd unapproved (the kernel never checked it): it must stay untrusted, while a fresh exec of
 * the now-approved binary is trusted.
 */
import assert from "node:assert/strict";
import { sha256Of, startTestDaemon } from "../helpers/daemon.ts";
import { loopbackListener, netclientCopy } from "../helpers/netclient.ts";
import { asNobody, buildFixture } from "./harness.ts";

Deno.test("vector 5: a reload does not trust a process that exec'd before its binary was approved", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hw-sec-reload-" });
  await Deno.chmod(dir, 0o755);
  const client = await netclientCopy(dir, "client");
  const so = await buildFixture("evil_preload", dir, ["-shared", "-fPIC"]);
  const listener = loopbackListener();
  await using d = await startTestDaemon({ mode: "enforcing", allowLoopback: false });
  try {
    const P = String(listener.port);
    const waiting = d.cg.spawn([
      ...asNobody({ LD_PRELOAD: so }),
      client,
      "sleep-then",
      "4",
      "tcp4",
      "127.0.0.1",
      P,
    ]);
    await new Promise((r) => setTimeout(r, 300));
    const apps = `${d.configDir}/apps.toml`;
    await Deno.writeTextFile(
      apps,
      `${await Deno.readTextFile(apps)}\n[[app]]\nname = "client"\npath = "${client}"\n` +
        `sha256 = "${await sha256Of(client)}"\n`,
    );
    const r = await d.cli(["reload"]);
    assert.equal(r.code, 0, r.stderr);
    const fresh = await d.cg.run([...asNobody(), client, "tcp4", "127.0.0.1", P]);
    assert.equal(fresh.stdout.trim(), "ok", "a new exec of the approved binary is trusted");
    const out = new TextDecoder().decode((await waiting.output()).stdout).trim();
    assert.equal(out, "EPERM", "the process that exec'd unapproved gained nothing from the reload");
  } finally {
    listener.close();
    await d.stop();
    await Deno.remove(dir, { recursive: true });
  }
});
