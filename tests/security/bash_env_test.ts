/**
 * Vector 2 for bash: besides BASH_ENV, bash runs code the caller puts in its environment in two
 * more ways, both inside the approved script's own process:
 *
 * - exported functions: `BASH_FUNC_NAME%%=() { ...; }` defines NAME before the script's first
 *   line, and a function shadows a builtin or a command of the same name (`:`, `echo`, `curl`);
 * - `SHELLOPTS=xtrace` with `PS4='$(...)'`: the prompt is expanded (command substitution, in a
 *   fork of the trusted shell) before every command the script runs.
 *
 * An approved bash script run with either is not trusted. Attacker code prints "evil:ok" when it
 * borrowed the script's trust.
 */
import assert from "node:assert/strict";
import { ENV_VAR_NAMES } from "../../src/policy/interpreters.ts";
import { HW } from "../../ffi/structs.ts";
import { HW_REASON, netSh, secSetup } from "./harness.ts";

const BASH = "/usr/bin/bash";

Deno.test("attacker: an exported bash function (BASH_FUNC_x%%) or SHELLOPTS+PS4 does not run with an approved script's trust", async () => {
  const f = await secSetup("env-bashfunc");
  try {
    const P = String(f.port);
    await f.approveInterpreter(BASH, 80);
    const sh = await f.file("net.sh", netSh());
    await f.approveScript(sh, 81);
    const evil = `exec 4<>/dev/tcp/127.0.0.1/${P} 2>/dev/null && builtin echo evil:ok ||` +
      ` builtin echo evil:EPERM`;

    assert.deepEqual(await f.run([BASH, sh, P]), ["ok"], "the script alone is trusted");
    // `echo` (which prints the script's verdict) is shadowed by the attacker's function.
    assert.deepEqual(
      await f.run([BASH, sh, P], { env: { "BASH_FUNC_echo%%": `() { ${evil}; }` } }),
      ["evil:EPERM"],
    );
    // A name longer than the kernel compares whole: the prefix alone decides.
    assert.deepEqual(
      await f.run([BASH, sh, P], { env: { [`BASH_FUNC_${"x".repeat(40)}%%`]: "() { :; }" } }),
      ["EPERM"],
    );
    // xtrace from the environment: PS4 is expanded before each command, in a forked subshell,
    // which is trusted when the script's app has inherit = true. BASH_XTRACEFD=1 puts the
    // trace, hence the expansion's output, on stdout.
    const inheriting = await f.file("inherit.sh", netSh());
    await f.approveScript(inheriting, 82, { flags: HW.APP_INHERIT });
    assert.deepEqual(await f.run([BASH, inheriting, P]), ["ok"]);
    const traced = await f.run([BASH, inheriting, P], {
      env: { SHELLOPTS: "xtrace", PS4: `$(${evil})`, BASH_XTRACEFD: "1" },
    });
    assert.ok(traced.some((l) => l.startsWith("evil:EPERM")), traced.join("\n"));
    assert.ok(!traced.some((l) => l.startsWith("evil:ok")), traced.join("\n"));
    const named = new Set(
      f.events().filter((e) => e.reason === HW_REASON.ENV).map((e) => ENV_VAR_NAMES[e.rule]),
    );
    for (const v of ["BASH_FUNC_", "SHELLOPTS"]) {
      assert.ok(named.has(v), `event names ${v} (got ${[...named]})`);
    }
  } finally {
    await f.close();
  }
});
