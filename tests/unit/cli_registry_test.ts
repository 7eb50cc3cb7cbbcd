/**
 * The lazy command registry (src/cli/registry.ts) agrees with the modules it loads: every entry
 * loads a command of the same name and summary, and every subcommand module is registered.
 */
import assert from "node:assert/strict";
import { COMMANDS } from "../../src/cli/registry.ts";

Deno.test("every registry entry loads the command it names, with the same summary", async () => {
  for (const entry of COMMANDS) {
    const cmd = await entry.load();
    assert.equal(cmd.name, entry.name);
    assert.equal(cmd.summary, entry.summary, `summary of ${entry.name}`);
    assert.ok(cmd.usage.length > 0);
  }
});

Deno.test("every module under src/cli/ that exports a Command is registered", () => {
  const dir = new URL("../../src/cli/", import.meta.url).pathname;
  const names = new Set(COMMANDS.map((c) => c.name));
  for (const e of Deno.readDirSync(dir)) {
    const text = Deno.readTextFileSync(dir + e.name);
    const m = text.match(/export const \w+Command: Command = \{\s*name: "([a-z-]+)"/);
    if (m) {
      assert.ok(names.has(m[1]), `${e.name} exports command "${m[1]}" but it is not registered`);
    }
  }
});
