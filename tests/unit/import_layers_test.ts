/**
 * Imports point down the layers of docs/ARCHITECTURE.md: ffi < src/base < src/api <
 * config/policy/identity/integrity/kernel/store/packages < src/daemon < src/cli, ui. A module may
 * import its own layer or lower ones, never a higher one. The known exceptions are listed with why.
 */
import assert from "node:assert/strict";

const ROOT = new URL("../../", import.meta.url).pathname;

/** Layer rank of a repository path (undefined: not in a ranked folder). */
function rank(p: string): number | undefined {
  if (p.startsWith("ffi/")) return 0;
  if (p.startsWith("src/base/")) return 1;
  if (p.startsWith("src/api/")) return 2;
  if (/^src\/(config|policy|identity|integrity|kernel|store|packages)\//.test(p)) return 3;
  if (p.startsWith("src/daemon/")) return 4;
  if (p.startsWith("src/cli/") || p.startsWith("ui/")) return 5;
  return undefined;
}

/** Upward imports that are known: `from -> to` and why. */
const ALLOWED = new Map([
  // The API model names config types (App, Mode, Rule); types only, no code runs.
  ["src/api/types.ts -> src/config/model.ts", "types only"],
  ["src/api/requests.ts -> src/config/model.ts", "types only"],
  // The daemon's start order starts the in-process web UI and prints its login link.
  ["src/daemon/lifecycle.ts -> ui/server.tsx", "in-process UI"],
  ["src/daemon/lifecycle.ts -> ui/auth/login_link.ts", "in-process UI"],
  ["src/daemon/lifecycle.ts -> ui/auth/tokens.ts", "in-process UI"],
]);

function* sources(dir: string): Generator<string> {
  for (const e of Deno.readDirSync(`${ROOT}${dir}`)) {
    const p = `${dir}/${e.name}`;
    if (e.isDirectory) yield* sources(p);
    else if (/\.tsx?$/.test(e.name)) yield p;
  }
}

Deno.test("imports point down the layers (docs/ARCHITECTURE.md)", () => {
  const up: string[] = [];
  for (const top of ["ffi", "src", "ui"]) {
    for (const file of sources(top)) {
      const r = rank(file);
      if (r === undefined) continue;
      const text = Deno.readTextFileSync(`${ROOT}${file}`);
      for (const m of text.matchAll(/^(?:import|export)[^"']*?from\s+["'](\.[^"']+)["']/gm)) {
        const target = new URL(m[1], `file://${ROOT}${file}`).pathname.slice(ROOT.length);
        const tr = rank(target);
        const edge = `${file} -> ${target}`;
        if (tr !== undefined && tr > r && !ALLOWED.has(edge)) up.push(edge);
      }
    }
  }
  assert.deepEqual(up, [], `imports pointing up a layer:\n${up.join("\n")}`);
});
