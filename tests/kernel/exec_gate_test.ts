import assert from "node:assert/strict";
import { ExecGate } from "../../src/integrity/exec_gate.ts";
import { hashFile } from "../../src/integrity/hash.ts";

/** Runs `path` through sh (bounded): 0 = it ran, 126 = the exec was refused. */
async function runViaSh(path: string): Promise<{ code: number; stderr: string }> {
  const out = await new Deno.Command("/usr/bin/timeout", {
    args: ["10", "/bin/sh", "-c", `"$0"`, path],
    stdout: "null",
    stderr: "piped",
  }).output();
  return { code: out.code, stderr: new TextDecoder().decode(out.stderr) };
}

async function appendByte(path: string) {
  const f = await Deno.open(path, { write: true, append: true });
  await f.write(new Uint8Array([0]));
  f.close();
}

async function withTemp(fn: (dir: string) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "hw-gate-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("exec gate: a tampered approved binary is refused, the untouched one runs", async () => {
  await withTemp(async (dir) => {
    const a = `${dir}/true-a`, b = `${dir}/true-b`, other = `${dir}/true-unapproved`;
    for (const p of [a, b, other]) await Deno.copyFile("/bin/true", p);
    for (const p of [a, b, other]) await Deno.chmod(p, 0o755);
    const original = await Deno.readFile(a);
    const approved = (await hashFile(a)).sha256;
    const decisions: { path: string; allowed: boolean }[] = [];
    const taints: string[] = [];
    const gate = new ExecGate({
      onDecision: (d) => decisions.push(d),
      onTaint: (p) => taints.push(p),
    });
    await gate.start();
    try {
      assert.equal(await gate.setApproved(a, await hashFile(a), approved), false);
      assert.equal(await gate.setApproved(b, await hashFile(b), approved), false);
      assert.equal((await runViaSh(a)).code, 0);
      assert.equal((await runViaSh(b)).code, 0);

      await appendByte(a); // tamper, then exec at once: the modify is queued before the exec
      const refused = await runViaSh(a);
      assert.equal(refused.code, 126, refused.stderr);
      assert.match(refused.stderr, /Operation not permitted/); // FAN_DENY → EPERM
      assert.equal((await runViaSh(b)).code, 0);
      assert.deepEqual(taints, [a]);

      // Unapproved binaries are never blocked, modified or not.
      await appendByte(other);
      assert.equal((await runViaSh(other)).code, 0);

      // Restoring the bytes alone does not untaint: it takes a matching hash of this state.
      await Deno.writeFile(a, original);
      assert.equal((await runViaSh(a)).code, 126);
      const stale = await hashFile(a);
      await appendByte(a);
      await assert.rejects(gate.untaint(a, stale), /changed since it was hashed/);
      const bad = await hashFile(a);
      await assert.rejects(gate.untaint(a, bad), /not the approved hash/);
      await Deno.writeFile(a, original);
      const good = await hashFile(a);
      assert.equal(good.sha256, approved);
      assert.equal(await gate.untaint(a, good), false);
      assert.equal((await runViaSh(a)).code, 0);

      // Replaced by rename: taint(path) marks the new inode, which starts tainted.
      await Deno.copyFile("/bin/true", `${dir}/new`);
      await Deno.chmod(`${dir}/new`, 0o755);
      await Deno.rename(`${dir}/new`, b);
      assert.equal(await gate.taint(b), true);
      assert.equal((await runViaSh(b)).code, 126);
      assert.ok(decisions.some((d) => d.path === a && !d.allowed));
      assert.ok(decisions.some((d) => d.path === a && d.allowed));
    } finally {
      await gate.stop();
    }
    // Stopped: the marks are gone, nothing is gated any more.
    await appendByte(a);
    assert.equal((await runViaSh(a)).code, 0);
  });
});

