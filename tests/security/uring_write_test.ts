/**
 * A write the kernel revocation did not see: io_uring opens a file without the open syscalls
 * whose exit tracepoint revokes an approved file at its first writable open (bpf/write_revoke.h).
 * A bash script reads its file as it runs (it re-reads after each external command), so a line
 * appended to an approved script while it runs executes inside the trusted shell. The approved
 * script here belongs to nobody (a user's own tool) and connects after a `sleep`; nobody appends
 * its own connect while the script sleeps. Only the kernel's programs run here (no daemon, so no
 * fanotify backstop): the revocation must happen in the kernel, as it does for open(2).
 */
import assert from "node:assert/strict";
import { HW } from "../../ffi/structs.ts";
import { buildFixture, HW_REASON, NOBODY, readLine, releaseChild, secSetup } from "./harness.ts";

const BASH = "/usr/bin/bash";

Deno.test("attacker: a line appended through an io_uring open to a running approved bash script does not run trusted", async () => {
  const f = await secSetup("uring-write");
  try {
    const P = String(f.port);
    await f.approveInterpreter(BASH, 140);
    const uring = await buildFixture("uring_write", f.dir);
    const evil = `exec 4<>/dev/tcp/127.0.0.1/${P} 2>/dev/null && echo evil:ok || echo evil:EPERM\n`;
    const attempt = async (name: string, append: string[]) => {
      const script = await f.file(name, `sleep 1\necho slept\n`);
      await Deno.chown(script, NOBODY, NOBODY);
      await f.approveScript(script, 141);
      const running = f.run([BASH, script]);
      await new Promise((r) => setTimeout(r, 400));
      const wrote = await f.run([...append, script, evil]);
      return { wrote, out: await running };
    };
    // Control: an append through open(2) revokes the script before a byte is written.
    const plain = await attempt("plain.sh", ["/bin/sh", "-c", 'printf %s "$2" >> "$1"', "sh"]);
    assert.deepEqual(plain.out, ["slept", "evil:EPERM"], "open(2): revoked in the kernel");
    // The same append through an io_uring open.
    const viaUring = await attempt("uring.sh", [uring]);
    assert.deepEqual(viaUring.wrote, ["written"]);
    assert.deepEqual(viaUring.out, ["slept", "evil:EPERM"], "io_uring open: revoked too");
    // A direct open into the ring's fixed-file table (no fd), written with IORING_OP_WRITE.
    const direct = await attempt("direct.sh", [uring, "direct"]);
    assert.deepEqual(direct.wrote, ["written"]);
    assert.deepEqual(direct.out, ["slept", "evil:EPERM"], "io_uring direct open: revoked too");
    const opens = f.events().filter((e) => e.reason === HW.REASON_WRITE_OPEN);
    assert.equal(opens.length, 3, "one revocation report per open");
  } finally {
    await f.close();
  }
});

Deno.test("attacker: /proc/PID/mem opened through io_uring ends the victim's trust", async () => {
  const f = await secSetup("uring-mem");
  try {
    const victim = await buildFixture("victim", f.dir);
    await f.approveBinary(victim, 142);
    const uring = await buildFixture("uring_write", f.dir);
    const child = f.spawn([victim, String(f.port)]);
    const reader = child.stdout.getReader();
    const state = { buf: "" };
    try {
      const [pid, addr] = (await readLine(reader, state)).split(" ");
      assert.deepEqual(await f.run([uring, "mem", pid, addr]), ["written"]);
      assert.equal(await readLine(reader, state), "EPERM", "the written process lost its trust");
      assert.ok(
        f.events().some((e) =>
          e.tgid === Number(pid) && e.reason === HW_REASON.INJECTED &&
          e.rule === HW.TAMPER_PROC_MEM
        ),
        "the event names /proc/PID/mem",
      );
    } finally {
      await releaseChild(child, reader);
    }
  } finally {
    await f.close();
  }
});
