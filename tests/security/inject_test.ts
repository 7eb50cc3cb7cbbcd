/**
 * Vector 3: a trusted process that another (untrusted) process writes into loses its trust from
 * that moment: ptrace attach/seize + poke, process_vm_writev, a write through /proc/PID/mem.
 * The victim (an approved binary, run as nobody in the test cgroup) connects only after the
 * injector wrote its marker: "ok" means injected code would run with the victim's trust.
 * An injector trusted as the same app keeps the victim trusted (an app managing its own workers).
 */
import assert from "node:assert/strict";
import { HW } from "../../ffi/structs.ts";
import {
  buildFixture,
  HW_REASON,
  readLine,
  releaseChild,
  type SecFixture,
  secSetup,
} from "./harness.ts";

async function injectInto(f: SecFixture, victim: string, inject: string, mode: string) {
  const child = f.spawn([victim, String(f.port)]);
  const reader = child.stdout.getReader();
  const state = { buf: "" };
  try {
    const [pid, addr] = (await readLine(reader, state)).split(" ");
    const out = await f.run([inject, mode, pid, addr]);
    assert.deepEqual(out, ["written"], `${mode}: the injector wrote`);
    const verdict = await readLine(reader, state);
    return { pid: Number(pid), verdict };
  } finally {
    await releaseChild(child, reader);
  }
}

Deno.test("vector 3: ptrace attach/seize, process_vm_writev and /proc/PID/mem writes end the victim's trust", async () => {
  const f = await secSetup("inject");
  try {
    const victim = await buildFixture("victim", f.dir);
    await f.approveBinary(victim, 70);
    const inject = await buildFixture("inject", f.dir);
    for (
      const [mode, vector] of [
        ["attach", HW.TAMPER_PTRACE],
        ["seize", HW.TAMPER_PTRACE],
        ["vm", HW.TAMPER_VM_WRITE],
        ["mem", HW.TAMPER_PROC_MEM],
        ["memlink", HW.TAMPER_PROC_MEM],
      ] as const
    ) {
      const r = await injectInto(f, victim, inject, mode);
      assert.equal(r.verdict, "EPERM", `${mode}: the written process lost its trust`);
      const ev = f.events().filter((e) => e.tgid === r.pid);
      assert.ok(
        ev.some((e) => e.reason === HW_REASON.INJECTED && e.rule === vector),
        `${mode}: the event names the vector (${
          JSON.stringify(ev.map((e) => [e.reason, e.rule]))
        })`,
      );
    }
  } finally {
    await f.close();
  }
});

Deno.test("vector 3: an injector trusted as the same app keeps the victim trusted", async () => {
  const f = await secSetup("inject-same");
  try {
    const victim = await buildFixture("victim", f.dir);
    const inject = await buildFixture("inject", f.dir);
    await f.approveBinary(victim, 80);
    await f.approveBinary(inject, 80);
    for (const mode of ["attach", "vm", "mem"]) {
      assert.equal((await injectInto(f, victim, inject, mode)).verdict, "ok", mode);
    }
  } finally {
    await f.close();
  }
});
