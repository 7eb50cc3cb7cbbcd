import assert from "node:assert/strict";
import { validateTexts } from "../../src/config/validate.ts";
import { formatErrors } from "../../src/config/format.ts";
import { locateToml } from "../../src/config/locate.ts";
import type { LoadResult, Policy } from "../../src/config/model.ts";
import { fullFixtureText } from "../fixtures/config/temp_config.ts";

const SHA = "a".repeat(64);
const APP = `[[app]]\nname = "firefox"\npath = "/usr/bin/firefox"\nsha256 = "${SHA}"\n`;

function check(rulesText: string, apps: string | string[] = APP): LoadResult {
  const list = typeof apps === "string" ? [apps] : apps;
  return validateTexts({
    rulesFile: "rules.toml",
    rulesText,
    appsTexts: list.map((text, i) => ({ file: i === 0 ? "apps.toml" : `apps.d/${i}.toml`, text })),
  });
}

function ok(rulesText: string, apps?: string | string[]): Policy {
  const r = check(rulesText, apps);
  assert.ok(r.ok, r.ok ? "" : formatErrors(r.errors));
  return r.policy;
}

/** The error lines, asserting there is at least one. */
function errors(rulesText: string, apps?: string | string[]): string[] {
  const r = check(rulesText, apps);
  assert.ok(!r.ok, "expected errors");
  return r.errors.map(String);
}

function rule(body: string): string {
  return `[[rule]]\nid = "r"\naction = "allow"\ndirection = "out"\n${body}\n`;
}

Deno.test("full fixture: every key parses into the typed policy", () => {
  const r = validateTexts({
    rulesFile: "rules.toml",
    rulesText: fullFixtureText("rules.toml"),
    appsTexts: [
      { file: "apps.toml", text: fullFixtureText("apps.toml") },
      { file: "apps.d/10-curl.toml", text: fullFixtureText("apps.d/10-curl.toml") },
      { file: "apps.d/20-python.toml", text: fullFixtureText("apps.d/20-python.toml") },
    ],
  });
  assert.ok(r.ok, r.ok ? "" : formatErrors(r.errors));
  const p = r.policy;
  assert.deepEqual(p.defaults, {
    mode: "enforcing",
    allowLoopback: false,
    inbound: "allow",
    outbound: "deny",
    untracked: "deny",
    interfaces: ["eth0", "wlan0"],
    execGate: true,
    closeOnRevoke: false,
  });
  assert.deepEqual(p.ui, { host: "::1", port: 8443 });
  assert.equal(p.rules.length, 3);
  const [ssh, web, icmp] = p.rules;
  assert.equal(ssh.id, "ssh-in");
  assert.equal(ssh.action, "allow");
  assert.equal(ssh.direction, "in");
  assert.equal(ssh.protocol, "tcp");
  assert.deepEqual(ssh.remote?.map((c) => [c.family, c.prefix, c.text]), [
    [4, 24, "192.0.2.0/24"],
    [6, 32, "2001:db8::/32"],
  ]);
  assert.deepEqual(ssh.ports, [{ from: 22, to: 22 }, { from: 8000, to: 8080 }]);
  assert.equal(ssh.comment, "free text");
  assert.equal(ssh.index, 0);
  assert.deepEqual(ssh.loc, { file: "rules.toml", line: 14, col: 1 });
  assert.equal(web.app, "firefox");
  assert.equal(web.protocol, "udp");
  assert.deepEqual(web.ports, [{ from: 53, to: 53 }]);
  assert.equal(web.remote?.[0].prefix, 32);
  assert.equal(web.index, 1);
  assert.equal(icmp.remote, undefined);
  assert.equal(icmp.ports, undefined);
  assert.equal(icmp.app, undefined);
  assert.deepEqual(p.integrity.watch.map((w) => [w.path, w.recursive, w.loc.line]), [
    ["/etc/ssh", true, 38],
    ["/etc/hosts", false, 42],
  ]);
  assert.deepEqual(
    p.apps.map((a) => [a.name, a.inherit, a.interpreter, a.duration, a.loc.file]),
    [
      ["firefox", true, false, "forever", "apps.toml"],
      ["curl", false, false, "once", "apps.d/10-curl.toml"],
      ["python3", false, true, "session", "apps.d/20-python.toml"],
    ],
  );
  // sha256 is normalised to lower case.
  assert.equal(p.apps[0].sha256, "abcdef0123456789".repeat(4));
  assert.deepEqual(p.files, [
    "rules.toml",
    "apps.toml",
    "apps.d/10-curl.toml",
    "apps.d/20-python.toml",
  ]);
});

