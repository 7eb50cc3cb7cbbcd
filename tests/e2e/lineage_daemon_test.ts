/**
 * Lineage through a real daemon (issue 21): `inherit = true` and `only_via` from apps.toml reach
 * the kernel, and `hashwall check` warns about inherit on a shell.
 */
import assert from "node:assert/strict";
import { sha256Of, startTestDaemon } from "../helpers/daemon.ts";
import { loopbackListener, netclientCopy } from "../helpers/netclient.ts";

Deno.test("daemon: inherit reaches an exec'd stranger, only_via admits the client only under its starter", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hw-lineage-" });
  const launcher = await netclientCopy(dir, "launcher");
  const client = await netclientCopy(dir, "client");
  const stranger = await netclientCopy(dir, "stranger");
  const listener = loopbackListener();
  try {
    await using d = await startTestDaemon({
      mode: "enforcing",
      apps: [
        { name: "launcher", path: launcher, sha256: await sha256Of(launcher), inherit: true },
        { name: "client", path: client, sha256: await sha256Of(client), onlyVia: ["launcher"] },
      ],
    });
    const tcp = ["tcp4", "127.0.0.1", String(listener.port)];
    const run = async (argv: string[]) => (await d.cg.run(argv)).stdout.trim();
    assert.equal(await run([stranger, ...tcp]), "EPERM");
    assert.equal(await run([launcher, "fork", "exec", stranger, ...tcp]), "ok", "via launcher");
    assert.equal(await run([launcher, "fork", "exec", client, ...tcp]), "ok", "only_via met");
    assert.equal(await run([client, ...tcp]), "EPERM", "only_via: no starter");

    // Re-approving the launcher after a revoke keeps the rule: revoke ends the via trust.
    assert.equal((await d.cli(["apps", "revoke", "launcher"])).code, 0);
    assert.equal(await run([launcher, "fork", "exec", stranger, ...tcp]), "EPERM");
  } finally {
    listener.close();
    await Deno.remove(dir, { recursive: true });
  }
});
