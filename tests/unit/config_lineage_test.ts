/**
 * `only_via` in `[[app]]` (issue 21): names of apps, declared in any app file, at most eight;
 * errors at FILE:LINE:COL; `hashwall check` warns about inherit on a shell or an interpreter.
 */
import assert from "node:assert/strict";
import { validateTexts } from "../../src/config/validate.ts";
import { inheritWarnings } from "../../src/config/warnings.ts";

const SHA = "b".repeat(64);
const app = (name: string, extra = "") =>
  `[[app]]\nname = "${name}"\npath = "/usr/bin/${name}"\nsha256 = "${SHA}"\n${extra}\n`;

function load(...files: string[]) {
  return validateTexts({
    rulesFile: "rules.toml",
    rulesText: "",
    appsTexts: files.map((text, i) => ({ file: i ? `apps.d/${i}.toml` : "apps.toml", text })),
  });
}

Deno.test("only_via: starters from any app file reach the model", () => {
  const r = load(app("curl", `only_via = ["backup", "apt"]`), app("backup") + app("apt"));
  assert.ok(r.ok, r.ok ? "" : r.errors.join("\n"));
  assert.deepEqual(r.policy.apps.find((a) => a.name === "curl")?.onlyVia, ["backup", "apt"]);
});

Deno.test("only_via: an unknown name, too many names, a wrong type are located errors", () => {
  const unknown = load(app("curl", `only_via = ["bakup"]`) + app("backup"));
  assert.ok(!unknown.ok);
  assert.match(
    String(unknown.errors[0]),
    /^apps\.toml:5:13: app\[0\]\.only_via\[0\]: only_via names no app "bakup" \(did you mean "backup"\?\)/,
  );

  const many = Array.from({ length: 9 }, (_, i) => `"a${i}"`).join(", ");
  const tooMany = load(app("curl", `only_via = [${many}]`));
  assert.ok(!tooMany.ok);
  assert.ok(
    tooMany.errors.some((e) =>
      /apps\.toml:5:\d+: app\[0\]\.only_via: only_via names at most 8 apps/.test(String(e))
    ),
  );

  const wrong = load(app("curl", `only_via = "backup"`) + app("backup"));
  assert.ok(!wrong.ok);
  assert.match(String(wrong.errors[0]), /^apps\.toml:5:\d+: /);
});

Deno.test("inherit on a shell or an interpreter is warned about, with the app's location", () => {
  const r = load(
    `[[app]]\nname = "sh"\npath = "/usr/bin/bash"\nsha256 = "${SHA}"\ninherit = true\n\n` +
      `[[app]]\nname = "py"\npath = "/usr/bin/python3.11"\nsha256 = "${SHA}"\ninherit = true\ninterpreter = true\n\n` +
      app("backup", "inherit = true"),
  );
  assert.ok(r.ok);
  const w = inheritWarnings(r.policy.apps);
  assert.equal(w.length, 2);
  assert.match(
    w[0],
    /^apps\.toml:1:1: app "sh": inherit = true on a shell trusts every program it runs/,
  );
  assert.match(w[1], /^apps\.toml:7:1: app "py": inherit = true on an interpreter/);
});

function loadRules(rulesText: string, ...files: string[]) {
  return validateTexts({
    rulesFile: "rules.toml",
    rulesText,
    appsTexts: files.map((text, i) => ({ file: i ? `apps.d/${i}.toml` : "apps.toml", text })),
  });
}

const viaRule = (extra: string) =>
  `[[rule]]\nid = "api"\naction = "allow"\ndirection = "out"\nprotocol = "tcp"\n${extra}\n`;

Deno.test("[[rule]] via: an app from any app file reaches the model beside app", () => {
  const r = loadRules(
    viaRule(`app = "curl"\nvia = "backup"`),
    app("curl"),
    app("backup"),
  );
  assert.ok(r.ok, r.ok ? "" : r.errors.join("\n"));
  assert.equal(r.policy.rules[0].via, "backup");
  assert.equal(r.policy.rules[0].app, "curl");
  const alone = loadRules(viaRule(`via = "backup"`), app("backup"));
  assert.ok(alone.ok);
  assert.equal(alone.policy.rules[0].via, "backup");
  assert.equal(alone.policy.rules[0].app, undefined);
});

Deno.test("[[rule]] via: an unknown app, a wrong type, an inbound rule are located errors", () => {
  const unknown = loadRules(viaRule(`via = "bakup"`), app("backup"));
  assert.ok(!unknown.ok);
  assert.deepEqual(unknown.errors.map(String), [
    'rules.toml:6:7: rule[0].via: unknown app "bakup"; did you mean "backup"?',
  ]);
  const none = loadRules(viaRule(`via = "zzz"`));
  assert.ok(!none.ok);
  assert.match(
    String(none.errors[0]),
    /^rules\.toml:6:7: rule\[0\]\.via: unknown app "zzz"; define it/,
  );
  const wrong = loadRules(viaRule(`via = ["backup"]`), app("backup"));
  assert.ok(!wrong.ok);
  assert.match(String(wrong.errors[0]), /^rules\.toml:6:7: rule\[0\]\.via: /);
  const inbound = loadRules(viaRule(`via = "backup"`).replace('"out"', '"in"'), app("backup"));
  assert.ok(!inbound.ok);
  assert.match(
    String(inbound.errors[0]),
    /^rules\.toml:6:7: rule\[0\]\.via: via is only allowed with direction "out"/,
  );
});