Deno.test("empty files: built-in defaults, learning mode, UI on 127.0.0.1:7447", () => {
  const p = ok("", "");
  assert.equal(p.defaults.mode, "learning");
  assert.equal(p.defaults.allowLoopback, true);
  assert.equal(p.defaults.inbound, "deny");
  assert.equal(p.defaults.outbound, "allow");
  assert.equal(p.defaults.untracked, "allow");
  assert.deepEqual(p.defaults.interfaces, []);
  assert.equal(p.defaults.execGate, false);
  assert.equal(p.defaults.closeOnRevoke, true);
  assert.deepEqual(p.ui, { host: "127.0.0.1", port: 7447 });
  assert.deepEqual(p.rules, []);
  assert.deepEqual(p.apps, []);
});

Deno.test("ui.listen: accepted loopback forms and off", () => {
  const listen = (v: string) => ok(`[ui]\nlisten = "${v}"\n`).ui;
  assert.deepEqual(listen("off"), { host: null, port: 0 });
  assert.deepEqual(listen("localhost:1"), { host: "localhost", port: 1 });
  assert.deepEqual(listen("127.0.0.2:65535"), { host: "127.0.0.2", port: 65535 });
  assert.deepEqual(listen("[::1]:7447"), { host: "::1", port: 7447 });
  assert.deepEqual(listen("[0:0::1]:7447"), { host: "::1", port: 7447 });
});

Deno.test("ui.listen: every refusal is located at the value", () => {
  const cases: [string, RegExp][] = [
    ["0.0.0.0:7447", /host "0\.0\.0\.0" is not loopback/],
    ["[::]:7447", /is not loopback/],
    ["192.168.1.2:80", /is not loopback/],
    ["example.com:80", /"example\.com" is not an address/],
    ["127.0.0.1", /is not a listen address/],
    ["127.0.0.1:0", /port 0 is out of range/],
    ["127.0.0.1:65536", /port 65536 is out of range/],
    ["127.0.0.1:07447", /port 07447 is out of range/],
    ["::1:7447", /is not a listen address/],
    ["[127.0.0.1]:7447", /brackets are only for IPv6/],
    ["on", /is not a listen address/],
  ];
  for (const [v, re] of cases) {
    const e = errors(`[ui]\nlisten = "${v}"\n`);
    assert.equal(e.length, 1, v);
    assert.match(e[0], /^rules\.toml:2:10: ui\.listen: /, v);
    assert.match(e[0], re, v);
  }
});

Deno.test("unknown keys: located at the key, with a did-you-mean hint", () => {
  assert.deepEqual(errors("[defaults]\nmode = 'learning'\nalow_loopback = true\n"), [
    'rules.toml:3:1: defaults.alow_loopback: unknown key in defaults; did you mean "allow_loopback"?',
  ]);
  assert.deepEqual(errors(rule('  protcol = "tcp"')), [
    'rules.toml:5:3: rule[0].protcol: unknown key in rule[0]; did you mean "protocol"?',
  ]);
  assert.deepEqual(errors("[defaults]\nMode = 'learning'\n"), [
    'rules.toml:2:1: defaults.Mode: unknown key in defaults; did you mean "mode"?',
  ]);
  const far = errors("[zzz]\n");
  assert.match(far[0], /^rules\.toml:1:1: zzz: unknown key at the top level; expected one of: /);
  assert.deepEqual(errors("[rules]\n")[0].match(/did you mean "rule"\?/)?.length, 1);
  assert.deepEqual(errors("[ui]\nlisen = 'off'\n"), [
    'rules.toml:2:1: ui.lisen: unknown key in ui; did you mean "listen"?',
  ]);
  assert.deepEqual(errors("[[integrity.watch]]\npath = '/etc'\nrecursiv = true\n"), [
    'rules.toml:3:1: integrity.watch[0].recursiv: unknown key in integrity.watch[0]; did you mean "recursive"?',
  ]);
  assert.deepEqual(errors("", `[[app]]\nname = "a"\npath = "/a"\nsha256 = "${SHA}"\nhash = 1\n`), [
    "apps.toml:5:1: app[0].hash: unknown key in app[0]; expected one of: name, path, sha256, inherit, interpreter, duration, allow_env, only_via, trust, package, package_version",
  ]);
  assert.match(errors("", "[apps]\n")[0], /^apps\.toml:1:1: apps: .*did you mean "app"\?/);
});

