/**
 * Builds tests/fixtures/sockholder.c (a process that holds live sockets: see its header), places
 * copies (each a separate inode, so a separate kernel identity), and drives a running one line
 * by line. Also the loopback echo peers it talks to.
 *
 * @module
 */
import dgram from "node:dgram";
import type { TestCgroup } from "./cgroup.ts";

const SOURCE = new URL("../fixtures/sockholder.c", import.meta.url).pathname;
let built: Promise<string> | undefined;

/** Compiles sockholder once per test process; resolves to the binary's path. */
export function buildSockholder(): Promise<string> {
  built ??= (async () => {
    const dir = await Deno.makeTempDir({ prefix: "hw-sockholder-" });
    const out = `${dir}/sockholder`;
    const cc = await new Deno.Command("cc", { args: ["-O2", "-Wall", "-o", out, SOURCE] }).output();
    if (cc.code !== 0) throw new Error(new TextDecoder().decode(cc.stderr));
    return out;
  })();
  return built;
}

/** Copies sockholder to `dir/name` (a new inode) and returns the path. */
export async function sockholderCopy(dir: string, name: string): Promise<string> {
  const src = await buildSockholder();
  await Deno.mkdir(dir, { recursive: true });
  const dst = `${dir}/${name}`;
  await Deno.copyFile(src, dst);
  await Deno.chmod(dst, 0o755);
  return dst;
}

/** A running process spoken to line by line (stdin commands, stdout answers). */
export class LineProcess {
  readonly child: Deno.ChildProcess;
  #lines: string[] = [];
  #waiters: (() => void)[] = [];
  #writer: WritableStreamDefaultWriter<Uint8Array>;
  #closed = false;
  #stderr = "";

  constructor(child: Deno.ChildProcess) {
    this.child = child;
    this.#writer = child.stdin.getWriter();
    void this.#pump(child.stdout, (l) => this.#lines.push(l)).finally(() => {
      this.#closed = true;
      this.#wake();
    });
    void this.#pump(child.stderr, (l) => this.#stderr += l + "\n");
  }

  async #pump(s: ReadableStream<Uint8Array>, on: (l: string) => void) {
    let buf = "";
    const dec = new TextDecoder();
    try {
      for await (const chunk of s) {
        buf += dec.decode(chunk, { stream: true });
        let i;
        while ((i = buf.indexOf("\n")) !== -1) {
          on(buf.slice(0, i));
          buf = buf.slice(i + 1);
          this.#wake();
        }
      }
    } catch { /* killed */ }
  }

  #wake() {
    for (const w of this.#waiters.splice(0)) w();
  }

  /** The next line of output (waits up to `ms`). */
  async next(ms = 10_000): Promise<string> {
    const end = Date.now() + ms;
    while (this.#lines.length === 0) {
      if (this.#closed) throw new Error(`process ended; stderr: ${this.#stderr}`);
      const left = end - Date.now();
      if (left <= 0) throw new Error(`no output within ${ms} ms; stderr: ${this.#stderr}`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.#waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
    return this.#lines.shift()!;
  }

  /** Writes one line. */
  async send(line: string): Promise<void> {
    await this.#writer.write(new TextEncoder().encode(line + "\n"));
  }

  /** Sends "ping" and returns the answer, e.g. "tcp=ok udp=ok". */
  async ping(): Promise<string> {
    await this.send("ping");
    return await this.next();
  }

  /** Kills the process (SIGKILL) and waits for it. */
  async kill(): Promise<void> {
    try {
      this.child.kill("SIGKILL");
    } catch { /* gone */ }
    await this.#writer.close().catch(() => {});
    await this.child.status;
  }
}

/** Starts `argv` in the cgroup with piped stdin, optionally as uid/gid nobody (setpriv). */
export function spawnLines(
  cg: TestCgroup,
  argv: string[],
  opts: { nobody?: boolean; env?: Record<string, string> } = {},
): LineProcess {
  const full = opts.nobody
    ? ["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", ...argv]
    : argv;
  const child = new Deno.Command("/bin/sh", {
    args: ["-c", `echo $$ > "${cg.path}/cgroup.procs" && exec "$@"`, "sh", ...full],
    env: opts.env,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  return new LineProcess(child);
}

/** TCP and UDP echo servers on loopback (run by the test, outside the cgroup). */
export interface EchoPeers extends AsyncDisposable {
  tcpPort: number;
  udpPort: number;
  close(): Promise<void>;
}

/** Starts a TCP echo server and a UDP echo server on `host` (ephemeral ports). */
export async function echoPeers(host: "127.0.0.1" | "::1" = "127.0.0.1"): Promise<EchoPeers> {
  const l = Deno.listen({ hostname: host, port: 0 });
  const conns = new Set<Deno.Conn>();
  (async () => {
    try {
      for await (const c of l) {
        conns.add(c);
        (async () => {
          const buf = new Uint8Array(256);
          try {
            for (;;) {
              const n = await c.read(buf);
              if (n === null) break;
              await c.write(buf.subarray(0, n));
            }
          } catch { /* reset: the test closed it */ }
          conns.delete(c);
          try {
            c.close();
          } catch { /* closed */ }
        })();
      }
    } catch { /* closed */ }
  })();
  const udp = dgram.createSocket(host === "::1" ? "udp6" : "udp4");
  udp.on("message", (msg, rinfo) => udp.send(msg, rinfo.port, rinfo.address));
  await new Promise<void>((r) => udp.bind(0, host, () => r()));
  const close = async () => {
    l.close();
    for (const c of conns) {
      try {
        c.close();
      } catch { /* closed */ }
    }
    await new Promise<void>((r) => udp.close(() => r()));
  };
  return {
    tcpPort: (l.addr as Deno.NetAddr).port,
    udpPort: udp.address().port,
    close,
    [Symbol.asyncDispose]: close,
  };
}
