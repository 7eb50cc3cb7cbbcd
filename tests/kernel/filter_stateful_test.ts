/**
 * Outbound rules, UDP and ICMP, and flow state with real traffic through a veth in a test
 * namespace: replies of allowed outbound flows pass while the same packets unsolicited are
 * dropped, flows expire when idle, a closed TCP flow no longer admits packets, and learning mode
 * drops nothing but counts what it would drop.
 */
import assert from "node:assert/strict";
import { withFilterLab } from "./filter_harness.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const OUTBOUND_RULES = `
[defaults]
mode = "enforcing"
inbound = "deny"
outbound = "deny"

[[rule]]
id = "http-to-b"
action = "allow"
direction = "out"
protocol = "tcp"
ports = [80]
remote = ["10.200.0.2"]

[[rule]]
id = "https-anywhere"
action = "allow"
direction = "out"
protocol = "tcp"
ports = [443]

[[rule]]
id = "mdns"
action = "allow"
direction = "out"
protocol = "udp"
ports = [5353]
remote = ["10.200.0.2", "fd00:200::/64"]

[[rule]]
id = "ping4"
action = "allow"
direction = "out"
protocol = "icmp"

[[rule]]
id = "ping6"
action = "allow"
direction = "out"
protocol = "icmpv6"
`;

Deno.test("outbound TCP/UDP/ICMP rules with default outbound deny; replies pass by state", async () => {
  await withFilterLab("out", OUTBOUND_RULES, async ({ lab, filter }) => {
    const { a, b } = lab;
    const x = lab.addr;
    for (const port of [80, 81, 443]) await lab.serve(b, ["tcp-serve", "::", port]);
    // Bound per address: a "::" socket may answer from another of b's addresses.
    for (const port of [5353, 5354]) {
      for (const h of [x.b4, x.b6alt]) await lab.serve(b, ["udp-echo", h, port]);
    }
    await lab.serve(a, ["udp-echo", "::", 7000]);
    const tcp = (host: string, port: number) => lab.tool(a, ["tcp-connect", host, port, 0.8]);
    const udp = (host: string, port: number) => lab.tool(a, ["udp-ask", host, port, 0.8]);

    assert.equal(await tcp(x.b4, 80), "ok");
    assert.equal(await tcp(x.b4alt, 80), "timeout", "port 80 only to 10.200.0.2");
    assert.equal(await tcp(x.b4, 81), "timeout", "no rule for 81: default outbound deny");
    assert.equal(await tcp(x.b6, 443), "ok");
    assert.equal(await tcp(x.b6, 80), "timeout", "the IPv4-only rule does not cover IPv6");
    assert.equal(await udp(x.b4, 5353), "ok", "UDP reply passes by state");
    assert.equal(await udp(x.b6alt, 5353), "ok", "IPv6 /64 covers ::3");
    assert.match(await udp(x.b4, 5354), /^(timeout|dropped)$/, "egress drop (ENOBUFS or no reply)");
    assert.equal(await lab.tool(a, ["icmp-ping", x.b4, 0.8]), "ok", "echo reply passes by state");
    assert.equal(await lab.tool(a, ["icmp-ping", x.b6, 0.8]), "ok");
    // The same kinds of packets, unsolicited from b, meet the inbound default.
    assert.equal(await lab.tool(b, ["icmp-ping", x.a4, 0.8]), "timeout");
    assert.equal(await lab.tool(b, ["icmp-ping", x.a6, 0.8]), "timeout");
    assert.equal(await lab.tool(b, ["udp-ask", x.a4, 7000, 0.8]), "timeout");

    const c = filter.counters();
    assert.ok(c.defaults.outbound.dropped >= 3, JSON.stringify(c.defaults));
    assert.ok(c.defaults.inbound.dropped >= 3, JSON.stringify(c.defaults));
    for (const i of [0, 1, 2, 3, 4]) assert.ok(c.rules[i].packets >= 2, `rule ${i} hit`);
  });
});

Deno.test("UDP: the reply tuple passes while the flow lives, not from another port, not after idle expiry", async () => {
  const rules = `
[defaults]
mode = "enforcing"
inbound = "deny"
outbound = "allow"
`;
  await withFilterLab("udp", rules, async ({ lab, filter }) => {
    const { a, b } = lab;
    const x = lab.addr;
    const server = await lab.serve(b, ["udp-echo", x.b4, 5353]);
    assert.equal(await lab.tool(a, ["udp-ask", x.b4, 5353, 1, 40001]), "ok");
    server.kill("SIGKILL");
    await server.status;
    await lab.serve(a, ["udp-echo", "0.0.0.0", 40001]);
    // b now talks to a from the very tuple a talked to: the flow admits it.
    assert.equal(await lab.tool(b, ["udp-ask", x.a4, 40001, 1, 5353, x.b4]), "ok");
    // Another source port is unsolicited.
    assert.equal(await lab.tool(b, ["udp-ask", x.a4, 40001, 0.8, 5354, x.b4]), "timeout");
    await sleep(2600); // UDP idle timeout is 2 s here
    assert.equal(
      await lab.tool(b, ["udp-ask", x.a4, 40001, 0.8, 5353, x.b4]),
      "timeout",
      "after the flow expired the same tuple is unsolicited",
    );
    assert.ok(filter.counters().stats.flow_expired >= 1);
  }, { udpIdleS: 2 });
});

Deno.test("TCP: a segment of an open flow passes; after FIN both ways and the grace, it is dropped", async () => {
  const rules = `