Deno.test("enum values: wrong word with hint, wrong type", () => {
  assert.deepEqual(errors('[defaults]\nmode = "enforce"\n'), [
    'rules.toml:2:8: defaults.mode: "enforce" is not valid; expected one of "learning" | "enforcing"; did you mean "enforcing"?',
  ]);
  assert.deepEqual(errors("[defaults]\ninbound = 0\n"), [
    'rules.toml:2:11: defaults.inbound: expected one of "allow" | "deny", got integer 0',
  ]);
  assert.match(errors(rule('protocol = "tpc"'))[0], /rules\.toml:5:12: .*did you mean "tcp"\?/);
  assert.match(errors(rule('duration = "x"'))[0], /unknown key/);
});

Deno.test("rules: required keys point at the [[rule]] header", () => {
  assert.deepEqual(errors("\n[[rule]]\ncomment = 'x'\n"), [
    'rules.toml:2:1: rule[0]: missing required key "id"',
    'rules.toml:2:1: rule[0]: missing required key "action"',
    'rules.toml:2:1: rule[0]: missing required key "direction"',
  ]);
  assert.deepEqual(errors("rule = [{ id = 'a', action = 'deny' }]\n"), [
    'rules.toml:1:9: rule[0]: missing required key "direction"',
  ]);
});

Deno.test("rules: ports errors name rule[i].ports[j] and point at the element", () => {
  const e = errors(rule('protocol = "tcp"\nports = [22, 0, "9-1", 65536, "x", 1.5, true]'));
  assert.deepEqual(e, [
    "rules.toml:6:14: rule[0].ports[1]: port 0 is out of range; expected 1..65535",
    'rules.toml:6:17: rule[0].ports[2]: range "9-1" is reversed; did you mean "1-9"?',
    "rules.toml:6:24: rule[0].ports[3]: port 65536 is out of range; expected 1..65535",
    'rules.toml:6:31: rule[0].ports[4]: "x" is not a port or range; expected e.g. 443 or "8000-8080"',
    'rules.toml:6:36: rule[0].ports[5]: expected a port (integer) or "A-B" range, got float 1.5',
    'rules.toml:6:41: rule[0].ports[6]: expected a port (integer) or "A-B" range, got boolean true',
  ]);
  assert.deepEqual(errors(rule('protocol = "tcp"\nports = []')), [
    'rules.toml:6:9: rule[0].ports: empty array matches nothing; omit the key to mean "any"',
  ]);
  assert.deepEqual(errors(rule('protocol = "tcp"\nports = 22')), [
    "rules.toml:6:9: rule[0].ports: expected an array of ports, got integer 22",
  ]);
});

Deno.test("rules: ports only with tcp/udp", () => {
  for (const proto of ["icmp", "icmpv6", "any"]) {
    assert.deepEqual(errors(rule(`protocol = "${proto}"\nports = [22]`)), [
      `rules.toml:6:9: rule[0].ports: ports need protocol "tcp" or "udp", but protocol is "${proto}"`,
    ]);
  }
  assert.match(errors(rule("ports = [22]"))[0], /but protocol is "any"/);
  ok(rule('protocol = "udp"\nports = [53]'));
});