Deno.test("exec gate: an approval whose hash does not match starts tainted; bad input is refused", async () => {
  await withTemp(async (dir) => {
    const a = `${dir}/true-a`;
    await Deno.copyFile("/bin/true", a);
    await Deno.chmod(a, 0o755);
    const approved = (await hashFile(a)).sha256;
    await appendByte(a); // tampered before the gate ever saw it
    const gate = new ExecGate();
    await gate.start();
    try {
      assert.equal(await gate.setApproved(a, await hashFile(a), approved), true);
      assert.equal((await runViaSh(a)).code, 126);
      await assert.rejects(gate.setApproved("rel/path", null, approved), /absolute/);
      await assert.rejects(gate.setApproved(a, null, "ABC"), /64 lower-case hex/);
      await assert.rejects(gate.setApproved(`${dir}/missing`, null, approved), /ENOENT/);
      await assert.rejects(gate.setApproved(dir, null, approved), /not a regular file/);
      await assert.rejects(gate.taint(`${dir}/missing`), /not an approved binary/);
    } finally {
      await gate.stop();
    }
    await assert.rejects(gate.taint(a), /not running/);
  });
});

const CHILD_GATE = `
import { ExecGate } from "${new URL("../../src/integrity/exec_gate.ts", import.meta.url)}";
import { hashFile } from "${new URL("../../src/integrity/hash.ts", import.meta.url)}";
const path = Deno.env.get("HW_GATE_PATH");
const gate = new ExecGate();
await gate.start();
const h = await hashFile(path);
await gate.setApproved(path, h, h.sha256);
console.log("ready");
setInterval(() => {}, 1000);
`;

Deno.test("exec gate: gate process stopped mid-exec then killed -9 → the pending exec completes", async () => {
  await withTemp(async (dir) => {
    const a = `${dir}/true-a`;
    await Deno.copyFile("/bin/true", a);
    await Deno.chmod(a, 0o755);
    const child = new Deno.Command(Deno.execPath(), {
      args: ["eval", CHILD_GATE],
      env: { HW_GATE_PATH: a },
      stdout: "piped",
      stderr: "inherit",
      stdin: "null",
    }).spawn();
    let exec: Deno.ChildProcess | undefined;
    try {
      const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
      let out = "";
      const deadline = Date.now() + 15000;
      while (!out.includes("ready") && Date.now() < deadline) {
        const { value, done } = await reader.read();
        if (done) break;
        out += value;
      }
      reader.releaseLock();
      assert.ok(out.includes("ready"), `child gate did not start: ${out}`);
      assert.equal((await runViaSh(a)).code, 0, "approved and untouched: runs under the gate");
      await appendByte(a);
      assert.equal((await runViaSh(a)).code, 126, "the child gate is really gating");

      // Freeze the gate: the next exec's permission event gets no answer.
      Deno.kill(child.pid, "SIGSTOP");
      exec = new Deno.Command("/bin/sh", {
        args: ["-c", `"$0"`, a],
        stdout: "null",
        stderr: "null",
      })
        .spawn();
      const pending = await Promise.race([
        exec.status.then(() => "finished"),
        new Promise((r) => setTimeout(() => r("pending"), 500)),
      ]);
      assert.equal(pending, "pending", "the exec waits for the frozen gate");
      Deno.kill(child.pid, "SIGKILL");
      const status = await Promise.race([
        exec.status,
        new Promise<null>((r) => setTimeout(() => r(null), 5000)),
      ]);
      assert.ok(status, "the exec was released after the gate died");
      // The kernel allowed it: the tampered binary ran (it is /bin/true plus a byte).
      assert.equal(status.code, 0);
      exec = undefined;
      assert.equal((await runViaSh(a)).code, 0, "no gate, no blocking");
    } finally {
      try {
        Deno.kill(child.pid, "SIGKILL");
      } catch { /* already dead */ }
      await child.status;
      if (exec) {
        try {
          exec.kill("SIGKILL");
        } catch { /* done */ }
        await exec.status;
      }
    }
  });
});
