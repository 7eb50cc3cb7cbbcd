/**
 * Vector 1: an approved interpreter's command line cannot make attacker code borrow an approved
 * script's trust. Each attack runs as nobody in the test cgroup against the real kernel; the
 * attacker's code tries to connect and prints "evil:ok" (trust borrowed) or "evil:EPERM".
 * The legitimate forms (options with values, #!, #!/usr/bin/env, relative paths) stay trusted.
 */
import assert from "node:assert/strict";
import { EVIL_PY, HW_REASON, NET_PY, netPl, netSh, PYTHON, secSetup } from "./harness.ts";

Deno.test("vector 1 python: '-', -X, -W, -c and pycache_prefix borrow nothing; legit forms keep trust", async () => {
  const f = await secSetup("argv-py");
  try {
    const P = String(f.port);
    await f.approveInterpreter(PYTHON, 10);
    const net = await f.file("net.py", NET_PY);
    await f.approveScript(net, 11);
    const tool = await f.file("tool.py", `#!${PYTHON}\n${NET_PY}`);
    await f.approveScript(tool, 12);
    const envTool = await f.file("envtool.py", `#!/usr/bin/env python3.11\n${NET_PY}`);
    await f.approveScript(envTool, 13);
    const evil = await f.file("evil.py", EVIL_PY);

    // Legitimate forms stay trusted.
    assert.deepEqual(await f.run([PYTHON, net, P]), ["ok"]);
    assert.deepEqual(await f.run([PYTHON, "-X", "dev", "-W", "ignore", net, P]), ["ok"]);
    assert.deepEqual(await f.run([PYTHON, "-Xdev", "-Wignore", "-Bu", net, P]), ["ok"]);
    assert.deepEqual(await f.run([PYTHON, "-u", "--", net, P]), ["ok"]);
    assert.deepEqual(await f.run([tool, P]), ["ok"], "#! script");
    assert.deepEqual(await f.run([envTool, P]), ["ok"], "#!/usr/bin/env python3.11");
    assert.deepEqual(await f.run([PYTHON, "net.py", P], { cwd: f.dir }), ["ok"], "relative");
    assert.deepEqual(await f.run(["./tool.py", P], { cwd: f.dir }), ["ok"], "./script");

    // Attacks: the code comes from stdin, or the approved path is an option's value.
    assert.deepEqual(await f.run([PYTHON, "-", net, P], { stdin: evil }), ["evil:EPERM"]);
    assert.deepEqual(await f.run([PYTHON, "-X", net, evil, P]), ["evil:EPERM"]);
    assert.deepEqual(await f.run([PYTHON, "-W", net, evil, P]), ["evil:EPERM"]);
    assert.deepEqual(await f.run([PYTHON, "-uW", net, evil, P]), ["evil:EPERM"]);
    assert.deepEqual(await f.run([PYTHON, "-c", `exec(open("${evil}").read())`, net, P]), [
      "evil:EPERM",
    ]);
    // -X pycache_prefix=DIR would load attacker bytecode for the approved script's imports.
    assert.deepEqual(await f.run([PYTHON, "-X", "pycache_prefix=/tmp", net, P]), ["EPERM"]);
    // An option the grammar does not know: no script (fail closed), with its own reason.
    assert.deepEqual(await f.run([PYTHON, "-X", "dev", "-R", net, P]), ["EPERM"]);
    const argv = f.events().filter((e) => e.reason === HW_REASON.ARGV);
    assert.ok(argv.length >= 1 && argv.every((e) => e.verdict === 1), "reported as argv");
  } finally {
    await f.close();
  }
});

Deno.test("vector 1 shells and perl: -s, -c, '-' borrow nothing; legit forms keep trust", async () => {
  const f = await secSetup("argv-sh");
  try {
    const P = String(f.port);
    await f.approveInterpreter("/usr/bin/bash", 20);
    await f.approveInterpreter("/usr/bin/dash", 21);
    await f.approveInterpreter("/usr/bin/perl", 22);
    const sh = await f.file("net.sh", netSh());
    await f.approveScript(sh, 23);
    const pl = await f.file("net.pl", netPl());
    await f.approveScript(pl, 24);
    const evilSh = await f.file("evil.sh", netSh("evil:"));
    const evilPl = await f.file("evil.pl", netPl("evil:"));

    assert.deepEqual(await f.run(["/usr/bin/bash", sh, "arg", P]), ["ok"]);
    assert.deepEqual(await f.run(["/usr/bin/bash", "-e", "-o", "pipefail", sh, P]), ["ok"]);
    assert.deepEqual(await f.run(["/usr/bin/bash", "-eu", "+x", sh, P]), ["ok"]);
    assert.deepEqual(await f.run(["/usr/bin/perl", "-w", pl, P]), ["ok"]);
    assert.deepEqual(await f.run(["/usr/bin/perl", "-w", "--", pl, P]), ["ok"]);

    // echo '...' | bash -s /approved/net.sh: the commands come from stdin.
    assert.deepEqual(await f.run(["/usr/bin/bash", "-s", sh, P], { stdin: evilSh }), [
      "evil:EPERM",
    ]);
    assert.deepEqual(await f.run(["/usr/bin/bash", "-xs", sh, P], { stdin: evilSh }), [
      "evil:EPERM",
    ]);
    assert.deepEqual(
      await f.run(["/usr/bin/bash", "-c", `. ${evilSh}`, sh, P]),
      ["evil:EPERM"],
    );
    assert.deepEqual(await f.run(["/usr/bin/perl", "-", pl, P], { stdin: evilPl }), [
      "evil:EPERM",
    ]);
    assert.deepEqual(await f.run(["/usr/bin/perl", "-e", `do "${evilPl}"`, pl, P]), [
      "evil:EPERM",
    ]);
  } finally {
    await f.close();
  }
});

const NODE = "/usr/bin/node";
const hasNode = (() => {
  try {
    return Deno.statSync(NODE).isFile;
  } catch {
    return false;
  }
})();

Deno.test({
  name: "vector 1 node: '-', -r and --inspect borrow nothing; node script.js keeps trust",
  ignore: !hasNode,
  async fn() {
    const f = await secSetup("argv-node");
    try {
      const P = String(f.port);
      const js = (prefix: string) =>
        `const s = require("net").connect(+process.argv.at(-1), "127.0.0.1");
s.on("connect", () => { console.log("${prefix}ok"); s.destroy(); });
s.on("error", (e) => console.log("${prefix}" + (e.code === "EPERM" ? "EPERM" : e.code)));
`;
      await f.approveInterpreter(NODE, 30);
      const net = await f.file("net.js", js(""));
      await f.approveScript(net, 31);
      const evil = await f.file("evil.js", js("evil:"));
      assert.deepEqual(await f.run([NODE, net, P]), ["ok"]);
      assert.deepEqual(await f.run([NODE, "--no-warnings", net, P]), ["ok"]);
      assert.deepEqual(await f.run([NODE, "-", net, P], { stdin: evil }), ["evil:EPERM"]);
      assert.deepEqual(await f.run([NODE, "-r", evil, net, P]), ["evil:EPERM", "EPERM"]);
    } finally {
      await f.close();
    }
  },
});
