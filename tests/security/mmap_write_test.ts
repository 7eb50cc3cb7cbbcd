/**
 * Issue 13, vector 6: writes through a shared mapping raise no FAN_MODIFY, so the watch cannot
 * see them; the kernel compares the file's mtime/ctime with those recorded at hashing and refuses
 * trust on a difference (bpf/stale.h). Real kernel, real daemon, enforcing, allow_loopback =
 * false; the attacker is `nobody` (owner of the approved files) in the test cgroup. ext4 (the
 * root fs): the first write fault on a clean page moves mtime and ctime (page_mkwrite).
 *
 * Since the kernel revokes at the writable open (bpf/write_revoke.h), the O_RDWR open that makes
 * the mapping revokes at once; the times check matters for a mapping made from an fd opened
 * BEFORE the approval. So each attack maps first, then the app is re-hashed and approved while
 * the mapping exists (`apps rehash`), and only then writes through it.
 */
import assert from "node:assert/strict";
import { sha256Of, startTestDaemon, type TestDaemon } from "../helpers/daemon.ts";
import { loopbackListener } from "../helpers/netclient.ts";
import { until } from "../helpers/wait.ts";
import {
  appInfo,
  asNobody,
  compileC,
  connectPy,
  ENV,
  NOBODY,
  publicTempDir,
  PY,
  runNobody,
  waitForEvent,
  writeFileAs,
} from "./trust_script_fixture.ts";

/**
 * The attack of the issue: open read-write, mmap shared, close the fd, then for each step k wait
 * for the file GO.k and write NEW over OLD through the mapping; unmap at the end. None of the
 * writes raises FAN_MODIFY, and (measured here) FAN_CLOSE_WRITE comes only at the unmap, when
 * the mapping drops the file's last reference: until then the watch has nothing to go on.
 * argv: PATH GO OLD1 NEW1 [OLD2 NEW2 ...].
 */
const ATTACKER = `
import mmap, os, sys, time
path, go, pairs = sys.argv[1], sys.argv[2], sys.argv[3:]
fd = os.open(path, os.O_RDWR)
m = mmap.mmap(fd, 0, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
os.close(fd)
print("mapped", flush=True)
for k in range(len(pairs) // 2):
    old, new = pairs[2 * k].encode(), pairs[2 * k + 1].encode()
    while not os.path.exists(go + "." + str(k)):
        time.sleep(0.01)
    i = m.find(old)
    assert i >= 0 and len(old) == len(new)
    m[i:i + len(new)] = new
    print("step", k, flush=True)
m.close()
print("done", flush=True)
`;

/** A binary that connects once and prints its tag: `TAG:ok` / `TAG:EPERM`. */
const TAGGED_C = `
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>
static const char tag[] = "TAG=good";
int main(int argc, char **argv) {
  if (argc < 2) return 2;
  int s = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(atoi(argv[1])) };
  a.sin_addr.s_addr = htonl(0x7f000001);
  int r = connect(s, (struct sockaddr *)&a, sizeof a);
  printf("%s:%s\\n", tag + 4, r == 0 ? "ok" : errno == EPERM ? "EPERM" : "error");
  return 0;
}
`;

/**
 * After the attacker's O_RDWR open: the kernel revoked `name` at that open (its write_open
 * event), then `apps rehash` approves it again while the mapping lives: the mapping now predates
 * the approval, as one made before it would.
 */
async function approveAfterMapping(d: TestDaemon, name: string, path: string): Promise<void> {
  await waitForEvent(
    d,
    `the write_open revocation of ${name}`,
    (e) => e.kind === "write_open" && e.exe === path,
  );
  await until(`${name} pending`, async () => (await appInfo(d, name)).status === "pending");
  const r = await d.cli(["apps", "rehash", name]);
  assert.equal(r.code, 0, r.stderr);
  await until(`${name} approved again`, async () => (await appInfo(d, name)).status === "valid");
}

/** Runs the attacker as nobody in the cgroup; step(k) lets it do write k and waits for it. */
async function mapAttack(d: TestDaemon, path: string, pairs: string[]) {
  const go = `${path}.go`;
  const child = d.cg.spawn(asNobody([PY, "-c", ATTACKER, path, go, ...pairs]), { env: ENV });
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const stderr = new Response(child.stderr).text();
  let buf = "";
  const waitLine = async (want: string) => {
    while (!buf.split("\n").includes(want)) {
      const r = await lines.read();
      if (r.done) throw new Error(`attacker ended before "${want}": ${buf} ${await stderr}`);
      buf += r.value;
    }
  };
  await waitLine("mapped");
  return {
    async step(k: number): Promise<void> {
      await Deno.writeTextFile(`${go}.${k}`, "");
      await waitLine(`step ${k}`);
    },
    async end(): Promise<string> {
      await waitLine("done");
      const st = await child.status;
      assert.equal(st.code, 0, await stderr);
      for (let k = 0; k < pairs.length / 2; k++) await Deno.remove(`${go}.${k}`);
      return buf;
    },
  };
}