Deno.test("rules: remote CIDR errors and ICMP family mismatch", () => {
  assert.deepEqual(
    errors(rule('remote = ["10.0.0.1/8", "300.1.1.1", 5, "2001:db8::/129"]')),
    [
      'rules.toml:5:11: rule[0].remote[0]: host bits set in "10.0.0.1/8"; did you mean 10.0.0.0/8?',
      'rules.toml:5:25: rule[0].remote[1]: "300.1.1.1" is not an IPv4 or IPv6 address',
      "rules.toml:5:38: rule[0].remote[2]: expected a string, got integer 5",
      "rules.toml:5:41: rule[0].remote[3]: prefix length /129 is too long for IPv6; expected /0../128",
    ],
  );
  assert.deepEqual(errors(rule('protocol = "icmp"\nremote = ["::1"]')), [
    'rules.toml:6:11: rule[0].remote[0]: IPv6 network with protocol "icmp"; use protocol "icmpv6"',
  ]);
  assert.deepEqual(errors(rule('protocol = "icmpv6"\nremote = ["10.0.0.0/8"]')), [
    'rules.toml:6:11: rule[0].remote[0]: IPv4 network with protocol "icmpv6"; use protocol "icmp"',
  ]);
  assert.match(errors(rule("remote = []"))[0], /rule\[0\]\.remote: empty array/);
  assert.match(errors(rule('remote = "10.0.0.0/8"'))[0], /expected an array of CIDR strings/);
});

Deno.test("rules: app only on out rules, must exist (hint), apps.d names count", () => {
  const inbound = `[[rule]]\nid = "r"\naction = "allow"\ndirection = "in"\napp = "firefox"\n`;
  assert.deepEqual(errors(inbound), [
    'rules.toml:5:7: rule[0].app: app is only allowed with direction "out" (inbound traffic is not tied to an app)',
  ]);
  assert.deepEqual(errors(rule('app = "firefx"')), [
    'rules.toml:5:7: rule[0].app: unknown app "firefx"; did you mean "firefox"?',
  ]);
  assert.match(
    errors(rule('app = "zzz"'))[0],
    /define it with \[\[app\]\] in apps\.toml or apps\.d/,
  );
  const extra = `[[app]]\nname = "curl"\npath = "/usr/bin/curl"\nsha256 = "${SHA}"\n`;
  assert.equal(ok(rule('app = "curl"'), [APP, extra]).rules[0].app, "curl");
  assert.match(errors(rule("app = 1"))[0], /rule\[0\]\.app: expected a string, got integer 1/);
});

Deno.test("rules: duplicate ids and id syntax", () => {
  const two = rule("") + rule("");
  assert.deepEqual(errors(two), [
    'rules.toml:7:6: rule[1].id: duplicate rule id "r" (first used at rules.toml:2:6)',
  ]);
  assert.match(
    errors(rule("").replace('id = "r"', 'id = ""'))[0],
    /rule\[0\]\.id: "" is not a valid/,
  );
  assert.match(errors(rule("").replace('id = "r"', 'id = "a b"'))[0], /not a valid rule id/);
  assert.match(
    errors(rule("").replace('id = "r"', "id = 7"))[0],
    /expected a string, got integer 7/,
  );
  assert.match(errors('rule = "x"\n')[0], /^rules\.toml:1:8: rule: expected \[\[rule\]\] entries/);
  assert.match(errors("[rule]\nid = 'x'\n")[0], /^rules\.toml:1:1: rule: expected \[\[rule\]\]/);
  assert.match(errors("rule = [1]\n")[0], /^rules\.toml:1:9: rule\[0\]: expected a table/);
});

Deno.test("rules: comment must be a string; rule order becomes index", () => {
  assert.match(errors(rule("comment = 1"))[0], /rule\[0\]\.comment: expected a string/);
  const p = ok(rule("").replace('"r"', '"a"') + rule("").replace('"r"', '"b"'));
  assert.deepEqual(p.rules.map((r) => [r.id, r.index]), [["a", 0], ["b", 1]]);
});

