/**
 * Hostile local clients against the REAL daemon: its control socket and its web UI fed garbage,
 * oversized and truncated requests, idle and slowloris connections and 200 concurrent requests.
 * Every probe is bounded in time. Afterwards the daemon is the same process, still answers
 * quickly, still enforces (real connect verdicts), and nobody gained a role: a `hashwall`-group
 * viewer on the socket and a viewer UI session stay read-only, and no session stays 401/login.
 */
import assert from "node:assert/strict";
import { dirname } from "node:path";
import { sha256Of, startTestDaemon, type TestDaemon } from "../helpers/daemon.ts";
import { loopbackListener, netclientCopy } from "../helpers/netclient.ts";
import { cliJson, rssKiB, uiLogin } from "../helpers/stress.ts";
import { callDaemon } from "../../src/daemon/client.ts";
import { controlSocketPath } from "../../src/daemon/control.ts";
import { lookupGroup } from "../../src/base/users.ts";
import type { StatusInfo } from "../../src/api/types.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** Reads from `conn` until EOF, `until` matches, `max` bytes or `ms` passed; never throws. */
async function readSome(
  conn: Deno.Conn,
  ms: number,
  until?: (text: string) => boolean,
  max = 1 << 20,
): Promise<{ text: string; eof: boolean; timedOut: boolean }> {
  const chunks: Uint8Array[] = [];
  let len = 0, eof = false, timedOut = false;
  const buf = new Uint8Array(65536);
  const timer = setTimeout(() => {
    timedOut = true;
    try {
      conn.close();
    } catch { /* closed */ }
  }, ms);
  try {
    while (len < max) {
      const n = await conn.read(buf);
      if (n === null) {
        eof = true;
        break;
      }
      chunks.push(buf.slice(0, n));
      len += n;
      if (until?.(dec.decode(concat(chunks)))) break;
    }
  } catch {
    eof = !timedOut;
  } finally {
    clearTimeout(timer);
  }
  return { text: dec.decode(concat(chunks)), eof, timedOut };
}

function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let o = 0;
  for (const c of chunks) {
    out.set(c, o);
    o += c.length;
  }
  return out;
}

/** Writes all of `data`, ignoring a peer that closed early (a refusal is a fine answer). */
async function writeAll(conn: Deno.Conn, data: Uint8Array): Promise<void> {
  let off = 0;
  try {
    while (off < data.length) off += await conn.write(data.subarray(off));
  } catch { /* peer closed */ }
}

