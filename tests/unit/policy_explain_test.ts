/** Packet syntax of `rules explain` and the explanations it prints. */
import assert from "node:assert/strict";
import { validateTexts } from "../../src/config/validate.ts";
import { explainPacket } from "../../src/policy/explain.ts";
import { formatPacket, PacketSyntaxError, parsePacket } from "../../src/policy/packet.ts";

function policy(text: string) {
  const r = validateTexts({ rulesFile: "rules.toml", rulesText: text, appsTexts: [] });
  if (!r.ok) throw new Error(r.errors.join("\n"));
  return r.policy;
}

Deno.test("parsePacket reads direction, protocol, address and port (IPv4 and bracketed IPv6)", () => {
  const p = parsePacket("in tcp 192.0.2.7:22");
  assert.deepEqual({ ...p, remote: [...p.remote] }, {
    direction: "in",
    proto: 6,
    family: 4,
    remote: [192, 0, 2, 7],
    port: 22,
  });
  const q = parsePacket(["out", "udp", "[2001:db8::53]:53"]);
  assert.equal(q.family, 6);
  assert.equal(q.port, 53);
  assert.equal(formatPacket(q), "out udp [2001:db8::53]:53");
  assert.equal(parsePacket("out icmpv6 2001:db8::1").port, undefined);
  assert.equal(parsePacket("in 47 192.0.2.1").proto, 47);
});

Deno.test("parsePacket names what is wrong", () => {
  const bad: Array<[string, RegExp]> = [
    ["sideways tcp 192.0.2.7:22", /direction must be "in" or "out"/],
    ["in tcpp 192.0.2.7:22", /protocol must be tcp, udp, icmp, icmpv6 or a number/],
    ["in tcp 192.0.2.7", /needs a port/],
    ["in tcp 192.0.2.7:0", /port must be 1..65535/],
    ["in tcp 192.0.2.7:70000", /port must be 1..65535/],
    ["in icmp 192.0.2.7:5", /has no ports/],
    ["in icmp 2001:db8::1", /use icmpv6/],
    ["in tcp 192.0.2.300:22", /bad remote address/],
    ["in tcp [2001:db8::1:22", /missing "\]"/],
    ["in tcp", /got 2 word/],
  ];
  for (const [text, re] of bad) {
    assert.throws(
      () => parsePacket(text),
      (e: unknown) => e instanceof PacketSyntaxError && re.test(e.message),
      text,
    );
  }
  assert.throws(() => parsePacket("in tcp 192.0.2.7:22", "curl"), /only be given for outbound/);
});

const RULES = `
[defaults]
mode = "learning"
inbound = "deny"
outbound = "allow"

[[rule]]
id = "ssh"
action = "allow"
direction = "in"
protocol = "tcp"
ports = [22]
remote = ["192.0.2.0/24"]

[[rule]]
id = "no-smtp"
action = "deny"
direction = "out"
protocol = "tcp"
ports = [25]
`;

Deno.test("explainPacket names the first matching rule and its line, or the default", () => {
  const p = policy(RULES);
  const a = explainPacket(p, parsePacket("in tcp 192.0.2.7:22"));
  assert.equal(a.verdict, "allow");
  assert.equal(a.ruleId, "ssh");
  assert.equal(a.line, 7);
  assert.match(a.why[0], /rule "ssh" \(rules\.toml:7, rule #1\) allows it/);
  const b = explainPacket(p, parsePacket("in tcp 198.51.100.1:22"));
  assert.equal(b.verdict, "deny");
  assert.equal(b.decidedBy, "default-inbound");
  assert.ok(b.why.some((w) => /learning mode: nothing is dropped/.test(w)));
  const c = explainPacket(p, parsePacket("out tcp [2001:db8::25]:25"));
  assert.equal(c.ruleId, "no-smtp");
  assert.equal(c.verdict, "deny");
  const d = explainPacket(p, parsePacket("out udp 192.0.2.1:53"));
  assert.equal(d.decidedBy, "default-outbound");
  assert.equal(d.verdict, "allow");
});

Deno.test("explainPacket with --via: a via rule decides only for a process that app started", () => {
  const r = validateTexts({
    rulesFile: "rules.toml",
    rulesText: `[[rule]]\nid = "api-via-backup"\naction = "allow"\ndirection = "out"\n` +
      `protocol = "tcp"\nports = [443]\napp = "curl"\nvia = "backup"\n\n` +
      `[[rule]]\nid = "api-no"\naction = "deny"\ndirection = "out"\nprotocol = "tcp"\n` +
      `ports = [443]\napp = "curl"\n`,
    appsTexts: [{
      file: "apps.toml",
      text: ["curl", "backup"].map((n) =>
        `[[app]]\nname = "${n}"\npath = "/usr/bin/${n}"\nsha256 = "${"c".repeat(64)}"\n`
      ).join("\n"),
    }],
  });
  if (!r.ok) throw new Error(r.errors.join("\n"));
  const via = explainPacket(r.policy, parsePacket("out tcp 192.0.2.1:443", "curl", "backup"));
  assert.equal(via.ruleId, "api-via-backup");
  assert.equal(via.verdict, "allow");
  assert.match(via.why[0], /via "backup" \(started by it\) all match/);
  assert.ok(
    via.why.some((w) => /started \(at any depth\) by a process trusted as "backup"/.test(w)),
  );
  const own = explainPacket(r.policy, parsePacket("out tcp 192.0.2.1:443", "curl"));
  assert.equal(own.ruleId, "api-no");
  assert.ok(own.why.some((w) => /via rules were skipped: give --via NAME/.test(w)));
  const other = explainPacket(r.policy, parsePacket("out tcp 192.0.2.1:443", "curl", "curl"));
  assert.equal(other.ruleId, "api-no");
  assert.throws(() => parsePacket("in tcp 192.0.2.7:22", undefined, "backup"), /outbound/);
});

Deno.test("explainPacket names an app's only_via, and whether the given starter is one", () => {
  const r = validateTexts({
    rulesFile: "rules.toml",
    rulesText: `[[rule]]\nid = "sync"\naction = "allow"\ndirection = "out"\nprotocol = "tcp"\n` +
      `ports = [873]\napp = "rsync"\n`,
    appsTexts: [{
      file: "apps.toml",
      text: `[[app]]\nname = "backup"\npath = "/usr/bin/backup"\nsha256 = "${"b".repeat(64)}"\n\n` +
        `[[app]]\nname = "rsync"\npath = "/usr/bin/rsync"\nsha256 = "${"c".repeat(64)}"\n` +
        `only_via = ["backup"]\n`,
    }],
  });
  if (!r.ok) throw new Error(r.errors.join("\n"));
  const line = (e: { why: string[] }) => e.why.find((w) => w.includes("only_via")) ?? "";
  const pkt = (via?: string) => parsePacket("out tcp 192.0.2.1:873", "rsync", via);
  assert.match(line(explainPacket(r.policy, pkt())), /only via "backup".*give --via NAME/);
  assert.match(
    line(explainPacket(r.policy, pkt("backup"))),
    /started by "backup", it is trusted as "rsync"/,
  );
  assert.match(
    line(explainPacket(r.policy, pkt("rsync"))),
    /started by "rsync", it is not trusted as "rsync"/,
  );
  // An app without only_via gets no such line.
  assert.equal(line(explainPacket(r.policy, parsePacket("out tcp 192.0.2.1:873", "backup"))), "");
});
