/**
 * Lineage and injection (issue 21 × vector 3): a process created by an approved launcher carries
 * the launcher in its lineage (bpf/lineage.h), which is what `only_via` and `via` rules ask for,
 * even when the process itself is not trusted (the launcher has no `inherit`). Code injected into
 * such a process (ptrace, process_vm_writev, /proc/PID/mem) by the attacker must not inherit that
 * lineage: otherwise the attacker starts the only_via client, with its own arguments, from a
 * process the launcher never meant to start it from.
 *
 * The victim fixture stands for the launcher's child: it waits until another process writes its
 * marker (the "payload"), then execs the client.
 */
import assert from "node:assert/strict";
import { netclientCopy } from "../helpers/netclient.ts";
import { buildFixture, readLine, releaseChild, secSetup } from "./harness.ts";

const LAUNCHER = 120, CLIENT = 121;

Deno.test("attacker: a launcher's child written into by the attacker no longer starts the only_via client trusted", async () => {
  const f = await secSetup("lin-inject");
  try {
    const tcp = ["tcp4", "127.0.0.1", String(f.port)];
    const launcher = await netclientCopy(f.dir, "launcher");
    const client = await netclientCopy(f.dir, "client");
    const victim = await buildFixture("victim", f.dir);
    const inject = await buildFixture("inject", f.dir);
    await f.approveBinary(launcher, LAUNCHER);
    await f.approveBinary(client, CLIENT);
    f.core.setOnlyVia(new Map([[CLIENT, [LAUNCHER]]]));
    // Control: an untrusted process between launcher and client keeps the lineage.
    assert.deepEqual(
      await f.run([launcher, "fork", "exec", "/bin/sh", "-c", `${client} ${tcp.join(" ")}; true`]),
      ["ok"],
    );

    for (const mode of ["attach", "vm", "mem"]) {
      const child = f.spawn([launcher, "fork", "exec", victim, "0", "exec", client, ...tcp]);
      const reader = child.stdout.getReader();
      const state = { buf: "" };
      try {
        const [pid, addr] = (await readLine(reader, state)).split(" ");
        assert.deepEqual(await f.run([inject, mode, pid, addr]), ["written"], mode);
        assert.equal(await readLine(reader, state), "EPERM", `${mode}: the client is not trusted`);
      } finally {
        await releaseChild(child, reader);
      }
    }
  } finally {
    await f.close();
  }
});
