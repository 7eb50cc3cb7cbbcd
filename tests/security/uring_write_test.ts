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
import { buildFixture, NOBODY, secSetup } from "./harness.ts";

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
  } finally {
    await f.close();
  }
});
