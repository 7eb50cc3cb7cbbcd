/**
 * Hostnames in the kernel, real kernel and a real DNS server (dnsmasq): the name an approved app
 * resolved is known in the kernel before its connect, so the first connect after a lookup is
 * judged by `remote_host` rules. Everything attaches to a test cgroup and pins under a test
 * instance; dnsmasq listens on a unique 127.53.x.y; all removed on every path.
 */
import assert from "node:assert/strict";
import { lastLine, setupNames, teardownNames } from "../helpers/names_fixture.ts";
import { explainPacket } from "../../src/policy/explain.ts";
import { parsePacket } from "../../src/policy/packet.ts";

Deno.test("remote_host: the first connect after a lookup is judged by the name the app resolved", async () => {
  const f = await setupNames("names");
  const raw = (name: string, type = "A") =>
    lastLine(f, [
      f.app,
      "raw",
      f.dns.addr,
      name,
      type,
      String(type === "A" ? f.v4.port : f.v6.port),
    ]);
  try {
    // Each line is a brand-new process: lookup, then exactly one connect.
    assert.equal(await raw("allowed.hw"), "ok", "allowed name");
    assert.equal(await raw("other.hw"), "EPERM", "same address under a name no rule allows");
    assert.equal(
      await lastLine(f, [f.app, "connect", "127.0.0.1", String(f.v4.port)]),
      "EPERM",
      "an address never seen in an answer to this process",
    );
    assert.equal(await raw("a.b.wild.hw"), "ok", "wildcard");
    assert.equal(await raw("wild.hw"), "EPERM", "*.wild.hw does not cover wild.hw itself");
    assert.equal(await raw("www.hw"), "ok", "CNAME chain: www.hw -> edge.cdn.hw -> address");
    assert.equal(await raw("ALLOWED.hw"), "ok", "names compare lower-cased");
    assert.equal(await raw("allowed.hw", "AAAA"), "ok", "IPv6");
    const tcp = (name: string) =>
      lastLine(f, [f.app, "rawtcp", f.dns.addr, name, "A", String(f.v4.port)]);
    assert.equal(await tcp("allowed.hw"), "ok", "DNS over TCP, answer in the first segment");
    assert.equal(await tcp("other.hw"), "EPERM", "DNS over TCP, other name");
    assert.equal(await raw("other.hw", "AAAA"), "EPERM", "IPv6, other name");
    // TTL 1 s + 3 s grace: a connect 5 s after the answer no longer matches the name.
    assert.equal(
      await lastLine(
        f,
        [f.app, "raw", f.dns.addr, "allowed.hw", "A", String(f.v4.port)],
        { HW_DELAY_MS: "5000" },
      ),
      "EPERM",
      "expired TTL",
    );
    // rules explain (the TS model of the kernel) agrees with the kernel on every name above.
    const kernel: Array<[string, string]> = [
      ["allowed.hw", "ok"],
      ["other.hw", "EPERM"],
      ["a.b.wild.hw", "ok"],
      ["wild.hw", "EPERM"],
      ["www.hw", "ok"],
    ];
    for (const [name, got] of kernel) {
      const e = explainPacket(f.policy, parsePacket(`out tcp ${name}:${f.v4.port}`, "dnsapp"));
      assert.equal(e.verdict === "allow" ? "ok" : "EPERM", got, `explain ${name}: ${e.why[0]}`);
    }
    const stats = f.names.stats();
    assert.ok(stats.answers >= 9, `answers ${JSON.stringify(stats)}`);
    assert.ok(stats.name_rule_hits >= 5, `name hits ${JSON.stringify(stats)}`);
    const named = f.names.entries().map((e) => f.names.nameOf(e.name));
    assert.ok(named.includes("www.hw"), `kept under the asked name: ${named}`);
  } finally {
    await teardownNames(f);
  }
});

Deno.test("remote_host: the system resolver (getaddrinfo through resolv.conf) names the address", async () => {
  const f = await setupNames("names-gai");
  // A private mount namespace whose /etc/resolv.conf names only the test's dnsmasq.
  const gai = (name: string, family: string) =>
    lastLine(f, [
      "unshare",
      "-m",
      "--propagation",
      "private",
      "sh",
      "-c",
      `mount --bind "$1" /etc/resolv.conf && exec "$2" gai "$3" "$4" "$5"`,
      "sh",
      f.dns.resolvConf,
      f.app,
      name,
      String(family === "6" ? f.v6.port : f.v4.port),
      family,
    ]);
  try {
    assert.equal(await gai("allowed.hw", "4"), "ok");
    assert.equal(await gai("other.hw", "4"), "EPERM");
    assert.equal(await gai("x.wild.hw", "4"), "ok");
    assert.equal(await gai("allowed.hw", "6"), "ok");
    assert.equal(await gai("blocked.hw", "4"), "EPERM");
  } finally {
    await teardownNames(f);
  }
});
