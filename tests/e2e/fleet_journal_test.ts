/**
 * Events to the log pipeline: a daemon run with `--log-format json` under `systemd-cat` writes
 * one JSON object per event and admin action into a real journald, read back with
 * `journalctl -o json`.
 *
 * PID 1 here is not systemd, so `systemd-run` cannot start a unit. Instead the test starts
 * `systemd-journald` itself in a private mount namespace whose /run/systemd, /run/log and
 * /var/log/journal are the test's own folders (bind mounts), and runs the daemon in a second
 * mount namespace that binds the same /run/systemd, so `systemd-cat` reaches that journald's
 * stdout socket exactly as a unit's stderr would. Nothing touches the host's journal.
 */
import assert from "node:assert/strict";
import { hashwallCommand, runHashwall, sha256Of, writeTestConfig } from "../helpers/daemon.ts";
import { createTestCgroup, removeTestParentIfEmpty } from "../helpers/cgroup.ts";
import { loopbackListener, netclientCopy } from "../helpers/netclient.ts";
import { until } from "../helpers/wait.ts";

const JOURNALD = "/lib/systemd/systemd-journald";

/** `sh -c SCRIPT` in a new private mount namespace, with the given folders bound first. */
function inMountNs(binds: [string, string][], argv: string[]): Deno.ChildProcess {
  const mounts = binds.map(([src, dst]) => `mount --bind '${src}' '${dst}'`).join(" && ");
  return new Deno.Command("unshare", {
    args: [
      "-m",
      "--propagation",
      "private",
      "--",
      "sh",
      "-c",
      `${mounts} && exec "$@"`,
      "sh",
      ...argv,
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
}

async function drain(p: Deno.ChildProcess): Promise<string> {
  const o = await p.output().catch(() => undefined);
  return o ? new TextDecoder().decode(o.stdout) + new TextDecoder().decode(o.stderr) : "";
}

Deno.test("--log-format json: events and admin actions read back from journald as JSON", async () => {
  const root = await Deno.makeTempDir({ prefix: "hw-fleet-journal-" });
  const sd = `${root}/run-systemd`, runLog = `${root}/run-log`, varLog = `${root}/var-log`;
  for (const d of [sd, runLog, varLog]) await Deno.mkdir(d);
  const tag = `hashwall-test-${crypto.randomUUID().slice(0, 8)}`;
  const cg = await createTestCgroup("journal");
  let journald: Deno.ChildProcess | undefined;
  let daemon: Deno.ChildProcess | undefined;
  const state = `${root}/state`;
  try {
    journald = inMountNs(
      [[sd, "/run/systemd"], [runLog, "/run/log"], [varLog, "/var/log/journal"]],
      [JOURNALD],
    );
    await until(
      "journald's stdout socket",
      async () => {
        try {
          return (await Deno.stat(`${sd}/journal/stdout`)).isSocket;
        } catch {
          return false;
        }
      },
      10_000,
      50,
    );

    const app = `${root}/approved-tool`;
    await Deno.copyFile("/usr/bin/true", app);
    await Deno.chmod(app, 0o755);
    const watched = `${root}/watched`;
    await Deno.mkdir(watched);
    await Deno.writeTextFile(`${watched}/a.conf`, "x = 1\n");
    const config = `${root}/config`;
    await writeTestConfig(config, {
      mode: "learning",
      apps: [{ name: "approved-tool", path: app, sha256: await sha256Of(app) }],
      rulesExtra: `[[integrity.watch]]\npath = "${watched}"\n`,
    });
    const [cmd, ...pre] = hashwallCommand();
    daemon = inMountNs([[sd, "/run/systemd"]], [
      "systemd-cat",
      "-t",
      tag,
      "--",
      cmd,
      ...pre,
      "run",
      "--config",
      config,
      "--state",
      state,
      "--cgroup",
      cg.path,
      "--log-format",
      "json",
      "--ui",
      "off",
      "--interfaces",
      "none",
    ]);
    const cli = (args: string[]) => runHashwall([...args, "--state", state]);
    await until(
      "daemon answers",
      async () => (await cli(["status", "--json"])).code === 0,
      30_000,
      200,
    );

    // One of each: a connection verdict, an admin action, an app hash change, an integrity change.
    const client = await netclientCopy(root, "unknown-client");
    const l = loopbackListener();
    try {
      assert.equal((await cg.run([client, "tcp4", "127.0.0.1", `${l.port}`])).stdout.trim(), "ok");
    } finally {
      l.close();
    }
    assert.equal((await cli(["mode", "enforcing"])).code, 0);
    const f = await Deno.open(app, { append: true });
    await f.write(new TextEncoder().encode("tampered"));
    f.close();
    await Deno.writeTextFile(`${watched}/a.conf`, "x = 2\n");
    await until(
      "hash change seen",
      async () => {
        const r = await cli(["apps", "list", "--json"]);
        return r.code === 0 && JSON.parse(r.stdout)[0]?.status === "invalid";
      },
      10_000,
      100,
    );
    await new Promise((r) => setTimeout(r, 500)); // the integrity re-hash and the log flush

    daemon.kill("SIGTERM");
    await drain(daemon);
    daemon = undefined;
    journald.kill("SIGTERM"); // journald syncs its files on the way out
    await drain(journald);
    journald = undefined;

    const jc = await new Deno.Command("journalctl", {
      args: ["--directory", `${runLog}/journal`, "-o", "json", "-t", tag, "--no-pager"],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const out = new TextDecoder().decode(jc.stdout);
    assert.equal(jc.code, 0, new TextDecoder().decode(jc.stderr));
    const entries = out.split("\n").filter(Boolean).map((l) => JSON.parse(l));
    assert.ok(entries.length > 0, "nothing in the journal");
    // Every line the daemon wrote is one JSON object with time, level and msg.
    const records = entries.map((e) => {
      assert.equal(e.SYSLOG_IDENTIFIER, tag);
      assert.equal(e._TRANSPORT, "stdout");
      const r = JSON.parse(e.MESSAGE);
      assert.equal(typeof r.time, "string");
      assert.ok(!Number.isNaN(Date.parse(r.time)));
      assert.ok(["error", "warn", "notice", "info", "debug"].includes(r.level), r.level);
      assert.equal(typeof r.msg, "string");
      return r;
    });
    const of = (kind: string) => records.filter((r) => r.event === kind);

    const conn = of("connection").find((r) => r.exe === client);
    assert.ok(conn, `no connection event for ${client}:\n${out}`);
    assert.equal(conn.verdict, "allow");
    assert.equal(conn.reason, "unknown_app");
    assert.equal(conn.protocol, "tcp");
    assert.equal(conn.family, "ipv4");
    assert.equal(conn.dest_addr, "127.0.0.1");
    assert.equal(conn.dest_port, l.port);
    assert.equal(typeof conn.pid, "number");
    assert.equal(conn.uid, 0);
    assert.ok(Array.isArray(conn.lineage));

    const admin = of("admin").find((r) => r.action === "mode");
    assert.ok(admin, "no admin record for mode");
    assert.equal(admin.ok, true);
    assert.equal(admin.role, "admin");
    assert.equal(admin.channel, "cli");
    assert.equal(admin.actor_uid, 0);
    assert.deepEqual(admin.detail, { mode: "enforcing", closeUnapproved: false });

    const hash = of("app_hash").find((r) => r.status === "invalid");
    assert.ok(hash, "no app_hash record");
    assert.equal(hash.app, "approved-tool");
    assert.equal(hash.path, app);
    assert.match(hash.new_sha256, /^[0-9a-f]{64}$/);
    assert.notEqual(hash.new_sha256, hash.old_sha256);

    const integ = of("integrity").find((r) => r.path === `${watched}/a.conf`);
    assert.ok(integ, "no integrity record");
    assert.equal(integ.change, "modified");
    assert.match(integ.new_sha256, /^[0-9a-f]{64}$/);
  } finally {
    daemon?.kill("SIGKILL");
    if (daemon) await drain(daemon);
    journald?.kill("SIGKILL");
    if (journald) await drain(journald);
    await runHashwall(["disable", "--state", state]);
    await cg.remove();
    await removeTestParentIfEmpty();
    await Deno.remove(root, { recursive: true }).catch(() => {});
  }
});
