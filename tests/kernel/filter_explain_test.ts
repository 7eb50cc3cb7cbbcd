/**
 * `rules explain` must agree with the kernel: for a table of packets (TCP, UDP, ICMP, both
 * directions, IPv4 and IPv6), the explained verdict equals what real traffic through the filter
 * experienced.
 */
import assert from "node:assert/strict";
import { explainPacket } from "../../src/policy/explain.ts";
import { parsePacket } from "../../src/policy/packet.ts";
import { policyFrom, withFilterLab } from "./filter_harness.ts";

const RULES = `
[defaults]
mode = "enforcing"
inbound = "deny"
outbound = "deny"

[[rule]]
id = "ssh"
action = "allow"
direction = "in"
protocol = "tcp"
ports = [22]
remote = ["10.200.0.2", "fd00:200::2"]

[[rule]]
id = "no-2xxx"
action = "deny"
direction = "in"
protocol = "tcp"
ports = ["2000-2999"]

[[rule]]
id = "apps"
action = "allow"
direction = "in"
protocol = "tcp"
ports = ["1000-3000"]

[[rule]]
id = "dns-in"
action = "allow"
direction = "in"
protocol = "udp"
ports = [53]

[[rule]]
id = "ping-from-lan"
action = "allow"
direction = "in"
protocol = "icmp"
remote = ["10.200.0.0/24"]

[[rule]]
id = "web"
action = "allow"
direction = "out"
protocol = "tcp"
ports = [80]

[[rule]]
id = "no-ntp-to-3"
action = "deny"
direction = "out"
protocol = "udp"
ports = [123]
remote = ["fd00:200::3"]

[[rule]]
id = "udp-100-200"
action = "allow"
direction = "out"
protocol = "udp"
ports = ["100-200"]

[[rule]]
id = "ping6-out"
action = "allow"
direction = "out"
protocol = "icmpv6"
`;

Deno.test("rules explain agrees with the kernel on a table of packets", async () => {
  await withFilterLab("expl", RULES, async ({ lab }) => {
    const { a, b } = lab;
    const x = lab.addr;
    const policy = policyFrom(RULES);
    for (const p of [22, 1500, 2500, 3000, 3001]) await lab.serve(a, ["tcp-serve", "::", p]);
    for (const p of [53, 54]) await lab.serve(a, ["udp-echo", "::", p]);
    for (const p of [80, 81]) await lab.serve(b, ["tcp-serve", "::", p]);
    // UDP servers bound per address: a "::" socket may answer from another of b's addresses.
    for (const p of [123, 201]) {
      for (const h of [x.b4, x.b6, x.b6alt]) await lab.serve(b, ["udp-echo", h, p]);
    }
    const T = 0.6;
    // [packet as `rules explain` takes it, how to send it for real]
    const table: Array<[string, () => Promise<string>]> = [
      [`in tcp ${x.b4}:22`, () => lab.tool(b, ["tcp-connect", x.a4, 22, T, x.b4])],
      [`in tcp ${x.b4alt}:22`, () => lab.tool(b, ["tcp-connect", x.a4, 22, T, x.b4alt])],
      [`in tcp [${x.b6}]:22`, () => lab.tool(b, ["tcp-connect", x.a6, 22, T, x.b6])],
      [`in tcp [${x.b6alt}]:22`, () => lab.tool(b, ["tcp-connect", x.a6, 22, T, x.b6alt])],
      [`in tcp ${x.b4}:2500`, () => lab.tool(b, ["tcp-connect", x.a4, 2500, T, x.b4])],
      [`in tcp ${x.b4}:1500`, () => lab.tool(b, ["tcp-connect", x.a4, 1500, T, x.b4])],
      [`in tcp [${x.b6}]:3000`, () => lab.tool(b, ["tcp-connect", x.a6, 3000, T, x.b6])],
      [`in tcp ${x.b4}:3001`, () => lab.tool(b, ["tcp-connect", x.a4, 3001, T, x.b4])],
      [`in udp ${x.b4}:53`, () => lab.tool(b, ["udp-ask", x.a4, 53, T, 41000, x.b4])],
      [`in udp [${x.b6}]:54`, () => lab.tool(b, ["udp-ask", x.a6, 54, T, 41001, x.b6])],
      [`in icmp ${x.b4}`, () => lab.tool(b, ["icmp-ping", x.a4, T])],
      [`in icmpv6 ${x.b6}`, () => lab.tool(b, ["icmp-ping", x.a6, T])],
      [`out tcp ${x.b4}:80`, () => lab.tool(a, ["tcp-connect", x.b4, 80, T])],
      [`out tcp [${x.b6}]:81`, () => lab.tool(a, ["tcp-connect", x.b6, 81, T])],
      [`out udp [${x.b6alt}]:123`, () => lab.tool(a, ["udp-ask", x.b6alt, 123, T])],
      [`out udp [${x.b6}]:123`, () => lab.tool(a, ["udp-ask", x.b6, 123, T])],
      [`out udp ${x.b4}:201`, () => lab.tool(a, ["udp-ask", x.b4, 201, T])],
      [`out icmp ${x.b4}`, () => lab.tool(a, ["icmp-ping", x.b4, T])],
      [`out icmpv6 ${x.b6}`, () => lab.tool(a, ["icmp-ping", x.b6, T])],
    ];
    const verdicts = { allow: 0, deny: 0 };
    const disagreements: string[] = [];
    for (const [text, send] of table) {
      const e = explainPacket(policy, parsePacket(text));
      verdicts[e.verdict]++;
      const seen = await send();
      const kernel = seen === "ok"
        ? "allow"
        : seen === "timeout" || seen === "dropped"
        ? "deny"
        : `?${seen}`;
      if (kernel !== e.verdict) {
        disagreements.push(
          `${text}: explain ${e.verdict} (${e.ruleId ?? e.decidedBy}), kernel ${kernel}`,
        );
      }
    }
    assert.deepEqual(disagreements, []);
    assert.ok(verdicts.allow >= 7 && verdicts.deny >= 7, JSON.stringify(verdicts));
  });
});
