/**
 * Issue 13, vector 4a: a script is trusted by the file the interpreter opens, not by the path
 * string on its command line. Real kernel, real daemon, enforcing, allow_loopback = false; the
 * attacker is `nobody` inside the test cgroup and inside an unprivileged user + mount namespace.
 */
import assert from "node:assert/strict";
import { sha256Of, startTestDaemon } from "../helpers/daemon.ts";
import { loopbackListener } from "../helpers/netclient.ts";
import {
  compileC,
  connectPy,
  publicTempDir,
  PY,
  runNobody,
  waitForEvent,
  writeFileAs,
} from "./trust_script_fixture.ts";

/**
 * A stand-in interpreter that connects BEFORE it opens its script, then opens argv[1] and
 * connects again (to port argv[2]): shows that a pending process is not trusted until the open
 * decides. Named python3, so the kernel's argv grammar reads `python3 SCRIPT PORT`.
 */
const EARLY_INTERP = `
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>
static const char *attempt(int port) {
  int s = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
  a.sin_addr.s_addr = htonl(0x7f000001);
  int r = connect(s, (struct sockaddr *)&a, sizeof a);
  int e = errno;
  close(s);
  return r == 0 ? "ok" : e == EPERM ? "EPERM" : "error";
}
int main(int argc, char **argv) {
  if (argc < 3) return 2;
  int port = atoi(argv[2]);
  const char *before = attempt(port);
  /* open(2) itself, not glibc's openat: the kernel check covers every open syscall. */
  int fd = (int)syscall(SYS_open, argv[1], O_RDONLY | O_CLOEXEC);
  if (fd < 0) { perror("open"); return 1; }
  const char *after = attempt(port);
  printf("%s %s\\n", before, after);
  return 0;
}
`;

/** The bash twin of connectPy: /dev/tcp connects from the shell itself (`:` forks nothing). */
function connectSh(tag: string): string {
  return `#!/bin/bash
{ : 3<>/dev/tcp/127.0.0.1/$1; } 2>/dev/null && echo ${tag}:ok || echo ${tag}:EPERM
`;
}

