/** The grammar and variable tables fit the kernel's keys; kinds come from file names. */
import assert from "node:assert/strict";
import { encodeArgvKey, encodeEnvKey, HW } from "../../ffi/structs.ts";
import {
  ENV_VAR_NAMES,
  envAllowMask,
  envEntries,
  grammarEntries,
  interpreterKind,
} from "../../src/policy/interpreters.ts";
import { loadPolicy } from "../../src/config/load.ts";

Deno.test("interpreter kind from the file name, version suffixes ignored", () => {
  assert.equal(interpreterKind("/usr/bin/python3.11"), HW.KIND_PYTHON);
  assert.equal(interpreterKind("/usr/bin/python3"), HW.KIND_PYTHON);
  assert.equal(interpreterKind("/bin/bash"), HW.KIND_SHELL);
  assert.equal(interpreterKind("/usr/bin/dash"), HW.KIND_SHELL);
  assert.equal(interpreterKind("/usr/bin/perl5.36.0"), HW.KIND_PERL);
  assert.equal(interpreterKind("/usr/bin/node"), HW.KIND_NODE);
  assert.equal(interpreterKind("/usr/bin/ruby3.1"), HW.KIND_RUBY);
  assert.equal(interpreterKind("/usr/lib/jvm/bin/java"), HW.KIND_JAVA);
  assert.equal(interpreterKind("/usr/bin/lua5.4"), HW.KIND_OTHER);
});

Deno.test("every grammar entry and variable fits its kernel key; bits fit the mask", () => {
  const entries = grammarEntries();
  for (const e of entries) encodeArgvKey(e.kind, e.opt);
  assert.ok(entries.length > 100);
  for (const e of envEntries()) {
    encodeEnvKey(e.name);
    assert.ok(e.bit < 31);
  }
  assert.equal(envAllowMask(["LD_LIBRARY_PATH"]), 1 << ENV_VAR_NAMES.indexOf("LD_LIBRARY_PATH"));
});

Deno.test("allow_env: names are checked with FILE:LINE:COL; valid lists reach the model", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hw-allowenv-" });
  try {
    const sha = "a".repeat(64);
    await Deno.writeTextFile(`${dir}/rules.toml`, "");
    await Deno.writeTextFile(
      `${dir}/apps.toml`,
      `[[app]]\nname = "x"\npath = "/usr/bin/x"\nsha256 = "${sha}"\nallow_env = ["LD_LIBRARY_PATH"]\n\n` +
        `[[app]]\nname = "y"\npath = "/usr/bin/y"\nsha256 = "${sha}"\nallow_env = ["LD_PRELOADX"]\n`,
    );
    const r = await loadPolicy(dir);
    assert.equal(r.ok, false);
    if (r.ok) return;
    const msg = r.errors.map(String).join("\n");
    assert.match(msg, /apps\.toml:11:14: .*"LD_PRELOADX" is not valid.*did you mean "LD_PRELOAD"/);
    await Deno.writeTextFile(
      `${dir}/apps.toml`,
      `[[app]]\nname = "x"\npath = "/usr/bin/x"\nsha256 = "${sha}"\nallow_env = ["LD_LIBRARY_PATH"]\n`,
    );
    const ok = await loadPolicy(dir);
    assert.ok(ok.ok);
    if (ok.ok) assert.deepEqual(ok.policy.apps[0].allowEnv, ["LD_LIBRARY_PATH"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
