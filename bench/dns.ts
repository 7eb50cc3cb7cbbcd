/**
 * The kernel DNS answer parser (bpf/dns.h, issue 16): answers per second it sustains with 0 lost
 * names, its own ns per answer (and per query at egress), and the hostname maps' memory.
 *
 * A client in a test cgroup with the kernel core attached sends N distinct queries
 * (q<i>.bench.hw, DNS id i) one after another on one socket to a DNS server on a unique
 * 127.53.x.y:53 (the dnsclient fixture's `fake byid` mode, outside the cgroup), which answers each
 * with its own address 127.88.<i/256>.<i%256>. Every answer must become a (process, address) ->
 * name entry: the run fails if one is missing ("0 lost names"). BPF run-time stats are on for the
 * whole run (they add a little to the rate; the rate is the client's round trips, not a parser
 * limit).
 *
 * Run: deno run -A bench/dns.ts [--answers 20000]
 *
 * @module
 */
import { AppControl, disableInstance } from "../src/kernel/app_control.ts";
import { HostnameMaps } from "../src/kernel/hostnames.ts";
import { pinPaths } from "../src/kernel/pins.ts";
import { identityOf } from "../src/identity/running.ts";
import { closeBpfFd } from "../ffi/libbpf.ts";
import { HW } from "../ffi/structs.ts";
import { fileTimes, statIdentity } from "../src/integrity/hash.ts";
import { createTestCgroup, removeTestParentIfEmpty } from "../tests/helpers/cgroup.ts";
import { dnsclientCopy, uniqueLoopback } from "../tests/helpers/dns.ts";
import { runBench } from "./lib/cleanup.ts";
import { type ProgCost, progFdOfPinnedLink, withBpfStats } from "./lib/bpf_stats.ts";
import { fmt, markdownTable, printSummary } from "./lib/report.ts";
import { intOptionsOrExit } from "./lib/args.ts";

const opts = intOptionsOrExit(Deno.args, { answers: 20_000 }, "bench/dns.ts");
if (opts.answers < 1 || opts.answers > 65_535) {
  console.error("bench/dns.ts: --answers must be 1..65535 (one DNS id and address each)");
  Deno.exit(2);
}

/** bytes_memlock of a pinned map, from bpftool. */
async function mapMemory(pin: string): Promise<number> {
  const o = await new Deno.Command("bpftool", { args: ["-j", "map", "show", "pinned", pin] })
    .output();
  if (o.code !== 0) return 0;
  return Number(JSON.parse(new TextDecoder().decode(o.stdout)).bytes_memlock ?? 0);
}

await runBench(async (cleanup) => {
  const dir = await Deno.makeTempDir({ prefix: "hw-bench-dns-" });
  cleanup.defer(`remove ${dir}`, () => Deno.remove(dir, { recursive: true }));
  const client = await dnsclientCopy(dir, "client");
  const cg = await createTestCgroup("bench-dns");
  cleanup.defer("remove test cgroup parent", () => removeTestParentIfEmpty());
  cleanup.defer("remove cgroup", () => cg.remove());
  const addr = uniqueLoopback();
  const server = new Deno.Command(client, {
    args: ["fake", addr, "53", "byid", "0.0.0.0"],
    stdout: "piped",
    stderr: "null",
  }).spawn();
  cleanup.defer("stop DNS server", async () => {
    server.kill("SIGKILL");
    await server.status;
    await server.stdout.cancel().catch(() => {});
  });
  const r = server.stdout.getReader();
  const first = new TextDecoder().decode((await r.read()).value);
  r.releaseLock();
  if (!first.includes("ready")) throw new Error(`DNS server did not start: ${first}`);

  const instance = `bench-dns-${crypto.randomUUID().slice(0, 8)}`;
  const pins = pinPaths(instance);
  cleanup.defer(`disable instance ${instance}`, () => disableInstance(pins));
  const core = AppControl.open({
    pins,
    cgroupPath: cg.path,
    settings: {
      mode: HW.MODE_ENFORCING,
      allowLoopback: true,
      daemonTgid: Deno.pid,
      dedupMs: 10_000,
    },
  });
  cleanup.defer("close kernel core", () => core.close());
  core.attachLineage();
  core.approve({
    key: identityOf(await Deno.stat(client)),
    appId: 1,
    flags: 0,
    times: fileTimes(statIdentity(client)),
  });
  core.attachHooks();
  const names = new HostnameMaps({
    addrs: core.map("hw_dns_addrs").fd,
    names: core.map("hw_dns_names").fd,
    stats: core.map("hw_dns_stats").fd,
  });

  const progFds = new Map<string, number>();
  cleanup.defer("close program fds", () => progFds.forEach((fd) => closeBpfFd(fd)));
  for (const name of ["hw_dns_ingress", "hw_dns_egress"]) {
    progFds.set(name, progFdOfPinnedLink(`${pins.links}/${name}`));
  }
  const n = opts.answers;
  let out = "";
  const costs: ProgCost[] = await withBpfStats(progFds, async () => {
    out = (await cg.run([client, "flood", addr, String(n)])).stdout.trim();
  });
  const m = /^answers=(\d+) ns=(\d+)$/.exec(out);
  if (!m) throw new Error(`flood client said "${out}"`);
  const answers = Number(m[1]);
  const seconds = Number(m[2]) / 1e9;
  const named = names.entries().filter((e) =>
    e.family === 4 && e.addr[0] === 127 && e.addr[1] === 88
  );
  const lost = answers - named.length;
  const stats = names.stats();
  const maps = ["hw_dns_addrs", "hw_dns_names", "hw_dns_queries", "hw_dns_socks"];
  const memory = Object.fromEntries(
    await Promise.all(maps.map(async (m) => [m, await mapMemory(`${pins.maps}/${m}`)] as const)),
  );
  console.log(
    `${fmt(n)} queries, one socket, each answer awaited; server on ${addr}:53 outside the cgroup`,
  );
  console.log("");
  console.log(markdownTable(
    [
      "answers",
      "answers/s",
      "names created",
      "lost names",
      "ns per answer (ingress)",
      "ns per query (egress)",
    ],
    [[
      fmt(answers),
      fmt(answers / seconds),
      fmt(named.length),
      fmt(lost),
      (costs.find((c) => c.name === "hw_dns_ingress")?.nsPerRun ?? 0).toFixed(0),
      (costs.find((c) => c.name === "hw_dns_egress")?.nsPerRun ?? 0).toFixed(0),
    ]],
  ));
  console.log("");
  console.log(`parser counters: ${JSON.stringify(stats)}`);
  console.log(
    `map memory (bytes_memlock): ${
      Object.entries(memory).map(([k, v]) => `${k} ${(v / 1048576).toFixed(1)} MiB`).join(", ")
    }`,
  );
  printSummary({
    name: "dns",
    answers,
    answersPerSecond: Math.round(answers / seconds),
    lostNames: lost,
    met: answers === n && lost === 0,
    nsPerAnswer: Math.round(costs.find((c) => c.name === "hw_dns_ingress")?.nsPerRun ?? 0),
    nsPerQuery: Math.round(costs.find((c) => c.name === "hw_dns_egress")?.nsPerRun ?? 0),
    mapBytes: memory,
  });
  if (answers !== n || lost !== 0) throw new Error(`${n - answers} unanswered, ${lost} names lost`);
});