Deno.test("mmap write: a script changed through a shared mapping is not trusted", async () => {
  const dir = await publicTempDir("hw-sec-mmap-");
  const l = loopbackListener();
  const port = `${l.port}`;
  // Approved scripts owned by nobody: the user may write them, but every change must count.
  const a = await writeFileAs(`${dir}/a.py`, connectPy("good"), 0o755, NOBODY);
  const b = await writeFileAs(`${dir}/b.py`, connectPy("good"), 0o755, NOBODY);
  const python = await Deno.realPath(PY);
  await using d = await startTestDaemon({
    mode: "enforcing",
    allowLoopback: false,
    apps: [
      { name: "python3", path: python, sha256: await sha256Of(python), interpreter: true },
      { name: "a", path: a, sha256: await sha256Of(a) },
      { name: "b", path: b, sha256: await sha256Of(b) },
    ],
  });
  try {
    assert.equal(await runNobody(d, [PY, a, port]), "good:ok");
    assert.equal(await runNobody(d, [PY, b, port]), "good:ok");

    // The attack of the issue: change the code through the mapping, run it while still mapped,
    // restore the bytes, unmap. Fails before: printed "evil:ok" (the changed file ran approved,
    // and after the restore no trace remained).
    const atk = await mapAttack(d, a, ['"good"', '"evil"', '"evil"', '"good"']);
    await approveAfterMapping(d, "a", a);
    assert.equal(await runNobody(d, [PY, a, port]), "good:ok", "approved with the mapping alive");
    await atk.step(0);
    assert.equal(await runNobody(d, [PY, a, port]), "evil:EPERM", "changed through the mapping");
    // The kernel told the daemon, which re-hashed: other content, revoked and shown invalid.
    await waitForEvent(
      d,
      "a stale event for a.py",
      (e) => e.kind === "exec" && e.reason === "stale" && e.exe === a,
    );
    await until("a.py invalid", async () => (await appInfo(d, "a")).status === "invalid");
    assert.equal(await runNobody(d, [PY, a, port]), "evil:EPERM");
    // Restored and unmapped: the unmap's CLOSE_WRITE re-hash finds the approved content again.
    await atk.step(1);
    assert.match(await atk.end(), /done/);
    await until("a.py valid again", async () => (await appInfo(d, "a")).status === "valid");
    assert.equal(await runNobody(d, [PY, a, port]), "good:ok");

    // Same bytes written through the mapping: times moved, content did not. Refused once, then
    // re-hashed by the daemon and re-approved with the new times. A later write through the SAME
    // mapping (its page was dirty and writable) must move the times again: the daemon's hash
    // wrote the page back first, which made it read-only in the mapping.
    const atk2 = await mapAttack(d, b, ['"good"', '"good"', '"good"', '"evil"']);
    await approveAfterMapping(d, "b", b);
    const verified = (await appInfo(d, "b")).lastVerified ?? 0;
    await atk2.step(0);
    assert.equal(
      await runNobody(d, [PY, b, port]),
      "good:EPERM",
      "times moved: refused until re-hash",
    );
    await until("b.py re-hashed and valid", async () => {
      const i = await appInfo(d, "b");
      return (i.lastVerified ?? 0) > verified && i.status === "valid";
    });
    assert.equal(await runNobody(d, [PY, b, port]), "good:ok", "same content: approved again");
    await atk2.step(1);
    assert.match(await atk2.end(), /done/);
    assert.equal(
      await runNobody(d, [PY, b, port]),
      "evil:EPERM",
      "second write through the mapping",
    );
  } finally {
    l.close();
    await d.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("mmap write: a binary changed through a shared mapping is not trusted", async () => {
  const dir = await publicTempDir("hw-sec-mmapbin-");
  const l = loopbackListener();
  const port = `${l.port}`;
  const bin = await compileC(TAGGED_C, `${dir}/tagged`);
  await Deno.chown(bin, NOBODY, NOBODY);
  await Deno.chmod(bin, 0o755);
  await using d = await startTestDaemon({
    mode: "enforcing",
    allowLoopback: false,
    apps: [{ name: "tagged", path: bin, sha256: await sha256Of(bin) }],
  });
  try {
    assert.equal(await runNobody(d, [bin, port]), "good:ok");
    // The daemon is frozen during the attack, so only the kernel can notice: the unmap's
    // CLOSE_WRITE re-hash cannot win the race. Fails before: printed "evil:ok".
    const atk = await mapAttack(d, bin, ["TAG=good", "TAG=evil"]);
    // (Not run while mapped: the mapping holds a writable reference, exec would get ETXTBSY.)
    await approveAfterMapping(d, "tagged", bin);
    d.signal("SIGSTOP");
    let out: string;
    try {
      await atk.step(0);
      assert.match(await atk.end(), /done/);
      out = await runNobody(d, [bin, port]);
    } finally {
      d.signal("SIGCONT");
    }
    assert.equal(out, "evil:EPERM", "exec'd after the mmap write, mapping gone");
    await waitForEvent(
      d,
      "a stale event for the binary",
      (e) => e.kind === "exec" && e.reason === "stale" && e.exe === bin,
    );
    await until("binary invalid", async () => (await appInfo(d, "tagged")).status === "invalid");
  } finally {
    l.close();
    await d.stop();
    await Deno.remove(dir, { recursive: true });
  }
});
