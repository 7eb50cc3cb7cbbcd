/**
 * With no interfaces configured, the daemon's packet filter covers every interface and follows
 * them: a device added after start is filtered within a poll (its inbound default deny holds),
 * and one removed is forgotten with its pins. Runs inside a test namespace only.
 */
import assert from "node:assert/strict";
import { startTestDaemon } from "../helpers/daemon.ts";
import { createNetnsLab } from "../helpers/netns.ts";
import { instanceName, pinPaths } from "../../src/kernel/pins.ts";
import type { StatusInfo } from "../../src/api/types.ts";
import { until } from "../helpers/wait.ts";

Deno.test("packet filter follows interfaces that appear and go after start", async () => {
  await using lab = await createNetnsLab("ff");
  await using d = await startTestDaemon({
    mode: "enforcing",
    defaultsExtra: 'inbound = "deny"',
    rulesExtra: `
[[rule]]
id = "web-in"
action = "allow"
direction = "in"
protocol = "tcp"
ports = [8080]
`,
    interfaces: "all",
    netns: lab.a.path,
  });
  const points = async () =>
    (JSON.parse((await d.cli(["status", "--json"])).stdout) as StatusInfo).attachPoints
      .filter((p) => p.startsWith("tcx/"));
  assert.deepEqual((await points()).sort(), ["tcx/in@veth0", "tcx/out@veth0"], "lo is never");

  await lab.serve(lab.a, ["tcp-serve", "::", 8080]);
  await lab.serve(lab.a, ["tcp-serve", "::", 8081]);
  const sh = async (ns: typeof lab.a, argv: string[]) => {
    const r = await lab.run(ns, argv);
    assert.equal(r.code, 0, `${argv.join(" ")}: ${r.stderr}`);
  };
  // A second link between the namespaces, made while the daemon runs.
  await sh(lab.a, [
    "ip",
    "link",
    "add",
    "veth1",
    "type",
    "veth",
    "peer",
    "veth1",
    "netns",
    lab.b.name,
  ]);
  await sh(lab.a, ["ip", "addr", "add", "10.201.0.1/24", "dev", "veth1"]);
  await sh(lab.b, ["ip", "addr", "add", "10.201.0.2/24", "dev", "veth1"]);
  await sh(lab.a, ["ip", "link", "set", "veth1", "up"]);
  await sh(lab.b, ["ip", "link", "set", "veth1", "up"]);

  await until("filter attached to veth1", async () => {
    const p = await points();
    return p.includes("tcx/in@veth1") && p.includes("tcx/out@veth1") ? p : undefined;
  });
  assert.ok(d.logs().some((l) => l.includes("attached to new interface veth1")), "logged");
  const connect = (port: number) =>
    lab.tool(lab.b, ["tcp-connect", "10.201.0.1", port, 0.8, "10.201.0.2"]);
  assert.equal(await connect(8080), "ok", "allowed by web-in on the new interface");
  assert.equal(await connect(8081), "timeout", "inbound default deny on the new interface");

  // Removed: forgotten, pins included.
  await sh(lab.a, ["ip", "link", "del", "veth1"]);
  await until("veth1 forgotten", async () => {
    const p = await points();
    return p.some((x) => x.endsWith("@veth1")) ? undefined : p;
  });
  const links = `${pinPaths(instanceName(d.stateDir)).root}/filter/links`;
  const pins = [...Deno.readDirSync(links)].map((e) => e.name);
  assert.ok(pins.some((n) => n.includes("__veth0__")), pins.join());
  assert.ok(!pins.some((n) => n.includes("__veth1__")), `veth1 pins removed: ${pins.join()}`);
  assert.deepEqual((await points()).sort(), ["tcx/in@veth0", "tcx/out@veth0"]);
});