[defaults]
mode = "enforcing"
inbound = "deny"
outbound = "allow"
`;
  await withFilterLab("tcpc", rules, async ({ lab, filter }) => {
    const { a, b } = lab;
    const x = lab.addr;
    await lab.serve(b, ["tcp-serve", x.b4, 80]);
    const hold = lab.tool(a, ["tcp-hold", x.b4, 80, 1.5, x.a4, 45000]);
    await sleep(500);
    const before = filter.counters();
    assert.equal(await lab.tool(b, ["tcp-raw", x.b4, 80, x.a4, 45000, 0x10]), "sent");
    await sleep(200);
    const during = filter.counters();
    assert.equal(during.stats.drop, before.stats.drop, "an ACK of the open flow is not dropped");
    const held = await hold;
    assert.match(held, /^ok [1-9][0-9]* 0$/, `the held connection worked: ${held}`);
    await sleep(1600); // close grace is 1 s here
    const open = filter.flows().find((f) => f.lport === 45000 && f.rport === 80);
    assert.ok(open, "the flow is still in the table, marked closing");
    assert.equal(open.state, 2, "closing after FIN both ways");
    const mid = filter.counters();
    assert.equal(await lab.tool(b, ["tcp-raw", x.b4, 80, x.a4, 45000, 0x10]), "sent");
    await sleep(200);
    const after = filter.counters();
    assert.equal(after.stats.drop, mid.stats.drop + 1, "the same ACK is dropped once closed");
    assert.equal(after.defaults.inbound.dropped, mid.defaults.inbound.dropped + 1);
    assert.ok(after.stats.flow_closed >= 1);
  }, { tcpCloseS: 1 });
});

Deno.test("learning mode drops nothing and counts would-drops per rule and default", async () => {
  const rules = `
[defaults]
mode = "learning"
inbound = "deny"

[[rule]]
id = "no-telnet"
action = "deny"
direction = "in"
protocol = "tcp"
ports = [23]
`;
  await withFilterLab("learn", rules, async ({ lab, filter }) => {
    const { a, b } = lab;
    await lab.serve(a, ["tcp-serve", "::", 23]);
    await lab.serve(a, ["tcp-serve", "::", 9000]);
    assert.equal(await lab.tool(b, ["tcp-connect", lab.addr.a4, 23, 1]), "ok");
    assert.equal(await lab.tool(b, ["tcp-connect", lab.addr.a6, 9000, 1]), "ok");
    const c = filter.counters();
    assert.equal(c.mode, "learning");
    assert.equal(c.stats.drop, 0);
    // The SYN is what enforcing would drop; a's SYN-ACK then opens an outbound flow.
    assert.ok(c.rules[0].wouldDrop >= 1, `rule would-drops: ${JSON.stringify(c.rules[0])}`);
    assert.ok(c.defaults.inbound.wouldDrop >= 1, "default inbound would-drops");
    assert.ok(c.stats.would_drop >= 2);
  });
});

Deno.test("ICMP errors pass with the flow they quote (untracked = deny); forged ones do not", async () => {
  const rules = `
[defaults]
mode = "enforcing"
inbound = "deny"
outbound = "allow"
untracked = "deny"
`;
  await withFilterLab("icmperr", rules, async ({ lab, filter }) => {
    const { a, b } = lab;
    const x = lab.addr;
    const stat = () => filter.counters().stats;
    // IPv6 neighbours of a fresh namespace take a moment to resolve: warm up first.
    for (let i = 0; i < 5 && await lab.tool(a, ["icmp-ping", x.b6, 0.8]) !== "ok"; i++);
    // Nothing listens on b:9999: b answers a's datagram with a port unreachable, which a's
    // filter must let in as part of the UDP flow a opened.
    const before = stat();
    assert.equal(await lab.tool(a, ["udp-connect-ask", x.b4, 9999, 0.8]), "refused");
    assert.equal(await lab.tool(a, ["udp-connect-ask", x.b6, 9999, 0.8]), "refused", "ICMPv6");
    const after = stat();
    assert.ok(after.related >= before.related + 2, JSON.stringify(after));

    // A forged unreachable about a flow a never had is untracked, and dropped.
    const mid = stat();
    assert.equal(await lab.tool(b, ["icmp-unreach", x.a4, x.a4, x.b4, 40123, 9998]), "sent");
    await new Promise((r) => setTimeout(r, 200));
    const end = stat();
    assert.equal(end.related, mid.related, "not related to any flow");
    assert.ok(end.untracked >= mid.untracked + 1 && end.drop >= mid.drop + 1, JSON.stringify(end));
  });
});
