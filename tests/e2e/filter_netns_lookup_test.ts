/**
 * Interface names are looked up in the network namespace the filter attaches in, not in
 * `/sys/class/net` (which shows the mount namespace's view: under `nsenter --net=…` it still lists
 * the host's devices): a daemon run inside a namespace with `[defaults] interfaces = ["veth0"]`
 * starts and filters veth0; `--netns PATH` with configured interfaces works; a missing name is
 * an error naming the namespace and its real interfaces.
 */
import assert from "node:assert/strict";
import { startTestDaemon } from "../helpers/daemon.ts";
import { createNetnsLab } from "../helpers/netns.ts";
import type { StatusInfo } from "../../src/api/types.ts";

const INBOUND_DENY_BUT_8080 = `
[[rule]]
id = "web-in"
action = "allow"
direction = "in"
protocol = "tcp"
ports = [8080]
`;

async function tcxPoints(d: Awaited<ReturnType<typeof startTestDaemon>>): Promise<string[]> {
  const r = await d.cli(["status", "--json"]);
  assert.equal(r.code, 0, r.stderr);
  return (JSON.parse(r.stdout) as StatusInfo).attachPoints.filter((p) => p.startsWith("tcx/"))
    .sort();
}

Deno.test("interfaces: a daemon inside a network namespace finds its configured veth0 there", async () => {
  await using lab = await createNetnsLab("nl");
  await using d = await startTestDaemon({
    mode: "enforcing",
    defaultsExtra: `inbound = "deny"\ninterfaces = ["${lab.ifname}"]`,
    rulesExtra: INBOUND_DENY_BUT_8080,
    interfaces: "config",
    enterNetns: lab.a.path,
  });
  assert.deepEqual(await tcxPoints(d), ["tcx/in@veth0", "tcx/out@veth0"]);
  // Really attached to the namespace's veth0: its inbound policy holds.
  await lab.serve(lab.a, ["tcp-serve", "::", 8080]);
  await lab.serve(lab.a, ["tcp-serve", "::", 8081]);
  assert.equal(await lab.tool(lab.b, ["tcp-connect", lab.addr.a4, 8080, 0.8]), "ok");
  assert.equal(await lab.tool(lab.b, ["tcp-connect", lab.addr.a4, 8081, 0.8]), "timeout");
});

Deno.test("interfaces: --netns PATH with [defaults] interfaces attaches in that namespace", async () => {
  await using lab = await createNetnsLab("nn");
  await using d = await startTestDaemon({
    mode: "enforcing",
    defaultsExtra: `inbound = "deny"\ninterfaces = ["${lab.ifname}"]`,
    rulesExtra: INBOUND_DENY_BUT_8080,
    interfaces: "config",
    netns: lab.a.path,
  });
  assert.deepEqual(await tcxPoints(d), ["tcx/in@veth0", "tcx/out@veth0"]);
  await lab.serve(lab.a, ["tcp-serve", "::", 8081]);
  assert.equal(await lab.tool(lab.b, ["tcp-connect", lab.addr.a4, 8081, 0.8]), "timeout");
});

Deno.test("interfaces: a missing name is refused, naming the namespace and its real interfaces", async () => {
  await using lab = await createNetnsLab("nm");
  for (const where of [{ enterNetns: lab.a.path }, { netns: lab.a.path }]) {
    const err = await startTestDaemon({
      defaultsExtra: `interfaces = ["veth9"]`,
      interfaces: "config",
      ...where,
    }).then(async (d) => {
      await d.stop();
      return "started";
    }, (e: Error) => e.message);
    assert.match(
      err,
      /configured interface \\"veth9\\" does not exist in (network namespace|the daemon)/,
    );
    // The namespace's own devices (lo, veth0), not the host's.
    assert.match(err, /present: lo, veth0\)/, err);
  }
});
