/**
 * Revocation at the writable open, through a real daemon (enforcing, test cgroup): an approved
 * script, run by its approved interpreter, holds a connection. Its file opened for writing —
 * nothing written yet — is out of the pinned hw_approved map when the open returns; the script's
 * next connect is denied and its live connection closes; the daemon shows the app pending and
 * does not approve it again while the writer holds the fd. Closed without a change → approved
 * again (green) within a bounded time; closed after a real change → stays revoked.
 */
import assert from "node:assert/strict";
import { sha256Of, startTestDaemon } from "../helpers/daemon.ts";
import { echoPeers, spawnLines } from "../helpers/sockholder.ts";
import { until } from "../helpers/wait.ts";
import { mapLookup, objGet } from "../../ffi/libbpf.ts";
import { close as closeFd } from "../../ffi/libc.ts";
import { encodeExeKey, LAYOUT } from "../../ffi/structs.ts";
import { identityOf } from "../../src/identity/running.ts";
import { instanceName, pinPaths } from "../../src/kernel/pins.ts";
import type { AppInfo, ConnEvent } from "../../src/api/types.ts";

/** `script TCPPORT`: holds one TCP connection; "ping" round-trips on it, "connect" makes a new one. */
const SCRIPT = `#!/usr/bin/python3
import errno, socket, sys
port = int(sys.argv[1])
def err(e):
    return "ERR:" + errno.errorcode.get(e.errno, str(e.errno))
t = socket.create_connection(("127.0.0.1", port))
t.settimeout(2)
print("connected", flush=True)
for line in sys.stdin:
    if line.startswith("ping"):
        try:
            t.send(b"p")
            print("tcp=" + ("ok" if t.recv(1) == b"p" else "EOF"), flush=True)
        except OSError as e:
            print("tcp=" + err(e), flush=True)
    elif line.startswith("connect"):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
            print("connect=ok", flush=True)
        except OSError as e:
            print("connect=" + err(e), flush=True)
`;

Deno.test("daemon: a writable open revokes at once; close without change re-approves, a real change stays revoked", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hw-wrev-d-" });
  const script = `${dir}/holder.py`;
  await Deno.writeTextFile(script, SCRIPT, { mode: 0o755 });
  await Deno.chmod(script, 0o755);
  const python = await Deno.realPath("/usr/bin/python3");
  await using peers = await echoPeers();
  await using d = await startTestDaemon({
    mode: "enforcing",
    apps: [
      { name: "python3", path: python, sha256: await sha256Of(python), interpreter: true },
      { name: "holder", path: script, sha256: await sha256Of(script) },
    ],
  });
  const mapFd = objGet(`${pinPaths(instanceName(d.stateDir)).maps}/hw_approved`);
  const key = encodeExeKey(identityOf(await Deno.stat(script)));
  const approved = () => mapLookup(mapFd, key, LAYOUT.hw_app_val.size) !== null;
  const status = async () => {
    const r = await d.cli(["apps", "list", "--json"]);
    assert.equal(r.code, 0, r.stderr);
    return (JSON.parse(r.stdout) as AppInfo[]).find((a) => a.name === "holder")?.status;
  };
  const run = () => {
    const p = spawnLines(d.cg, [script, `${peers.tcpPort}`], { env: { PATH: "/usr/bin:/bin" } });
    return p;
  };
  const procs = [run()];
  try {
    const s = procs[0];
    assert.equal(await s.next(), "connected");
    await s.send("connect");
    assert.equal(await s.next(), "connect=ok", "trusted before");
    assert.ok(approved());

    // 1. Opened for writing, nothing written: gone before the open returned.
    const w = await Deno.open(script, { write: true });
    assert.ok(!approved(), "hw_approved entry gone right after the open");
    await s.send("connect");
    assert.equal(await s.next(), "connect=ERR:EPERM", "its next connect is denied");
    // The daemon follows (ring drain): the live connection closes, the app is pending.
    await until(
      "the held connection closes",
      async () => {
        await s.send("ping");
        const r = await s.next();
        return r !== "tcp=ok" ? r : false;
      },
      8000,
      20,
    );
    await until("pending", async () => (await status()) === "pending", 8000, 50);
    // Not approved again while the writer holds the fd (nothing re-hashes before its close).
    await new Promise((r) => setTimeout(r, 300));
    assert.ok(!approved(), "still revoked while the writer holds the fd");
    const ev = await until(
      "a write_open event",
      async () => {
        const r = await d.cli(["events", "--json", "--limit", "100"]);
        const all = r.stdout.trim().split("\n").filter(Boolean).map((l) =>
          JSON.parse(l) as ConnEvent
        );
        return all.find((e) => e.kind === "write_open" && e.exe === script);
      },
      8000,
      100,
    );
    assert.equal(ev.tgid, Deno.pid, "the event names the opener");
    assert.equal(ev.app, "holder");

    // 2. Closed without a change: the close's re-hash approves it again.
    const t0 = performance.now();
    w.close();
    await until("approved again", () => Promise.resolve(approved()), 5000, 5);
    const reapproveMs = performance.now() - t0;
    assert.equal(await status(), "valid");
    assert.ok(reapproveMs < 5000, `re-approved in ${reapproveMs.toFixed(0)} ms`);
    const again = run();
    procs.push(again);
    assert.equal(await again.next(), "connected", "a new run connects again");

    // 3. A real change: revoked at the open, and it stays revoked after the close.
    const w2 = await Deno.open(script, { append: true });
    assert.ok(!approved(), "gone at the open");
    await w2.write(new TextEncoder().encode("# changed\n"));
    w2.close();
    await until("invalid", async () => (await status()) === "invalid", 8000, 50);
    await new Promise((r) => setTimeout(r, 300));
    assert.ok(!approved(), "a real change stays revoked");
  } finally {
    closeFd(mapFd);
    for (const p of procs) await p.kill();
    await Deno.remove(dir, { recursive: true });
  }
});
