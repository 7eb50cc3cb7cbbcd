/**
 * The built artifact runs the daemon, not only --help: `dist/hashwall run --default-config` on a
 * test cgroup (the README's first command, minus the host's root cgroup and interfaces), then the
 * dist CLI talks to it over the control socket (status, ui url, apps allow) and a real connect
 * shows the approval took. Catches launcher permissions that would let --version pass and the
 * daemon fail.
 */
import assert from "node:assert/strict";
import { DIST_PATH } from "../helpers/dist.ts";
import { v8FlagsArg } from "../../src/v8_flags.ts";
import { createTestCgroup, removeTestParentIfEmpty } from "../helpers/cgroup.ts";
import { loopbackListener, netclientCopy } from "../helpers/netclient.ts";
import { sha256Of, startTestDaemon } from "../helpers/daemon.ts";
import type { AppInfo, StatusInfo } from "../../src/api/types.ts";

async function dist(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(DIST_PATH, { args, cwd: "/", stdin: "null" }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** A daemon started from dist/hashwall, with its stderr collected. */
interface DistDaemon {
  process: Deno.ChildProcess;
  log: string[];
  stop(): Promise<void>;
}

function startDist(state: string, cgroup: string): DistDaemon {
  const process = new Deno.Command(DIST_PATH, {
    args: [
      "run",
      "--default-config",
      "--state",
      state,
      "--cgroup",
      cgroup,
      "--ui",
      "127.0.0.1:0",
      "--interfaces",
      "none",
    ],
    cwd: "/",
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const log: string[] = [];
  const pump = (async () => {
    const dec = new TextDecoder();
    for await (const c of process.stderr) log.push(dec.decode(c));
  })();
  const drain = process.stdout.pipeTo(new WritableStream()).catch(() => {});
  return {
    process,
    log,
    async stop() {
      try {
        process.kill("SIGTERM");
      } catch { /* already gone */ }
      await process.status;
      await pump.catch(() => {});
      await drain;
    },
  };
}

async function waitForStatus(state: string, d: DistDaemon): Promise<StatusInfo> {
  for (let i = 0; i < 150; i++) {
    await new Promise((r) => setTimeout(r, 100));
    const r = await dist(["status", "--state", state, "--json"]);
    if (r.code === 0) return JSON.parse(r.stdout);
  }
  assert.fail(`daemon from dist/hashwall did not answer; it logged:\n${d.log.join("")}`);
}

Deno.test("dist/hashwall runs the daemon on the embedded default config and its CLI drives it", async () => {
  const root = await Deno.makeTempDir({ prefix: "hw-dist-daemon-" });
  const state = `${root}/state`;
  const cg = await createTestCgroup("dist");
  const client = await netclientCopy(`${root}/bin`);
  const l = loopbackListener();
  let daemon = startDist(state, cg.path);
  try {
    const st = await waitForStatus(state, daemon);
    assert.equal(st.mode, "learning", "the embedded default config is learning mode");
    // The launcher execs deno with the V8 flags hashwall is measured with (src/v8_flags.ts).
    const argv = (await Deno.readTextFile(`/proc/${daemon.process.pid}/cmdline`)).split("\0");
    assert.ok(argv.includes(v8FlagsArg()), `daemon argv: ${argv.join(" ")}`);
    assert.ok(st.ui?.startsWith("http://127.0.0.1:"));
    const url = await dist(["ui", "url", "--state", state]);
    assert.equal(url.code, 0, url.stderr);
    assert.match(url.stdout, /^http:\/\/127\.0\.0\.1:\d+\/login\?/m);
    // Approve through the dist CLI; the kernel then trusts the client (checked in enforcing).
    const allow = await dist(["apps", "allow", client, "--state", state, "--json"]);
    assert.equal(allow.code, 0, allow.stderr);
    assert.equal((JSON.parse(allow.stdout) as AppInfo).status, "valid");
    assert.equal((await dist(["mode", "enforcing", "--state", state])).code, 0);
    assert.equal((await cg.run([client, "tcp4", "127.0.0.1", `${l.port}`])).stdout.trim(), "ok");

    // A restart verifies every approved app on the hash workers, which dist/hashwall carries as
    // separate bundles: the app must come back valid and still be trusted by the kernel.
    await daemon.stop();
    daemon = startDist(state, cg.path);
    await waitForStatus(state, daemon);
    const list = await dist(["apps", "list", "--state", state, "--json"]);
    assert.equal(list.code, 0, list.stderr);
    const app = (JSON.parse(list.stdout) as AppInfo[]).find((a) => a.path === client);
    assert.equal(app?.status, "valid", `after restart: ${list.stdout}\n${daemon.log.join("")}`);
    assert.equal((await cg.run([client, "tcp4", "127.0.0.1", `${l.port}`])).stdout.trim(), "ok");
    assert.doesNotMatch(daemon.log.join(""), /worker|Uncaught/i);
  } finally {
    l.close();
    await daemon.stop();
    await dist(["disable", "--state", state]);
    await cg.remove();
    await removeTestParentIfEmpty();
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("dist/hashwall: apps.toml verified at start and the exec gate, both on bundled workers", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hw-dist-gate-" });
  const gated = await netclientCopy(`${dir}/gated`);
  const l = loopbackListener();
  const d = await startTestDaemon({
    command: [DIST_PATH],
    mode: "enforcing",
    defaultsExtra: "exec_gate = true",
    apps: [{ name: "gated", path: gated, sha256: await sha256Of(gated) }],
  });
  try {
    const list = await d.cli(["apps", "list", "--json"]);
    assert.equal(list.code, 0, list.stderr);
    const app = (JSON.parse(list.stdout) as AppInfo[]).find((a) => a.name === "gated");
    assert.equal(app?.status, "valid", `verified on the hash workers at start: ${list.stdout}`);
    const port = `${l.port}`;
    assert.equal((await d.cg.run([gated, "tcp4", "127.0.0.1", port])).stdout.trim(), "ok");
    // Tampered: the exec gate's worker (another bundle) must refuse the exec itself.
    const f = await Deno.open(gated, { append: true });
    await f.write(new Uint8Array([0x90]));
    f.close();
    const r = await d.cg.run(["/bin/sh", "-c", `"${gated}" tcp4 127.0.0.1 ${port}; echo rc=$?`]);
    assert.match(r.stdout, /rc=126/, `tampered approved binary refused: ${r.stdout} ${r.stderr}`);
    assert.doesNotMatch(d.logs().join("\n"), /Uncaught|Module not found/);
  } finally {
    l.close();
    await d.stop();
    await Deno.remove(dir, { recursive: true });
  }
});
