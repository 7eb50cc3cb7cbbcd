/**
 * Issue 13, vector 4b: renaming a user-writable folder above an approved script and putting other
 * code at the same path. The daemon watches every folder on an approved path for moves: the app
 * turns missing/invalid, is revoked, and the change is recorded; the kernel refuses the other
 * file at the interpreter's open regardless. Real kernel, real daemon, enforcing,
 * allow_loopback = false, the attacker is `nobody` in the test cgroup.
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { sha256Of, startTestDaemon } from "../helpers/daemon.ts";
import { loopbackListener, netclientCopy } from "../helpers/netclient.ts";
import { until } from "../helpers/wait.ts";
import {
  appInfo,
  connectPy,
  NOBODY,
  publicTempDir,
  PY,
  runNobody,
  writeFileAs,
} from "./trust_script_fixture.ts";

/** Rows of the daemon's app hash history for `name` (read-only, beside the running daemon). */
function hashHistory(stateDir: string, name: string): { status: string; who: string }[] {
  const db = new DatabaseSync(`${stateDir}/hashwall.db`, { readOnly: true });
  try {
    return db.prepare("SELECT status, who FROM app_hashes WHERE name = ? ORDER BY id")
      .all(name) as { status: string; who: string }[];
  } finally {
    db.close();
  }
}

Deno.test("ancestor rename: another file at an approved path is seen and not trusted", async () => {
  const base = await publicTempDir("hw-sec-anc-");
  const l = loopbackListener();
  const port = `${l.port}`;
  // base (root) / proj (nobody's) / app / bin / net.py (root-owned, unchangeable by nobody).
  const proj = `${base}/proj`;
  await Deno.mkdir(`${proj}/app/bin`, { recursive: true, mode: 0o755 });
  for (const d of [proj, `${proj}/app`, `${proj}/app/bin`]) {
    await Deno.chmod(d, 0o755);
    await Deno.chown(d, NOBODY, NOBODY);
  }
  const script = await writeFileAs(`${proj}/app/bin/net.py`, connectPy("good"), 0o755);
  // An approved binary in a user-writable folder too ("or binary").
  const tool = await netclientCopy(`${proj}/tools`, "client");
  await Deno.chown(`${proj}/tools`, NOBODY, NOBODY);
  const evil = await writeFileAs(`${base}/evil.py`, connectPy("evil"), 0o755);
  const python = await Deno.realPath(PY);
  await using d = await startTestDaemon({
    mode: "enforcing",
    allowLoopback: false,
    apps: [
      { name: "python3", path: python, sha256: await sha256Of(python), interpreter: true },
      { name: "net", path: script, sha256: await sha256Of(script) },
      { name: "tool", path: tool, sha256: await sha256Of(tool) },
    ],
  });
  try {
    assert.equal(await runNobody(d, [PY, script, port]), "good:ok");
    assert.equal((await appInfo(d, "net")).status, "valid");

    // The attack: move the folder two levels above the script away and rebuild the path with
    // other code. The approved file itself is untouched (it now lives under app.old).
    const attack = `mv app app.old && mkdir -p app/bin && cp ${evil} app/bin/net.py`;
    const r = await d.cg.run(
      ["setpriv", `--reuid=${NOBODY}`, `--regid=${NOBODY}`, "--clear-groups", "sh", "-c", attack],
      { cwd: proj },
    );
    assert.equal(r.code, 0, r.stderr);
    // Fails before: no event, and `apps list` still said valid.
    await until("net no longer valid", async () => (await appInfo(d, "net")).status !== "valid");
    assert.equal(await runNobody(d, [PY, script, port]), "evil:EPERM");
    await until(
      "the change recorded in the app hash history",
      () => Promise.resolve(hashHistory(d.stateDir, "net").some((h) => h.status !== "valid")),
    );

    // The same for a binary: rename its folder, put another binary at the path.
    // Other code (a byte-identical copy would rightly stay valid: same hash).
    const other = await writeFileAs(`${base}/other`, await Deno.readFile("/bin/true"), 0o755);
    const attackBin = `mv tools tools.old && mkdir tools && cp ${other} tools/client`;
    const rb = await d.cg.run(
      [
        "setpriv",
        `--reuid=${NOBODY}`,
        `--regid=${NOBODY}`,
        "--clear-groups",
        "sh",
        "-c",
        attackBin,
      ],
      { cwd: proj },
    );
    assert.equal(rb.code, 0, rb.stderr);
    await until("tool no longer valid", async () => (await appInfo(d, "tool")).status !== "valid");
  } finally {
    l.close();
    await d.stop();
    await Deno.remove(base, { recursive: true });
  }
});
