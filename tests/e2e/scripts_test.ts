/**
 * Scripts are apps too (real kernel, real daemon, test cgroup, enforcing, allow_loopback = false):
 * an approved interpreter is never trusted by itself; the script it runs decides, in the kernel
 * at exec time, before the script's first connect.
 */
import assert from "node:assert/strict";
import { sha256Of, startTestDaemon, type TestDaemon } from "../helpers/daemon.ts";
import { loopbackListener, netclientCopy } from "../helpers/netclient.ts";
import type { AppInfo, ConnEvent } from "../../src/api/types.ts";

const PY = "/usr/bin/python3"; // Debian's, a symlink to the real binary
const CONNECT_PY = `#!/usr/bin/env python3
import os, socket, sys
def attempt():
    s = socket.socket()
    try:
        s.connect(("127.0.0.1", int(sys.argv[1])))
        return "ok"
    except PermissionError:
        return "EPERM"
if len(sys.argv) > 2 and sys.argv[2] == "fork":
    pid = os.fork()
    if pid == 0:
        print(attempt(), flush=True)
        os._exit(0)
    os.waitpid(pid, 0)
else:
    print(attempt(), flush=True)
`;
const ENV = { PATH: "/usr/bin:/bin" }; // so `env python3` finds Debian's python3, not a shim

async function writeScript(path: string, text: string): Promise<string> {
  await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
  await Deno.writeTextFile(path, text, { mode: 0o755 });
  await Deno.chmod(path, 0o755);
  return path;
}

async function run(d: TestDaemon, argv: string[], cwd?: string): Promise<string> {
  const r = await d.cg.run(argv, { cwd, env: ENV });
  return (r.stdout.trim().split("\n").pop() ?? "") || `stderr: ${r.stderr.trim()}`;
}

Deno.test("scripts: identity of the script decides, not the interpreter's", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hw-scripts-" });
  const l = loopbackListener();
  const port = `${l.port}`;
  const ok = await writeScript(`${dir}/ok.py`, CONNECT_PY);
  const other = await writeScript(`${dir}/other.py`, CONNECT_PY + "# another script\n");
  const inh = await writeScript(`${dir}/inh.py`, CONNECT_PY + "# inherit\n");
  const nested = await writeScript(`${dir}/sub/nested.py`, CONNECT_PY + "# nested\n");
  const launcher = await writeScript(`${dir}/launch.sh`, `#!/bin/sh\nexec "$@"\n`);
  const client = await netclientCopy(`${dir}/bin`);
  const stranger = await netclientCopy(`${dir}/stranger`);
  const python = await Deno.realPath(PY);
  await using d = await startTestDaemon({
    mode: "enforcing",
    apps: [
      { name: "python3", path: python, sha256: await sha256Of(python), interpreter: true },
      { name: "ok", path: ok, sha256: await sha256Of(ok) },
      { name: "inh", path: inh, sha256: await sha256Of(inh), inherit: true },
      { name: "nested", path: nested, sha256: await sha256Of(nested) },
      { name: "client", path: client, sha256: await sha256Of(client) },
    ],
  });
  try {
    // #! script run by its absolute path: decided at exec, right on the first connect.
    assert.equal(await run(d, [ok, port]), "ok");
    // Another script run by the same interpreter is denied on its first attempt.
    assert.equal(await run(d, [other, port]), "EPERM");
    // Interpreter given the script as an argument: absolute, and relative to the cwd.
    assert.equal(await run(d, [PY, ok, port]), "ok");
    assert.equal(await run(d, [PY, "ok.py", port], dir), "ok");
    assert.equal(await run(d, [PY, "./ok.py", port], dir), "ok");
    assert.equal(await run(d, [PY, "-u", ok, port]), "ok", "options before the script");
    assert.equal(await run(d, [PY, "other.py", port], dir), "EPERM");
    // A relative path with folders is not resolved by the kernel: unknown, never trusted.
    assert.equal(await run(d, [PY, "sub/nested.py", port], dir), "EPERM");
    assert.equal(await run(d, [PY, nested, port]), "ok", "the same script by absolute path");
    // Inline code gets the interpreter's own verdict: an interpreter is never trusted alone.
    const inline = `import socket,sys
s=socket.socket()
try:
  s.connect(("127.0.0.1",${port})); print("ok")
except PermissionError: print("EPERM")`;
    assert.equal(await run(d, [PY, "-c", inline]), "EPERM");
    assert.equal(await run(d, [PY, "-c", inline, ok]), "EPERM", "-c: later args are not scripts");
    // A shell script launching a binary: the binary is decided by its own identity.
    assert.equal(await run(d, [launcher, client, "tcp4", "127.0.0.1", port]), "ok");
    assert.equal(await run(d, [launcher, stranger, "tcp4", "127.0.0.1", port]), "EPERM");
    // Lineage: a fork child of an approved script with inherit = true is trusted; without, not.
    assert.equal(await run(d, [inh, port, "fork"]), "ok");
    assert.equal(await run(d, [ok, port, "fork"]), "EPERM");

    // The denied script's attempt is reported under the script's name, interpreter beside it.
    // History is written in batches: poll until the reports are there.
    let events: ConnEvent[] = [];
    for (let i = 0; i < 100; i++) {
      const ev = await d.cli(["events", "--json", "--verdict", "deny"]);
      assert.equal(ev.code, 0, ev.stderr);
      events = ev.stdout.trim().split("\n").filter(Boolean).map((l) => JSON.parse(l) as ConnEvent);
      const all = events.some((e) => e.exe === other) &&
        events.some((e) => e.reason === "script_unresolved") &&
        events.some((e) => e.exe === python && e.reason === "interpreter");
      if (all) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const mine = events.find((e) => e.exe === other);
    assert.ok(mine, `an event for ${other} in ${JSON.stringify(events)}`);
    assert.equal(mine.interpreter, python);
    assert.equal(mine.reason, "interpreter");
    const unresolved = events.find((e) => e.reason === "script_unresolved");
    assert.ok(unresolved, "the unresolvable relative script is reported with its reason");
    assert.match(unresolved.exe, /sub\/nested\.py$/);
    assert.ok(events.some((e) => e.exe === python && e.reason === "interpreter"), "inline code");
    // Approving from that event approves the script, not the interpreter.
    const allowed = await d.cli(["apps", "allow", mine.exe, "--json"]);
    assert.equal(allowed.code, 0, allowed.stderr);
    assert.equal((JSON.parse(allowed.stdout) as AppInfo).path, other);
    assert.equal(await run(d, [other, port]), "ok");
    assert.equal(await run(d, [PY, "-c", inline]), "EPERM", "the interpreter is still not trusted");

    // A one-byte edit of an approved script revokes it at once.
    await Deno.writeTextFile(ok, CONNECT_PY + "#\n");
    const deadline = Date.now() + 5000;
    let state = "";
    while (Date.now() < deadline) {
      const list = JSON.parse((await d.cli(["apps", "list", "--json"])).stdout) as AppInfo[];
      state = list.find((a) => a.name === "ok")!.status;
      if (state === "invalid") break;
      await new Promise((r) => setTimeout(r, 25));
    }
    assert.equal(state, "invalid");
    assert.equal(await run(d, [ok, port]), "EPERM");
  } finally {
    l.close();
    await d.stop();
    await Deno.remove(dir, { recursive: true });
  }
});
