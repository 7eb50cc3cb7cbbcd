/**
 * The built artifact runs the daemon, not only --help: `dist/hashwall run --default-config` on a
 * test cgroup (the README's first command, minus the host's root cgroup and interfaces), then the
 * dist CLI talks to it over the control socket (status, ui url, apps allow) and a real connect
 * shows the approval took. Catches launcher permissions that would let --version pass and the
 * daemon fail.
 */
import assert from "node:assert/strict";
import { DIST_PATH } from "../helpers/dist.ts";
import { createTestCgroup, removeTestParentIfEmpty } from "../helpers/cgroup.ts";
import { loopbackListener, netclientCopy } from "../helpers/netclient.ts";
import type { AppInfo, StatusInfo } from "../../src/daemon/api.ts";

async function dist(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(DIST_PATH, { args, cwd: "/", stdin: "null" }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

Deno.test("dist/hashwall runs the daemon on the embedded default config and its CLI drives it", async () => {
  const root = await Deno.makeTempDir({ prefix: "hw-dist-daemon-" });
  const state = `${root}/state`;
  const cg = await createTestCgroup("dist");
  const client = await netclientCopy(`${root}/bin`);
  const l = loopbackListener();
  const daemon = new Deno.Command(DIST_PATH, {
    args: [
      "run",
      "--default-config",
      "--state",
      state,
      "--cgroup",
      cg.path,
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
    for await (const c of daemon.stderr) log.push(dec.decode(c));
  })();
  try {
    let st: StatusInfo | undefined;
    for (let i = 0; i < 150 && !st; i++) {
      await new Promise((r) => setTimeout(r, 100));
      const r = await dist(["status", "--state", state, "--json"]);
      if (r.code === 0) st = JSON.parse(r.stdout);
    }
    assert.ok(st, `daemon from dist/hashwall answered; it logged:\n${log.join("")}`);
    assert.equal(st.mode, "learning", "the embedded default config is learning mode");
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
  } finally {
    l.close();
    try {
      daemon.kill("SIGTERM");
    } catch { /* already gone */ }
    await daemon.status;
    await pump.catch(() => {});
    await dist(["disable", "--state", state]);
    await cg.remove();
    await removeTestParentIfEmpty();
    await Deno.remove(root, { recursive: true });
  }
});
