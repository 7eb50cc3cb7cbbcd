/**
 * Test network namespaces: two namespaces joined by a veth pair, with IPv4 and IPv6 addresses,
 * so kernel tests attach the packet filter only to a veth device inside a namespace they created
 * (never to the host's interfaces) and send real, bounded traffic across it.
 *
 * Layout of a {@link NetnsLab}:
 *
 *     ns "a" (filtered side)                 ns "b" (the remote peer)
 *     veth0 10.200.0.1/24 fd00:200::1/64 <-> veth0 10.200.0.2/24 (+ .3) fd00:200::2/64 (+ ::3)
 *
 * Commands run through `nsenter --net=` (not `ip netns exec`, which remounts /sys and hides
 * bpffs and cgroup2). Every namespace and process is removed by `delete()` / `await using`.
 *
 * @module
 */

/** Result of a finished command. */
export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** One namespace of the lab. */
export interface TestNetns {
  /** `ip netns` name. */
  name: string;
  /** Namespace file for nsenter / setns. */
  path: string;
}

/** Two namespaces joined by a veth pair. */
export interface NetnsLab extends AsyncDisposable {
  a: TestNetns;
  b: TestNetns;
  /** Device name in both namespaces. */
  ifname: "veth0";
  addr: {
    a4: string;
    b4: string;
    /** A second address of b, for CIDR tests. */
    b4alt: string;
    a6: string;
    b6: string;
    b6alt: string;
  };
  /** Runs `argv` inside `ns` to completion (killed after `timeoutMs`, default 10 s). */
  run(ns: TestNetns, argv: string[], timeoutMs?: number): Promise<RunResult>;
  /** Starts `argv` inside `ns`; the lab kills it on delete(). */
  spawn(ns: TestNetns, argv: string[]): Deno.ChildProcess;
  /** Runs the traffic tool (see TRAFFIC_TOOL) in `ns` and returns its last output line. */
  tool(ns: TestNetns, args: (string | number)[], timeoutMs?: number): Promise<string>;
  /** Starts a long-running traffic tool mode (a server) in `ns` and waits until it listens. */
  serve(ns: TestNetns, args: (string | number)[]): Promise<Deno.ChildProcess>;
  /** Kills every process started here and deletes both namespaces. Safe to call twice. */
  delete(): Promise<void>;
}

/**
 * A small traffic tool run with `python3 -c`. Modes print one word per result, so tests assert
 * on real outcomes: ok / timeout / refused / dropped (a datagram dropped at our own egress makes
 * sendto fail with ENOBUFS or EPERM).
 *  tcp-connect HOST PORT TIMEOUT [SRC] [SPORT]  connect, read the server's greeting
 *  tcp-serve HOST PORT                    greet each connection with "hi", then close
 *  tcp-hold HOST PORT SECONDS [SRC] [SPORT]  one connection, a round trip every 50 ms; "ok N FAIL"
 *  tcp-raw SRC SPORT DST DPORT FLAGS      one hand-made IPv4 TCP segment (raw socket), e.g. ACK
 *  udp-ask HOST PORT TIMEOUT [SRCPORT] [SRC]  send, await one reply
 *  udp-echo HOST PORT                     echo every datagram
 *  udp-send HOST PORT SRCPORT [SRC]      send one datagram from SRCPORT, no reply awaited
 *  icmp-ping HOST TIMEOUT                 one echo request over a ping socket
 *  udp-connect-ask HOST PORT TIMEOUT      connected UDP: send, await a reply; "refused" when an
 *                                         ICMP port unreachable comes back
 *  icmp-unreach DST ISRC IDST SPORT DPORT  a forged IPv4 port unreachable quoting UDP ISRC:SPORT
 *                                         -> IDST:DPORT, sent to DST (raw socket)
 */
