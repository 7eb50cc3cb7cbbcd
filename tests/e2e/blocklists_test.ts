/**
 * Blocklists through the real daemon: lists served over HTTP from a test server on loopback
 * (hosts and CIDR formats) deny the listed name and network in enforcing mode — before a rule
 * that allows the app everything — and are counted; a refresh that fails keeps the last good
 * list (in memory, and from the state folder after a restart); a malformed list is refused with
 * the line that is wrong and changes nothing.
 */
import assert from "node:assert/strict";
import { sha256Of, startTestDaemon } from "../helpers/daemon.ts";
import { dnsclientCopy, startDnsmasq } from "../helpers/dns.ts";
import { loopbackListener } from "../helpers/netclient.ts";
import { until } from "../helpers/wait.ts";
import type { RulesView, StatusInfo } from "../../src/api/types.ts";
import { callDaemon } from "../../src/daemon/client.ts";

Deno.test("daemon: blocklists by name and network, last good copy, malformed list refused", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hw-block-e2e-" });
  const good = await dnsclientCopy(`${dir}/a`, "good");
  const listener = loopbackListener();
  const files: Record<string, string> = {
    "/hosts.txt": "# test list\n0.0.0.0 ads.hw tracker.hw\n0.0.0.0 localhost\n",
    "/nets.txt": "127.66.0.0/16\n",
    "/broken.txt": "127.67.0.0/16\nnot-a-network\n",
  };
  let failing = false;
  const ac = new AbortController();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, signal: ac.signal, onListen: () => {} },
    (req) => {
      const body = files[new URL(req.url).pathname];
      if (failing || body === undefined) return new Response("down", { status: 503 });
      return new Response(body);
    },
  );
  const base = `http://127.0.0.1:${server.addr.port}`;
  await using dns = await startDnsmasq([
    "--host-record=ads.hw,127.0.0.1",
    "--host-record=fine.hw,127.0.0.1",
  ]);
  await using d = await startTestDaemon({
    mode: "enforcing",
    apps: [{ name: "good", path: good, sha256: await sha256Of(good) }],
    rulesExtra: `
[[blocklist]]
id = "ads"
source = "${base}/hosts.txt"
format = "hosts"
refresh = "24h"
action = "deny"

[[blocklist]]
id = "nets"
source = "${base}/nets.txt"
format = "cidr"

[[blocklist]]
id = "broken"
source = "${base}/broken.txt"
format = "cidr"

[[rule]]
id = "dns"
action = "allow"
direction = "out"
protocol = "udp"
ports = [53]

[[rule]]
id = "good-anything"
action = "allow"
direction = "out"
app = "good"
`,
  });
  try {
    const last = async (argv: string[]) =>
      (await d.cg.run([good, ...argv])).stdout.trim().split("\n").pop();
    const raw = (name: string) => last(["raw", dns.addr, name, "A", `${listener.port}`]);
    const check = async (when: string) => {
      assert.equal(await raw("fine.hw"), "ok", `${when}: unlisted name`);
      assert.equal(await raw("ads.hw"), "EPERM", `${when}: listed name`);
      assert.equal(await last(["connect", "127.66.1.1", "9"]), "EPERM", `${when}: listed network`);
      // The broken list is not in force: its network is not denied (nothing listens there).
      assert.equal(
        await last(["connect", "127.67.1.1", "9"]),
        "ERR:Connection refused",
        `${when}: a malformed list changes nothing`,
      );
    };
    await check("fresh");
    const status = async () => JSON.parse((await d.cli(["status", "--json"])).stdout) as StatusInfo;
    const st = await until("blocklist hits counted", async () => {
      const s = await status();
      return (s.counters["blocklist_hits:ads"] ?? 0) >= 1 &&
          (s.counters["blocklist_hits:nets"] ?? 0) >= 1
        ? s
        : undefined;
    });
    assert.equal(st.counters["blocklist_entries:ads"], 2);
    assert.equal(st.counters["blocklist_entries:nets"], 1);
    assert.equal(st.counters["blocklist_entries:broken"], 0);
    assert.ok(
      st.warnings.some((w) => /blocklist broken: .*broken\.txt: line 2: .*not-a-network/.test(w)),
      JSON.stringify(st.warnings),
    );
    // The Rules page's data: a Blocklists section with what is in force and why not.
    const view = await callDaemon(d.stateDir, "rules.get") as RulesView;
    const byId = Object.fromEntries((view.blocklists ?? []).map((b) => [b.id, b]));
    assert.equal(byId.ads?.entries, 2);
    assert.ok((byId.ads?.hits ?? 0) >= 1);
    assert.match(byId.broken?.error ?? "", /line 2/);
    assert.equal(view.rules[0].id, "blocklist:ads", "the list rules come first");
    const events = (await d.cli(["events", "--json"])).stdout;
    assert.match(events, /"ruleId":"blocklist:ads"[^\n]*"host":"ads.hw"/);

    // The source fails: a reload keeps the last good lists.
    failing = true;
    assert.equal((await d.cli(["rules", "reload"])).code, 0);
    await check("after a failed refresh");
    const st2 = await status();
    assert.ok(
      st2.warnings.some((w) =>
        /blocklist ads: .*HTTP 503.*last good copy \(2 entries\) stays/.test(w)
      ),
      JSON.stringify(st2.warnings),
    );
    // ...and after a restart the copies in the state folder are used.
    await d.restart();
    await check("after a restart with the source down");
  } finally {
    ac.abort();
    await server.finished;
    listener.close();
    await Deno.remove(dir, { recursive: true });
  }
});
