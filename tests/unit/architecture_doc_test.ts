/**
 * docs/ARCHITECTURE.md stays true about the shape: every folder under src/ and every top-level
 * code folder is described there (as `folder/` in backquotes), and every file a recipe names
 * exists.
 */
import assert from "node:assert/strict";

const ROOT = new URL("../../", import.meta.url).pathname;
const DOC = `${ROOT}docs/ARCHITECTURE.md`;

function folders(under: string): string[] {
  return [...Deno.readDirSync(`${ROOT}${under}`)].filter((e) => e.isDirectory)
    .map((e) => `${under}${e.name}/`).sort();
}

Deno.test("docs/ARCHITECTURE.md describes every folder under src/ and every code folder", () => {
  const doc = Deno.readTextFileSync(DOC);
  const expected = [
    ...folders("src/"),
    ...["bpf/", "ffi/", "ui/", "tests/", "bench/", "config/"],
  ];
  const missing = expected.filter((f) => !doc.includes(`\`${f}\``));
  assert.deepEqual(missing, [], `describe these folders in docs/ARCHITECTURE.md: ${missing}`);
});

Deno.test("every file docs/ARCHITECTURE.md names with a path exists", () => {
  const doc = Deno.readTextFileSync(DOC);
  const named = new Set(
    [...doc.matchAll(/`((?:src|ui|ffi|bpf|tests|bench|config|packaging)\/[\w./-]+\.\w+)`/g)]
      .map((m) => m[1])
      .filter((p) => !p.includes("NAME")),
  );
  assert.ok(named.size > 30, "the document names files");
  const gone = [...named].filter((p) => {
    try {
      return !Deno.statSync(`${ROOT}${p}`).isFile;
    } catch {
      return true;
    }
  });
  assert.deepEqual(gone, [], `docs/ARCHITECTURE.md names files that do not exist: ${gone}`);
});
