/**
 * Vector 2 beyond the dynamic loader: OpenSSL reads the file named by `OPENSSL_CONF` when a
 * program initialises it (libcurl does at start, whatever the URL), and that file may load a
 * provider or engine module — a shared library of the caller's choice, inside the approved
 * process (`[provider_sect] x = x_sect`, `[x_sect] module = /path/evil.so`). `OPENSSL_MODULES`
 * chooses the folder of the modules a program loads by name. An approved binary run
 * with any of them is not trusted. The module here is evil_preload.so: its constructor connects
 * and prints "evil:ok" when it borrowed the approved binary's trust.
 */
import assert from "node:assert/strict";
import { ENV_VAR_NAMES } from "../../src/policy/interpreters.ts";
import { buildFixture, HW_REASON, secSetup } from "./harness.ts";

Deno.test("attacker: OPENSSL_CONF loading a provider module into an approved curl is not trusted", async () => {
  const f = await secSetup("env-openssl");
  try {
    const P = String(f.port);
    const curl = `${f.dir}/curl`;
    await Deno.copyFile("/usr/bin/curl", curl);
    await Deno.chmod(curl, 0o755);
    await f.approveBinary(curl, 170);
    const so = await buildFixture("evil_preload", f.dir, ["-shared", "-fPIC"]);
    const conf = await f.file(
      "evil.cnf",
      `openssl_conf = init\n[init]\nproviders = provider_sect\n[provider_sect]\nevil = evil_sect\n` +
        `[evil_sect]\nmodule = ${so}\nactivate = 1\n`,
    );
    const url = `http://127.0.0.1:${P}/`;
    // curl's exit code: 7 when the connect was refused (EPERM), another when it got through.
    const args = [curl, "-s", "-o", "/dev/null", "-w", "curl:%{exitcode}\\n", "-m", "2", url];
    const alone = await f.run(args);
    assert.notDeepEqual(alone, ["curl:7"], "alone, the approved curl connects");
    const out = await f.run(args, { env: { OPENSSL_CONF: conf, EVIL_PORT: P } });
    assert.deepEqual(out, ["evil:EPERM", "curl:7"], "the module and curl run untrusted");
    for (const v of ["OPENSSL_MODULES"]) {
      assert.deepEqual(await f.run(args, { env: { [v]: f.dir } }), ["curl:7"], v);
    }
    const named = new Set(
      f.events().filter((e) => e.reason === HW_REASON.ENV).map((e) => ENV_VAR_NAMES[e.rule]),
    );
    for (const v of ["OPENSSL_CONF", "OPENSSL_MODULES"]) {
      assert.ok(named.has(v), `event names ${v} (got ${[...named]})`);
    }
  } finally {
    await f.close();
  }
});
