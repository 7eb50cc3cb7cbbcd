/**
 * A real DNS server for the hostname tests (dnsmasq from Debian, on a unique loopback address,
 * answering only its own records) and the dnsclient fixture (tests/fixtures/dnsclient.c).
 *
 * @module
 */
import { until } from "./wait.ts";

const SOURCE = new URL("../fixtures/dnsclient.c", import.meta.url).pathname;
let built: Promise<string> | undefined;

/** Compiles dnsclient once per test process; resolves to the binary's path. */
export function buildDnsclient(): Promise<string> {
  built ??= (async () => {
    const dir = await Deno.makeTempDir({ prefix: "hw-dnsclient-" });
    await Deno.chmod(dir, 0o755);
    const out = `${dir}/dnsclient`;
    const cc = await new Deno.Command("cc", { args: ["-O2", "-Wall", "-o", out, SOURCE] }).output();
    if (cc.code !== 0) throw new Error(new TextDecoder().decode(cc.stderr));
    return out;
  })();
  return built;
}

/** Copies dnsclient to `dir/name` (a new inode: its own kernel identity), world-executable. */
export async function dnsclientCopy(dir: string, name = "dnsclient"): Promise<string> {
  const src = await buildDnsclient();
  await Deno.mkdir(dir, { recursive: true });
  await Deno.chmod(dir, 0o755);
  const dst = `${dir}/${name}`;
  await Deno.copyFile(src, dst);
  await Deno.chmod(dst, 0o755);
  return dst;
}

/** A running dnsmasq. */
export interface DnsServer extends AsyncDisposable {
  /** The loopback address it listens on (port 53). */
  addr: string;
  /** A resolv.conf naming only this server (for a mount-namespace bind). */
  resolvConf: string;
  stop(): Promise<void>;
}

/** A random address in 127.53.0.0/16, so parallel tests never share a server. */
export function uniqueLoopback(prefix = "127.53"): string {
  const b = crypto.getRandomValues(new Uint8Array(2));
  return `${prefix}.${(b[0] % 250) + 1}.${(b[1] % 250) + 1}`;
}

/**
 * Starts dnsmasq on a unique 127.53.x.y:53 with only `records` (dnsmasq options such as
 * `--host-record=a.test,127.0.0.1`), no upstream, no /etc/hosts, answers' TTL `ttl`.
 */
export async function startDnsmasq(records: string[], ttl = 1): Promise<DnsServer> {
  const dir = await Deno.makeTempDir({ prefix: "hw-dnsmasq-" });
  const addr = uniqueLoopback();
  const child = new Deno.Command("dnsmasq", {
    args: [
      "--keep-in-foreground",
      "--no-resolv",
      "--no-hosts",
      "--no-poll",
      `--listen-address=${addr}`,
      "--bind-interfaces",
      "--port=53",
      "--user=root",
      `--pid-file=${dir}/pid`,
      `--log-facility=${dir}/log`,
      `--local-ttl=${ttl}`,
      "--log-queries",
      ...records,
    ],
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const resolvConf = `${dir}/resolv.conf`;
  await Deno.writeTextFile(resolvConf, `nameserver ${addr}\noptions attempts:1 timeout:2\n`);
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    try {
      child.kill("SIGKILL");
    } catch { /* gone */ }
    await child.status;
    await child.stderr.cancel().catch(() => {});
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  };
  try {
    await until("dnsmasq started", async () => {
      const log = await Deno.readTextFile(`${dir}/log`).catch(() => "");
      return log.includes("cleared cache");
    });
  } catch (e) {
    await stop();
    throw e;
  }
  return { addr, resolvConf, stop, [Symbol.asyncDispose]: stop };
}
