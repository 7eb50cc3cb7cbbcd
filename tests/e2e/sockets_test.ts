/**
 * When trust ends, its connections end (real kernel, real daemon, test cgroup, enforcing,
 * allow_loopback = false): every way an approval ends closes the live TCP connections and
 * connected UDP sockets that rest on it — in the kernel, by the socket's own storage — while other
 * apps' connections stay up and keep exchanging data. Learning mode only reports "would close".
 */
import assert from "node:assert/strict";
import { sha256Of, startTestDaemon, type TestDaemon } from "../helpers/daemon.ts";
import { echoPeers, type LineProcess, sockholderCopy, spawnLines } from "../helpers/sockholder.ts";
import type { ConnEvent } from "../../src/api/types.ts";
import { until } from "../helpers/wait.ts";
import { launchBrowser } from "../helpers/browser.ts";
import { startUiDaemon } from "../helpers/ui_fixture.ts";

/** A script holding a TCP connection and a connected UDP socket: `holder.py TCPPORT UDPPORT`. */
const HOLDER_PY = `#!/usr/bin/python3
import socket, sys
t = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.connect(("127.0.0.1", int(sys.argv[2])))
t.settimeout(2); u.settimeout(2)
def rt(s):
    try:
        s.send(b"p")
        return "ok" if s.recv(1) == b"p" else "EOF"
    except OSError as e:
        import errno
        return "ERR:" + errno.errorcode.get(e.errno, str(e.errno))
print("connected tcp=ok udp=ok", flush=True)
for line in sys.stdin:
    if line.startswith("ping"):
        print("tcp=%s udp=%s" % (rt(t), rt(u)), flush=True)
`;

const FAILED = /^tcp=(ERR:\w+|EOF) udp=ERR:\w+$/;
const TCP_FAILED = /^tcp=(ERR:\w+|EOF)/;

/** Starts `bin hold` against the echo peers and checks both sockets work. */
async function hold(
  d: TestDaemon,
  bin: string,
  peers: { tcpPort: number; udpPort: number },
  host = "127.0.0.1",
): Promise<LineProcess> {
  const p = spawnLines(d.cg, [bin, "hold", host, `${peers.tcpPort}`, `${peers.udpPort}`]);
  assert.equal(await p.next(), "connected tcp=ok udp=ok", `${bin} connects`);
  assert.equal(await p.ping(), "tcp=ok udp=ok", `${bin} exchanges data`);
  return p;
}

/** After "go" to `hold … fork`: the parent's "child PID" and the child's line, in either order. */
async function forked(p: LineProcess): Promise<string> {
  const lines = [await p.next(), await p.next()];
  assert.ok(lines.some((l) => /^child \d+$/.test(l)), lines.join(" | "));
  return lines.find((l) => !/^child \d+$/.test(l))!;
}

/** Pings until the answer matches `re` (the close is asynchronous to the trigger). */
function failsSoon(p: LineProcess, what: string, re = FAILED): Promise<string> {
  return until(
    what,
    async () => {
      const r = await p.ping();
      return re.test(r) ? r : false;
    },
    8000,
    20,
  );
}

/** Replaces a file by rename (a running binary cannot be written: ETXTBSY). */
async function replaceByRename(path: string, bytes: Uint8Array): Promise<void> {
  await Deno.writeFile(`${path}.new`, bytes, { mode: 0o755 });
  await Deno.rename(`${path}.new`, path);
}

/** History events matching `pred`, polled until there are at least `n`. */
async function eventsWhere(
  d: TestDaemon,
  pred: (e: ConnEvent) => boolean,
  n = 1,
): Promise<ConnEvent[]> {
  return await until(
    `${n} matching event(s)`,
    async () => {
      const r = await d.cli(["events", "--json", "--limit", "1000"]);
      assert.equal(r.code, 0, r.stderr);
      const all = r.stdout.trim().split("\n").filter(Boolean).map((l) =>
        JSON.parse(l) as ConnEvent
      );
      const hit = all.filter(pred);
      return hit.length >= n ? hit : false;
    },
    8000,
    100,
  );
}

async function setup(dir: string, names: string[]): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const n of names) out[n] = await sockholderCopy(dir, n);
  return out;
}

