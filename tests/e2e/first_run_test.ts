/**
 * The first minutes of a new user (issue 17): `dist/hashwall run --default-config` starts with
 * no warning, prints a next step that runs as printed and, on a terminal, a ready login link;
 * a configured integrity path that does not exist yet is "not present yet" (no warning) and is
 * watched from the moment it appears.
 */
import assert from "node:assert/strict";
import { DIST_PATH } from "../helpers/dist.ts";
import { createTestCgroup, removeTestParentIfEmpty } from "../helpers/cgroup.ts";
import { startTestDaemon } from "../helpers/daemon.ts";
import { until } from "../helpers/wait.ts";
import { callDaemon } from "../../src/daemon/client.ts";
import type { IntegrityInfo, StatusInfo } from "../../src/api/types.ts";

async function dist(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(DIST_PATH, { args, cwd: "/", stdin: "null" }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** Opens a login link without following the redirect; returns the session cookie. */
async function login(link: string): Promise<string> {
  const res = await fetch(link, { redirect: "manual" });
  await res.body?.cancel();
  assert.equal(res.status, 303, `login link ${link} answered ${res.status}`);
  const cookie = res.headers.get("set-cookie") ?? "";
  assert.ok(cookie, "a session cookie");
  return cookie.split(";")[0];
}

Deno.test("first run: on a terminal the daemon prints a runnable next step and a ready link; no warning", async () => {
  const root = await Deno.makeTempDir({ prefix: "hw-first-run-" });
  const state = `${root}/state`;
  const cg = await createTestCgroup("first");
  const cmd = [
    DIST_PATH,
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
  ].join(" ");
  // `script` gives the daemon a pseudo-terminal, as in a user's shell.
  const proc = new Deno.Command("script", {
    args: ["-q", "-e", "-c", cmd, "/dev/null"],
    cwd: "/",
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  let out = "";
  const pump = (async () => {
    const dec = new TextDecoder();
    for await (const c of proc.stdout) out += dec.decode(c, { stream: true });
  })();
  const errDrain = proc.stderr.pipeTo(new WritableStream()).catch(() => {});
  let daemonPid = 0;
  try {
    await until(
      "a login link on the terminal",
      () => Promise.resolve(/open the web UI[^\n]*http/.test(out)),
      60_000,
    )
      .catch((e) => assert.fail(`${e.message}; pty output:\n${out}`));
    // The next step names the binary as it can be run (not a bare "hashwall", which is not on
    // PATH after ./build.sh run), with the instance's --state.
    const next = /get a login link with: ([^\r\n]+)/.exec(out)?.[1];
    assert.equal(next, `${DIST_PATH} ui url --state ${state}`, out);
    const run = await new Deno.Command(next!.split(" ")[0], {
      args: next!.split(" ").slice(1),
      cwd: "/",
      stdin: "null",
    }).output();
    assert.equal(run.code, 0, new TextDecoder().decode(run.stderr));
    assert.match(new TextDecoder().decode(run.stdout), /^http:\/\/127\.0\.0\.1:\d+\/login\?/m);

    // The ready link: one click logs in as admin.
    const link = /open the web UI[^\n]*?(http:\/\/127\.0\.0\.1:\d+\/login\?\S+)/.exec(out)![1];
    const cookie = await login(link);
    const base = new URL(link).origin;
    const page = await fetch(`${base}/`, { headers: { cookie } });
    const html = await page.text();
    assert.equal(page.status, 200);
    assert.match(html, /data-test="mode"/, "the Overview");
    assert.doesNotMatch(html, /flash-error/, "no red banner on the first screen");
    const st = await callDaemon(state, "status") as StatusInfo;
    daemonPid = st.pid;
    assert.deepEqual(st.warnings, [], "the default setup starts without a warning");
    assert.doesNotMatch(out, /NotFound|<4>/, `no warning logged:\n${out}`);
    // A second use of the same link is refused (it is one-time).
    const again = await fetch(link, { redirect: "manual" });
    await again.body?.cancel();
    assert.notEqual(again.status, 303);
  } finally {
    if (daemonPid) {
      try {
        Deno.kill(daemonPid, "SIGTERM");
      } catch { /* gone */ }
    }
    const t = setTimeout(() => {
      try {
        proc.kill("SIGKILL");
      } catch { /* gone */ }
    }, 20_000);
    if (!daemonPid) proc.kill("SIGTERM");
    await proc.status;
    clearTimeout(t);
    await pump.catch(() => {});
    await errDrain;
    await proc.stdin.close().catch(() => {});
    await dist(["disable", "--state", state]);
    await cg.remove();
    await removeTestParentIfEmpty();
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("first run: without a terminal no link is printed (never into a log)", async () => {
  await using d = await startTestDaemon({ ui: true, command: [DIST_PATH] });
  const logs = d.logs().join("\n");
  assert.match(
    logs,
    new RegExp(`get a login link with: ${DIST_PATH} ui url --state ${d.stateDir}`),
  );
  assert.doesNotMatch(logs, /\/login\?/);
});

Deno.test("integrity: a watch path that does not exist yet is 'not present yet', then watched once created", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hw-pending-" });
  const later = `${dir}/later/deeper`;
  try {
    await using d = await startTestDaemon({
      ui: true,
      rulesExtra: `[[integrity.watch]]\npath = "${later}"\nrecursive = true\n`,
    });
    const st = await callDaemon(d.stateDir, "status") as StatusInfo;
    assert.deepEqual(st.warnings, [], "a missing watch path is no error");
    const info = async () => await callDaemon(d.stateDir, "integrity.status") as IntegrityInfo;
    const w = (await info()).watches.find((x) => x.path === later);
    assert.equal(w?.present, false, JSON.stringify(await info()));

    // The UI says so.
    const link = (await d.cli(["ui", "url"])).stdout.trim();
    const cookie = await login(link);
    const html = await (await fetch(`${d.uiUrl}/integrity`, { headers: { cookie } })).text();
    assert.match(html, /not present yet/);

    // Created later, one level at a time, then a file in it: watched and reported.
    await Deno.mkdir(`${dir}/later`);
    await Deno.mkdir(later);
    await Deno.writeTextFile(`${later}/first.conf`, "one\n");
    await until(
      "the created path is watched",
      async () => (await info()).watches.find((x) => x.path === later)?.present === true,
      10_000,
    );
    await until(
      "the new file is reported",
      async () => (await info()).changes.some((c) => c.path === `${later}/first.conf`),
      10_000,
    );
    await Deno.writeTextFile(`${later}/first.conf`, "two\n");
    await until(
      "a later edit is reported",
      async () =>
        (await info()).changes.some((c) =>
          c.path === `${later}/first.conf` && c.change === "modified"
        ),
      10_000,
    );
    const html2 = await (await fetch(`${d.uiUrl}/integrity`, { headers: { cookie } })).text();
    assert.doesNotMatch(html2, /not present yet/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
