/**
 * Lineage through a real daemon (issue 21): `inherit = true` and `only_via` from apps.toml reach
 * the kernel, and `hashwall check` warns about inherit on a shell.
 */
import assert from "node:assert/strict";
import { sha256Of, startTestDaemon } from "../helpers/daemon.ts";
import { loopbackListener, netclientCopy } from "../helpers/netclient.ts";
import { until } from "../helpers/wait.ts";
import type { ConnEvent } from "../../src/api/types.ts";

Deno.test("daemon: inherit reaches an exec'd stranger, only_via admits the client only under its starter", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hw-lineage-" });
  const launcher = await netclientCopy(dir, "launcher");
  const client = await netclientCopy(dir, "client");
  const stranger = await netclientCopy(dir, "stranger");
  const child = await netclientCopy(dir, "child");
  const listener = loopbackListener();
  const p2 = loopbackListener(), p3 = loopbackListener();
  try {
    await using d = await startTestDaemon({
      mode: "enforcing",
      apps: [
        { name: "launcher", path: launcher, sha256: await sha256Of(launcher), inherit: true },
        { name: "client", path: client, sha256: await sha256Of(client), onlyVia: ["launcher"] },
        { name: "child", path: child, sha256: await sha256Of(child) },
      ],
      rulesExtra: [
        `[[rule]]\nid = "no-p2-for-launcher"\naction = "deny"\ndirection = "out"\nprotocol = "tcp"\nports = [${p2.port}]\napp = "launcher"\n`,
        `[[rule]]\nid = "no-p3-for-child"\naction = "deny"\ndirection = "out"\nprotocol = "tcp"\nports = [${p3.port}]\napp = "child"\n`,
      ].join("\n"),
    });
    const tcp = ["tcp4", "127.0.0.1", String(listener.port)];
    const run = async (argv: string[]) => (await d.cg.run(argv)).stdout.trim();
    assert.equal(await run([stranger, ...tcp]), "EPERM");
    assert.equal(await run([launcher, "fork", "exec", stranger, ...tcp]), "ok", "via launcher");
    assert.equal(await run([launcher, "fork", "exec", client, ...tcp]), "ok", "only_via met");
    assert.equal(await run([client, ...tcp]), "EPERM", "only_via: no starter");

    // Rules: what runs via the launcher is judged by the launcher's rules; an approved child app
    // exec'd under it by its own.
    const to = (p: number) => ["tcp4", "127.0.0.1", String(p)];
    assert.equal(await run([launcher, "fork", "exec", stranger, ...to(p2.port)]), "EPERM");
    assert.equal(await run([launcher, "fork", "exec", child, ...to(p2.port)]), "ok");
    assert.equal(await run([launcher, "fork", "exec", child, ...to(p3.port)]), "EPERM");
    // The denial names the stranger's own file, trusted via the launcher.
    await until("the rule denial reaches history", async () => {
      const r = await d.cli(["events", "--json", "--limit", "50"]);
      // One JSON object per line.
      const evs = r.stdout.trim().split("\n").filter((l) => l).map((l) =>
        JSON.parse(l) as ConnEvent
      );
      return evs.some((e) =>
        e.ruleId === "no-p2-for-launcher" && e.via === "launcher" && e.exe === stranger
      );
    });

    // Re-approving the launcher after a revoke keeps the rule: revoke ends the via trust.
    assert.equal((await d.cli(["apps", "revoke", "launcher"])).code, 0);
    assert.equal(await run([launcher, "fork", "exec", stranger, ...tcp]), "EPERM");
  } finally {
    listener.close();
    p2.close();
    p3.close();
    await Deno.remove(dir, { recursive: true });
  }
});
