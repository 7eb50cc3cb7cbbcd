/**
 * Atomic reload with real traffic: switching rule sets back and forth while a connection runs
 * loses none of its round trips and lets no denied packet through; a flow the new rules deny is
 * cut. (A broken rules file changing nothing is the daemon's reload path:
 * tests/stress/config_hostile_test.ts reloads a running daemon with broken files.)
 */
import assert from "node:assert/strict";
import { withFilterLab } from "./filter_harness.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const HEAD = `
[defaults]
mode = "enforcing"
inbound = "deny"
outbound = "allow"
`;

const RULES_A = HEAD + `
[[rule]]
id = "keep"
action = "allow"
direction = "in"
protocol = "tcp"
ports = [8000]

[[rule]]
id = "only-a"
action = "allow"
direction = "in"
protocol = "tcp"
ports = [8002]
`;

// Other order and indexes on purpose: the flow's rule moves from #1 to #2.
const RULES_B = HEAD + `
[[rule]]
id = "no-9999"
action = "deny"
direction = "in"
protocol = "udp"
ports = [9999]

[[rule]]
id = "keep"
action = "allow"
direction = "in"
protocol = "tcp"
ports = [8000]
`;

Deno.test("reloading back and forth under traffic: no allowed round trip lost, no denied packet passes", async () => {
  await withFilterLab("rld", RULES_A, async ({ lab, filter, apply }) => {
    const { a, b } = lab;
    await lab.serve(a, ["tcp-serve", "::", 8000]);
    await lab.serve(a, ["udp-echo", "::", 9999]);
    const hold = lab.tool(b, ["tcp-hold", lab.addr.a4, 8000, 3]);
    let stop = false;
    const probes: string[] = [];
    const prober = (async () => {
      while (!stop) probes.push(await lab.tool(b, ["udp-ask", lab.addr.a4, 9999, 0.2]));
    })();
    let applies = 0;
    let last = RULES_A;
    const gens = new Set<number>();
    const end = Date.now() + 3000;
    while (Date.now() < end) {
      last = applies % 2 === 0 ? RULES_B : RULES_A;
      apply(last);
      gens.add(filter.counters().generation);
      applies++;
      await sleep(40);
    }
    const held = await hold;
    stop = true;
    await prober;
    const m = held.match(/^ok (\d+) (\d+)$/);
    assert.ok(m, `tcp-hold output: ${held}`);
    assert.equal(m[2], "0", "no round trip failed");
    assert.ok(Number(m[1]) >= 20, `round trips: ${m[1]}`);
    assert.ok(applies >= 20, `reloads: ${applies}`);
    assert.deepEqual([...gens].sort(), [0, 1], "both generations were active in turn");
    assert.ok(probes.length >= 3, `probes sent: ${probes.length}`);
    assert.deepEqual(probes.filter((p) => p !== "timeout"), [], "every denied probe was dropped");
    const c = filter.counters();
    assert.ok(c.stats.rejudged >= 10, `flows re-judged after switches: ${c.stats.rejudged}`);
    assert.equal(c.stats.rejudge_drop, 0);
    // "keep" moved between index 0 and 1 on every reload; its hits carried over by id.
    const keep = c.rules[last === RULES_A ? 0 : 1];
    assert.ok(keep.packets >= Number(m[1]), `keep counted ${keep.packets} packets across reloads`);
  });
});

Deno.test("a flow the new rules deny is cut at the switch", async () => {
  await withFilterLab("cut", RULES_A, async ({ lab, filter, apply }) => {
    await lab.serve(lab.a, ["tcp-serve", "::", 8002]);
    const hold = lab.tool(lab.b, ["tcp-hold", lab.addr.a4, 8002, 2.5]);
    await sleep(700);
    apply(RULES_B);
    const held = await hold;
    const m = held.match(/^ok (\d+) (\d+)$/);
    assert.ok(m, `tcp-hold output: ${held}`);
    assert.ok(Number(m[1]) >= 5, "it worked before the switch");
    assert.equal(m[2], "1", "and failed after it");
    assert.ok(filter.counters().stats.rejudge_drop >= 1);
  });
});
