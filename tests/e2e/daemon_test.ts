/**
 * End to end against a real daemon process on a test cgroup: status, approve through the CLI →
 * the next connect of that app passes, revoke → denied, tamper → revoked at once and shown
 * invalid, restore + rehash → valid, SIGHUP with a broken file keeps the old policy, restart keeps
 * enforcing with no gap.
 */
import assert from "node:assert/strict";
import { sha256Of, startTestDaemon, type TestDaemon } from "../helpers/daemon.ts";
import { loopbackListener, netclientCopy } from "../helpers/netclient.ts";
import type { AppInfo, StatusInfo } from "../../src/api/types.ts";
import { until } from "../helpers/wait.ts";

async function connectOnce(d: TestDaemon, client: string, port: number): Promise<string> {
  const r = await d.cg.run([client, "tcp4", "127.0.0.1", `${port}`]);
  return r.stdout.trim();
}

async function json<T>(d: TestDaemon, args: string[]): Promise<T> {
  const r = await d.cli([...args, "--json"]);
  assert.equal(r.code, 0, `hashwall ${args.join(" ")}: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

Deno.test("daemon: status, approve/revoke via CLI, tamper and rehash, SIGHUP with a broken file", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hw-e2e-" });
  const good = await netclientCopy(`${dir}/good`);
  const other = await netclientCopy(`${dir}/other`);
  const listener = loopbackListener();
  await using d = await startTestDaemon({
    mode: "enforcing",
    apps: [{ name: "good", path: good, sha256: await sha256Of(good) }],
  });
  try {
    const st = await json<StatusInfo>(d, ["status"]);
    assert.equal(st.mode, "enforcing");
    assert.equal(st.apps.valid, 1);
    assert.ok(st.attachPoints.some((p) => p.startsWith("cgroup/connect4@")));

    // The approved app passes on its first connect; the unapproved copy is denied.
    assert.equal(await connectOnce(d, good, listener.port), "ok");
    assert.equal(await connectOnce(d, other, listener.port), "EPERM");

    // Approve through the CLI (forever → apps.d/learned.toml) → the next connect passes.
    const allowed = await json<AppInfo>(d, ["apps", "allow", other, "--name", "other"]);
    assert.equal(allowed.status, "valid");
    assert.equal(await connectOnce(d, other, listener.port), "ok");
    const learned = await Deno.readTextFile(`${d.configDir}/apps.d/learned.toml`);
    assert.match(learned, /name = "other"/);
    assert.equal((await Deno.stat(`${d.configDir}/apps.d/learned.toml`)).mode! & 0o777, 0o600);

    // Revoke → denied at once.
    assert.equal((await d.cli(["apps", "revoke", "other"])).code, 0);
    assert.equal(await connectOnce(d, other, listener.port), "EPERM");

    // Tamper with the approved binary: revoked in the kernel, shown invalid.
    const original = await Deno.readFile(good);
    const f = await Deno.open(good, { append: true });
    await f.write(new Uint8Array([0]));
    f.close();
    await until("good turns invalid", async () => {
      const apps = await json<AppInfo[]>(d, ["apps", "list"]);
      return apps.find((a) => a.name === "good")?.status === "invalid";
    });
    assert.equal(await connectOnce(d, good, listener.port), "EPERM");
    // Restore the bytes (the watch re-hashes on close), and rehash explicitly too.
    await Deno.writeFile(good, original);
    const re = await json<AppInfo[]>(d, ["apps", "rehash", "good"]);
    assert.equal(re[0].status, "valid");
    assert.equal(await connectOnce(d, good, listener.port), "ok");
    // Hashed while watched and unchanged since: a second rehash is answered by the hash cache.
    const hits = async () => (await json<StatusInfo>(d, ["status"])).counters.hash_cache_hits;
    const hitsBefore = await hits();
    assert.equal((await json<AppInfo[]>(d, ["apps", "rehash", "good"]))[0].status, "valid");
    assert.equal(await hits(), hitsBefore + 1);

    // SIGHUP with a broken rules.toml keeps the running policy and logs a located error.
    const rules = `${d.configDir}/rules.toml`;
    const before = await Deno.readTextFile(rules);
    await Deno.writeTextFile(rules, before.replace('mode = "enforcing"', 'mode = "enforce"'));
    d.signal("SIGHUP");
    const err = await d.waitForLog(/rules\.toml:\d+:\d+:/);
    assert.match(err, /mode/);
    assert.equal(await connectOnce(d, other, listener.port), "EPERM", "still enforcing");
    assert.equal(await connectOnce(d, good, listener.port), "ok", "approvals intact");
    // `hashwall reload` reports the same errors and exits 1; a fixed file reloads.
    const bad = await d.cli(["reload"]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /rules\.toml:\d+:\d+:/);
    await Deno.writeTextFile(rules, before);
    assert.equal((await d.cli(["reload"])).code, 0);

    // "Approve new hash" for an app declared in the hand-written apps.toml: the new hash is
    // approved (kept in the state folder) and apps.toml is never rewritten.
    const appsToml = await Deno.readTextFile(`${d.configDir}/apps.toml`);
    const g = await Deno.open(good, { append: true });
    await g.write(new Uint8Array([1]));
    g.close();
    await until("good turns invalid again", async () => {
      const apps = await json<AppInfo[]>(d, ["apps", "list"]);
      return apps.find((a) => a.name === "good")?.status === "invalid";
    });
    const newHash = await sha256Of(good);
    const re2 = await json<AppInfo>(d, ["apps", "allow", good]);
    assert.equal(re2.name, "good");
    assert.equal(re2.sha256, newHash);
    assert.equal(re2.status, "valid");
    assert.equal(await connectOnce(d, good, listener.port), "ok");
    assert.equal(await Deno.readTextFile(`${d.configDir}/apps.toml`), appsToml);

    // --for once: only the process that asked is trusted.
    const waiting = d.cg.spawn([other, "sleep-then", "1", "tcp4", "127.0.0.1", `${listener.port}`]);
    await new Promise((r) => setTimeout(r, 200));
    const once = await d.cli(["apps", "allow", other, "--for", "once", "--pid", `${waiting.pid}`]);
    assert.equal(once.code, 0, once.stderr);
    const w = await waiting.output();
    assert.equal(new TextDecoder().decode(w.stdout).trim(), "ok", "the process that asked");
    assert.equal(await connectOnce(d, other, listener.port), "EPERM", "no other process");
    // --for session: approved until the daemon stops.
    const sess = await d.cli(["apps", "allow", other, "--for", "session", "--name", "other-s"]);
    assert.equal(sess.code, 0, sess.stderr);
    assert.equal(await connectOnce(d, other, listener.port), "ok");
    await d.restart();
    assert.equal(await connectOnce(d, other, listener.port), "EPERM", "gone after a restart");

    // Mode switch without reload.
    assert.equal((await d.cli(["mode", "learning"])).code, 0);
    assert.equal(await connectOnce(d, other, listener.port), "ok");
    assert.equal((await json<StatusInfo>(d, ["status"])).mode, "learning");
  } finally {
    listener.close();
    await d.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("daemon: a restart (kill -9, then start again) never leaves a window without verdicts", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hw-e2e-" });
  const good = await netclientCopy(`${dir}/good`);
  const other = await netclientCopy(`${dir}/other`);
  const listener = loopbackListener();
  await using d = await startTestDaemon({
    mode: "enforcing",
    apps: [{ name: "good", path: good, sha256: await sha256Of(good) }],
  });
  try {
    // Time-bounded loops (a count would finish too fast on the EPERM side) that span the
    // outage and the restart; every single attempt must get the verdict policy says.
    const loop = (client: string, seconds: number) =>
      d.cg.spawn([client, "loopfor", `${seconds}`, "tcp4", "127.0.0.1", `${listener.port}`]);
    const parse = (out: Uint8Array) => {
      const m = /ok=(\d+) eperm=(\d+) other=(\d+)/.exec(new TextDecoder().decode(out));
      assert.ok(m, "loop output");
      return { ok: Number(m[1]), eperm: Number(m[2]), other: Number(m[3]) };
    };
    const goodLoop = loop(good, 8);
    const badLoop = loop(other, 8);
    let finished = 0;
    goodLoop.status.then(() => finished++);
    badLoop.status.then(() => finished++);
    await new Promise((r) => setTimeout(r, 300));
    // The daemon dies hard; pinned programs keep deciding.
    d.signal("SIGKILL");
    await d.process.status;
    assert.equal((await d.cli(["status"])).code, 3, "no daemon answers while it is down");
    await new Promise((r) => setTimeout(r, 300));
    // A new daemon on the same state takes over the pins without re-approving by hand.
    await d.restart();
    assert.equal(finished, 0, "the loops ran across the outage and the restart");
    const st = await json<StatusInfo>(d, ["status"]);
    assert.equal(st.apps.valid, 1);
    assert.equal(st.mode, "enforcing");
    const [g, b] = await Promise.all([goodLoop.output(), badLoop.output()]);
    const gr = parse(g.stdout), br = parse(b.stdout);
    assert.ok(gr.ok > 1000 && gr.eperm === 0 && gr.other === 0, JSON.stringify(gr));
    assert.ok(br.eperm > 1000 && br.ok === 0 && br.other === 0, JSON.stringify(br));
    assert.equal(await connectOnce(d, good, listener.port), "ok");
  } finally {
    listener.close();
    await d.stop();
    await Deno.remove(dir, { recursive: true });
  }
});
