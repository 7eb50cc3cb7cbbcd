import assert from "node:assert/strict";
import { openStore } from "../../src/store/store.ts";
import { controlSocketPath, startControlServer } from "../../src/daemon/control.ts";
import { lookupGroup } from "../../src/daemon/peercred.ts";
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

    // Outsider: the 0660 socket file already keeps them out, with a clear message.
    const out = await runAs(outsider, "status");
    assert.equal(out.ok, false);
    assert.equal(out.code, "forbidden");
    assert.match(out.error!, /permission denied on .*control\.sock: .*group "hashwall"/);
    // Even if the file mode were wrong, the kernel-reported credentials still refuse them.
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
