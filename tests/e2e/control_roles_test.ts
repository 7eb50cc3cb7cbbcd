import assert from "node:assert/strict";
import { dirname } from "node:path";
import { DIST_PATH } from "../helpers/dist.ts";
import { startTestDaemon } from "../helpers/daemon.ts";
import { openStore } from "../../src/store/store.ts";
import { controlSocketPath, startControlServer } from "../../src/daemon/control.ts";
import { lookupGroup } from "../../src/base/users.ts";
import { sampleEvent, StoreBackedApi } from "./control_fixture.ts";

const CLIENT_URL = import.meta.resolve("../../src/daemon/client.ts");

/** A one-request client, bundled into one file that an unprivileged user can run. */
const CLIENT_ENTRY = `
import { callDaemon, DaemonError } from ${JSON.stringify(CLIENT_URL)};
const [stateDir, op, args] = Deno.args;
try {
  console.log(JSON.stringify({ ok: true, result: await callDaemon(stateDir, op, JSON.parse(args)) }));
} catch (e) {
  console.log(JSON.stringify({ ok: false, code: e instanceof DaemonError ? e.code : "?", error: String(e.message) }));
}
`;

async function sh(cmd: string, args: string[]): Promise<string> {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  const dec = new TextDecoder();
  if (!out.success) throw new Error(`${cmd} ${args.join(" ")}: ${dec.decode(out.stderr)}`);
  return dec.decode(out.stdout);
}

function uidOf(user: string): { uid: number; gid: number } {
  const line = Deno.readTextFileSync("/etc/passwd").split("\n").find((l) =>
    l.startsWith(`${user}:`)
  )!;
  const f = line.split(":");
  return { uid: Number(f[2]), gid: Number(f[3]) };
}

