/**
 * Inbound rules with real TCP over IPv4 and IPv6 through a veth in a test namespace: allow by
 * port + CIDR, by port range, deny by default; a reply to an allowed inbound connection passes.
 */
import assert from "node:assert/strict";
import { withFilterLab } from "./filter_harness.ts";

const RULES = `
[defaults]
mode = "enforcing"
inbound = "deny"
outbound = "allow"

[[rule]]
id = "ssh-from-b"
action = "allow"
direction = "in"
protocol = "tcp"
ports = [22]
remote = ["10.200.0.2/32", "fd00:200::2/128"]

[[rule]]
id = "block-8005"
action = "deny"
direction = "in"
protocol = "tcp"
ports = [8005]

[[rule]]
id = "web-range"
action = "allow"
direction = "in"
protocol = "tcp"
ports = ["8000-8010"]
`;

Deno.test("inbound TCP: port, CIDR, range, first match and default deny, IPv4 and IPv6", async () => {
  await withFilterLab("inb", RULES, async ({ lab, filter }) => {
    const { a, b } = lab;
    const x = lab.addr;
    for (const port of [22, 8003, 8005, 8011, 9000]) await lab.serve(a, ["tcp-serve", "::", port]);
    const connect = (host: string, port: number, src: string) =>
      lab.tool(b, ["tcp-connect", host, port, 0.8, src]);

    assert.equal(await connect(x.a4, 22, x.b4), "ok", "ssh from the allowed /32");
    assert.equal(await connect(x.a4, 22, x.b4alt), "timeout", "ssh from another address");
    assert.equal(await connect(x.a6, 22, x.b6), "ok", "ssh over IPv6 from the allowed /128");
    assert.equal(await connect(x.a6, 22, x.b6alt), "timeout", "ssh over IPv6 from another");
    assert.equal(await connect(x.a4, 8003, x.b4), "ok", "inside the range");
    assert.equal(await connect(x.a6, 8003, x.b6alt), "ok", "range rule has no remote limit");
    assert.equal(await connect(x.a4, 8005, x.b4), "timeout", "an earlier deny wins");
    assert.equal(await connect(x.a4, 8011, x.b4), "timeout", "just past the range");
    assert.equal(await connect(x.a4, 9000, x.b4), "timeout", "no rule: default inbound deny");

    const c = filter.counters();
    assert.equal(c.mode, "enforcing");
    assert.equal(c.nrules, 3);
    assert.ok(c.rules[0].packets >= 6, `ssh rule counted packets: ${JSON.stringify(c.rules[0])}`);
    assert.ok(c.rules[1].dropped >= 1, "the deny rule counted its drop");
    assert.ok(c.rules[2].packets >= 6, "the range rule counted both connections");
    assert.ok(c.defaults.inbound.dropped >= 4, "the default dropped SYNs of 4 attempts");
    assert.ok(c.stats.pass_state > 0, "replies and the rest of the connections passed by state");
    assert.ok(c.flows.live >= 1 && c.flows.inserted >= 4);
  });
});
