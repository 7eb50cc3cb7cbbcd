/**
 * A generated table of malformed configs. Each case must give at least one error of the form
 * `FILE:LINE:COL: message` whose line and column lie inside that file, and never an exception.
 * Cases that know where the fault is also check that an error points exactly there.
 */
import assert from "node:assert/strict";
import { validateTexts } from "../../src/config/validate.ts";
import { loadPolicy } from "../../src/config/load.ts";
import type { ConfigError, LoadResult } from "../../src/config/model.ts";
import { fullFixtureText, tempConfig } from "../fixtures/config/temp_config.ts";
import { APPS, cases, RULES } from "../helpers/config_cases.ts";

/** Asserts that every error is `FILE:LINE:COL: message` with LINE/COL inside FILE. */
async function assertLocated(r: LoadResult, texts: Map<string, string>, name: string) {
  assert.ok(!r.ok, `${name}: expected errors`);
  assert.ok(r.errors.length > 0, name);
  for (const e of r.errors as ConfigError[]) {
    const m = /^(.+):(\d+):(\d+): (.+)$/s.exec(e.toString());
    assert.ok(m, `${name}: not FILE:LINE:COL: ${e}`);
    assert.equal(m[1], e.file);
    assert.ok(!m[4].includes("\n"), `${name}: multi-line message ${e}`);
    const [line, col] = [Number(m[2]), Number(m[3])];
    let text = texts.get(e.file);
    if (text === undefined) {
      // Loader errors: read the file as it is on disk, if it is a readable file at all.
      try {
        text = new TextDecoder().decode(await Deno.readFile(e.file));
      } catch {
        text = "";
      }
    }
    const lines = text.split("\n");
    assert.ok(line >= 1 && line <= lines.length, `${name}: line ${line} outside ${e.file}: ${e}`);
    const len = lines[line - 1].length;
    assert.ok(col >= 1 && col <= len + 1, `${name}: col ${col} outside line (${len}): ${e}`);
  }
}

Deno.test("generated malformed configs: each gives located errors, never an exception", async () => {
  const all = cases();
  assert.ok(all.length >= 300, `only ${all.length} cases`);
  for (const c of all) {
    let r: LoadResult;
    const texts = new Map<string, string>();
    if (c.folder) {
      await using cfg = await tempConfig({});
      await c.folder(cfg.dir);
      r = await loadPolicy(cfg.dir);
      await assertLocated(r, texts, c.name);
      continue;
    }
    const apps = (c.apps ?? []).map((text, i) => ({
      file: i === 0 ? APPS : `apps.d/${i}.toml`,
      text,
    }));
    texts.set(RULES, c.rules ?? "");
    for (const a of apps) texts.set(a.file, a.text);
    r = validateTexts({ rulesFile: RULES, rulesText: c.rules ?? "", appsTexts: apps });
    await assertLocated(r, texts, c.name);
    if (c.at && !r.ok) {
      const want = `${c.at.file}:${c.at.line}:${c.at.col}: `;
      assert.ok(
        r.errors.some((e) => e.toString().startsWith(want)),
        `${c.name}: no error at ${want}\n${r.errors.join("\n")}`,
      );
    }
  }
});

Deno.test("truncating a valid file at every offset never throws; mid-token cuts are errors", () => {
  const rules = fullFixtureText("rules.toml");
  const apps = [
    { file: APPS, text: fullFixtureText("apps.toml") },
    { file: "apps.d/10-curl.toml", text: fullFixtureText("apps.d/10-curl.toml") },
    { file: "apps.d/20-python.toml", text: fullFixtureText("apps.d/20-python.toml") },
  ];
  let midCuts = 0;
  for (let i = 0; i < rules.length; i++) {
    const cut = rules.slice(0, i);
    const r = validateTexts({ rulesFile: RULES, rulesText: cut, appsTexts: apps });
    const lineStart = cut.lastIndexOf("\n") + 1;
    const mid = i > 0 && !/\s/.test(rules[i - 1]) && !/\s/.test(rules[i]) &&
      rules[lineStart] !== "#";
    if (mid) {
      midCuts++;
      assert.ok(!r.ok, `cut at ${i} (${JSON.stringify(cut.slice(-20))}) was accepted`);
    }
    if (!r.ok) {
      const lines = cut.split("\n");
      for (const e of r.errors) {
        assert.equal(e.file, RULES);
        assert.ok(e.line >= 1 && e.line <= lines.length, `cut ${i}: ${e}`);
        assert.ok(e.col >= 1 && e.col <= lines[e.line - 1].length + 1, `cut ${i}: ${e}`);
      }
    }
  }
  assert.ok(midCuts > 300, `${midCuts} mid-token cuts`);
  // Truncated app files too.
  const appText = apps[0].text;
  for (let i = 1; i < appText.length; i++) {
    const cut = appText.slice(0, i);
    const r = validateTexts({
      rulesFile: RULES,
      rulesText: "",
      appsTexts: [{ file: APPS, text: cut }],
    });
    if (!r.ok) {
      for (const e of r.errors) assert.ok(e.line <= cut.split("\n").length, `${e}`);
    }
  }
});
