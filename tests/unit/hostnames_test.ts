/**
 * Host name patterns (`remote_host`): validation with FILE:LINE:COL errors, the kernel's name
 * hash (reversed FNV-1a 64, so suffixes fall out of one scan), and how name rules compile: the
 * first rule per (protocol, port class, app, pattern), never as address entries.
 */
import assert from "node:assert/strict";
import { validateTexts } from "../../src/config/validate.ts";
import { parseHostPattern } from "../../src/config/hostname.ts";
import { nameHash, patternsOf } from "../../src/policy/names.ts";
import { compilePolicy } from "../../src/policy/compile.ts";
import { FLT } from "../../ffi/filter_structs.ts";
import { explainPacket } from "../../src/policy/explain.ts";
import { parsePacket } from "../../src/policy/packet.ts";
import { MAX_BLOCKLIST_ENTRIES, parseBlocklist } from "../../src/policy/blocklist.ts";

const APP = `[[app]]\nname = "curl"\npath = "/usr/bin/curl"\nsha256 = "${"a".repeat(64)}"\n`;

function load(rules: string) {
  return validateTexts({
    rulesFile: "rules.toml",
    rulesText: rules,
    appsTexts: [{ file: "apps.toml", text: APP }],
  });
}

function errors(rules: string): string[] {
  const r = load(rules);
  return r.ok ? [] : r.errors.map(String);
}

Deno.test("parseHostPattern: exact names and leading wildcards, lower-case ASCII only", () => {
  assert.deepEqual(parseHostPattern("*.githubusercontent.com"), {
    text: "*.githubusercontent.com",
    wildcard: true,
    name: "githubusercontent.com",
  });
  assert.equal(parseHostPattern("xn--bcher-kva.example").wildcard, false);
  const bad: Array<[string, RegExp]> = [
    ["", /empty/],
    ["GitHub.com", /upper-case.*"github.com"/],
    ["bücher.example", /punycode/],
    ["a.*.example", /leading "\*\."/],
    ["*.com", /at least two labels/],
    ["example.com.", /trailing/],
    ["-bad.example", /label "-bad"/],
    ["a..b", /label ""/],
    ["192.0.2.1", /address, not a name/],
    [`${"a".repeat(64)}.example`, /1-63/],
    [Array(130).fill("ab").join("."), /253/],
  ];
  for (const [text, re] of bad) assert.throws(() => parseHostPattern(text), re, text);
});

Deno.test("remote_host: errors at FILE:LINE:COL, outbound only, not with remote or icmp", () => {
  assert.deepEqual(
    errors(
      `[[rule]]\nid = "a"\naction = "allow"\ndirection = "out"\nremote_host = ["ok.example", "Bad.example"]\n`,
    ),
    ['rules.toml:5:30: rule[0].remote_host[1]: "Bad.example" has upper-case letters; write "bad.example"'],
  );
  assert.match(
    errors(
      `[[rule]]\nid = "a"\naction = "allow"\ndirection = "in"\nremote_host = ["x.example"]\n`,
    )[0],
    /^rules\.toml:5:15: rule\[0\]\.remote_host: remote_host is only allowed with direction "out"/,
  );
  assert.match(
    errors(
      `[[rule]]\nid = "a"\naction = "allow"\ndirection = "out"\nremote = ["192.0.2.0/24"]\nremote_host = ["x.example"]\n`,
    )[0],
    /rule\[0\]\.remote_host: remote and remote_host cannot be combined/,
  );
  assert.match(
    errors(
      `[[rule]]\nid = "a"\naction = "allow"\ndirection = "out"\nprotocol = "icmp"\nremote_host = ["x.example"]\n`,
    )[0],
    /remote_host needs protocol "tcp", "udp" or none/,
  );
  assert.match(
    errors(`[[rule]]\nid = "a"\naction = "allow"\ndirection = "out"\nremote_host = []\n`)[0],
    /empty array matches nothing/,
  );
  assert.match(
    errors(`[[rule]]\nid = "a"\naction = "allow"\ndirection = "out"\nremote_hosts = ["x.y"]\n`)[0],
    /did you mean "remote_host"/,
  );
});

Deno.test("nameHash: the hash of a suffix falls out of the backwards scan (kernel order)", () => {
  // patternsOf scans like the kernel; each wildcard it can see must hash as the pattern text.
  const seen: bigint[] = [];
  patternsOf("a.b.example.com", (p) => (seen.push(p), false));
  assert.deepEqual(seen, [
    nameHash("*.com"),
    nameHash("*.example.com"),
    nameHash("*.b.example.com"),
    nameHash("a.b.example.com"),
  ]);
  // Known FNV-1a 64 value of "" (offset basis) and of one byte, as the C code computes them.
  assert.equal(nameHash(""), 0xcbf29ce484222325n);
  assert.equal(nameHash("a"), 0xaf63dc4c8601ec8cn);
  // At most HW_DNS_PATS remembered, in scan order.
  assert.equal(patternsOf("a.b.c.d.e.f", () => true).length, 4);
});

