import assert from "node:assert/strict";
import { dirname } from "node:path";
import { instanceName } from "../../src/kernel/pins.ts";
import { openStore, type Store } from "../../src/store/store.ts";
import {
  type ControlServer,
  type ControlServerOptions,
  controlSocketPath,
  startControlServer,
} from "../../src/daemon/control.ts";
import { callDaemon, DaemonError, streamDaemon } from "../../src/daemon/client.ts";
import type { LiveMessage } from "../../src/api/types.ts";
import { sampleEvent, StoreBackedApi } from "./control_fixture.ts";
import { startTestDaemon } from "../helpers/daemon.ts";

interface Env {
  dir: string;
  store: Store;
  api: StoreBackedApi;
  server: ControlServer;
}

async function withServer(
  fn: (env: Env) => Promise<void>,
  opts: ControlServerOptions = {},
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "hw-ctl-" });
  const store = openStore(`${dir}/hashwall.db`);
  let server: ControlServer | undefined;
  try {
    const api = new StoreBackedApi(store);
    server = startControlServer(api, controlSocketPath(dir), {
      audit: store.audit.bind(store),
      ...opts,
    });
    await fn({ dir, store, api, server });
  } finally {
    await server?.close();
    store.close();
    await Deno.remove(dir, { recursive: true });
  }
}

/** A raw client: write bytes, read reply lines until `n` lines or EOF, with a deadline. */
async function raw(
  path: string,
  payload: Uint8Array | string,
  n = 1,
  timeoutMs = 5000,
): Promise<{ lines: Record<string, unknown>[]; eof: boolean }> {
  const conn = await Deno.connect({ transport: "unix", path });
  const timer = setTimeout(() => conn.close(), timeoutMs);
  const lines: Record<string, unknown>[] = [];
  let eof = false;
  try {
    const bytes = typeof payload === "string" ? new TextEncoder().encode(payload) : payload;
    // Write in the background: the server may stop reading (oversize) and answer first.
    const writing = conn.write(bytes).then(async (w) => {
      let off = w;
      while (off < bytes.length) off += await conn.write(bytes.subarray(off));
    }).catch(() => {});
    const dec = new TextDecoder();
    let buf = "";
    const chunk = new Uint8Array(65536);
    while (lines.length < n) {
      let r: number | null;
      try {
        r = await conn.read(chunk);
      } catch {
        r = null;
      }
      if (r === null) {
        eof = true;
        break;
      }
      buf += dec.decode(chunk.subarray(0, r), { stream: true });
      let i: number;
      while ((i = buf.indexOf("\n")) !== -1) {
        lines.push(JSON.parse(buf.slice(0, i)));
        buf = buf.slice(i + 1);
      }
    }
    clearTimeout(timer);
    await Promise.race([writing, new Promise((r) => setTimeout(r, 50))]);
    return { lines, eof };
  } finally {
    clearTimeout(timer);
    try {
      conn.close();
    } catch { /* closed by the timer */ }
  }
}

Deno.test("control: root is admin; ops map onto the API; writes are audited with uid and pid", () =>
  withServer(async ({ dir, store, api }) => {
    const info = Deno.statSync(controlSocketPath(dir));
    assert.ok(info.isSocket);
    const hasGroup = Deno.readTextFileSync("/etc/group").split("\n").some((l) =>
      l.startsWith("hashwall:")
    );
    assert.equal(info.mode! & 0o777, hasGroup ? 0o660 : 0o600);

    api.ingest([sampleEvent(1), sampleEvent(2), sampleEvent(3)]);
    const status = await callDaemon(dir, "status") as {
      mode: string;
      counters: Record<string, number>;
    };
    assert.equal(status.mode, "learning");
    assert.deepEqual(status.counters, { allow: 2, deny: 1 });
    const events = await callDaemon(dir, "events", { verdict: "allow", limit: 10 }) as {
      id: number;
    }[];
    assert.deepEqual(events.map((e) => e.id), [3, 1]);

    await callDaemon(dir, "mode", { mode: "enforcing" });
    assert.equal(api.mode, "enforcing");
    const app = await callDaemon(dir, "apps.allow", { path: "/usr/bin/curl", name: "curl" }) as {
      name: string;
    };
    assert.equal(app.name, "curl");
    const audit = store.auditList();
    assert.deepEqual(audit.map((a) => [a.action, a.ok, a.role, a.uid, a.pid]), [
      ["apps.allow", true, "admin", 0, Deno.pid],
      ["mode", true, "admin", 0, Deno.pid],
    ]);
    assert.match(audit[0].who, /^uid 0 \(root\) pid \d+$/);

    await assert.rejects(
      callDaemon(dir, "apps.revoke", { name: "nope" }),
      (e) => e instanceof DaemonError && e.code === "not_found" && /no app named/.test(e.message),
    );
    await assert.rejects(
      callDaemon(dir, "mode", { mode: "chaos" }),
      (e) =>
        e instanceof DaemonError && e.code === "bad_request" &&
        /"mode" must be one of/.test(e.message),
    );
    await assert.rejects(
      callDaemon(dir, "events", { limit: 99999 }),
      (e) => e instanceof DaemonError && e.code === "bad_request" && /"limit"/.test(e.message),
    );
    await assert.rejects(
      callDaemon(dir, "frobnicate"),
      (e) =>
        e instanceof DaemonError && e.code === "bad_request" &&
        /unknown op "frobnicate"/.test(e.message),
    );
    assert.equal(api.mode, "enforcing", "the bad mode request changed nothing");
  }));

