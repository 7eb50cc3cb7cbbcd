import assert from "node:assert/strict";
import {
  DEFAULT_APPS_TOML,
  DEFAULT_RULES_TOML,
  writeDefaultConfig,
} from "../../src/config/defaults.ts";
import { CONFIG_KEYS, validateTexts } from "../../src/config/validate.ts";
import { loadPolicy } from "../../src/config/load.ts";
import { formatErrors } from "../../src/config/format.ts";
import { tempConfig } from "../fixtures/config/temp_config.ts";

Deno.test("embedded default config passes validation: learning mode, UI on 127.0.0.1:7447", () => {
  const r = validateTexts({
    rulesFile: "rules.toml",
    rulesText: DEFAULT_RULES_TOML,
    appsTexts: [{ file: "apps.toml", text: DEFAULT_APPS_TOML }],
  });
  assert.ok(r.ok, r.ok ? "" : formatErrors(r.errors));
  assert.equal(r.policy.defaults.mode, "learning");
  assert.deepEqual(r.policy.ui, { host: "127.0.0.1", port: 7447 });
  assert.ok(r.policy.rules.length >= 2);
  assert.ok(r.policy.rules.some((x) => x.id === "ssh-in" && x.direction === "in"));
  assert.deepEqual(r.policy.apps, []);
});

Deno.test("embedded default config shows every key (active or in a commented example)", () => {
  const text = DEFAULT_RULES_TOML + DEFAULT_APPS_TOML;
  const keys = new Set<string>([
    ...CONFIG_KEYS.defaults,
    ...CONFIG_KEYS.ui,
    ...CONFIG_KEYS.rule,
    ...CONFIG_KEYS.watch,
    ...CONFIG_KEYS.app,
  ]);
  for (const key of keys) {
    assert.match(text, new RegExp(`^(# )?${key} = `, "m"), `default config lacks "${key} ="`);
  }
  for (const table of ["[defaults]", "[ui]", "[[rule]]", "[[integrity.watch]]", "# [[app]]"]) {
    assert.ok(text.includes(table), table);
  }
  // The commented examples are valid config once uncommented (apart from the placeholder hash).
  const uncomment = (t: string) =>
    t.split("\n").map((l) => /^# (\[|[a-z_0-9]+ = )/.test(l) ? l.slice(2) : l).join("\n");
  const r = validateTexts({
    rulesFile: "rules.toml",
    rulesText: uncomment(DEFAULT_RULES_TOML),
    appsTexts: [{ file: "apps.toml", text: uncomment(DEFAULT_APPS_TOML) }],
  });
  assert.ok(r.ok, r.ok ? "" : formatErrors(r.errors));
  assert.ok(r.policy.rules.some((x) => x.app === "firefox"));
  assert.deepEqual(r.policy.apps.map((a) => a.name), ["firefox", "curl-from-firefox"]);
  assert.deepEqual(r.policy.apps[1].onlyVia, ["firefox"]);
});

Deno.test("writeDefaultConfig: writes a loadable folder and never overwrites", async () => {
  await using tmp = await tempConfig({});
  const dir = `${tmp.dir}/etc/hashwall`;
  const written = await writeDefaultConfig(dir);
  assert.deepEqual(written, [`${dir}/rules.toml`, `${dir}/apps.toml`]);
  assert.equal(await Deno.readTextFile(`${dir}/rules.toml`), DEFAULT_RULES_TOML);
  assert.equal((await Deno.stat(`${dir}/rules.toml`)).mode! & 0o777, 0o644);
  assert.ok((await Deno.stat(`${dir}/apps.d`)).isDirectory);
  const r = await loadPolicy(dir);
  assert.ok(r.ok, r.ok ? "" : formatErrors(r.errors));
  await Deno.writeTextFile(`${dir}/rules.toml`, "# mine\n");
  assert.deepEqual(await writeDefaultConfig(dir), []);
  assert.equal(await Deno.readTextFile(`${dir}/rules.toml`), "# mine\n");
  await Deno.remove(`${dir}/apps.toml`);
  assert.deepEqual(await writeDefaultConfig(dir), [`${dir}/apps.toml`]);
});
