/**
 * Vector 2: an exec that would be trusted carries no injection variable (LD_PRELOAD and friends
 * for every binary, the interpreter's own for interpreters) and no tracer; otherwise it is not
 * trusted and the event names the variable. allow_env lets one app keep a listed variable.
 * Attacker code runs as nobody in the test cgroup and prints "evil:ok" when it borrowed trust.
 */
import assert from "node:assert/strict";
import { netclientCopy } from "../helpers/netclient.ts";
import { ENV_VAR_NAMES } from "../../src/policy/interpreters.ts";
import { HW } from "../../ffi/structs.ts";
import { buildFixture, EVIL_PY, HW_REASON, NET_PY, netSh, PYTHON, secSetup } from "./harness.ts";

Deno.test("vector 2: LD_PRELOAD / LD_AUDIT / LD_LIBRARY_PATH on an approved binary: not trusted, variable named", async () => {
  const f = await secSetup("env-ld");
  try {
    const P = String(f.port);
    const client = await netclientCopy(f.dir, "client");
    await f.approveBinary(client, 40);
    const lenient = await netclientCopy(f.dir, "lenient");
    await f.approveBinary(lenient, 41, { allowEnv: ["LD_LIBRARY_PATH"] });
    const so = await buildFixture("evil_preload", f.dir, ["-shared", "-fPIC"]);
    const tcp = ["tcp4", "127.0.0.1", P];

    assert.deepEqual(await f.run([client, ...tcp]), ["ok"], "no variable: trusted");
    assert.deepEqual(
      await f.run([client, ...tcp], { env: { LD_PRELOAD: so, EVIL_PORT: P } }),
      ["evil:EPERM", "EPERM"],
    );
    assert.deepEqual(await f.run([client, ...tcp], { env: { LD_AUDIT: so } }), ["EPERM"]);
    assert.deepEqual(await f.run([client, ...tcp], { env: { LD_LIBRARY_PATH: f.dir } }), [
      "EPERM",
    ]);
    assert.deepEqual(await f.run([client, ...tcp], { env: { GCONV_PATH: f.dir } }), ["EPERM"]);
    // allow_env = ["LD_LIBRARY_PATH"]: that one variable is allowed, LD_PRELOAD still is not.
    assert.deepEqual(await f.run([lenient, ...tcp], { env: { LD_LIBRARY_PATH: f.dir } }), ["ok"]);
    assert.deepEqual(
      await f.run([lenient, ...tcp], { env: { LD_PRELOAD: so, EVIL_PORT: P } }),
      ["evil:EPERM", "EPERM"],
    );
    // A variable of another interpreter does not concern a binary.
    assert.deepEqual(await f.run([client, ...tcp], { env: { PYTHONPATH: f.dir } }), ["ok"]);

    const named = new Set(
      f.events().filter((e) => e.reason === HW_REASON.ENV).map((e) => ENV_VAR_NAMES[e.rule]),
    );
    for (const v of ["LD_PRELOAD", "LD_AUDIT", "LD_LIBRARY_PATH", "GCONV_PATH"]) {
      assert.ok(named.has(v), `event names ${v} (got ${[...named]})`);
    }
  } finally {
    await f.close();
  }
});

