/**
 * Lineage through a real daemon (issue 21): `inherit = true` and `only_via` from apps.toml reach
 * the kernel, and `hashwall check` warns about inherit on a shell.
 */
import assert from "node:assert/strict";
import { runHashwall, sha256Of, startTestDaemon } from "../helpers/daemon.ts";
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

Deno.test("daemon: a [[rule]] via reaches the kernel, rules explain --via names it, a bad via changes nothing", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hw-via-rule-" });
  const launcher = await netclientCopy(dir, "launcher");
  const client = await netclientCopy(dir, "client");
  const listener = loopbackListener();
  try {
    const via = [
      `[[rule]]\nid = "client-via-launcher"\naction = "allow"\ndirection = "out"\n` +
      `protocol = "tcp"\nports = [${listener.port}]\napp = "client"\nvia = "launcher"\n`,
      `[[rule]]\nid = "client-no"\naction = "deny"\ndirection = "out"\nprotocol = "tcp"\n` +
      `ports = [${listener.port}]\napp = "client"\n`,
    ].join("\n");
    await using d = await startTestDaemon({
      mode: "enforcing",
      apps: [
        { name: "launcher", path: launcher, sha256: await sha256Of(launcher) },
        { name: "client", path: client, sha256: await sha256Of(client) },
      ],
      rulesExtra: via,
    });
    const tcp = ["tcp4", "127.0.0.1", String(listener.port)];
    const run = async (argv: string[]) => (await d.cg.run(argv)).stdout.trim();
    assert.equal(await run([launcher, "fork", "exec", client, ...tcp]), "ok", "started by it");
    assert.equal(
      await run([launcher, "fork", "exec", "/bin/sh", "-c", `${client} ${tcp.join(" ")}; true`]),
      "ok",
      "two levels down",
    );
    assert.equal(await run([client, ...tcp]), "EPERM", "started from a shell");

    const explain = async (...extra: string[]) => {
      const r = await runHashwall([
        "rules",
        "explain",
        "out",
        "tcp",
        `127.0.0.1:${listener.port}`,
        "--app",
        "client",
        "--config",
        d.configDir,
        "--json",
        ...extra,
      ]);
      assert.equal(r.code, 0, r.stderr);
      return JSON.parse(r.stdout) as { ruleId?: string; verdict: string; why: string[] };
    };
    const launched = await explain("--via", "launcher");
    assert.equal(launched.ruleId, "client-via-launcher");
    assert.equal(launched.verdict, "allow");
    const alone = await explain();
    assert.equal(alone.ruleId, "client-no");
    assert.ok(alone.why.some((w) => /give --via NAME/.test(w)));
    const list = await runHashwall([
      "rules",
      "list",
      "--config",
      d.configDir,
      "--state",
      d.stateDir,
    ]);
    assert.match(list.stdout, /client-via-launcher .*app client {2}via launcher/);

    // A via naming no app: a located error, and the policy in force stays.
    const rulesPath = `${d.configDir}/rules.toml`;
    const before = await Deno.readTextFile(rulesPath);
    await Deno.writeTextFile(rulesPath, before.replace('via = "launcher"', 'via = "lancher"'));
    const bad = await d.cli(["reload"]);
    assert.equal(bad.code, 1);
    assert.match(
      bad.stderr,
      /rules\.toml:\d+:7: rule\[0\]\.via: unknown app "lancher"; did you mean "launcher"\?/,
    );
    assert.equal(await run([launcher, "fork", "exec", client, ...tcp]), "ok", "unchanged");
    assert.equal(await run([client, ...tcp]), "EPERM", "unchanged");
  } finally {
    listener.close();
    await Deno.remove(dir, { recursive: true });
  }
});