Deno.test("defaults: types and interface names", () => {
  assert.deepEqual(errors("[defaults]\nallow_loopback = 'yes'\nexec_gate = 1\n"), [
    'rules.toml:2:18: defaults.allow_loopback: expected true or false, got string "yes"',
    "rules.toml:3:13: defaults.exec_gate: expected true or false, got integer 1",
  ]);
  assert.deepEqual(errors('[defaults]\ninterfaces = ["eth0", "a/b", "", "x234567890123456"]\n'), [
    'rules.toml:2:23: defaults.interfaces[1]: "a/b" is not an interface name; expected 1-15 characters, no / : or spaces',
    'rules.toml:2:30: defaults.interfaces[2]: "" is not an interface name; expected 1-15 characters, no / : or spaces',
    'rules.toml:2:34: defaults.interfaces[3]: "x234567890123456" is not an interface name; expected 1-15 characters, no / : or spaces',
  ]);
  assert.match(
    errors("defaults = 1\n")[0],
    /^rules\.toml:1:12: defaults: expected a table \[defaults\]/,
  );
  assert.match(errors("ui = []\n")[0], /^rules\.toml:1:6: ui: expected a table \[ui\]/);
});

Deno.test("integrity.watch: path rules", () => {
  const w = (p: string) => errors(`[[integrity.watch]]\npath = ${JSON.stringify(p)}\n`);
  assert.match(
    w("etc")[0],
    /^rules\.toml:2:8: integrity\.watch\[0\]\.path: "etc" is not an absolute/,
  );
  assert.match(w("/etc/")[0], /not a normalised path; did you mean "\/etc"\?/);
  assert.match(w("/etc//ssh")[0], /did you mean "\/etc\/ssh"\?/);
  assert.match(w("/etc/./ssh")[0], /did you mean "\/etc\/ssh"\?/);
  assert.match(w("/a\u0000b")[0], /NUL character/);
  assert.match(errors("[[integrity.watch]]\nrecursive = true\n")[0], /missing required key "path"/);
  assert.match(
    errors("[integrity]\nwatch = 3\n")[0],
    /^rules\.toml:2:9: integrity\.watch: expected/,
  );
  assert.match(errors("integrity = 3\n")[0], /integrity: expected a table/);
  assert.equal(ok("[[integrity.watch]]\npath = '/'\n").integrity.watch[0].path, "/");
});

Deno.test("apps: every key's errors", () => {
  const app = (body: string) => errors("", `[[app]]\n${body}\n`);
  assert.deepEqual(app(""), [
    'apps.toml:1:1: app[0]: missing required key "name"',
    'apps.toml:1:1: app[0]: missing required key "path"',
    'apps.toml:1:1: app[0]: missing required key "sha256"',
  ]);
  const base = `name = "a"\npath = "/a"\n`;
  assert.deepEqual(app(base + 'sha256 = "abc"'), [
    "apps.toml:4:10: app[0].sha256: not a SHA-256: 3 hex digits; expected 64",
  ]);
  assert.match(app(base + `sha256 = "${"g".repeat(64)}"`)[0], /"g" is not a hex digit/);
  assert.match(app(base + `sha256 = "${"a".repeat(65)}"`)[0], /65 hex digits; expected 64/);
  const full = `${base}sha256 = "${SHA}"\n`;
  assert.match(app(full + "inherit = 'no'")[0], /app\[0\]\.inherit: expected true or false/);
  assert.match(app(full + "interpreter = 0")[0], /app\[0\]\.interpreter: expected true or false/);
  assert.match(app(full + 'duration = "always"')[0], /app\[0\]\.duration: "always" is not valid/);
  assert.match(app(full.replace('"/a"', '"a"'))[0], /app\[0\]\.path: "a" is not an absolute path/);
  assert.match(app(full.replace('"a"', '"-a"'))[0], /app\[0\]\.name: "-a" is not a valid app name/);
  assert.match(app(full.replace('"a"', '"a/b"'))[0], /not a valid app name/);
  assert.match(errors("", "app = 1\n")[0], /^apps\.toml:1:7: app: expected \[\[app\]\] entries/);
});

