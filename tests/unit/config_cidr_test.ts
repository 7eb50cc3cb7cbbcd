import assert from "node:assert/strict";
import {
  cidrContains,
  formatAddress,
  formatCidr,
  parseAddress,
  parseCidr,
} from "../../src/config/cidr.ts";
import { parsePortSpec } from "../../src/config/ports.ts";

Deno.test("parseCidr: IPv4 networks and hosts", () => {
  const n = parseCidr("192.0.2.0/24");
  assert.equal(n.family, 4);
  assert.deepEqual([...n.addr], [192, 0, 2, 0]);
  assert.equal(n.prefix, 24);
  assert.equal(n.text, "192.0.2.0/24");
  const h = parseCidr("198.51.100.7");
  assert.equal(h.prefix, 32);
  assert.equal(formatCidr(h), "198.51.100.7/32");
  assert.equal(formatCidr(parseCidr("0.0.0.0/0")), "0.0.0.0/0");
});

Deno.test("parseCidr: IPv6 forms normalise per RFC 5952", () => {
  const cases: [string, string][] = [
    ["2001:DB8:0:0::/32", "2001:db8::/32"],
    ["::1", "::1/128"],
    ["::", "::/128"],
    ["::/0", "::/0"],
    ["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1/128"],
    ["2001:0db8:0000:0000:0000:ff00:0042:8329", "2001:db8::ff00:42:8329/128"],
    ["::ffff:192.0.2.1", "::ffff:c000:201/128"],
    ["fe80:0:0:0:0:0:0:0/10", "fe80::/10"],
    ["1:0:1:0:1:0:1:0", "1:0:1:0:1:0:1:0/128"],
  ];
  for (const [input, want] of cases) assert.equal(formatCidr(parseCidr(input)), want, input);
  assert.equal(parseCidr("::1").family, 6);
});

Deno.test("parseCidr: host bits set is refused with the network address as hint", () => {
  assert.throws(() => parseCidr("192.0.2.1/24"), /host bits set.*did you mean 192\.0\.2\.0\/24\?/);
  assert.throws(() => parseCidr("2001:db8::1/32"), /did you mean 2001:db8::\/32\?/);
  assert.throws(() => parseCidr("10.0.0.1/0"), /did you mean 0\.0\.0\.0\/0\?/);
});

Deno.test("parseCidr: malformed input names the problem", () => {
  const bad: [string, RegExp][] = [
    ["", /not an IPv4 or IPv6/],
    ["192.0.2", /not an IPv4 or IPv6/],
    ["192.0.2.256", /not an IPv4 or IPv6/],
    ["192.0.2.01", /not an IPv4 or IPv6/],
    ["1.2.3.4.5", /not an IPv4 or IPv6/],
    ["a.b.c.d", /not an IPv4 or IPv6/],
    ["192.0.2.0/33", /too long for IPv4/],
    ["2001:db8::/129", /too long for IPv6/],
    ["192.0.2.0/", /bad prefix length/],
    ["192.0.2.0/024", /bad prefix length/],
    ["192.0.2.0/-1", /bad prefix length/],
    ["192.0.2.0/24/8", /bad prefix length/],
    ["1::2::3", /"::" may appear only once/],
    ["1:2:3:4:5:6:7", /expected 8 groups/],
    ["1:2:3:4:5:6:7:8:9", /expected 8 groups/],
    ["1:2:3:4::5:6:7:8", /too many groups/],
    ["12345::", /bad group/],
    ["fe80::1%eth0", /zone ids/],
    ["::ffff:1.2.3", /bad embedded IPv4/],
    [":1:2:3:4:5:6:7", /empty group/],
    ["g::1", /bad group/],
  ];
  for (const [input, re] of bad) assert.throws(() => parseCidr(input), re, input);
});

Deno.test("cidrContains: prefix boundaries and family separation", () => {
  const n = parseCidr("10.1.0.0/16");
  assert.equal(cidrContains(n, parseAddress("10.1.255.255")), true);
  assert.equal(cidrContains(n, parseAddress("10.1.0.0")), true);
  assert.equal(cidrContains(n, parseAddress("10.2.0.0")), false);
  assert.equal(cidrContains(n, parseAddress("::ffff:10.1.0.1")), false);
  const odd = parseCidr("192.0.2.128/25");
  assert.equal(cidrContains(odd, parseAddress("192.0.2.127")), false);
  assert.equal(cidrContains(odd, parseAddress("192.0.2.128")), true);
  const v6 = parseCidr("2001:db8::/33");
  assert.equal(cidrContains(v6, parseAddress("2001:db8:7fff::1")), true);
  assert.equal(cidrContains(v6, parseAddress("2001:db8:8000::1")), false);
  assert.equal(cidrContains(parseCidr("::/0"), parseAddress("::1")), true);
  assert.equal(cidrContains(parseCidr("0.0.0.0/0"), parseAddress("255.255.255.255")), true);
  assert.equal(formatAddress(parseAddress("127.0.0.1")), "127.0.0.1");
});

Deno.test("parsePortSpec: ports, numeric strings and ranges", () => {
  assert.deepEqual(parsePortSpec(22), { from: 22, to: 22 });
  assert.deepEqual(parsePortSpec(22n), { from: 22, to: 22 });
  assert.deepEqual(parsePortSpec("443"), { from: 443, to: 443 });
  assert.deepEqual(parsePortSpec("8000-8080"), { from: 8000, to: 8080 });
  assert.deepEqual(parsePortSpec("1-65535"), { from: 1, to: 65535 });
  assert.deepEqual(parsePortSpec("7-7"), { from: 7, to: 7 });
});

Deno.test("parsePortSpec: out of range, reversed and malformed", () => {
  assert.throws(() => parsePortSpec(0), /port 0 is out of range; expected 1\.\.65535/);
  assert.throws(() => parsePortSpec(65536), /port 65536 is out of range/);
  assert.throws(() => parsePortSpec(-1), /out of range/);
  assert.throws(() => parsePortSpec(1.5), /out of range/);
  assert.throws(() => parsePortSpec("0-10"), /port 0 is out of range/);
  assert.throws(() => parsePortSpec("10-70000"), /port 70000 is out of range/);
  assert.throws(() => parsePortSpec("9-1"), /reversed; did you mean "1-9"\?/);
  assert.throws(() => parsePortSpec("http"), /not a port or range/);
  assert.throws(() => parsePortSpec("1 - 2"), /not a port or range/);
  assert.throws(() => parsePortSpec(""), /not a port or range/);
});
