/**
 * Pins: the filter keeps enforcing after its loader closed (daemon exit), a new loader reuses the
 * pinned maps (flows and counters survive) and swaps its program in under the pinned links while
 * a connection runs, and destroy() removes everything so the device passes all traffic again.
 */
import assert from "node:assert/strict";
import { compilePolicy } from "../../src/policy/compile.ts";
import { loadPacketFilter, openPinnedFilterMaps } from "../../src/kernel/filter.ts";
import { createNetnsLab } from "../helpers/netns.ts";
import { policyFrom } from "./filter_harness.ts";

const RULES = `
[defaults]
mode = "enforcing"
inbound = "deny"
outbound = "allow"

[[rule]]
id = "svc"
action = "allow"
direction = "in"
protocol = "tcp"
ports = [8000]
`;

Deno.test("pinned filter survives its loader, is reused by the next one, and destroy() clears it", async () => {
  const pinRoot = `/sys/fs/bpf/hashwall-test/pins-${crypto.randomUUID().slice(0, 8)}`;
  const lab = await createNetnsLab("pins");
  const first = loadPacketFilter({ pinRoot });
  let second: ReturnType<typeof loadPacketFilter> | undefined;
  try {
    first.apply(compilePolicy(policyFrom(RULES)));
    first.attach([lab.ifname], { netns: lab.a.path });
    await lab.serve(lab.a, ["tcp-serve", "::", 8000]);
    await lab.serve(lab.a, ["tcp-serve", "::", 9000]);
    const connect = (port: number, t = 0.8) =>
      lab.tool(lab.b, ["tcp-connect", lab.addr.a4, port, t]);
    assert.equal(await connect(8000), "ok");
    const hold = lab.tool(lab.b, ["tcp-hold", lab.addr.a4, 8000, 2.5]);
    await new Promise((r) => setTimeout(r, 300));
    const hitsBefore = first.counters().rules[0].packets;

    first.close(); // the daemon exits; pins keep the policy
    assert.equal(await connect(9000), "timeout", "still enforcing with no loader");
    const view = openPinnedFilterMaps(pinRoot);
    try {
      assert.equal(view.counters().nrules, 1, "pins readable by another process");
    } finally {
      view.close();
    }

    second = loadPacketFilter({ pinRoot });
    second.attach([lab.ifname], { netns: lab.a.path }); // swaps programs under the pinned links
    assert.ok(second.counters().rules[0].packets >= hitsBefore, "counters survived");
    const held = await hold;
    assert.match(held, /^ok [1-9][0-9]* 0$/, `the connection ran through the restart: ${held}`);
    assert.equal(await connect(9000), "timeout", "the new programs enforce");
    assert.equal(await connect(8000), "ok");

    second.destroy();
    second = undefined;
    assert.equal(await connect(9000, 2), "ok", "no filter after destroy()");
    assert.throws(() => openPinnedFilterMaps(pinRoot), /not loaded/);
  } finally {
    second?.destroy();
    try {
      first.destroy();
    } catch { /* already closed */ }
    await lab.delete();
    try {
      Deno.removeSync(pinRoot, { recursive: true });
    } catch { /* gone */ }
    try {
      Deno.removeSync("/sys/fs/bpf/hashwall-test");
    } catch { /* not empty */ }
  }
});