export const TRAFFIC_TOOL = `
import socket, sys, threading, time
mode = sys.argv[1]; a = sys.argv[2:]
fam = lambda h: socket.AF_INET6 if ':' in h else socket.AF_INET
def out(s): print(s, flush=True)
if mode == 'tcp-connect':
    s = socket.socket(fam(a[0]), socket.SOCK_STREAM); s.settimeout(float(a[2]))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if len(a) > 3: s.bind((a[3], int(a[4]) if len(a) > 4 else 0))
    try:
        s.connect((a[0], int(a[1]))); d = s.recv(16); out('ok' if d.startswith(b'hi') else 'empty')
    except socket.timeout: out('timeout')
    except ConnectionRefusedError: out('refused')
    except OSError as e: out('error %s' % e.errno)
elif mode == 'tcp-serve':
    s = socket.socket(fam(a[0]), socket.SOCK_STREAM); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((a[0], int(a[1]))); s.listen(64); out('listening')
    def h(c):
        try:
            c.sendall(b'hi\\n'); c.settimeout(30)
            while True:
                d = c.recv(4096)
                if not d: break
                c.sendall(d)
        except OSError: pass
        c.close()
    while True:
        c, _ = s.accept(); threading.Thread(target=h, args=(c,), daemon=True).start()
elif mode == 'tcp-hold':
    s = socket.socket(fam(a[0]), socket.SOCK_STREAM); s.settimeout(1.0)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if len(a) > 3: s.bind((a[3], int(a[4]) if len(a) > 4 else 0))
    s.connect((a[0], int(a[1]))); s.recv(3); ok = 0; fail = 0; end = time.time() + float(a[2])
    while time.time() < end:
        try:
            s.sendall(b'x'); d = s.recv(1); ok += 1 if d == b'x' else 0
        except OSError: fail += 1; break
        time.sleep(0.05)
    out('ok %d %d' % (ok, fail))
elif mode == 'udp-ask':
    s = socket.socket(fam(a[0]), socket.SOCK_DGRAM); s.settimeout(float(a[2]))
    if len(a) > 3: s.bind((a[4] if len(a) > 4 else ('::' if ':' in a[0] else '0.0.0.0'), int(a[3])))
    try: s.sendto(b'ping', (a[0], int(a[1])))
    except OSError as e: out('dropped' if e.errno in (1, 105) else 'error %s' % e.errno); sys.exit(0)
    try: s.recvfrom(64); out('ok')
    except socket.timeout: out('timeout')
    except OSError as e: out('error %s' % e.errno)
elif mode == 'udp-echo':
    s = socket.socket(fam(a[0]), socket.SOCK_DGRAM); s.bind((a[0], int(a[1]))); out('listening')
    while True:
        d, p = s.recvfrom(2048); s.sendto(d, p)
elif mode == 'udp-send':
    s = socket.socket(fam(a[0]), socket.SOCK_DGRAM); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((a[3] if len(a) > 3 else ('::' if ':' in a[0] else '0.0.0.0'), int(a[2])))
    s.sendto(b'ping', (a[0], int(a[1]))); out('sent')
elif mode == 'tcp-raw':
    import struct
    src, sport, dst, dport, flags = a[0], int(a[1]), a[2], int(a[3]), int(a[4])
    hdr = struct.pack('!HHIIBBHHH', sport, dport, 12345, 67890, 5 << 4, flags, 1024, 0, 0)
    ph = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack('!BBH', 0, 6, len(hdr))
    data = ph + hdr; c = sum((data[i] << 8) + data[i + 1] for i in range(0, len(data), 2))
    while c >> 16: c = (c & 0xffff) + (c >> 16)
    hdr = hdr[:16] + struct.pack('!H', ~c & 0xffff) + hdr[18:]
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP); s.bind((src, 0))
    s.sendto(hdr, (dst, 0)); out('sent')
elif mode == 'icmp-ping':
    v6 = ':' in a[0]
    s = socket.socket(fam(a[0]), socket.SOCK_DGRAM, socket.IPPROTO_ICMPV6 if v6 else socket.IPPROTO_ICMP)
    s.settimeout(float(a[1]))
    try: s.sendto(bytes([128 if v6 else 8, 0, 0, 0, 0, 0, 0, 1]) + b'hashwall', (a[0], 0))
    except OSError as e: out('dropped' if e.errno in (1, 105) else 'error %s' % e.errno); sys.exit(0)
    try: s.recvfrom(64); out('ok')
    except socket.timeout: out('timeout')
elif mode == 'udp-connect-ask':
    s = socket.socket(fam(a[0]), socket.SOCK_DGRAM); s.settimeout(float(a[2]))
    s.connect((a[0], int(a[1])))
    try: s.send(b'ping'); s.recv(64); out('ok')
    except socket.timeout: out('timeout')
    except ConnectionRefusedError: out('refused')
    except OSError as e: out('error %s' % e.errno)
elif mode == 'icmp-unreach':
    import struct
    dst, isrc, idst, sport, dport = a[0], a[1], a[2], int(a[3]), int(a[4])
    inner = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 28, 0, 0, 64, 17, 0, socket.inet_aton(isrc), socket.inet_aton(idst))
    inner += struct.pack('!HHHH', sport, dport, 8, 0)
    body = struct.pack('!BBHI', 3, 3, 0, 0) + inner
    c = sum((body[i] << 8) + body[i + 1] for i in range(0, len(body), 2))
    while c >> 16: c = (c & 0xffff) + (c >> 16)
    body = body[:2] + struct.pack('!H', ~c & 0xffff) + body[4:]
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP); s.sendto(body, (dst, 0)); out('sent')
else:
    out('unknown mode'); sys.exit(2)
`;

const dec = new TextDecoder();

async function sh(argv: string[]): Promise<RunResult> {
  const o = await new Deno.Command(argv[0], {
    args: argv.slice(1),
    stdout: "piped",
    stderr: "piped",
  })
    .output();
  return { code: o.code, stdout: dec.decode(o.stdout), stderr: dec.decode(o.stderr) };
}

