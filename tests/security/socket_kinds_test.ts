/**
 * The connect/sendmsg hooks judge every way an unprivileged process can start IP traffic, not only
 * plain TCP and UDP: MPTCP (IPPROTO_MPTCP, IPv4 and IPv4-mapped IPv6), UDP-Lite, and TCP Fast Open
 * (sendto with MSG_FASTOPEN, which connects without connect(2)). An unknown process (uid nobody,
 * enforcing, allow_loopback = false) gets EPERM from each; the same code run as an approved
 * script passes, so the refusals are the hooks' verdicts and not a kernel limitation.
 */
import assert from "node:assert/strict";
import { PYTHON, secSetup } from "./harness.ts";

const KINDS_PY = `import socket, sys
P = int(sys.argv[-1])
def run(name, fn):
    try:
        fn()
        print(name, "ok")
    except PermissionError:
        print(name, "EPERM")
    except OSError as e:
        print(name, "ERR:" + str(e.errno))
def conn(family, proto, addr):
    s = socket.socket(family, socket.SOCK_STREAM, proto)
    s.connect((addr, P))
def send(proto):
    socket.socket(socket.AF_INET, socket.SOCK_DGRAM, proto).sendto(b"x", ("127.0.0.1", P))
def tfo():
    socket.socket().sendto(b"x", 0x20000000, ("127.0.0.1", P))
run("mptcp", lambda: conn(socket.AF_INET, 262, "127.0.0.1"))
run("mptcp6", lambda: conn(socket.AF_INET6, 262, "::ffff:127.0.0.1"))
run("udplite", lambda: send(136))
run("tfo", tfo)
`;

Deno.test("attacker: MPTCP, UDP-Lite and TCP Fast Open are judged like TCP and UDP", async () => {
  const f = await secSetup("sock-kinds");
  try {
    const P = String(f.port);
    const script = await f.file("kinds.py", KINDS_PY);
    const names = ["mptcp", "mptcp6", "udplite", "tfo"];
    assert.deepEqual(
      await f.run([PYTHON, script, P]),
      names.map((n) => `${n} EPERM`),
      "an unknown process",
    );
    await f.approveInterpreter(PYTHON, 150);
    await f.approveScript(script, 151);
    assert.deepEqual(
      await f.run([PYTHON, script, P]),
      names.map((n) => `${n} ok`),
      "the approved script",
    );
  } finally {
    await f.close();
  }
});
