/**
 * `hashwall rules list --json` shows the kernel's per-rule counters of a running filter (pinned
 * under the instance of --state), and `rules explain` answers from --config.
 */
import assert from "node:assert/strict";
import { compilePolicy } from "../../src/policy/compile.ts";
import { instanceName, pinPaths } from "../../src/kernel/pins.ts";
import { loadPacketFilter } from "../../src/kernel/filter.ts";
import { createNetnsLab } from "../helpers/netns.ts";
import { policyFrom } from "./filter_harness.ts";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;

const RULES = `
[defaults]
mode = "enforcing"
inbound = "deny"

[[rule]]
id = "svc"
action = "allow"
direction = "in"
protocol = "tcp"
ports = [8000]

[[rule]]
id = "no-9000"
action = "deny"
direction = "in"
protocol = "tcp"
ports = [9000]
`;

async function hashwall(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const o = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, ...args],
    env: { NO_COLOR: "1" },
  }).output();
  const d = new TextDecoder();
  return { code: o.code, out: d.decode(o.stdout), err: d.decode(o.stderr) };
}

Deno.test("rules list --json reports kernel counters; rules explain answers from the config", async () => {
  const stateDir = await Deno.makeTempDir({ prefix: "hw-flt-state-" });
  const configDir = await Deno.makeTempDir({ prefix: "hw-flt-config-" });
  const pinRoot = pinPaths(instanceName(stateDir)).root;
  const lab = await createNetnsLab("cli");
  const filter = loadPacketFilter({ pinRoot });
  try {
    await Deno.writeTextFile(`${configDir}/rules.toml`, RULES, { mode: 0o644 });
    filter.apply(compilePolicy(policyFrom(RULES)));
    filter.attach([lab.ifname], { netns: lab.a.path });
    await lab.serve(lab.a, ["tcp-serve", "::", 8000]);
    await lab.serve(lab.a, ["tcp-serve", "::", 9000]);
    assert.equal(await lab.tool(lab.b, ["tcp-connect", lab.addr.a4, 8000, 1]), "ok");
    assert.equal(await lab.tool(lab.b, ["tcp-connect", lab.addr.a4, 9000, 0.5]), "timeout");

    const r = await hashwall([
      "rules",
      "list",
      "--json",
      "--config",
      configDir,
      "--state",
      stateDir,
    ]);
    assert.equal(r.code, 0, r.err);
    const j = JSON.parse(r.out);
    assert.equal(j.loaded, true);
    assert.equal(j.stale, false);
    assert.deepEqual(j.rules.map((x: { id: string }) => x.id), ["svc", "no-9000"]);
    assert.ok(j.rules[0].counters.packets >= 3, JSON.stringify(j.rules[0]));
    assert.ok(j.rules[0].counters.bytes > 0);
    assert.ok(j.rules[1].counters.dropped >= 1, JSON.stringify(j.rules[1]));
    assert.ok(j.flows.live >= 1);

    const text = await hashwall(["rules", "list", "--config", configDir, "--state", stateDir]);
    assert.match(text.out, /svc\s+\(line 6\)\s+allow in tcp\s+remote any\s+port 8000\s+\[\d+ pkts/);

    const e = await hashwall([
      "rules",
      "explain",
      "in",
      "tcp",
      "192.0.2.7:9000",
      "--json",
      "--config",
      configDir,
    ]);
    assert.equal(e.code, 0, e.err);
    const x = JSON.parse(e.out);
    assert.equal(x.verdict, "deny");
    assert.equal(x.ruleId, "no-9000");
    const bad = await hashwall([
      "rules",
      "explain",
      "in",
      "tcp",
      "192.0.2.7",
      "--config",
      configDir,
    ]);
    assert.equal(bad.code, 2);
    assert.match(bad.err, /needs a port/);
  } finally {
    filter.destroy();
    await lab.delete();
    for (const d of [stateDir, configDir]) await Deno.remove(d, { recursive: true });
    try {
      Deno.removeSync(pinRoot, { recursive: true });
    } catch { /* gone */ }
  }
});