async function appsFor(bins: Record<string, string>, names: string[]) {
  return await Promise.all(names.map(async (name) => ({
    name,
    path: bins[name],
    sha256: await sha256Of(bins[name]),
  })));
}

Deno.test("replacing an approved binary closes its TCP and UDP sockets; another app's stay up", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hw-sock-" });
  const bins = await setup(dir, ["a", "b"]);
  await using peers = await echoPeers();
  await using d = await startTestDaemon({
    mode: "enforcing",
    apps: await appsFor(bins, ["a", "b"]),
  });
  const procs: LineProcess[] = [];
  try {
    const a = await hold(d, bins.a, peers);
    const b = await hold(d, bins.b, peers);
    procs.push(a, b);
    await replaceByRename(bins.a, new TextEncoder().encode("#!/bin/sh\necho replaced\n"));
    const r = await failsSoon(a, "a's sockets fail after its binary was replaced");
    assert.match(r, /^tcp=(ERR:ECONNABORTED|ERR:ECONNRESET|ERR:EPIPE|EOF) /, r);
    assert.equal(await b.ping(), "tcp=ok udp=ok", "b's connections are untouched");
    assert.equal(await b.ping(), "tcp=ok udp=ok");
    await eventsWhere(d, (e) => e.kind === "close" && e.app === "a", 2);
    await new Promise((r) => setTimeout(r, 300)); // the second pass (20 ms) reports nothing again
    const closed = await eventsWhere(d, (e) => e.kind === "close" && e.app === "a", 2);
    assert.deepEqual(closed.map((e) => e.proto).sort(), [17, 6].sort(), "one event per socket");
    for (const e of closed) {
      assert.equal(e.reason, "file_changed");
      assert.equal(e.verdict, "deny");
      assert.equal(e.daddr, "127.0.0.1");
      assert.equal(e.dport, e.proto === 6 ? peers.tcpPort : peers.udpPort);
      assert.equal(e.exe, bins.a);
    }
    const cli = await d.cli(["events", "--limit", "1000"]);
    assert.match(cli.stdout, /DENY .* a .*-> 127\.0\.0\.1:\d+\/tcp {2}CLOSE file_changed/);
  } finally {
    for (const p of procs) await p.kill();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("editing an approved script in place closes the sockets its interpreter holds", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hw-sock-script-" });
  const bins = await setup(dir, ["b"]);
  const script = `${dir}/holder.py`;
  await Deno.writeTextFile(
    script,
    HOLDER_PY,
    { mode: 0o755 },
  );
  await Deno.chmod(script, 0o755);
  const python = await Deno.realPath("/usr/bin/python3");
  await using peers = await echoPeers();
  await using d = await startTestDaemon({
    mode: "enforcing",
    apps: [
      { name: "python3", path: python, sha256: await sha256Of(python), interpreter: true },
      { name: "holder", path: script, sha256: await sha256Of(script) },
      ...await appsFor(bins, ["b"]),
    ],
  });
  const procs: LineProcess[] = [];
  try {
    const s = spawnLines(d.cg, [script, `${peers.tcpPort}`, `${peers.udpPort}`], {
      env: { PATH: "/usr/bin:/bin" },
    });
    procs.push(s);
    assert.equal(await s.next(), "connected tcp=ok udp=ok");
    assert.equal(await s.ping(), "tcp=ok udp=ok");
    const b = await hold(d, bins.b, peers);
    procs.push(b);
    // Scripts can be written while they run: edit it in place.
    const f = await Deno.open(script, { append: true });
    await f.write(new TextEncoder().encode("# edited\n"));
    f.close();
    await failsSoon(s, "the script's sockets fail after the edit");
    assert.equal(await b.ping(), "tcp=ok udp=ok");
    const closed = await eventsWhere(d, (e) => e.kind === "close" && e.app === "holder", 2);
    assert.ok(closed.every((e) => e.reason === "file_changed" && e.exe === script));
  } finally {
    for (const p of procs) await p.kill();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("apps revoke closes the app's sockets, also one passed to an untrusted uid-nobody process; re-approval does not resurrect them", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hw-sock-revoke-" });
  await Deno.chmod(dir, 0o755);
  const bins = await setup(dir, ["a", "b", "stranger"]);
  const rendezvous = await Deno.makeTempDir({ prefix: "hw-sock-unix-" });
  await Deno.chmod(rendezvous, 0o777);
  const unixPath = `${rendezvous}/pass.sock`;
  await using peers = await echoPeers();
  await using peers6 = await echoPeers("::1");
  await using d = await startTestDaemon({
    mode: "enforcing",
    apps: await appsFor(bins, ["a", "b"]),
  });
  const procs: LineProcess[] = [];
  try {
    const a = await hold(d, bins.a, peers);
    const a6 = await hold(d, bins.a, peers6, "::1");
    const b = await hold(d, bins.b, peers);
    const b6 = await hold(d, bins.b, peers6, "::1");
    procs.push(a, a6, b, b6);
    // The attacker: an unapproved binary run as nobody receives a socket the approved app
    // connected (SCM_RIGHTS) before the revocation, hoping to keep the channel open.
    const recv = spawnLines(d.cg, [bins.stranger, "receive", unixPath], { nobody: true });
    procs.push(recv);
    assert.equal(await recv.next(), "listening");
    const passer = spawnLines(d.cg, [bins.a, "pass", unixPath, "127.0.0.1", `${peers.tcpPort}`]);
    procs.push(passer);
    assert.equal(await passer.next(), "passed");
    assert.equal(await recv.next(), "received");
    assert.equal(await recv.ping(), "tcp=ok", "the passed socket works before the revocation");

    const r = await d.cli(["apps", "revoke", "a"]);
    assert.equal(r.code, 0, r.stderr);
    await failsSoon(
      recv,
      "the passed socket fails: its storage decides, not its holder",
      TCP_FAILED,
    );
    await failsSoon(a, "a's sockets fail after apps revoke");
    await failsSoon(a6, "a's IPv6 sockets too");
    assert.equal(await b.ping(), "tcp=ok udp=ok");
    assert.equal(await b6.ping(), "tcp=ok udp=ok");
    const closed = await eventsWhere(d, (e) => e.kind === "close" && e.reason === "app_revoked", 5);
    assert.ok(closed.every((e) => e.app === "a"));
    assert.equal(closed.filter((e) => e.family === 6 && e.daddr === "::1").length, 2);

    // Re-approve: the closed sockets stay closed, new connects pass. (Under a new name: allowing
    // a revoked apps.toml entry again under its own name is refused as a duplicate — not ours.)
    const allow = await d.cli(["apps", "allow", bins.a, "--name", "a-again"]);
    assert.equal(allow.code, 0, allow.stderr);
    assert.match(await a.ping(), FAILED);
    const a2 = await hold(d, bins.a, peers);
    procs.push(a2);
  } finally {
    for (const p of procs) await p.kill();
    await Deno.remove(dir, { recursive: true });
    await Deno.remove(rendezvous, { recursive: true });
  }
});

Deno.test("an inbound connection accepted by an approved server closes when the server is revoked", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hw-sock-server-" });
  const bins = await setup(dir, ["server"]);
  await using d = await startTestDaemon({
    mode: "enforcing",
    apps: await appsFor(bins, ["server"]),
  });
  const procs: LineProcess[] = [];
  let conn: Deno.TcpConn | undefined;
  try {
    const srv = spawnLines(d.cg, [bins.server, "serve"]);
    procs.push(srv);
    const port = Number((await srv.next()).replace("port ", ""));
    conn = await Deno.connect({ hostname: "127.0.0.1", port });
    const buf = new Uint8Array(16);
    await conn.write(new TextEncoder().encode("hi"));
    assert.equal(await conn.read(buf), 2, "the server echoes");
    const r = await d.cli(["apps", "revoke", "server"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(await srv.next(), /^closed ERR:ECONNABORTED$/);
    // The peer (this test) sees the reset.
    const end = await conn.read(buf).then((n) => `read ${n}`, (e) => (e as Error).name);
    assert.match(end, /ConnectionReset|read null/);
    const ev = await eventsWhere(d, (e) => e.kind === "close" && e.app === "server");
    assert.equal(ev[0].reason, "app_revoked");
  } finally {
    try {
      conn?.close();
    } catch { /* reset */ }
    for (const p of procs) await p.kill();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a --for once approval: its process's (inherited) connections close when it ends", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hw-sock-once-" });
  const bins = await setup(dir, ["once", "b"]);
  await using peers = await echoPeers();
  await using d = await startTestDaemon({ mode: "enforcing", apps: await appsFor(bins, ["b"]) });
  const procs: LineProcess[] = [];
  try {
    const b = await hold(d, bins.b, peers);
    procs.push(b);
    const p = spawnLines(d.cg, [
      bins.once,
      "hold",
      "127.0.0.1",
      `${peers.tcpPort}`,
      `${peers.udpPort}`,
      "fork",
    ]);
    procs.push(p);
    await new Promise((r) => setTimeout(r, 100));
    const allow = await d.cli([
      "apps",
      "allow",
      bins.once,
      "--for",
      "once",
      "--pid",
      `${p.child.pid}`,
      "--inherit",
    ]);
    assert.equal(allow.code, 0, allow.stderr);
    await p.send("go");
    assert.equal(await forked(p), "connected tcp=ok udp=ok", "the child inherited the approval");
    assert.equal(await p.ping(), "tcp=ok udp=ok");
    // The approved process ends; its child lives on with the sockets it opened under that trust.
    Deno.kill(p.child.pid, "SIGKILL");
    await failsSoon(p, "the child's sockets close when the once approval ends");
    assert.equal(await b.ping(), "tcp=ok udp=ok");
    const ev = await eventsWhere(d, (e) => e.kind === "close" && e.reason === "approval_ended", 2);
    assert.ok(ev.every((e) => e.exe === bins.once));

    // Another once approval, ended by `apps revoke NAME` while its process still runs.
    const q = spawnLines(d.cg, [
      bins.once,
      "hold",
      "127.0.0.1",
      `${peers.tcpPort}`,
      `${peers.udpPort}`,
      "fork",
    ]);
    procs.push(q);
    await new Promise((r) => setTimeout(r, 100));
    const again = await d.cli([
      "apps",
      "allow",
      bins.once,
      "--for",
      "once",
      "--pid",
      `${q.child.pid}`,
      "--inherit",
      "--name",
      "one-off",
    ]);
    assert.equal(again.code, 0, again.stderr);
    await q.send("go");
    assert.equal(await forked(q), "connected tcp=ok udp=ok");
    const rv = await d.cli(["apps", "revoke", "one-off"]);
    assert.equal(rv.code, 0, rv.stderr);
    await failsSoon(q, "apps revoke ends a once approval and closes its sockets");
    assert.equal(await b.ping(), "tcp=ok udp=ok");
  } finally {
    for (const p of procs) await p.kill();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("after kill -9 and a restart of the daemon, revoking still closes a connection opened before; the restart ends session approvals and catches a script changed while down", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hw-sock-restart-" });
  const bins = await setup(dir, ["a", "b", "s"]);
  const script = `${dir}/holder.py`;
  await Deno.writeTextFile(script, HOLDER_PY, { mode: 0o755 });
  await Deno.chmod(script, 0o755);
  const python = await Deno.realPath("/usr/bin/python3");
  await using peers = await echoPeers();
  await using d = await startTestDaemon({
    mode: "enforcing",
    apps: [
      ...await appsFor(bins, ["a", "b"]),
      { name: "python3", path: python, sha256: await sha256Of(python), interpreter: true },
      { name: "holder", path: script, sha256: await sha256Of(script) },
    ],
  });
  const procs: LineProcess[] = [];
  try {
    const allow = await d.cli(["apps", "allow", bins.s, "--name", "s", "--for", "session"]);
    assert.equal(allow.code, 0, allow.stderr);
    const a = await hold(d, bins.a, peers);
    const b = await hold(d, bins.b, peers);
    const s = await hold(d, bins.s, peers);
    const py = spawnLines(d.cg, [script, `${peers.tcpPort}`, `${peers.udpPort}`], {
      env: { PATH: "/usr/bin:/bin" },
    });
    procs.push(a, b, s, py);
    assert.equal(await py.next(), "connected tcp=ok udp=ok");
    d.signal("SIGKILL");
    await d.process.status;
    // Changed while no daemon watches: the restart's re-hash finds it.
    await Deno.writeTextFile(script, HOLDER_PY + "# changed while the daemon was down\n");
    assert.equal(await py.ping(), "tcp=ok udp=ok", "nothing closes without a daemon");
    await d.restart();
    await failsSoon(s, "the session approval ended with the daemon: its sockets close");
    await failsSoon(py, "the script that no longer matches: its sockets close");
    assert.equal(await a.ping(), "tcp=ok udp=ok", "the restart itself closes nothing else");
    const r = await d.cli(["apps", "revoke", "a"]);
    assert.equal(r.code, 0, r.stderr);
    await failsSoon(a, "a's pre-restart sockets fail");
    assert.equal(await b.ping(), "tcp=ok udp=ok");
    const ev = await eventsWhere(d, (e) => e.kind === "close", 6);
    const why = (exe: string) => [...new Set(ev.filter((e) => e.exe === exe).map((e) => e.reason))];
    assert.deepEqual(why(bins.s), ["approval_ended"]);
    // The restart's check of pinned approvals sees the changed times and revokes before any
    // re-hash: the file changed while no daemon watched it.
    assert.deepEqual(why(script), ["file_changed"]);
    assert.deepEqual(why(bins.a), ["app_revoked"]);
  } finally {
    for (const p of procs) await p.kill();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("learning mode closes nothing and reports would_close; the switch to enforcing can close unapproved apps' sockets", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hw-sock-learn-" });
  const bins = await setup(dir, ["a", "b", "unknown"]);
  await using peers = await echoPeers();
  await using d = await startTestDaemon({
    mode: "learning",
    apps: await appsFor(bins, ["a", "b"]),
  });
  const procs: LineProcess[] = [];
  try {
    const a = await hold(d, bins.a, peers);
    const b = await hold(d, bins.b, peers);
    const u = await hold(d, bins.unknown, peers);
    procs.push(a, b, u);
    await replaceByRename(bins.a, new TextEncoder().encode("#!/bin/sh\necho replaced\n"));
    const ev = await eventsWhere(d, (e) => e.kind === "would_close" && e.app === "a", 2);
    assert.ok(ev.every((e) => e.verdict === "allow" && e.reason === "file_changed"));
    assert.equal(await a.ping(), "tcp=ok udp=ok", "learning: nothing is closed");

    // Enforcing without the offer: the unknown app keeps its connections (new ones are denied).
    assert.equal((await d.cli(["mode", "enforcing"])).code, 0);
    assert.equal(await u.ping(), "tcp=ok udp=ok");
    assert.equal((await d.cli(["mode", "learning"])).code, 0);
    // With --close-unapproved: the unknown app's and the revoked a's sockets close, b's stay.
    const r = await d.cli(["mode", "enforcing", "--close-unapproved"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /closed \d+ live socket/);
    assert.match(await u.ping(), FAILED);
    assert.match(await a.ping(), FAILED);
    assert.equal(await b.ping(), "tcp=ok udp=ok");
    const closed = await eventsWhere(
      d,
      (e) => e.kind === "close" && e.reason === "not_approved",
      4,
    );
    assert.ok(closed.some((e) => e.exe === bins.unknown));
    const usage = await d.cli(["mode", "learning", "--close-unapproved"]);
    assert.equal(usage.code, 2, "the offer goes with enforcing only");
  } finally {
    for (const p of procs) await p.kill();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("[defaults] close_on_revoke = false keeps the old behaviour: only new connects are denied", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hw-sock-off-" });
  const bins = await setup(dir, ["a"]);
  await using peers = await echoPeers();
  await using d = await startTestDaemon({
    mode: "enforcing",
    defaultsExtra: "close_on_revoke = false",
    apps: await appsFor(bins, ["a"]),
  });
  const procs: LineProcess[] = [];
  try {
    const a = await hold(d, bins.a, peers);
    procs.push(a);
    assert.equal((await d.cli(["apps", "revoke", "a"])).code, 0);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(await a.ping(), "tcp=ok udp=ok");
    const n = spawnLines(d.cg, [bins.a, "hold", "127.0.0.1", `${peers.tcpPort}`, "0"]);
    procs.push(n);
    assert.equal(await n.next(), "connected tcp=EPERM udp=ok");
  } finally {
    for (const p of procs) await p.kill();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("UI: the switch to enforcing offers to close unapproved apps' live connections", async () => {
  await using f = await startUiDaemon({ mode: "learning" });
  const unknown = await sockholderCopy(f.dir, "unknown");
  await using peers = await echoPeers();
  const u = await hold(f.daemon, unknown, peers);
  try {
    await using b = await launchBrowser();
    const page = await b.newPage();
    await f.login(page);
    await page.goto(`${f.url}/mode?to=enforcing`);
    const box = page.locator("[data-test=close-unapproved]");
    assert.equal(await box.isChecked(), false, "off by default");
    await box.check();
    await page.click("[data-test=mode-confirm]");
    await page.waitForURL(`${f.url}/`);
    assert.match(await page.textContent("main") ?? "", /2 live connection\(s\) closed/);
    assert.match(await u.ping(), FAILED);
    const ev = await eventsWhere(f.daemon, (e) => e.kind === "close" && e.exe === unknown, 2);
    assert.ok(ev.every((e) => e.reason === "not_approved"));
    await page.goto(`${f.url}/history`);
    assert.match(await page.textContent("main") ?? "", /live connection closed: the app is not/);
  } finally {
    await u.kill();
  }
});

Deno.test("allow_loopback = true: loopback connections carry no record (anyone may reconnect), so a revocation leaves them", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hw-sock-lo-" });
  const bins = await setup(dir, ["a"]);
  await using peers = await echoPeers();
  await using d = await startTestDaemon({
    mode: "enforcing",
    allowLoopback: true,
    apps: await appsFor(bins, ["a"]),
  });
  const procs: LineProcess[] = [];
  try {
    const a = await hold(d, bins.a, peers);
    procs.push(a);
    assert.equal((await d.cli(["apps", "revoke", "a"])).code, 0);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(await a.ping(), "tcp=ok udp=ok");
    const r = await d.cli(["events", "--json", "--limit", "1000"]);
    assert.ok(!r.stdout.includes('"kind":"close"'), "nothing closed, nothing reported");
  } finally {
    for (const p of procs) await p.kill();
    await Deno.remove(dir, { recursive: true });
  }
});

/** The thief: takes fd 3 (the TCP socket) of PID with pidfd_getfd, sends a byte, then another. */
const THIEF_PY = `import ctypes, os, sys, time
libc = ctypes.CDLL(None, use_errno=True)
pfd = os.pidfd_open(int(sys.argv[1]))
fd = libc.syscall(438, pfd, 3, 0)
if fd < 0:
    print("steal:ERR:" + os.strerror(ctypes.get_errno()), flush=True)
    sys.exit(0)
def send(what):
    try:
        os.write(fd, b"p")
        print(what + ":ok", flush=True)
    except OSError as e:
        print(what + ":ERR:" + e.strerror, flush=True)
send("first")
time.sleep(1.5)
send("second")
`;

Deno.test("attacker: a trusted process's socket taken with pidfd_getfd is closed with the taint (the thief's later bytes fail)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hw-sock-steal-" });
  await Deno.chmod(dir, 0o755);
  const bins = await setup(dir, ["a"]);
  const thief = `${dir}/thief.py`;
  await Deno.writeTextFile(thief, THIEF_PY, { mode: 0o644 });
  await using peers = await echoPeers();
  await using d = await startTestDaemon({ mode: "enforcing", apps: await appsFor(bins, ["a"]) });
  const procs: LineProcess[] = [];
  try {
    // The approved holder runs as nobody, so a process of the same uid may pidfd_getfd it (no
    // Yama here): the attacker needs no privilege at all.
    const a = spawnLines(d.cg, [bins.a, "hold", "127.0.0.1", `${peers.tcpPort}`, "0"], {
      nobody: true,
    });
    procs.push(a);
    assert.match(await a.next(), /^connected tcp=ok/, "the approved holder connects");
    const t = spawnLines(d.cg, ["/usr/bin/python3.11", thief, `${a.child.pid}`], { nobody: true });
    procs.push(t);
    // The first byte may pass: the taint is seen at the syscall's exit, the close follows at the
    // daemon's next ring drain. What must not hold is the connection itself.
    assert.match(await t.next(), /^first:/);
    assert.match(await t.next(), /^second:ERR:/, "the stolen connection was closed");
    await failsSoon(a, "the holder's own socket is closed too", TCP_FAILED);
    const closed = await eventsWhere(
      d,
      (e) => e.kind === "close" && e.reason === "process_injected" && e.app === "a",
    );
    assert.equal(closed[0].tgid, a.child.pid);
  } finally {
    for (const p of procs) await p.kill();
    await Deno.remove(dir, { recursive: true });
  }
});