Deno.test("vector 2: interpreter variables (PYTHONPATH sitecustomize, BASH_ENV, PERL5OPT, ...) are not trusted", async () => {
  const f = await secSetup("env-interp");
  try {
    const P = String(f.port);
    await f.approveInterpreter(PYTHON, 50);
    await f.approveInterpreter("/usr/bin/bash", 51);
    await f.approveInterpreter("/usr/bin/perl", 52);
    const net = await f.file("net.py", NET_PY);
    await f.approveScript(net, 53);
    const sh = await f.file("net.sh", netSh());
    await f.approveScript(sh, 54);
    const pl = await f.file("net.pl", `print "ran\\n";\n`);
    await f.approveScript(pl, 55);
    // The attacker's folder: sitecustomize.py runs before the approved script.
    await Deno.mkdir(`${f.dir}/evil`, { mode: 0o755 });
    await Deno.writeTextFile(`${f.dir}/evil/sitecustomize.py`, EVIL_PY.replace("sys.argv[-1]", P));
    const evilSh = await f.file("evil.sh", netSh("evil:").replace('"${@: -1}"', P));

    assert.deepEqual(await f.run([PYTHON, net, P]), ["ok"]);
    assert.deepEqual(await f.run([PYTHON, net, P], { env: { PYTHONPATH: `${f.dir}/evil` } }), [
      "evil:EPERM",
      "EPERM",
    ]);
    for (const v of ["PYTHONSTARTUP", "PYTHONHOME", "PYTHONUSERBASE", "PYTHONINSPECT"]) {
      const out = await f.run([PYTHON, net, P], { env: { [v]: "/usr" } });
      assert.equal(out.at(-1), "EPERM", v);
    }
    assert.deepEqual(await f.run(["/usr/bin/bash", sh, P]), ["ok"]);
    assert.deepEqual(await f.run(["/usr/bin/bash", sh, P], { env: { BASH_ENV: evilSh } }), [
      "evil:EPERM",
      "EPERM",
    ]);
    assert.deepEqual(await f.run(["/usr/bin/bash", sh, P], { env: { ENV: evilSh } }), ["EPERM"]);
    // Perl: the variables reach the kernel check even where perl itself would refuse them.
    await f.run(["/usr/bin/perl", pl], { env: { PERL5OPT: "-w" } });
    await f.run(["/usr/bin/perl", pl], { env: { PERL5LIB: f.dir } });
    // Python's variable does not concern bash, and the reverse.
    assert.deepEqual(await f.run(["/usr/bin/bash", sh, P], { env: { PYTHONPATH: "/x" } }), ["ok"]);
    assert.deepEqual(await f.run([PYTHON, net, P], { env: { BASH_ENV: "/x" } }), ["ok"]);
    // Too many environment strings to check: fail closed.
    const many: Record<string, string> = {};
    for (let i = 0; i < HW.ENV_MAX_VARS + 10; i++) many[`V${i}`] = "x";
    assert.deepEqual(await f.run([PYTHON, net, P], { env: many }), ["EPERM"]);
    // One string longer than the walk reads (16 KiB): fail closed too.
    assert.deepEqual(await f.run([PYTHON, net, P], { env: { BIG: "x".repeat(20_000) } }), [
      "EPERM",
    ]);
    assert.deepEqual(await f.run([PYTHON, net, P], { env: { MID: "x".repeat(5_000) } }), ["ok"]);

    const ev = f.events().filter((e) => e.reason === HW_REASON.ENV);
    const named = new Set(
      ev.map((e) => e.rule === HW.ENV_TOO_LARGE ? "too-large" : ENV_VAR_NAMES[e.rule]),
    );
    for (
      const v of ["PYTHONPATH", "PYTHONSTARTUP", "PYTHONHOME", "PYTHONUSERBASE", "BASH_ENV", "ENV"]
    ) assert.ok(named.has(v), `event names ${v} (got ${[...named]})`);
    assert.ok(named.has("too-large"));
  } finally {
    await f.close();
  }
});

Deno.test("vector 2: a process exec'd under ptrace is not trusted", async () => {
  const f = await secSetup("env-traced");
  try {
    const P = String(f.port);
    const client = await netclientCopy(f.dir, "client");
    await f.approveBinary(client, 60);
    const inject = await buildFixture("inject", f.dir);
    assert.deepEqual(await f.run([client, "tcp4", "127.0.0.1", P]), ["ok"]);
    assert.deepEqual(await f.run([inject, "traced", client, "tcp4", "127.0.0.1", P]), ["EPERM"]);
    // Denied at exec (traced) and again by the tracer's next ptrace call (injected).
    const traced = [HW_REASON.TRACED, HW_REASON.INJECTED] as number[];
    assert.ok(f.events().some((e) => traced.includes(e.reason)));
  } finally {
    await f.close();
  }
});
