/**
 * Every picture the README shows exists, is a PNG, and is one the UI tour test takes (so it is
 * retaken whenever the UI changes): a README that points at a missing or stale image fails here.
 */
import assert from "node:assert/strict";

const ROOT = new URL("../../", import.meta.url).pathname;
const PNG = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/** Local image paths in Markdown `![alt](path)` and HTML `<img src="path">`. */
function imageRefs(markdown: string): string[] {
  const refs = [
    ...[...markdown.matchAll(/!\[[^\]]*\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)].map((m) => m[1]),
    ...[...markdown.matchAll(/<img\s[^>]*src="([^"]+)"/g)].map((m) => m[1]),
  ];
  return refs.filter((r) => !/^[a-z]+:/.test(r));
}

Deno.test("README: every image it references exists, is a PNG and is taken by the UI tour test", async () => {
  const readme = await Deno.readTextFile(`${ROOT}README.md`);
  const refs = imageRefs(readme);
  assert.ok(refs.length >= 3, `the "First ten minutes" tour shows its screenshots: ${refs}`);
  const tour = await Deno.readTextFile(`${ROOT}tests/e2e/ui_tour_test.ts`);
  for (const ref of refs) {
    let bytes: Uint8Array;
    try {
      bytes = await Deno.readFile(`${ROOT}${ref}`);
    } catch {
      assert.fail(`README references ${ref}, which does not exist (run tests/e2e/ui_tour_test.ts)`);
    }
    assert.deepEqual([...bytes.subarray(0, 8)], PNG, `${ref} is not a PNG`);
    assert.ok(bytes.length > 10_000, `${ref} is suspiciously small (${bytes.length} bytes)`);
    const m = /^docs\/img\/([\w-]+)\.png$/.exec(ref);
    assert.ok(m, `${ref}: README images live in docs/img/ (where the tour test writes them)`);
    assert.ok(
      tour.includes(`docScreenshot(page, "${m[1]}"`),
      `${ref} is not taken by tests/e2e/ui_tour_test.ts, so nothing keeps it current`,
    );
  }
});

Deno.test("imageRefs finds Markdown and HTML images, not links", () => {
  assert.deepEqual(
    imageRefs(
      '![a](docs/img/x.png) [link](y.png) <img src="docs/img/z.png" width="600"> ![w](https://e/x.png)',
    ),
    ["docs/img/x.png", "docs/img/z.png"],
  );
});
