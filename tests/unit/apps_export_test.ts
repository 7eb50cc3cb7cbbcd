/**
 * `apps export` keeps `only_via`: an export without it would, loaded on another host, trust the
 * app whoever starts it. The TOML it prints loads back with the same starters.
 */
import assert from "node:assert/strict";
import { exportApps, renderExportJson, renderExportToml } from "../../src/cli/apps_export.ts";
import { validateTexts } from "../../src/config/validate.ts";

const SHA = "a".repeat(64);

Deno.test("apps export carries only_via (sorted) in TOML and JSON, and it loads back", () => {
  const apps = exportApps([
    { name: "backup", path: "/usr/bin/backup", sha256: SHA, inherit: false, interpreter: false },
    { name: "apt", path: "/usr/bin/apt", sha256: SHA, inherit: false, interpreter: false },
    {
      name: "rsync",
      path: "/usr/bin/rsync",
      sha256: SHA,
      inherit: false,
      interpreter: false,
      onlyVia: ["backup", "apt"],
    },
  ]);
  const toml = renderExportToml(apps);
  assert.match(toml, /name = "rsync"\n[^[]*only_via = \["apt", "backup"\]/);
  assert.equal(toml.match(/only_via/g)?.length, 1, "only where set");
  assert.deepEqual(
    JSON.parse(renderExportJson(apps)).apps.find((a: { name: string }) => a.name === "rsync")
      .onlyVia,
    ["apt", "backup"],
  );
  const r = validateTexts({
    rulesFile: "rules.toml",
    rulesText: "",
    appsTexts: [{ file: "apps.d/export.toml", text: toml }],
  });
  if (!r.ok) throw new Error(r.errors.join("\n"));
  assert.deepEqual(r.policy.apps.find((a) => a.name === "rsync")?.onlyVia, ["apt", "backup"]);
});