async function must(argv: string[]): Promise<void> {
  const r = await sh(argv);
  if (r.code !== 0) throw new Error(`${argv.join(" ")} failed (${r.code}): ${r.stderr.trim()}`);
}

/**
 * Creates the two namespaces (`hwt-<tag>-<random>-a/b`), the veth pair and the addresses.
 * IPv6 addresses use `nodad` so they are usable at once.
 */
export async function createNetnsLab(tag: string): Promise<NetnsLab> {
  const id = `hwt-${tag.slice(0, 6)}-${crypto.randomUUID().slice(0, 6)}`;
  const a: TestNetns = { name: `${id}-a`, path: `/run/netns/${id}-a` };
  const b: TestNetns = { name: `${id}-b`, path: `/run/netns/${id}-b` };
  const children = new Set<Deno.ChildProcess>();
  let deleted = false;
  const addr = {
    a4: "10.200.0.1",
    b4: "10.200.0.2",
    b4alt: "10.200.0.3",
    a6: "fd00:200::1",
    b6: "fd00:200::2",
    b6alt: "fd00:200::3",
  };
  const nsexec = (ns: TestNetns, argv: string[]) => ["nsenter", `--net=${ns.path}`, "--", ...argv];

  const lab: NetnsLab = {
    a,
    b,
    ifname: "veth0",
    addr,
    async run(ns, argv, timeoutMs = 10_000) {
      const child = new Deno.Command("nsenter", {
        args: [`--net=${ns.path}`, "--", ...argv],
        stdout: "piped",
        stderr: "piped",
        stdin: "null",
      }).spawn();
      children.add(child);
      const timer = setTimeout(() => {
        try {
          child.kill("SIGKILL");
        } catch { /* exited */ }
      }, timeoutMs);
      try {
        const o = await child.output();
        return { code: o.code, stdout: dec.decode(o.stdout), stderr: dec.decode(o.stderr) };
      } finally {
        clearTimeout(timer);
        children.delete(child);
      }
    },
    spawn(ns, argv) {
      const child = new Deno.Command("nsenter", {
        args: [`--net=${ns.path}`, "--", ...argv],
        stdout: "piped",
        stderr: "piped",
        stdin: "null",
      }).spawn();
      children.add(child);
      return child;
    },
    async tool(ns, args, timeoutMs = 10_000) {
      const r = await lab.run(ns, ["python3", "-c", TRAFFIC_TOOL, ...args.map(String)], timeoutMs);
      const lines = r.stdout.trim().split("\n");
      return lines[lines.length - 1] || `exit ${r.code}: ${r.stderr.trim().split("\n").pop()}`;
    },
    async serve(ns, args) {
      const child = lab.spawn(ns, ["python3", "-c", TRAFFIC_TOOL, ...args.map(String)]);
      const reader = child.stdout.getReader();
      const first = await Promise.race([
        reader.read(),
        new Promise<null>((r) => setTimeout(() => r(null), 5000)),
      ]);
      reader.releaseLock();
      if (!first || first.done || !dec.decode(first.value).includes("listening")) {
        throw new Error(`server ${args.join(" ")} in ${ns.name} did not start`);
      }
      return child;
    },
    async delete() {
      if (deleted) return;
      deleted = true;
      for (const c of children) {
        try {
          c.kill("SIGKILL");
        } catch { /* exited */ }
        try {
          await c.status;
          await c.stdout.cancel();
          await c.stderr.cancel();
        } catch { /* already consumed */ }
      }
      children.clear();
      for (const ns of [a, b]) await sh(["ip", "netns", "del", ns.name]);
    },
    async [Symbol.asyncDispose]() {
      await lab.delete();
    },
  };

  try {
    await must(["ip", "netns", "add", a.name]);
    await must(["ip", "netns", "add", b.name]);
    await must([
      "ip",
      "link",
      "add",
      "veth0",
      "netns",
      a.name,
      "type",
      "veth",
      "peer",
      "name",
      "veth0",
      "netns",
      b.name,
    ]);
    for (
      const [ns, v4, v6] of [
        [a, [addr.a4], [addr.a6]],
        [b, [addr.b4, addr.b4alt], [addr.b6, addr.b6alt]],
      ] as const
    ) {
      await must(nsexec(ns, ["ip", "link", "set", "lo", "up"]));
      for (const x of v4) await must(nsexec(ns, ["ip", "addr", "add", `${x}/24`, "dev", "veth0"]));
      for (const x of v6) {
        await must(nsexec(ns, ["ip", "-6", "addr", "add", `${x}/64`, "dev", "veth0", "nodad"]));
      }
      await must(nsexec(ns, ["ip", "link", "set", "veth0", "up"]));
      // Ping sockets for root; per-namespace sysctl.
      await must(nsexec(ns, ["sysctl", "-q", "-w", "net.ipv4.ping_group_range=0 2147483647"]));
    }
  } catch (e) {
    await lab.delete();
    throw e;
  }
  return lab;
}