/** mulberry32: reproducible junk. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function junk(r: () => number, n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(r() * 256);
  return b;
}

async function sh(cmd: string, args: string[]): Promise<void> {
  const out = await new Deno.Command(cmd, { args, stdout: "null", stderr: "piped" }).output();
  if (!out.success) throw new Error(`${cmd} ${args.join(" ")}: ${dec.decode(out.stderr)}`);
}

function uidOf(user: string): { uid: number; gid: number } {
  const line = Deno.readTextFileSync("/etc/passwd").split("\n").find((l) =>
    l.startsWith(`${user}:`)
  )!;
  const f = line.split(":");
  return { uid: Number(f[2]), gid: Number(f[3]) };
}

/** Sends request lines to the control socket as `user` (socat under setpriv); returns replies. */
async function socketAs(user: string, socket: string, lines: string[]): Promise<unknown[]> {
  const { uid, gid } = uidOf(user);
  const child = new Deno.Command("timeout", {
    args: [
      "10",
      "setpriv",
      `--reuid=${uid}`,
      `--regid=${gid}`,
      "--init-groups",
      "socat",
      "-t5",
      "-",
      `UNIX-CONNECT:${socket}`,
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const w = child.stdin.getWriter();
  await w.write(enc.encode(lines.map((l) => l + "\n").join("")));
  await w.close();
  const out = await child.output();
  if (!out.success) throw new Error(`socat as ${user}: ${dec.decode(out.stderr)}`);
  return dec.decode(out.stdout).split("\n").filter((l) => l.trim() !== "").map((l) =>
    JSON.parse(l)
  );
}

async function verdicts(d: TestDaemon, good: string, bad: string, port: number): Promise<string> {
  const g = (await d.cg.run([good, "tcp4", "127.0.0.1", `${port}`])).stdout.trim();
  const b = (await d.cg.run([bad, "tcp4", "127.0.0.1", `${port}`])).stdout.trim();
  return `${g}/${b}`;
}

/** A status call must come back fast: the daemon is neither hung nor starved by the attack. */
async function quickStatus(d: TestDaemon, what: string): Promise<number> {
  const t = performance.now();
  const st = await callDaemon(d.stateDir, "status", {}, { timeoutMs: 5000 }) as StatusInfo;
  const ms = performance.now() - t;
  assert.equal(st.mode, "enforcing", what);
  assert.ok(ms < 3000, `${what}: status took ${ms.toFixed(0)} ms`);
  return ms;
}

Deno.test("hostile clients: control socket and UI of the real daemon survive garbage, floods and slowloris with roles intact", async () => {
  const tag = crypto.randomUUID().slice(0, 6);
  const viewer = `hwst-${tag}-v`;
  const createdGroup = lookupGroup("hashwall") === undefined;
  let createdUser = false;
  const dir = await Deno.makeTempDir({ prefix: "hw-stress-clients-" });
  const listener = loopbackListener();
  const held: Deno.Conn[] = [];
  const closeHeld = () => {
    for (const c of held.splice(0)) {
      try {
        c.close();
      } catch { /* closed */ }
    }
  };
  try {
    // The group must exist before the daemon starts, so its socket is 0660 group hashwall.
    if (createdGroup) await sh("groupadd", ["--system", "hashwall"]);
    await sh("useradd", ["--system", "--no-create-home", "--shell", "/usr/sbin/nologin", viewer]);
    createdUser = true;
    await sh("usermod", ["-aG", "hashwall", viewer]);
    const good = await netclientCopy(`${dir}/good`);
    const bad = await netclientCopy(`${dir}/bad`);
    await using d = await startTestDaemon({
      mode: "enforcing",
      ui: true,
      apps: [{ name: "good", path: good, sha256: await sha256Of(good) }],
    });
    const pid = d.process.pid;
    const sock = controlSocketPath(d.stateDir);
    // The test's temp folders are 0700; the viewer must reach the socket (itself 0660).
    for (const p of [dirname(d.stateDir), d.stateDir, dirname(sock)]) await Deno.chmod(p, 0o755);
    const ui = new URL(d.uiUrl!);
    const uiPort = Number(ui.port);
    assert.equal(await verdicts(d, good, bad, listener.port), "ok/EPERM");
    const rssBefore = rssKiB(pid)!;
    const r = rng(0xbad);
    const figures: string[] = [];

    // ---------------------------------------------------------------- control socket
    // Garbage lines, invalid UTF-8, wrong shapes, deep nesting: each answered with an error or a
    // close, within 5 s, never a success.
    const bads: Uint8Array[] = [
      enc.encode("hello\n"),
      enc.encode("{}\n"),
      enc.encode("[]\n"),
      enc.encode("null\n"),
      enc.encode('{"id":1}\n'),
      enc.encode('{"id":1,"op":"nope","args":{}}\n'),
      enc.encode('{"id":1,"op":"status","args":"x"}\n'),
      enc.encode('{"id":1,"op":"mode","args":{"mode":"off"}}\n'),
      enc.encode('{"id":{"a":1},"op":"events","args":{"limit":-5}}\n'),
      enc.encode('{"id":1,"op":"events","args":{"limit":1e309}}\n'),
      enc.encode('{"id":1,"op":"apps.allow","args":{"path":"\\u0000/etc/passwd"}}\n'),
      enc.encode('{"id":1,"op":"__proto__","args":{}}\n'),
      enc.encode(`${"[".repeat(100_000)}${"]".repeat(100_000)}\n`),
      enc.encode(`{"id":1,"op":"mode","args":${'{"a":'.repeat(50_000)}1${"}".repeat(50_000)}}\n`),
      new Uint8Array([0xff, 0xfe, 0x00, 0x80, 0x0a]),
      ...Array.from({ length: 40 }, () => new Uint8Array([...junk(r, 200), 0x0a])),
    ];
    let socketRefusals = 0;
    for (const b of bads) {
      const c = await Deno.connect({ transport: "unix", path: sock });
      await writeAll(c, b);
      const res = await readSome(c, 5000, (t) => t.includes("\n"));
      try {
        c.close();
      } catch { /* closed */ }
      assert.ok(!res.timedOut, `no answer within 5 s to ${dec.decode(b.slice(0, 60))}`);
      const line = res.text.split("\n")[0];
      if (line !== "") {
        const m = JSON.parse(line) as { ok: boolean; code?: string };
        assert.equal(m.ok, false, `accepted garbage ${dec.decode(b.slice(0, 60))}: ${line}`);
        assert.ok(["bad_request", "not_found", "forbidden", "error"].includes(m.code!), line);
      }
      socketRefusals++;
    }
    await quickStatus(d, "after socket garbage");

    // Oversized (2 MiB without a newline) and truncated requests.
    {
      const c = await Deno.connect({ transport: "unix", path: sock });
      void writeAll(c, new Uint8Array(2 * 1024 * 1024).fill(0x61));
      const res = await readSome(c, 5000, (t) => t.includes("\n"));
      try {
        c.close();
      } catch { /* closed */ }
      assert.ok(!res.timedOut, "an oversized request was neither refused nor closed in 5 s");
      assert.match(res.text, /"ok":false.*"code":"bad_request"/);
    }
    for (const cut of [1, 10, 25]) {
      const c = await Deno.connect({ transport: "unix", path: sock });
      await writeAll(c, enc.encode('{"id":1,"op":"status","args":{}}'.slice(0, cut)));
      await c.closeWrite();
      const res = await readSome(c, 5000);
      c.close();
      assert.ok(!res.timedOut, `truncated request (${cut} bytes) left hanging`);
    }

    // 100 idle connections held open, then 200 concurrent status calls: all answered.
    for (let i = 0; i < 100; i++) held.push(await Deno.connect({ transport: "unix", path: sock }));
    const t0 = performance.now();
    const many = await Promise.all(
      Array.from(
        { length: 200 },
        () => callDaemon(d.stateDir, "status", {}, { timeoutMs: 20_000 }) as Promise<StatusInfo>,
      ),
    );
    const socketConcurrentMs = performance.now() - t0;
    assert.ok(many.every((s) => s.pid === pid));
    closeHeld();
    figures.push(
      `socket: ${socketRefusals} garbage requests refused, 200 concurrent status with 100 idle peers in ${
        socketConcurrentMs.toFixed(0)
      } ms`,
    );

    // A hashwall-group viewer stays a viewer, whatever it sends around its writes.
    const asViewer = await socketAs(viewer, sock, [
      '{"id":1,"op":"status","args":{}}',
      '{"id":2,"op":"mode","args":{"mode":"learning"}}',
      '{"id":3,"op":"mode","args":{"mode":"learning","role":"admin"}}',
      "garbage",
      '{"id":4,"op":"apps.allow","args":{"path":"' + bad + '"}}',
      '{"id":5,"op":"reload","args":{},"caller":{"role":"admin"}}',
      '{"id":6,"op":"apps.revoke","args":{"name":"good"}}',
      '{"id":7,"op":"mode","args":{"__proto__":{"role":"admin"},"mode":"learning"}}',
    ]);
    const byId = new Map(
      (asViewer as { id: number; ok: boolean; code?: string }[]).map((m) => [m.id, m]),
    );
    assert.equal(byId.get(1)?.ok, true, `viewer status: ${JSON.stringify(asViewer)}`);
    for (const id of [2, 3, 4, 5, 6, 7]) {
      assert.equal(byId.get(id)?.ok, false, `viewer write ${id}: ${JSON.stringify(asViewer)}`);
      assert.equal(byId.get(id)?.code, "forbidden", `viewer write ${id}`);
    }

    // ---------------------------------------------------------------- web UI
    const admin = await uiLogin(d, "admin");
    const view = await uiLogin(d, "viewer");
    const host = `127.0.0.1:${uiPort}`;
    const raw = async (data: Uint8Array, ms = 5000) => {
      const c = await Deno.connect({ hostname: "127.0.0.1", port: uiPort });
      void writeAll(c, data);
      const res = await readSome(c, ms, (t) => /\r\n\r\n/.test(t) && /^HTTP\/1\.1 \d+/.test(t));
      try {
        c.close();
      } catch { /* closed */ }
      return res;
    };
    // Raw garbage and malformed HTTP: a 4xx or a close, within 5 s, never a 2xx/5xx.
    const rawCases: Uint8Array[] = [
      ...Array.from({ length: 30 }, () => junk(r, 300)),
      enc.encode("GET / HTTP/1.1\r\n\r\n"),
      enc.encode("GET / HTTP/9.9\r\nHost: " + host + "\r\n\r\n"),
      enc.encode("GET /" + "a".repeat(100_000) + " HTTP/1.1\r\nHost: " + host + "\r\n\r\n"),
      enc.encode(`GET / HTTP/1.1\r\nHost: ${host}\r\nX-Big: ${"b".repeat(1 << 20)}\r\n\r\n`),
      enc.encode(
        `GET / HTTP/1.1\r\nHost: ${host}\r\n${
          Array.from({ length: 5000 }, (_, i) => `X-H${i}: v`).join("\r\n")
        }\r\n\r\n`,
      ),
      enc.encode(
        `POST /api/mode HTTP/1.1\r\nHost: ${host}\r\nContent-Length: 99999999999999999999\r\n\r\n{}`,
      ),
      enc.encode(
        `POST /api/mode HTTP/1.1\r\nHost: ${host}\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\nzz\r\n`,
      ),
      enc.encode(`GET /api/status HTTP/1.1\r\nHost: evil.example\r\n\r\n`),
      enc.encode(
        `GET /api/status HTTP/1.1\r\nHost: ${host}\r\nCookie: hashwall_session=${
          "z".repeat(64)
        }\r\n\r\n`,
      ),
      enc.encode(
        `GET /api/status HTTP/1.1\r\nHost: ${host}\r\nAuthorization: Bearer ${
          "0".repeat(64)
        }\r\n\r\n`,
      ),
    ];
    let uiRefusals = 0;
    for (const b of rawCases) {
      const res = await raw(b);
      assert.ok(!res.timedOut || res.text === "", "UI neither answered nor closed in 5 s");
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(res.text)?.[1] ?? 0);
      assert.ok(
        status === 0 || (status >= 400 && status < 500),
        `UI answered ${status} to ${dec.decode(b.slice(0, 80))}`,
      );
      uiRefusals++;
    }
    // A body larger than any real form, from a logged-in viewer (the CSRF check reads form
    // bodies before the role check) and from no session: refused, memory not ballooning.
    const bigBody = "_csrf=" + view.csrf + "&mode=" + "x".repeat(64 * 1024 * 1024);
    const bigRes = await fetch(`${d.uiUrl}/mode`, {
      method: "POST",
      headers: { cookie: view.cookie, "content-type": "application/x-www-form-urlencoded" },
      body: bigBody,
      signal: AbortSignal.timeout(20_000),
    });
    await bigRes.body?.cancel();
    assert.equal(bigRes.status, 413, `64 MiB form: ${bigRes.status}`);
    const rssAfterBig = rssKiB(pid)!;
    assert.ok(
      rssAfterBig - rssBefore < 64 * 1024,
      `a refused 64 MiB body grew the daemon by ${rssAfterBig - rssBefore} KiB`,
    );
    const anonBig = await fetch(`${d.uiUrl}/api/mode`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ mode: "learning", pad: "y".repeat(16 * 1024 * 1024) }),
      signal: AbortSignal.timeout(20_000),
    });
    await anonBig.body?.cancel();
    assert.ok(
      [401, 413].includes(anonBig.status),
      `16 MiB body without a session: ${anonBig.status}`,
    );

    // Slowloris: 100 connections dribbling a request header, bounded to 8 s, while a person's
    // page load still answers quickly.
    for (let i = 0; i < 100; i++) {
      const c = await Deno.connect({ hostname: "127.0.0.1", port: uiPort });
      held.push(c);
      void writeAll(c, enc.encode(`GET / HTTP/1.1\r\nHost: ${host}\r\n`));
    }
    const dribble = setInterval(() => {
      for (const c of held) void writeAll(c, enc.encode("X-a: b\r\n"));
    }, 1000);
    const pageMs: number[] = [];
    try {
      const end = Date.now() + 8000;
      while (Date.now() < end) {
        const t = performance.now();
        const res = await fetch(`${d.uiUrl}/`, {
          headers: { cookie: admin.cookie },
          signal: AbortSignal.timeout(5000),
        });
        await res.text();
        assert.equal(res.status, 200);
        pageMs.push(performance.now() - t);
        await new Promise((r) => setTimeout(r, 500));
      }
    } finally {
      clearInterval(dribble);
      closeHeld();
    }
    figures.push(
      `ui: ${uiRefusals} malformed requests refused; page load during 100-connection slowloris max ${
        Math.max(...pageMs).toFixed(0)
      } ms; RSS ${rssBefore} → ${rssAfterBig} KiB after a 64 MiB form`,
    );

    // 200 concurrent requests: a mix of pages, API reads and refused writes.
    const t1 = performance.now();
    const results = await Promise.all(Array.from({ length: 200 }, async (_, i) => {
      const kind = i % 4;
      const res = kind === 0
        ? await fetch(`${d.uiUrl}/`, { headers: { cookie: admin.cookie } })
        : kind === 1
        ? await fetch(`${d.uiUrl}/api/status`, { headers: { cookie: view.cookie } })
        : kind === 2
        ? await fetch(`${d.uiUrl}/api/status`)
        : await fetch(`${d.uiUrl}/api/mode`, {
          method: "POST",
          headers: {
            cookie: view.cookie,
            "x-csrf-token": view.csrf,
            "content-type": "application/json",
          },
          body: '{"mode":"learning"}',
        });
      await res.body?.cancel();
      return [kind, res.status] as const;
    }));
    const uiConcurrentMs = performance.now() - t1;
    const want = [200, 200, 401, 403];
    for (const [kind, status] of results) assert.equal(status, want[kind], `request kind ${kind}`);
    figures.push(`ui: 200 concurrent requests in ${uiConcurrentMs.toFixed(0)} ms`);

    // Unauthenticated stays unauthenticated; the viewer session stays a viewer.
    for (const path of ["/", "/apps", "/rules"]) {
      const res = await fetch(`${d.uiUrl}${path}`);
      assert.equal(res.status, 401, path);
      assert.match(await res.text(), /Sign in/, path);
    }
    const viewerStatus = await (await fetch(`${d.uiUrl}/`, { headers: { cookie: view.cookie } }))
      .text();
    assert.match(viewerStatus, /data-test="role"[^>]*>viewer</);

    // The same daemon, still quick, still enforcing, nothing changed by anyone.
    const ms = await quickStatus(d, "after the attacks");
    const st = await cliJson<StatusInfo>(d, ["status"]);
    assert.equal(st.pid, pid, "the daemon never restarted");
    assert.equal(st.mode, "enforcing");
    assert.equal(st.apps.valid, 1);
    assert.equal(await verdicts(d, good, bad, listener.port), "ok/EPERM");
    const rssEnd = rssKiB(pid)!;
    figures.push(`after: status in ${ms.toFixed(0)} ms, RSS ${rssEnd} KiB`);
    console.log(figures.join("\n"));
    assert.ok(rssEnd < 400 * 1024, `RSS after the attacks ${rssEnd} KiB`);
  } finally {
    closeHeld();
    listener.close();
    if (createdUser) await sh("userdel", [viewer]).catch(() => {});
    if (createdGroup) await sh("groupdel", ["hashwall"]).catch(() => {});
    await Deno.remove(dir, { recursive: true });
  }
});
