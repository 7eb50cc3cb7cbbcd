/**
 * `apps allow PATH --for once --pid N` trusts pid N only while N runs PATH: between the event
 * and the click the pid may have been reused (or the process exec'd something else). Attacker:
 * uid nobody runs a stranger whose pid an admin approves for an approved-looking file.
 */
import assert from "node:assert/strict";
import { sha256Of, startTestDaemon } from "../helpers/daemon.ts";
import { loopbackListener, netclientCopy } from "../helpers/netclient.ts";

Deno.test("apps allow --for once --pid: refused when the pid does not run the file", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hw-once-" });
  await Deno.chmod(dir, 0o755);
  const asked = await netclientCopy(`${dir}/asked`);
  const stranger = await netclientCopy(`${dir}/stranger`);
  for (const p of [`${dir}/asked`, `${dir}/stranger`]) await Deno.chmod(p, 0o755);
  const listener = loopbackListener();
  await using d = await startTestDaemon({
    mode: "enforcing",
    apps: [{ name: "other", path: asked, sha256: await sha256Of(asked) }],
  });
  try {
    await d.cli(["apps", "revoke", "other"]);
    // pid N now runs the stranger (as nobody), not the file the event was about.
    const waiting = d.cg.spawn([
      "setpriv",
      "--reuid=65534",
      "--regid=65534",
      "--clear-groups",
      stranger,
      "sleep-then",
      "6",
      "tcp4",
      "127.0.0.1",
      `${listener.port}`,
    ]);
    await new Promise((r) => setTimeout(r, 300));
    const r = await d.cli(["apps", "allow", asked, "--for", "once", "--pid", `${waiting.pid}`]);
    const out = await waiting.output();
    assert.equal(new TextDecoder().decode(out.stdout).trim(), "EPERM", "the stranger got no trust");
    assert.notEqual(r.code, 0, `allow must refuse: ${r.stdout}`);
    assert.match(r.stderr, new RegExp(`process ${waiting.pid} does not run ${asked}`));

    // A pid that no longer exists.
    const gone = d.cg.spawn(["true"]);
    await gone.output();
    const r2 = await d.cli(["apps", "allow", asked, "--for", "once", "--pid", `${gone.pid}`]);
    assert.notEqual(r2.code, 0);
    assert.match(r2.stderr, /is not running/);
  } finally {
    listener.close();
    await Deno.remove(dir, { recursive: true });
  }
});
