/**
 * Vector 5: a forged /proc/PID/exe. Inside a user namespace it created (unshare -r), an
 * unprivileged process points its exe link at an approved binary with prctl(PR_SET_MM_MAP)
 * (tests/fixtures/forge_exe.c, run as nobody in the test cgroup). The daemon's start-up scan
 * (src/identity/trust_scan.ts, what core.ts runs) must not trust it, and the kernel marks it.
 */
import assert from "node:assert/strict";
import { HW } from "../../ffi/structs.ts";
import { identityOf, keyString } from "../../src/identity/running.ts";
import { trustRunningProcesses } from "../../src/identity/trust_scan.ts";
import { netclientCopy } from "../helpers/netclient.ts";
import { buildFixture, readLine, secSetup } from "./harness.ts";

Deno.test("vector 5: a process whose exe link was forged in a user namespace is not trusted by the /proc scan", async () => {
  const f = await secSetup("forge");
  try {
    const approved = await netclientCopy(f.dir, "approved");
    await f.approveBinary(approved, 90);
    const forge = await buildFixture("forge_exe", f.dir, ["-static"]);
    const child = f.spawn(["unshare", "-r", forge, approved, String(f.port)]);
    const reader = child.stdout.getReader();
    const state = { buf: "" };
    try {
      const line = await readLine(reader, state);
      const m = /^forged (\d+)$/.exec(line);
      assert.ok(m, `the forge worked: ${line}`);
      const pid = Number(m[1]);
      // The forgery is real: /proc/PID/exe now shows the approved binary's identity.
      const key = identityOf(await Deno.stat(`/proc/${pid}/exe`));
      assert.equal(keyString(key), keyString(identityOf(await Deno.stat(approved))));
      // The kernel saw prctl(PR_SET_MM) and marked the process.
      assert.equal(f.core.tainted(pid)?.vector, HW.TAMPER_SET_MM);

      const r = trustRunningProcesses(
        f.core,
        new Map([[keyString(key), { appId: 90, flags: 0 }]]),
      );
      assert.equal(r.trusted, 0, `scan result ${JSON.stringify(r)}`);
      assert.ok(r.skippedNamespace >= 1);
      await child.stdin.getWriter().write(new TextEncoder().encode("go\n"));
      assert.equal(await readLine(reader, state), "EPERM", "the forged process stays untrusted");
    } finally {
      reader.releaseLock();
      await child.stdout.cancel().catch(() => {});
      await child.stderr.cancel().catch(() => {});
      try {
        child.kill("SIGKILL");
      } catch { /* exited */ }
      await child.status;
    }
    // The same scan still trusts a genuine running instance (the legitimate case).
    const real = f.spawn([approved, "sleep-then", "1", "tcp4", "127.0.0.1", String(f.port)]);
    await new Promise((r) => setTimeout(r, 200));
    f.core.untrustProcess(real.pid); // as if it had exec'd before the tracepoints existed
    const key = identityOf(await Deno.stat(approved));
    const r = trustRunningProcesses(f.core, new Map([[keyString(key), { appId: 90, flags: 0 }]]));
    assert.ok(r.trusted >= 1, `scan result ${JSON.stringify(r)}`);
    const out = new TextDecoder().decode((await real.output()).stdout).trim();
    assert.equal(out, "ok");
  } finally {
    await f.close();
  }
});