Deno.test("name rules compile to name entries (first rule per key), never to address entries", () => {
  const r = load(`
[[rule]]
id = "curl-gh"
action = "allow"
direction = "out"
protocol = "tcp"
ports = [443]
app = "curl"
remote_host = ["github.com", "*.githubusercontent.com"]

[[rule]]
id = "no-gh"
action = "deny"
direction = "out"
remote_host = ["github.com"]

[[rule]]
id = "again"
action = "deny"
direction = "out"
protocol = "tcp"
ports = [443]
app = "curl"
remote_host = ["github.com"]
`);
  assert.ok(r.ok, r.ok ? "" : r.errors.join("\n"));
  const c = compilePolicy(r.policy, { appId: () => 5 });
  assert.equal(c.addrs.length, 0, "a name rule covers no address by itself");
  assert.deepEqual(
    new Set(c.patterns),
    new Set([nameHash("github.com"), nameHash("*.githubusercontent.com")]),
  );
  const gh = c.names.filter((e) => e.pat === nameHash("github.com"));
  // curl's own key (tcp/443 class, app 5) is decided by rule 0; "again" (rule 2) is shadowed.
  assert.ok(gh.some((e) => e.appId === 5 && e.rule === 0 && e.action === FLT.ALLOW));
  assert.ok(!gh.some((e) => e.rule === 2));
  // The general deny: TCP and UDP, any port, app 0.
  assert.deepEqual(
    gh.filter((e) => e.rule === 1).map((e) => [e.proto, e.pclass, e.appId]).sort(),
    [[FLT.PROTO_TCP, FLT.PCLASS_ANY, 0], [FLT.PROTO_UDP, FLT.PCLASS_ANY, 0]].sort(),
  );
});

Deno.test("rules explain by name: out tcp github.com:443 [--app NAME] decides through the kernel model", () => {
  const r = load(`
[defaults]
outbound = "deny"

[[rule]]
id = "curl-gh"
action = "allow"
direction = "out"
protocol = "tcp"
ports = [443]
app = "curl"
remote_host = ["*.github.com", "github.com"]

[[rule]]
id = "ads"
action = "deny"
direction = "out"
remote_host = ["ads.example"]

[[rule]]
id = "web"
action = "allow"
direction = "out"
protocol = "tcp"
ports = [443]
`);
  assert.ok(r.ok, r.ok ? "" : r.errors.join("\n"));
  const p = r.policy;
  const ex = (words: string, app?: string) => explainPacket(p, parsePacket(words, app));
  assert.equal(ex("out tcp api.github.com:443", "curl").ruleId, "curl-gh");
  assert.equal(ex("out tcp github.com:443", "curl").ruleId, "curl-gh");
  assert.equal(ex("out tcp github.com:80", "curl").decidedBy, "default-outbound");
  assert.equal(ex("out tcp github.com:443").ruleId, "web", "another app: the general rule");
  assert.equal(ex("out tcp ads.example:443", "curl").ruleId, "ads");
  assert.equal(ex("out tcp x.ads.example:443", "curl").ruleId, "web", "exact, not a wildcard");
  assert.match(ex("out tcp GitHub.com:443", "curl").packet, /out tcp github\.com:443/);
  assert.match(ex("out tcp github.com:443", "curl").why.join("\n"), /resolved from "github.com"/);
  assert.throws(() => parsePacket("in tcp github.com:22"), /only goes with "out"/);
  assert.throws(() => parsePacket("out tcp *.github.com:443"), /one name/);
});

Deno.test("[[blocklist]]: validated with FILE:LINE:COL; lists parse or name the bad line", () => {
  const ok = load(
    `[[blocklist]]\nid = "ads"\nsource = "https://lists.example/hosts"\nformat = "hosts"\n`,
  );
  assert.ok(ok.ok);
  assert.deepEqual(
    ok.policy.blocklists?.map((b) => [b.id, b.format, b.refreshMs, b.action]),
    [["ads", "hosts", 86_400_000, "deny"]],
  );
  assert.deepEqual(
    errors(
      `[[blocklist]]\nid = "x"\nsource = "lists/hosts"\nformat = "host"\nrefresh = "1w"\naction = "allow"\n`,
    ),
    [
      'rules.toml:3:10: blocklist[0].source: "lists/hosts" is neither an absolute path nor an http:// or https:// URL',
      'rules.toml:4:10: blocklist[0].format: "host" is not valid; expected one of "hosts" | "domains" | "cidr"; did you mean "hosts"?',
      'rules.toml:5:11: blocklist[0].refresh: refresh "1w" is not a duration like 30m, 24h or 7d',
      'rules.toml:6:10: blocklist[0].action: "allow" is not valid; expected one of "deny"',
    ],
  );
  const hosts = parseBlocklist("# c\n0.0.0.0 a.example B.example\n127.0.0.1 localhost\n", "hosts");
  assert.deepEqual(hosts.names.map((n) => n.text), ["a.example", "b.example"]);
  const domains = parseBlocklist("ads.example\n", "domains");
  assert.deepEqual(domains.names.map((n) => n.text), ["ads.example", "*.ads.example"]);
  assert.equal(parseBlocklist("192.0.2.0/24\n2001:db8::1\n", "cidr").nets.length, 2);
  assert.throws(() => parseBlocklist("192.0.2.0/24\nnope\n", "cidr"), /^BlocklistError: line 2: /);
  assert.throws(() => parseBlocklist("ads.example\n", "hosts"), /line 1: expected "0.0.0.0 name"/);
  assert.throws(() => parseBlocklist("# nothing\n", "domains"), /no entries/);
  const many = Array.from({ length: MAX_BLOCKLIST_ENTRIES + 1 }, (_, i) => `n${i}.example`);
  assert.throws(() => parseBlocklist(many.join("\n"), "cidr"), /line 1/);
  assert.throws(
    () => parseBlocklist(many.map((n) => `0.0.0.0 ${n}`).join("\n"), "hosts"),
    /more than 20000 entries/,
  );
});
