/**
 * Live connections of a trusted process taken over by a stranger. A process with ptrace rights
 * over a trusted one (the same uid, `ptrace_scope` permitting: here there is no Yama) can take a
 * copy of its connected socket with pidfd_getfd(2) — or inject code into it with ptrace — and
 * send its own bytes over the trusted connection. The tamper tracepoints (bpf/tamper.h) take
 * the victim's trust away for its NEXT connect, but sockets it already holds are judged once, at
 * connect (and raw/ICMP sockets at creation), and nothing closes them on tampering.
 *
 * KNOWN HOLE (narrowed), test ignored until it is closed: the taint is reported (kind "taint") and
 * the daemon closes every socket whose record names the tainted process at its next ring drain
 * (tests/e2e/sockets_test.ts, "attacker: ... pidfd_getfd ..."), so the stolen connection dies
 * within milliseconds; but bytes the thief sends before that drain still leave. Without BPF LSM
 * the syscall cannot be refused; refusing those bytes too needs a per-packet egress check of the
 * socket's record against hw_tainted. The assertion below is that goal.
 */
import assert from "node:assert/strict";
import { sockholderCopy } from "../helpers/sockholder.ts";
import { PYTHON, readLine, releaseChild, secSetup } from "./harness.ts";

/** The thief: takes fd 3 of PID with pidfd_getfd and sends "evil" over it. */
const STEAL_PY = `import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
pfd = os.pidfd_open(int(sys.argv[1]))
fd = libc.syscall(438, pfd, 3, 0)
if fd < 0:
    print("FAIL:" + os.strerror(ctypes.get_errno()))
else:
    try:
        os.write(fd, b"evil")
        print("sent")
    except OSError as e:
        print("FAIL:" + e.strerror)
`;

Deno.test({
  name:
    "attacker: a trusted process's live connection taken with pidfd_getfd carries no stranger's bytes",
  ignore: true, // known hole: see the header
  async fn() {
    const f = await secSetup("sock-steal");
    const server = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const received = (async () => {
      const conn = await server.accept();
      let text = "";
      const buf = new Uint8Array(256);
      const dec = new TextDecoder();
      try {
        for (;;) {
          const n = await conn.read(buf).catch(() => null);
          if (n === null) break;
          text += dec.decode(buf.subarray(0, n));
          if (n > 0 && buf[0] === 0x70 /* the holder's ping */) {
            await conn.write(buf.subarray(0, 1));
          }
        }
      } finally {
        conn.close();
      }
      return text;
    })();
    try {
      const holder = await sockholderCopy(f.dir, "holder");
      await f.approveBinary(holder, 130);
      const child = f.spawn([holder, "hold", "127.0.0.1", String(server.addr.port), "0"]);
      const reader = child.stdout.getReader();
      const state = { buf: "" };
      try {
        const first = await readLine(reader, state);
        assert.ok(first.startsWith("connected tcp=ok"), `the approved holder connected: ${first}`);
        const steal = await f.file("steal.py", STEAL_PY);
        const out = await f.run([PYTHON, steal, String(child.pid)]);
        // The steal itself cannot be refused (no LSM); what goes out must not be the thief's.
        await new Promise((r) => setTimeout(r, 200));
        await child.stdin.close().catch(() => {});
        const text = await received;
        assert.ok(!text.includes("evil"), `the peer received the thief's bytes (${out})`);
      } finally {
        await releaseChild(child, reader);
      }
    } finally {
      server.close();
      await f.close();
    }
  },
});
