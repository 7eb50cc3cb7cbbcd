/**
 * The packet filter run by the daemon: rules.toml compiled into the kernel, attached (tcx) to a
 * veth in a test namespace, reloaded atomically through the CLI, refused whole when broken; and
 * outbound rules (app-scoped and general) enforced in the connect hooks with EPERM, reported with
 * the deciding rule's id.
 */
import assert from "node:assert/strict";
import { runHashwall, sha256Of, startTestDaemon } from "../helpers/daemon.ts";
import { createNetnsLab } from "../helpers/netns.ts";
import { loopbackListener, netclientCopy } from "../helpers/netclient.ts";
import type { ConnEvent, StatusInfo } from "../../src/api/types.ts";

Deno.test("daemon packet filter: inbound rules on a test veth, reload, broken reload, app rules", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hw-fd-" });
  const good = await netclientCopy(`${dir}/good`);
  const l1 = loopbackListener();
  const l2 = loopbackListener();
  const l3 = loopbackListener();
  await using lab = await createNetnsLab("fd");
  const rules = (inPort: number) => `
[[rule]]
id = "web-in"
action = "allow"
direction = "in"
protocol = "tcp"
ports = [${inPort}]

[[rule]]
id = "good-not-l2"
action = "deny"
direction = "out"
protocol = "tcp"
ports = [${l2.port}]
app = "good"

[[rule]]
id = "nobody-l3"
action = "deny"
direction = "out"
protocol = "tcp"
ports = [${l3.port}]
`;
  await using d = await startTestDaemon({
    mode: "enforcing",
    apps: [{ name: "good", path: good, sha256: await sha256Of(good) }],
    defaultsExtra: 'inbound = "deny"',
    rulesExtra: rules(8080),
    interfaces: [lab.ifname],
    netns: lab.a.path,
  });
  try {
    const rulesFile = `${d.configDir}/rules.toml`;
    const st = JSON.parse((await d.cli(["status", "--json"])).stdout) as StatusInfo;
    assert.ok(st.attachPoints.some((p) => p.includes(`@${lab.ifname}`)), st.attachPoints.join());
    await lab.serve(lab.a, ["tcp-serve", "::", 8080]);
    await lab.serve(lab.a, ["tcp-serve", "::", 8081]);
    const connect = (port: number) =>
      lab.tool(lab.b, ["tcp-connect", lab.addr.a4, port, 0.8, lab.addr.b4]);
    assert.equal(await connect(8080), "ok", "allowed by web-in");
    assert.equal(await connect(8081), "timeout", "inbound default deny");

    // Hit counters come from the kernel.
    const list = await d.cli(["rules", "list", "--json", "--config", d.configDir]);
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /web-in/);

    // Reload to another rule set: 8081 allowed, 8080 now denied by default.
    const now = await Deno.readTextFile(rulesFile);
    await Deno.writeTextFile(rulesFile, now.replace("ports = [8080]", "ports = [8081]"));
    assert.equal((await d.cli(["reload"])).code, 0);
    assert.equal(await connect(8081), "ok");
    assert.equal(await connect(8080), "timeout");
    // A broken file changes nothing (located error, old policy in force).
    await Deno.writeTextFile(rulesFile, now.replace("ports = [8080]", "ports = [0]"));
    const bad = await d.cli(["reload"]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /rules\.toml:\d+:\d+:/);
    assert.equal(await connect(8081), "ok", "previous policy still in force");
    assert.equal(await connect(8080), "timeout");
    await Deno.writeTextFile(rulesFile, now.replace("ports = [8080]", "ports = [8081]"));

    // Outbound rules in the connect hooks (loopback is judged: allow_loopback = false).
    const out = async (port: number) =>
      (await d.cg.run([good, "tcp4", "127.0.0.1", `${port}`])).stdout.trim();
    assert.equal(await out(l1.port), "ok", "approved app, no rule");
    assert.equal(await out(l2.port), "EPERM", "app-scoped deny");
    assert.equal(await out(l3.port), "EPERM", "general outbound deny applies to apps too");
    let events: ConnEvent[] = [];
    for (let i = 0; i < 100 && !events.some((e) => e.ruleId === "nobody-l3"); i++) {
      await new Promise((r) => setTimeout(r, 100));
      const ev = await d.cli(["events", "--json", "--verdict", "deny"]);
      events = ev.stdout.trim().split("\n").filter(Boolean).map((x) => JSON.parse(x));
    }
    const byRule = events.filter((e) => e.reason === "rule").map((e) => e.ruleId).sort();
    assert.deepEqual(byRule, ["good-not-l2", "nobody-l3"]);
    // Explain agrees: the daemon answers which rule decides.
    const ex = await runHashwall([
      "rules",
      "explain",
      "out",
      "tcp",
      `127.0.0.1:${l3.port}`,
      "--json",
      "--config",
      d.configDir,
    ]);
    assert.equal(ex.code, 0, ex.stderr);
    assert.match(ex.stdout, /nobody-l3/);
  } finally {
    l1.close();
    l2.close();
    l3.close();
    await d.stop();
    await lab.delete();
    await Deno.remove(dir, { recursive: true });
  }
});