Deno.test("control: no daemon gives a clear not_running error; stale sockets are replaced, live ones not", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hw-ctl-" });
  const sock = controlSocketPath(dir);
  try {
    await assert.rejects(
      callDaemon(dir, "status"),
      (e) =>
        e instanceof DaemonError && e.code === "not_running" &&
        e.message === `daemon not running (no socket at ${sock})`,
    );
    const store = openStore(`${dir}/hashwall.db`);
    const api = new StoreBackedApi(store);
    // A stale socket (listener gone) left behind by a crash.
    Deno.mkdirSync(dirname(sock), { recursive: true });
    const stale = Deno.listen({ transport: "unix", path: sock });
    stale.close();
    Deno.writeFileSync(`${dir}/x`, new Uint8Array());
    const s1 = startControlServer(api, sock);
    try {
      assert.throws(() => startControlServer(api, sock), /already listening/);
      assert.throws(() => startControlServer(api, `${dir}/x`), /not a socket/);
      assert.equal((await callDaemon(dir, "status") as { mode: string }).mode, "learning");
    } finally {
      await s1.close();
      store.close();
    }
    assert.throws(() => Deno.statSync(sock), Deno.errors.NotFound);
    assert.throws(() => Deno.statSync(dirname(sock)), Deno.errors.NotFound, "its folder too");
    assert.equal(controlSocketPath("/var/lib/hashwall/"), "/run/hashwall/control.sock");
    // Never inside the (private, 0700) state folder: under /run/hashwall, named like the pins.
    assert.equal(
      controlSocketPath("/srv/hw"),
      `/run/hashwall/${instanceName("/srv/hw")}/control.sock`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("control: garbage, bad UTF-8, wrong shapes and truncated requests get errors, never a crash", () =>
  withServer(async ({ dir }) => {
    const path = controlSocketPath(dir);
    const junk = crypto.getRandomValues(new Uint8Array(4096)).map((b) => (b === 10 ? 11 : b));
    const r1 = await raw(
      path,
      new Uint8Array([...junk, 10, ...new TextEncoder().encode('{"id":7,"op":"status"}\n')]),
      2,
    );
    assert.equal(r1.lines[0].code, "bad_request");
    assert.equal(r1.lines[1].id, 7, "the same connection still serves a good request after junk");
    assert.equal(r1.lines[1].ok, true);

    const cases: [string, RegExp][] = [
      ["not json\n", /not valid JSON/],
      ["[1,2]\n", /must be an object/],
      ['{"id":{},"op":"status"}\n', /"id" must be/],
      ['{"id":1,"op":5}\n', /"op" must be a string/],
      ['{"id":1,"op":"status","args":[]}\n', /"args" must be an object/],
      ['{"id":1,"op":"__proto__"}\n', /unknown op/],
      ['{"id":1,"op":"apps.allow","args":{"path":"relative"}}\n', /must be absolute/],
    ];
    for (const [req, re] of cases) {
      const r = await raw(path, req);
      assert.equal(r.lines[0]?.code, "bad_request", req);
      assert.match(String(r.lines[0].error), re);
    }
    const bad = await raw(path, new Uint8Array([0xff, 0xfe, 0x7b, 10]));
    assert.match(String(bad.lines[0].error), /not UTF-8/);

    // Truncated: half a request, then hang up.
    for (let i = 0; i < 20; i++) {
      const c = await Deno.connect({ transport: "unix", path });
      await c.write(new TextEncoder().encode('{"id":1,"op":"sta'));
      c.close();
    }
    assert.equal((await callDaemon(dir, "status") as { mode: string }).mode, "learning");
  }));

Deno.test("control: a 2 MiB request is refused with bad_request and the connection closed, in bounded time", () =>
  withServer(async ({ dir, server }) => {
    const path = controlSocketPath(dir);
    const big = new TextEncoder().encode(
      `{"id":1,"op":"status","args":{"x":"${"a".repeat(2 * 1024 * 1024)}"}}\n`,
    );
    const t0 = Date.now();
    const r = await raw(path, big, 2);
    assert.ok(Date.now() - t0 < 5000, "answered quickly");
    assert.equal(r.lines.length, 1);
    assert.equal(r.lines[0].code, "bad_request");
    assert.match(String(r.lines[0].error), /larger than 1048576 bytes/);
    assert.equal(r.eof, true, "the server closed the connection");
    // Through the real client too.
    await assert.rejects(
      callDaemon(dir, "status", { x: "b".repeat(2 * 1024 * 1024) }),
      (e) => e instanceof DaemonError && e.code === "bad_request",
    );
    assert.equal((await callDaemon(dir, "status") as { mode: string }).mode, "learning");
    const deadline = Date.now() + 2000;
    while (server.connections() > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.equal(server.connections(), 0);
  }));

Deno.test("control: 100 concurrent clients with a cap of 64 are all answered; idle ones are closed", () =>
  withServer(async ({ dir, server, api }) => {
    api.ingest(Array.from({ length: 50 }, (_, i) => sampleEvent(i)));
    const t0 = Date.now();
    const results = await Promise.all(
      Array.from(
        { length: 100 },
        (_, i) =>
          callDaemon(dir, i % 2 ? "status" : "events", { limit: 20 }, { timeoutMs: 15_000 }),
      ),
    );
    assert.ok(Date.now() - t0 < 15_000);
    assert.equal(results.length, 100);
    assert.ok(
      results.every((
        r,
        i,
      ) => (i % 2 ? (r as { mode: string }).mode === "learning" : (r as unknown[]).length === 20)),
    );

    // 70 idle connections: 64 are held, the rest wait in the backlog; the idle timeout frees them.
    const idle = await Promise.all(
      Array.from(
        { length: 70 },
        () => Deno.connect({ transport: "unix", path: controlSocketPath(dir) }),
      ),
    );
    try {
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(server.connections(), 64);
      const closedAll = Promise.all(idle.map((c) => c.read(new Uint8Array(16)).catch(() => null)));
      const done = await Promise.race([
        closedAll.then(() => true),
        new Promise((r) => setTimeout(() => r(false), 5000)),
      ]);
      assert.equal(done, true, "every idle connection was closed by the server");
    } finally {
      for (const c of idle) {
        try {
          c.close();
        } catch { /* closed */ }
      }
    }
    assert.equal((await callDaemon(dir, "status") as { mode: string }).mode, "learning");
  }, { idleTimeoutMs: 500 }));

Deno.test("control: subscribe streams live messages until the client leaves", () =>
  withServer(async ({ dir, api }) => {
    const got: LiveMessage[] = [];
    const ac = new AbortController();
    const stream = streamDaemon(dir, "subscribe", {}, (m) => {
      got.push(m as LiveMessage);
      if (got.length === 3) ac.abort();
    }, { signal: ac.signal });
    const deadline = Date.now() + 3000;
    while (api.listeners.size === 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.equal(api.listeners.size, 1);
    api.ingest([sampleEvent(1), sampleEvent(2)]);
    await callDaemon(dir, "mode", { mode: "enforcing" });
    await stream;
    assert.deepEqual(got.map((m) => m.type), ["event", "event", "mode"]);
    assert.equal((got[0] as { event: { tgid: number } }).event.tgid, 2001);
    while (api.listeners.size > 0 && Date.now() < deadline + 2000) {
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.equal(api.listeners.size, 0, "the server unsubscribed when the client closed");
  }));

Deno.test("control: a daemon killed hard leaves its socket under /run/hashwall; disable removes it", async () => {
  await using d = await startTestDaemon();
  const sock = controlSocketPath(d.stateDir);
  assert.equal(dirname(sock), `/run/hashwall/${instanceName(d.stateDir)}`);
  const folder = Deno.statSync(dirname(sock));
  assert.equal(folder.mode! & 0o777, 0o750, "the instance folder: 0750");
  d.signal("SIGKILL");
  await d.process.status;
  assert.ok(Deno.lstatSync(sock).isSocket, "left behind by kill -9");
  const r = await d.cli(["disable"]);
  assert.equal(r.code, 0, r.stderr);
  assert.throws(
    () => Deno.lstatSync(dirname(sock)),
    Deno.errors.NotFound,
    "socket and folder gone",
  );
});

Deno.test("control: the ready line comes only once the control socket and web UI are up", async () => {
  // Tools and tests take `hashwall <version> <mode>` to mean "ready" and talk to the socket at
  // once; logged before the parts started, they raced the socket's creation (NotFound).
  await using d = await startTestDaemon({ ui: true });
  await d.waitForLog(/"msg":"hashwall \d/);
  const logs = d.logs();
  const ready = logs.findIndex((l) => /"msg":"hashwall \d/.test(l));
  const ui = logs.findIndex((l) => /web UI on/.test(l));
  assert.ok(ui >= 0 && ready > ui, `ready line after the UI's:\n${logs.join("\n")}`);
  assert.ok(Deno.lstatSync(controlSocketPath(d.stateDir)).isSocket);
  assert.equal((await callDaemon(d.stateDir, "status") as { mode: string }).mode, "learning");
});
