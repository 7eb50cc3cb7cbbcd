/**
 * Hostnames through the real daemon: remote_host rules from rules.toml decide connects, events in
 * the history and `hashwall events` carry the name the app resolved, the Learning list groups
 * destinations by name, `status` shows the DNS parser's counters and `rules explain` answers by
 * name. dnsmasq on a unique 127.53.x.y serves the names.
 */
import assert from "node:assert/strict";
import { runHashwall, sha256Of, startTestDaemon } from "../helpers/daemon.ts";
import { dnsclientCopy, startDnsmasq } from "../helpers/dns.ts";
import { loopbackListener } from "../helpers/netclient.ts";
import { until } from "../helpers/wait.ts";
import { callDaemon } from "../../src/daemon/client.ts";
import type { ConnEvent, LearningEntry, StatusInfo } from "../../src/api/types.ts";

Deno.test("daemon: remote_host rules, names in events, Learning and status", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hw-names-e2e-" });
  const good = await dnsclientCopy(`${dir}/a`, "good");
  const stranger = await dnsclientCopy(`${dir}/b`, "stranger");
  const listener = loopbackListener();
  await using dns = await startDnsmasq([
    "--host-record=allowed.hw,127.0.0.1",
    "--host-record=other.hw,127.0.0.1",
  ]);
  await using d = await startTestDaemon({
    mode: "enforcing",
    apps: [{ name: "good", path: good, sha256: await sha256Of(good) }],
    rulesExtra: `
[[rule]]
id = "dns"
action = "allow"
direction = "out"
protocol = "udp"
ports = [53]

[[rule]]
id = "good-by-name"
action = "allow"
direction = "out"
protocol = "tcp"
ports = [${listener.port}]
app = "good"
remote_host = ["allowed.hw"]

[[rule]]
id = "good-rest"
action = "deny"
direction = "out"
app = "good"
`,
  });
  try {
    const raw = async (client: string, name: string) =>
      (await d.cg.run([client, "raw", dns.addr, name, "A", `${listener.port}`])).stdout.trim()
        .split("\n").pop();
    assert.equal(await raw(good, "allowed.hw"), "ok");
    assert.equal(await raw(good, "other.hw"), "EPERM");
    // An unknown app is denied as always (its DNS query too, in enforcing); switch to learning
    // so it resolves, connects and shows up on the Learning list with the name.
    assert.equal((await d.cli(["mode", "learning"])).code, 0);
    assert.equal(await raw(stranger, "allowed.hw"), "ok");

    const events = await until("named events in the history", async () => {
      const r = await d.cli(["events", "--json"]);
      const rows = r.stdout.trim().split("\n").filter(Boolean).map((l) =>
        JSON.parse(l) as ConnEvent
      );
      const denied = rows.find((e) => e.ruleId === "good-rest" && e.host === "other.hw");
      const unknown = rows.find((e) => e.exe === stranger && e.host === "allowed.hw");
      return denied && unknown ? rows : undefined;
    });
    assert.ok(events.length >= 2);
    const text = await d.cli(["events"]);
    assert.match(text.stdout, /-> other\.hw \(127\.0\.0\.1\):\d+\/tcp {2}rule good-rest/);

    // The Learning list (control op learning.list): the stranger's destination by name.
    const entries = await callDaemon(d.stateDir, "learning.list") as LearningEntry[];
    const e = entries.find((x) => x.exe === stranger);
    assert.ok(e?.destinations.some((x) => x.host === "allowed.hw"), JSON.stringify(entries));

    // Approving from Learning with --hosts writes "allow stranger to allowed.hw:PORT".
    assert.equal((await d.cli(["mode", "enforcing"])).code, 0);
    const allow = await d.cli(["apps", "allow", stranger, "--name", "stranger", "--hosts"]);
    assert.equal(allow.code, 0, allow.stderr);
    const rulesToml = await Deno.readTextFile(`${d.configDir}/rules.toml`);
    assert.match(
      rulesToml,
      new RegExp(
        `app = "stranger"\\nremote_host = \\["allowed\\.hw"\\]\\ncomment = "approved from Learning`,
      ),
    );
    assert.match(rulesToml, new RegExp(`ports = \\[${listener.port}\\]`));
    const ex2 = await runHashwall([
      "rules",
      "explain",
      "out",
      "tcp",
      `allowed.hw:${listener.port}`,
      "--app",
      "stranger",
      "--config",
      d.configDir,
      "--json",
    ]);
    assert.match(JSON.parse(ex2.stdout).ruleId, /^stranger-allowed\.hw-/);

    const st = JSON.parse((await d.cli(["status", "--json"])).stdout) as StatusInfo;
    assert.ok((st.counters.dns_answers ?? 0) >= 3, JSON.stringify(st.counters));
    assert.ok((st.counters.dns_name_rule_hits ?? 0) >= 1, JSON.stringify(st.counters));

    const ex = await runHashwall([
      "rules",
      "explain",
      "out",
      "tcp",
      `allowed.hw:${listener.port}`,
      "--app",
      "good",
      "--config",
      d.configDir,
      "--json",
    ]);
    assert.equal(ex.code, 0, ex.stderr);
    assert.equal(JSON.parse(ex.stdout).ruleId, "good-by-name");
  } finally {
    listener.close();
    await Deno.remove(dir, { recursive: true });
  }
});