Deno.test("roles: root is admin, a hashwall-group member is read-only, anyone else is refused", async () => {
  const tag = crypto.randomUUID().slice(0, 6);
  const viewer = `hwtest-${tag}-v`;
  const outsider = `hwtest-${tag}-o`;
  const createdGroup = lookupGroup("hashwall") === undefined;
  const createdUsers: string[] = [];
  const dir = await Deno.makeTempDir({ prefix: "hw-roles-" });
  let server: ReturnType<typeof startControlServer> | undefined;
  const store = openStore(`${dir}/hashwall.db`);
  try {
    if (createdGroup) await sh("groupadd", ["--system", "hashwall"]);
    for (const u of [viewer, outsider]) {
      await sh("useradd", ["--system", "--no-create-home", "--shell", "/usr/sbin/nologin", u]);
      createdUsers.push(u);
    }
    await sh("usermod", ["-aG", "hashwall", viewer]);

    // The test folder must be reachable by the test users; DENO_DIR is theirs to write.
    await Deno.chmod(dir, 0o755);
    await Deno.writeTextFile(`${dir}/entry.ts`, CLIENT_ENTRY);
    await sh(Deno.execPath(), [
      "bundle",
      "--platform=deno",
      "-o",
      `${dir}/client.js`,
      `${dir}/entry.ts`,
    ]);
    await Deno.chmod(`${dir}/client.js`, 0o644);

    const api = new StoreBackedApi(store);
    api.ingest([sampleEvent(1), sampleEvent(2)]);
    server = startControlServer(api, controlSocketPath(dir), { audit: store.audit.bind(store) });
    const sock = Deno.statSync(controlSocketPath(dir));
    assert.equal(sock.mode! & 0o777, 0o660);
    assert.equal(sock.gid, lookupGroup("hashwall")!.gid);

    const runAs = async (user: string, op: string, args: unknown = {}) => {
      const { uid, gid } = uidOf(user);
      const home = `${dir}/home-${user}`;
      await Deno.mkdir(`${home}/deno`, { recursive: true });
      await Deno.chown(home, uid, gid);
      await Deno.chown(`${home}/deno`, uid, gid);
      const out = await new Deno.Command("setpriv", {
        args: [
          `--reuid=${uid}`,
          `--regid=${gid}`,
          "--init-groups",
          Deno.execPath(),
          "run",
          "--no-config",
          "--cached-only",
          "-A",
          `${dir}/client.js`,
          dir,
          op,
          JSON.stringify(args),
        ],
        env: { HOME: home, DENO_DIR: `${home}/deno`, NO_COLOR: "1" },
        clearEnv: true,
        stdout: "piped",
        stderr: "piped",
      }).output();
      const text = new TextDecoder().decode(out.stdout).trim();
      assert.ok(
        out.success && text !== "",
        `client as ${user} failed: ${new TextDecoder().decode(out.stderr)}`,
      );
      return JSON.parse(text) as { ok: boolean; code?: string; error?: string; result?: unknown };
    };

    // Viewer: reads work.
    const st = await runAs(viewer, "status");
    assert.equal(st.ok, true, JSON.stringify(st));
    assert.equal((st.result as { mode: string }).mode, "learning");
    const ev = await runAs(viewer, "events", { limit: 5 });
    assert.equal((ev.result as unknown[]).length, 2);
    // Viewer: writes are forbidden before the API is reached, and the attempt is audited.
    for (
      const [op, args] of [["mode", { mode: "enforcing" }], ["apps.allow", {
        path: "/bin/sh",
      }]] as const
    ) {
      const r = await runAs(viewer, op, args);
      assert.equal(r.ok, false);
      assert.equal(r.code, "forbidden", JSON.stringify(r));
      assert.match(
        r.error!,
        new RegExp(`"${op}" changes state and needs root; uid \\d+ \\(${viewer}\\)`),
      );
    }
    assert.equal(api.mode, "learning");
    assert.equal(api.apps.length, 0);
    const audit = store.auditList();
    assert.deepEqual(audit.map((a) => [a.action, a.ok, a.role, a.uid]), [
      ["apps.allow", false, "viewer", uidOf(viewer).uid],
      ["mode", false, "viewer", uidOf(viewer).uid],
    ]);

    // Outsider: the 0750 root:hashwall socket folder already keeps them out; the message names
    // the folder they cannot traverse.
    const out = await runAs(outsider, "status");
    assert.equal(out.ok, false);
    assert.equal(out.code, "forbidden");
    assert.match(
      out.error!,
      /cannot reach .*control\.sock: no search permission on the folder \/run\/hashwall\/s-\w+ \(mode 0750, owner root:hashwall\) \(EACCES\);.*membership of group "hashwall"/,
    );
    // Even if the modes were wrong, the kernel-reported credentials still refuse them.
    await Deno.chmod(dirname(controlSocketPath(dir)), 0o755);
    await Deno.chmod(controlSocketPath(dir), 0o666);
    const out2 = await runAs(outsider, "status");
    assert.equal(out2.ok, false);
    assert.equal(out2.code, "forbidden");
    assert.match(
      out2.error!,
      new RegExp(
        `access refused: uid \\d+ \\(${outsider}\\) pid \\d+ is not root and not in group "hashwall"`,
      ),
    );
    for (let i = 0; i < 100 && server.connections() > 0; i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.equal(server.connections(), 0, "the refused connection was closed");

    // Root (this process) is still admin and the server survived all of it.
    const { callDaemon } = await import("../../src/daemon/client.ts");
    await callDaemon(dir, "mode", { mode: "enforcing" });
    assert.equal(api.mode, "enforcing");
  } finally {
    await server?.close();
    store.close();
    for (const u of createdUsers) await sh("userdel", [u]).catch(() => {});
    if (createdGroup) await sh("groupdel", ["hashwall"]).catch(() => {});
    await Deno.remove(dir, { recursive: true });
  }
});

/**
 * Opens `n` connections to the socket, asks each for "status", prints one JSON line of results
 * ("ok" or "refused: <error>"), then holds every connection until its stdin closes.
 */
const HOLDER = `
const [sock, n] = Deno.args;
const conns = [];
const results = [];
const dec = new TextDecoder();
for (let i = 0; i < Number(n); i++) {
  const c = await Deno.connect({ transport: "unix", path: sock });
  conns.push(c);
  // A refused connection may be closed before we write: the answer is still there to read.
  await c.write(new TextEncoder().encode(JSON.stringify({ id: i, op: "status", args: {} }) + "\\n"))
    .catch(() => {});
  let buf = "";
  const b = new Uint8Array(65536);
  while (!buf.includes("\\n")) {
    const k = await c.read(b);
    if (k === null) break;
    buf += dec.decode(b.subarray(0, k));
  }
  const r = buf ? JSON.parse(buf.split("\\n")[0]) : { ok: false, error: "closed" };
  results.push(r.ok ? "ok" : "refused: " + r.error);
}
console.log(JSON.stringify(results));
await Deno.stdin.readable.pipeTo(new WritableStream());
`;

Deno.test("control socket: one non-root uid cannot take every slot; root keeps reserved ones", async () => {
  const tag = crypto.randomUUID().slice(0, 6);
  const viewer = `hwtest-${tag}-h`;
  const createdGroup = lookupGroup("hashwall") === undefined;
  let createdUser = false;
  const dir = await Deno.makeTempDir({ prefix: "hw-slots-" });
  const store = openStore(`${dir}/hashwall.db`);
  let server: ReturnType<typeof startControlServer> | undefined;
  try {
    if (createdGroup) await sh("groupadd", ["--system", "hashwall"]);
    await sh("useradd", ["--system", "--no-create-home", "--shell", "/usr/sbin/nologin", viewer]);
    createdUser = true;
    await sh("usermod", ["-aG", "hashwall", viewer]);
    await Deno.chmod(dir, 0o755);
    await Deno.writeTextFile(`${dir}/holder.js`, HOLDER);
    await Deno.chmod(`${dir}/holder.js`, 0o644);
    const { uid, gid } = uidOf(viewer);
    const home = `${dir}/home`;
    await Deno.mkdir(home);
    await Deno.chown(home, uid, gid);

    /** Runs the holder as the viewer; resolves with its results once it holds everything. */
    const hold = async (n: number) => {
      const child = new Deno.Command("setpriv", {
        args: [
          `--reuid=${uid}`,
          `--regid=${gid}`,
          "--init-groups",
          Deno.execPath(),
          "run",
          "--no-config",
          "-A",
          `${dir}/holder.js`,
          controlSocketPath(dir),
          String(n),
        ],
        env: { HOME: home, DENO_DIR: `${home}/deno`, NO_COLOR: "1" },
        clearEnv: true,
        stdin: "piped",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
      let text = "";
      while (!text.includes("\n")) {
        const { value, done } = await reader.read();
        if (done) break;
        text += value;
      }
      reader.releaseLock();
      const release = async () => {
        await child.stdin.close().catch(() => {});
        await child.status;
        await child.stdout.cancel().catch(() => {});
        await child.stderr.cancel().catch(() => {});
      };
      if (!text.includes("\n")) {
        await child.stdin.close().catch(() => {});
        const err = await new Response(child.stderr).text();
        await child.status;
        throw new Error(`holder printed nothing; stderr: ${err}`);
      }
      return { results: JSON.parse(text) as string[], release };
    };
    const api = new StoreBackedApi(store);
    const { callDaemon } = await import("../../src/daemon/client.ts");

    // 10 slots, 4 kept for root: the viewer gets 6, however many it asks for.
    server = startControlServer(api, controlSocketPath(dir), {
      maxConnections: 10,
      maxPerUid: 8,
      reservedForRoot: 4,
    });
    const a = await hold(9);
    try {
      assert.deepEqual(a.results.slice(0, 6), Array(6).fill("ok"));
      for (const r of a.results.slice(6)) assert.match(r, /refused: .*kept for root/);
      // Root still gets in while the viewer holds its six.
      assert.equal(((await callDaemon(dir, "status")) as { mode: string }).mode, "learning");
    } finally {
      await a.release();
    }
    await server.close();

    // Per uid: at most 3 here, with plenty of slots left.
    server = startControlServer(api, controlSocketPath(dir), { maxPerUid: 3 });
    const b = await hold(5);
    try {
      assert.deepEqual(b.results.slice(0, 3), ["ok", "ok", "ok"]);
      for (const r of b.results.slice(3)) {
        assert.match(r, new RegExp(`refused: too many connections: uid ${uid} .*limit 3`));
      }
    } finally {
      await b.release();
    }
  } finally {
    await server?.close();
    store.close();
    if (createdUser) await sh("userdel", [viewer]).catch(() => {});
    if (createdGroup) await sh("groupdel", ["hashwall"]).catch(() => {});
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("roles: a viewer reaches a non-default instance (--state DIR, a private folder) with the real CLI", async () => {
  const tag = crypto.randomUUID().slice(0, 6);
  const viewer = `hwtest-${tag}-s`;
  const outsider = `hwtest-${tag}-t`;
  const createdGroup = lookupGroup("hashwall") === undefined;
  const createdUsers: string[] = [];
  const home = await Deno.makeTempDir({ prefix: "hw-viewer-" });
  try {
    if (createdGroup) await sh("groupadd", ["--system", "hashwall"]);
    for (const u of [viewer, outsider]) {
      await sh("useradd", ["--system", "--no-create-home", "--shell", "/usr/sbin/nologin", u]);
      createdUsers.push(u);
    }
    await sh("usermod", ["-aG", "hashwall", viewer]);
    await Deno.chmod(home, 0o755);
    await using d = await startTestDaemon({ command: [DIST_PATH] });
    assert.equal(Deno.statSync(d.stateDir).mode! & 0o777, 0o700, "the state folder stays private");

    /** `dist/hashwall ARGS` as `user` (its own cache folder for the unpacked runtime). */
    const cliAs = async (user: string, args: string[], groups: "init" | "none" = "init") => {
      const { uid, gid } = uidOf(user);
      const cache = `${home}/${user}`;
      await Deno.mkdir(cache, { recursive: true });
      await Deno.chown(cache, uid, gid);
      const out = await new Deno.Command("setpriv", {
        args: [
          `--reuid=${uid}`,
          `--regid=${gid}`,
          groups === "init" ? "--init-groups" : "--clear-groups",
          DIST_PATH,
          ...args,
        ],
        env: {
          HOME: cache,
          HASHWALL_CACHE_DIR: `${cache}/c`,
          NO_COLOR: "1",
          PATH: "/usr/bin:/bin",
        },
        clearEnv: true,
        cwd: "/",
      }).output();
      const dec = new TextDecoder();
      return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
    };

    const st = await cliAs(viewer, ["status", "--state", d.stateDir, "--json"]);
    assert.equal(st.code, 0, st.stderr);
    assert.equal(JSON.parse(st.stdout).mode, "learning");
    // Read-only still: a write is refused by role, not by the path.
    const w = await cliAs(viewer, ["mode", "enforcing", "--state", d.stateDir]);
    assert.equal(w.code, 4, w.stderr);
    assert.match(w.stderr, /changes state and needs root/);

    // An outsider is told which folder it cannot traverse, with its real groups.
    const o = await cliAs(outsider, ["status", "--state", d.stateDir]);
    assert.equal(o.code, 4, o.stderr);
    assert.match(
      o.stderr,
      new RegExp(
        `no search permission on the folder /run/hashwall/s-\\w+ \\(mode 0750, owner root:hashwall\\) \\(EACCES\\); you are ${outsider} .*membership of group "hashwall"`,
      ),
    );
    // A member whose session does not carry the group yet is told so (not "needs membership").
    const s = await cliAs(viewer, ["status", "--state", d.stateDir], "none");
    assert.equal(s.code, 4, s.stderr);
    assert.match(s.stderr, /listed in group "hashwall", but this session does not carry it yet/);
  } finally {
    for (const u of createdUsers) await sh("userdel", [u]).catch(() => {});
    if (createdGroup) await sh("groupdel", ["hashwall"]).catch(() => {});
    await Deno.remove(home, { recursive: true });
  }
});
