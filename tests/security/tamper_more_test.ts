/**
 * Vector 3, two more ways:
 *
 * - pidfd_getfd(2) copies a trusted process's file into the attacker's hands with the same right
 *   ptrace needs. A shared memory file the victim maps (JIT code, a ring shared with workers) is
 *   then written from outside, like /proc/PID/mem: the victim loses its trust.
 * - Revocation as a weapon (vector 7): the tamper tracepoints must count only what succeeded. A
 *   stranger's process_vm_writev, pidfd_getfd or ptrace of ANOTHER user's trusted process fails
 *   with EPERM and must take nothing away — otherwise any local user could untrust every
 *   trusted process on the host (its package manager, its browser) with one failing call each.
 */
import assert from "node:assert/strict";
import { HW } from "../../ffi/structs.ts";
import { netclientCopy } from "../helpers/netclient.ts";
import { buildFixture, HW_REASON, readLine, releaseChild, secSetup } from "./harness.ts";

Deno.test("vector 3: a shared memory file taken with pidfd_getfd and written ends the victim's trust", async () => {
  const f = await secSetup("tamper-getfd");
  try {
    const victim = await buildFixture("victim", f.dir);
    await f.approveBinary(victim, 160);
    const inject = await buildFixture("inject", f.dir);
    const child = f.spawn([victim, String(f.port), "shm"]);
    const reader = child.stdout.getReader();
    const state = { buf: "" };
    try {
      const [pid] = (await readLine(reader, state)).split(" ");
      assert.deepEqual(await f.run([inject, "getfd", pid, "3"]), ["written"]);
      assert.equal(await readLine(reader, state), "EPERM", "the written process lost its trust");
      assert.ok(
        f.events().some((e) =>
          e.tgid === Number(pid) && e.reason === HW_REASON.INJECTED && e.rule === HW.TAMPER_GETFD
        ),
        "the event names pidfd_getfd",
      );
    } finally {
      await releaseChild(child, reader);
    }
  } finally {
    await f.close();
  }
});

Deno.test("attacker: failed process_vm_writev, pidfd_getfd and ptrace on another user's trusted process take nothing away", async () => {
  const f = await secSetup("tamper-dos");
  try {
    const client = await netclientCopy(f.dir, "client");
    await f.approveBinary(client, 161);
    const inject = await buildFixture("inject", f.dir);
    for (const [mode, arg] of [["vm", "0x1000"], ["getfd", "1"], ["attach", "0x1000"]]) {
      // The victim runs as root (another user than the attacker), in the test cgroup.
      const victim = new Deno.Command("/bin/sh", {
        args: [
          "-c",
          `echo $$ > "${f.cg.path}/cgroup.procs" && exec "$@"`,
          "sh",
          client,
          "sleep-then",
          "1",
          "tcp4",
          "127.0.0.1",
          String(f.port),
        ],
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      await new Promise((r) => setTimeout(r, 300));
      const tried = await f.run([inject, mode, String(victim.pid), arg]);
      assert.match(tried[0] ?? "", /^FAIL:/, `${mode}: nobody may not (${tried})`);
      const out = new TextDecoder().decode((await victim.output()).stdout).trim();
      assert.equal(out, "ok", `${mode}: the victim keeps its trust`);
    }
  } finally {
    await f.close();
  }
});
