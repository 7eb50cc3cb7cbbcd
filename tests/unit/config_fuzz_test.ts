/**
 * Seeded random mutations of a valid config: whatever the bytes, validation returns (never
 * throws) and every error is located inside the mutated file.
 */
import assert from "node:assert/strict";
import { validateTexts } from "../../src/config/validate.ts";
import { decodeConfigBytes } from "../../src/config/source.ts";
import { fullFixtureText } from "../fixtures/config/temp_config.ts";
import { rng } from "../helpers/rng.ts";

const PIECES = [
  "[",
  "]",
  "[[",
  "]]",
  "{",
  "}",
  "=",
  ",",
  ".",
  '"',
  "'",
  '"""',
  "'''",
  "\\",
  "#",
  "\n",
  "\r\n",
  "\t",
  " ",
  "0",
  "-1",
  "65536",
  "1.5",
  "true",
  "x",
  "é",
  "\u{1F600}",
  "\0",
  "/",
  ":",
  "::",
  "rule",
  "app",
  "ports",
  "remote",
  "mode",
  "1979-05-27",
  "inf",
  "nan",
  "0x1F",
  "\ufeff",
];

function mutate(text: string, next: () => number): string {
  let t = text;
  const n = 1 + Math.floor(next() * 4);
  for (let k = 0; k < n; k++) {
    const at = Math.floor(next() * (t.length + 1));
    const op = next();
    const piece = PIECES[Math.floor(next() * PIECES.length)];
    if (op < 0.4) t = t.slice(0, at) + piece + t.slice(at);
    else if (op < 0.7) t = t.slice(0, at) + t.slice(at + 1 + Math.floor(next() * 8));
    else t = t.slice(0, at) + piece + t.slice(at + piece.length);
  }
  return t;
}

function assertInside(file: string, text: string, e: { file: string; line: number; col: number }) {
  assert.equal(e.file, file);
  const lines = text.split("\n");
  assert.ok(e.line >= 1 && e.line <= lines.length, `line ${e.line}`);
  const len = lines[e.line - 1].replace(/\r$/, "").length;
  assert.ok(e.col >= 1 && e.col <= len + 1, `col ${e.col} of ${len}`);
}

Deno.test("fuzz: 3000 seeded mutations of the full fixture never throw and stay located", () => {
  const base = fullFixtureText("rules.toml");
  const apps = fullFixtureText("apps.toml");
  let rejected = 0;
  for (let seed = 1; seed <= 3000; seed++) {
    const next = rng(seed);
    const rules = mutate(base, next);
    const appsText = seed % 3 === 0 ? mutate(apps, next) : apps;
    const r = validateTexts({
      rulesFile: "rules.toml",
      rulesText: rules,
      appsTexts: [{ file: "apps.toml", text: appsText }],
    });
    if (r.ok) continue;
    rejected++;
    for (const e of r.errors) {
      try {
        assertInside(e.file, e.file === "rules.toml" ? rules : appsText, e);
      } catch (err) {
        throw new Error(`seed ${seed}: ${e}: ${(err as Error).message}`);
      }
    }
  }
  // Most mutations break something; a fuzz run that rejects nothing is not testing anything.
  assert.ok(rejected > 2000, `only ${rejected} rejected`);
});

Deno.test("fuzz: random bytes decode to text or to a located encoding error", () => {
  const next = rng(42);
  for (let i = 0; i < 2000; i++) {
    const bytes = new Uint8Array(Math.floor(next() * 64));
    for (let j = 0; j < bytes.length; j++) bytes[j] = Math.floor(next() * 256);
    const r = decodeConfigBytes("f.toml", bytes);
    if (r.ok) {
      assert.ok(!r.text.includes("\0"));
      continue;
    }
    const e = r.errors[0];
    const prefix = new TextDecoder().decode(bytes);
    assert.ok(e.line >= 1 && e.line <= prefix.split("\n").length, String(e));
    assert.ok(e.col >= 1);
  }
});