Deno.test("apps: duplicate names within and across files", () => {
  const a = (name: string) => `[[app]]\nname = "${name}"\npath = "/x"\nsha256 = "${SHA}"\n`;
  assert.deepEqual(errors("", a("x") + a("x")), [
    'apps.toml:6:8: app[1].name: duplicate app name "x" (first defined at apps.toml:2:8)',
  ]);
  assert.deepEqual(errors("", [a("x"), a("y"), a("x")]), [
    'apps.d/2.toml:2:8: app[0].name: duplicate app name "x" (first defined at apps.toml:2:8)',
  ]);
  assert.equal(ok("", [a("x"), a("y")]).apps.length, 2);
});

Deno.test("all errors are reported, across files, sorted by file then position", () => {
  const r = check(
    '[defaults]\nmode = 1\n[[rule]]\nid = "x"\naction = "maybe"\ndirection = "out"\n',
    ['[[app]]\nname = "a"\n', "oops ="],
  );
  assert.ok(!r.ok);
  assert.deepEqual(r.errors.map(String), [
    'rules.toml:2:8: defaults.mode: expected one of "learning" | "enforcing", got integer 1',
    'rules.toml:5:10: rule[0].action: "maybe" is not valid; expected one of "allow" | "deny"',
    'apps.toml:1:1: app[0]: missing required key "path"',
    'apps.toml:1:1: app[0]: missing required key "sha256"',
    r.errors[4].toString(),
  ]);
  assert.match(r.errors[4].toString(), /^apps\.d\/1\.toml:1:7: TOML syntax: /);
});

Deno.test("syntax errors carry smol-toml's position", () => {
  const e = errors('[defaults]\nmode = "learning\n');
  assert.equal(e.length, 1);
  assert.match(e[0], /^rules\.toml:2:\d+: TOML syntax: /);
  assert.match(errors("a = 1\na = 2\n")[0], /^rules\.toml:2:\d+: TOML syntax: /);
});

Deno.test("formatErrors: one line per error", () => {
  const r = check("[defaults]\nmode = 1\nexec_gate = 2\n");
  assert.ok(!r.ok);
  const text = formatErrors(r.errors);
  assert.equal(text.split("\n").length, 2);
  assert.match(text, /^rules\.toml:2:8: .*\nrules\.toml:3:13: /);
});

Deno.test("locator: dotted keys, quoted keys, inline tables, multi-line strings and arrays", () => {
  const text = [
    '"quoted key" = """multi',
    'line "with" quotes"""',
    "a.b . c = [",
    "  1, # comment",
    "  [2, 3],",
    "  { x = 'y', z = [4] },",
    "]",
    "[[t]]",
    "[[t]]",
    "[t.sub]",
    "k = 1979-05-27 07:32:00Z",
    "m = 'lit'",
  ].join("\n");
  const loc = locateToml(text);
  assert.deepEqual(loc.keyAt(["quoted key"]), { line: 1, col: 1 });
  assert.deepEqual(loc.valueAt(["quoted key"]), { line: 1, col: 16 });
  assert.deepEqual(loc.keyAt(["a", "b"]), { line: 3, col: 3 });
  assert.deepEqual(loc.keyAt(["a", "b", "c"]), { line: 3, col: 7 });
  assert.deepEqual(loc.valueAt(["a", "b", "c", 0]), { line: 4, col: 3 });
  assert.deepEqual(loc.valueAt(["a", "b", "c", 1, 1]), { line: 5, col: 7 });
  assert.deepEqual(loc.valueAt(["a", "b", "c", 2, "x"]), { line: 6, col: 9 });
  assert.deepEqual(loc.valueAt(["a", "b", "c", 2, "z", 0]), { line: 6, col: 19 });
  assert.deepEqual(loc.valueAt(["t", 1]), { line: 9, col: 1 });
  assert.deepEqual(loc.valueAt(["t", 1, "sub"]), { line: 10, col: 1 });
  assert.deepEqual(loc.valueAt(["t", 1, "sub", "k"]), { line: 11, col: 5 });
  assert.deepEqual(loc.valueAt(["t", 1, "sub", "m"]), { line: 12, col: 5 });
  // Unknown paths fall back to the closest enclosing one, then 1:1.
  assert.deepEqual(loc.valueAt(["t", 1, "sub", "nope"]), { line: 10, col: 1 });
  assert.deepEqual(loc.valueAt(["nothing"]), { line: 1, col: 1 });
});
