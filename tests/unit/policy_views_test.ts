/** API views of the filter (rule list with hits, explain) and interface resolution. */
import assert from "node:assert/strict";
import { validateTexts } from "../../src/config/validate.ts";
import { explainRequest, ruleInfos } from "../../src/policy/api_views.ts";
import { checkInterfaces } from "../../src/kernel/filter.ts";

const RULES = `
[[rule]]
id = "web"
action = "allow"
direction = "in"
protocol = "tcp"
ports = [80, "8000-8080"]
remote = ["192.0.2.0/24"]
comment = "public web"
`;

function policy() {
  const r = validateTexts({ rulesFile: "rules.toml", rulesText: RULES, appsTexts: [] });
  if (!r.ok) throw new Error(r.errors.join("\n"));
  return r.policy;
}

Deno.test("ruleInfos lists rules as written with hits from the kernel counters", () => {
  const [info] = ruleInfos(policy(), [{ packets: 5, bytes: 900, dropped: 0, wouldDrop: 2 }]);
  assert.deepEqual(info, {
    id: "web",
    action: "allow",
    direction: "in",
    protocol: "tcp",
    hits: 7,
    line: 2,
    remote: ["192.0.2.0/24"],
    ports: ["80", "8000-8080"],
    comment: "public web",
  });
  assert.equal(ruleInfos(policy())[0].hits, 0);
});

Deno.test("explainRequest answers API requests, IPv6 included, and refuses bad ones", () => {
  const p = policy();
  const a = explainRequest(p, {
    direction: "in",
    protocol: "tcp",
    remote: "192.0.2.9",
    port: 8080,
  });
  assert.equal(a.verdict, "allow");
  assert.equal(a.ruleId, "web");
  const b = explainRequest(p, {
    direction: "in",
    protocol: "tcp",
    remote: "2001:db8::1",
    port: 80,
  });
  assert.equal(b.verdict, "deny");
  assert.match(b.why, /\[defaults\] inbound = "deny"/);
  assert.throws(
    () => explainRequest(p, { direction: "in", protocol: "tcp", remote: "nope", port: 80 }),
    /bad remote address/,
  );
});

Deno.test("checkInterfaces: all but loopback by default, configured names checked", () => {
  const present = [{ name: "lo", type: 772 }, { name: "eth0", type: 1 }, {
    name: "wg0",
    type: 65534,
  }];
  assert.deepEqual(checkInterfaces([], present, "ns x"), ["eth0", "wg0"]);
  assert.deepEqual(checkInterfaces(["wg0"], present, "ns x"), ["wg0"]);
  assert.throws(
    () => checkInterfaces(["eth9"], present, "ns x"),
    /"eth9" does not exist in ns x \(present: eth0, lo, wg0\)/,
  );
  assert.throws(() => checkInterfaces(["lo"], present, "ns x"), /loopback is always allowed/);
});

Deno.test("explainRequest with via: via rules apply; a via naming no app is refused", () => {
  const r = validateTexts({
    rulesFile: "rules.toml",
    rulesText: `[[rule]]\nid = "rsync-via-backup"\naction = "allow"\ndirection = "out"\n` +
      `protocol = "tcp"\nports = [873]\nvia = "backup"\n\n[defaults]\noutbound = "deny"\n`,
    appsTexts: [{
      file: "apps.toml",
      text: `[[app]]\nname = "backup"\npath = "/usr/bin/backup"\nsha256 = "${"b".repeat(64)}"\n`,
    }],
  });
  if (!r.ok) throw new Error(r.errors.join("\n"));
  const req = { direction: "out", protocol: "tcp", remote: "192.0.2.1", port: 873 } as const;
  const via = explainRequest(r.policy, { ...req, via: "backup" });
  assert.equal(via.ruleId, "rsync-via-backup");
  assert.equal(via.verdict, "allow");
  const plain = explainRequest(r.policy, req);
  assert.equal(plain.ruleId, undefined);
  assert.equal(plain.verdict, "deny");
  assert.match(plain.why, /via rules were skipped/);
  assert.throws(
    () => explainRequest(r.policy, { ...req, via: "bakup" }),
    /via names no app "bakup"/,
  );
});
