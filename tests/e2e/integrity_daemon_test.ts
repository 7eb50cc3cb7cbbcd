/**
 * The daemon's integrity engine, end to end: live changes under [[integrity.watch]] reach the
 * history with before/after hashes; the exec gate (exec_gate = true) refuses a tampered approved
 * binary while its untouched twin and unapproved programs run; a replaced approved binary is
 * re-hashed and approved only if its hash is an approved one.
 */
import assert from "node:assert/strict";
import { sha256Of, startTestDaemon } from "../helpers/daemon.ts";
import { loopbackListener, netclientCopy } from "../helpers/netclient.ts";
import { callDaemon } from "../../src/daemon/client.ts";
import type { AppInfo, IntegrityInfo } from "../../src/api/types.ts";
import { until } from "../helpers/wait.ts";

Deno.test("daemon integrity: live changes, exec gate, replacement by rename", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hw-integ-" });
  const watched = `${dir}/etc`;
  await Deno.mkdir(watched);
  await Deno.writeTextFile(`${watched}/a.conf`, "one\n");
  const gated = await netclientCopy(`${dir}/gated`);
  const twin = await netclientCopy(`${dir}/twin`);
  const free = await netclientCopy(`${dir}/free`);
  const l = loopbackListener();
  await using d = await startTestDaemon({
    mode: "enforcing",
    rulesExtra: `[[integrity.watch]]\npath = "${watched}"\nrecursive = true\n`,
    apps: [
      { name: "gated", path: gated, sha256: await sha256Of(gated) },
      { name: "twin", path: twin, sha256: await sha256Of(twin) },
    ],
  });
  try {
    // Turn the exec gate on through a reload (the config change itself is watched, too).
    const rules = `${d.configDir}/rules.toml`;
    await Deno.writeTextFile(
      rules,
      (await Deno.readTextFile(rules)).replace("[defaults]", "[defaults]\nexec_gate = true"),
    );
    assert.equal((await d.cli(["reload"])).code, 0);

    // A live change under the watched folder is recorded with before and after hashes.
    const oldHash = await sha256Of(`${watched}/a.conf`);
    await Deno.writeTextFile(`${watched}/a.conf`, "two\n");
    const change = await until("integrity change recorded", async () => {
      const info = await callDaemon(d.stateDir, "integrity.status") as IntegrityInfo;
      return info.changes.find((c) => c.path === `${watched}/a.conf` && c.newHash);
    });
    assert.equal(change.oldHash, oldHash);
    assert.equal(change.newHash, await sha256Of(`${watched}/a.conf`));

    // Exec gate: a tampered approved binary cannot start; its untouched twin and an unapproved
    // binary can (the gate stops tampered approved programs only).
    const port = `${l.port}`;
    assert.equal((await d.cg.run([gated, "tcp4", "127.0.0.1", port])).stdout.trim(), "ok");
    const f = await Deno.open(gated, { append: true });
    await f.write(new Uint8Array([0x90]));
    f.close();
    const r = await d.cg.run(["/bin/sh", "-c", `"${gated}" tcp4 127.0.0.1 ${port}; echo rc=$?`]);
    assert.match(r.stdout, /rc=126/, `tampered approved binary refused: ${r.stdout} ${r.stderr}`);
    assert.equal((await d.cg.run([twin, "tcp4", "127.0.0.1", port])).stdout.trim(), "ok");
    assert.equal((await d.cg.run([free, "tcp4", "127.0.0.1", port])).stdout.trim(), "EPERM");

    // Replacement by rename (a package upgrade): a new file with another hash renamed over the
    // approved path is detected and not approved; renaming the original bytes back approves.
    const original = await Deno.readFile(twin);
    await Deno.writeFile(`${dir}/twin/.new`, new Uint8Array([...original, 1, 2, 3]), {
      mode: 0o755,
    });
    await Deno.rename(`${dir}/twin/.new`, twin);
    await until("replaced twin is invalid", async () => {
      const apps = await callDaemon(d.stateDir, "apps.list") as AppInfo[];
      return apps.find((a) => a.name === "twin" && a.status === "invalid");
    });
    // With the exec gate on, the replaced binary does not even start (and would get EPERM).
    const rep = await d.cg.run(["/bin/sh", "-c", `"${twin}" tcp4 127.0.0.1 ${port}; echo rc=$?`]);
    assert.match(rep.stdout, /rc=126/, `replaced approved binary refused: ${rep.stdout}`);
    await Deno.writeFile(`${dir}/twin/.old`, original, { mode: 0o755 });
    await Deno.rename(`${dir}/twin/.old`, twin);
    const back = await until("restored twin is valid", async () => {
      const apps = await callDaemon(d.stateDir, "apps.list") as AppInfo[];
      return apps.find((a) => a.name === "twin" && a.status === "valid");
    });
    assert.equal(back.sha256, await sha256Of(twin));
    assert.equal((await d.cg.run([twin, "tcp4", "127.0.0.1", port])).stdout.trim(), "ok");

    // Deletion → missing.
    await Deno.remove(gated);
    await until("deleted app is missing", async () => {
      const apps = await callDaemon(d.stateDir, "apps.list") as AppInfo[];
      return apps.find((a) => a.name === "gated" && a.status === "missing");
    });
  } finally {
    l.close();
    await d.stop();
    await Deno.remove(dir, { recursive: true });
  }
});