Deno.test("script trust: bind mount over an approved script in a user namespace", async () => {
  const dir = await publicTempDir("hw-sec-open-");
  const l = loopbackListener();
  const port = `${l.port}`;
  // Root-owned approved scripts that nobody can read but not change.
  const approved = await writeFileAs(`${dir}/approved.py`, connectPy("good"), 0o755);
  const evil = await writeFileAs(`${dir}/evil.py`, connectPy("evil"), 0o755);
  await Deno.mkdir(`${dir}/stand-in`, { mode: 0o755 });
  const early = await compileC(EARLY_INTERP, `${dir}/stand-in/python3`);
  const data = await writeFileAs(`${dir}/data.txt`, "approved data\n", 0o644);
  const approvedSh = await writeFileAs(`${dir}/approved.sh`, connectSh("good"), 0o755);
  const evilSh = await writeFileAs(`${dir}/evil.sh`, connectSh("evil"), 0o755);
  const python = await Deno.realPath(PY);
  const bash = await Deno.realPath("/bin/bash");
  await using d = await startTestDaemon({
    mode: "enforcing",
    allowLoopback: false,
    apps: [
      { name: "python3", path: python, sha256: await sha256Of(python), interpreter: true },
      { name: "bash", path: bash, sha256: await sha256Of(bash), interpreter: true },
      { name: "approved-sh", path: approvedSh, sha256: await sha256Of(approvedSh) },
      { name: "early", path: early, sha256: await sha256Of(early), interpreter: true },
      { name: "approved", path: approved, sha256: await sha256Of(approved) },
      { name: "data", path: data, sha256: await sha256Of(data) },
    ],
  });
  try {
    // Legitimate forms keep working, as nobody too.
    assert.equal(await runNobody(d, [approved, port]), "good:ok", "#! script (env python3)");
    assert.equal(await runNobody(d, [PY, approved, port]), "good:ok", "absolute path");
    assert.equal(
      await runNobody(d, [PY, "-X", "dev", "-W", "ignore", approved, port]),
      "good:ok",
      "options before the script",
    );
    assert.equal(await runNobody(d, [PY, "approved.py", port], dir), "good:ok", "bare name");
    assert.equal(await runNobody(d, [PY, "./approved.py", port], dir), "good:ok", "./name");
    assert.equal(await runNobody(d, ["./approved.py", port], dir), "good:ok", "./name with #!");
    assert.equal(await runNobody(d, [evil, port]), "evil:EPERM", "unapproved script");
    assert.equal(await runNobody(d, [approvedSh, port]), "good:ok", "bash #! script");
    assert.equal(await runNobody(d, [bash, "approved.sh", port], dir), "good:ok", "bash NAME");
    assert.equal(await runNobody(d, [evilSh, port]), "evil:EPERM", "unapproved bash script");

    // The attack: in its own user + mount namespace nobody may bind-mount any file over the
    // approved path. Same path string, other code. Fails before: printed "evil:ok".
    const attack = `mount --bind ${evil} ${approved} && exec ${PY} ${approved} ${port}`;
    assert.equal(
      await runNobody(d, ["unshare", "-r", "-m", "sh", "-c", attack]),
      "evil:EPERM",
      "the interpreter opened another inode at the approved path",
    );
    // The same through #! and a relative name.
    const attackShebang =
      `mount --bind ${evil} ${approved} && cd ${dir} && exec ./approved.py ${port}`;
    assert.equal(
      await runNobody(d, ["unshare", "-r", "-m", "sh", "-c", attackShebang]),
      "evil:EPERM",
      "#! script by relative name",
    );
    const attackSh = `mount --bind ${evilSh} ${approvedSh} && exec ${approvedSh} ${port}`;
    assert.equal(
      await runNobody(d, ["unshare", "-r", "-m", "sh", "-c", attackSh]),
      "evil:EPERM",
      "bash opened another inode at the approved path",
    );
    // A mount namespace a user namespace owns is not trusted at all, bind mount or not: the
    // loader's files (/etc/ld.so.preload, libraries) may be the caller's there too
    // (tests/security/userns_preload_test.ts). A user namespace alone changes nothing.
    assert.equal(
      await runNobody(d, ["unshare", "-r", "-m", "sh", "-c", `exec ${PY} ${approved} ${port}`]),
      "good:EPERM",
      "a mount namespace of a user namespace: not trusted",
    );
    assert.equal(
      await runNobody(d, ["unshare", "-r", "sh", "-c", `exec ${PY} ${approved} ${port}`]),
      "good:ok",
      "a user namespace alone changes nothing",
    );
    // The open-time check itself, where the namespace guard lets an exec through: root's own
    // mount namespace (a container, a service's private mounts) with the same bind mount.
    const rootRun = await d.cg.run(["unshare", "-m", "sh", "-c", attack], {
      env: { PATH: "/usr/bin:/bin" },
    });
    assert.equal(rootRun.stdout.trim(), "evil:EPERM", "root's mount namespace: open-time check");

    // Pending until the open: a connect before the interpreter opened its script is unknown.
    // (The approved "script" here is a data file: the stand-in interpreter only opens it.)
    assert.equal(await runNobody(d, [early, data, port]), "EPERM ok", "decided at the open");
    const bound = `mount --bind ${evil} ${data} && exec ${early} ${data} ${port}`;
    assert.equal(
      await runNobody(d, ["unshare", "-r", "-m", "sh", "-c", bound]),
      "EPERM EPERM",
      "another inode at the open: never trusted",
    );

    // The kernel reported the refusal, naming the script.
    const ev = await waitForEvent(
      d,
      "a script_mismatch event",
      (e) => e.kind === "exec" && e.reason === "script_mismatch" && e.exe === approved,
    );
    assert.equal(ev.verdict, "deny");
    assert.equal(ev.uid, 0, "root's bind mount (nobody's namespaces are refused at exec)");
    // The connect before the open was reported as pending, under the script's name.
    const pending = await waitForEvent(
      d,
      "a script_pending connect",
      (e) => e.kind === "connect" && e.reason === "script_pending",
    );
    assert.equal(pending.exe, data);
  } finally {
    l.close();
    await d.stop();
    await Deno.remove(dir, { recursive: true });
  }
});
