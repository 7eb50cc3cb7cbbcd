/**
 * Per-host footprint for fleets (issue 19): what one hashwall costs a host, in absolute figures
 * (there is no baseline to take a ratio against; the machine is shared, so read them as orders of
 * magnitude).
 *
 * - Idle daemon: RSS and CPU over an idle window, with 0 apps / 0 rules and with 1 000 approved
 *   apps (real files, real hashes) and 10 000 rules, UI on.
 * - `/metrics` scrape cost with 1 000 apps and 10 000 rules: wall time per scrape (median, p95)
 *   and the daemon's CPU time per scrape, page size.
 * - History growth: bytes per event in `hashwall.db` for realistic connection events (3-step
 *   lineage), extrapolated to one million events (the default `[history] max_rows`).
 *
 * Run: deno run -A bench/footprint.ts [--idle-seconds 20] [--scrapes 50] [--events 200000]
 *
 * @module
 */
import { sha256Of, startTestDaemon, type TestDaemon } from "../tests/helpers/daemon.ts";
import { openStore } from "../src/store/store.ts";
import type { ConnEvent } from "../src/api/types.ts";
import { runBench } from "./lib/cleanup.ts";
import { rssBytes } from "./lib/proc.ts";
import { median, quantile, round } from "./lib/stats.ts";
import { fmt, printSummary } from "./lib/report.ts";
import { intOptionsOrExit } from "./lib/args.ts";

const opts = intOptionsOrExit(
  Deno.args,
  { "idle-seconds": 20, scrapes: 50, events: 200_000, apps: 1000, rules: 10_000 },
  "bench/footprint.ts",
);
const TICK = 100; // USER_HZ on Linux

/** utime + stime of `pid`, in seconds. */
function cpuSeconds(pid: number): number {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(f[11]) + Number(f[12])) / TICK;
}

async function makeApps(dir: string, n: number) {
  await Deno.mkdir(dir, { recursive: true });
  const base = await Deno.readFile("/usr/bin/true");
  const apps = [];
  for (let i = 0; i < n; i++) {
    const bytes = new Uint8Array(base.length + 4);
    bytes.set(base);
    new DataView(bytes.buffer).setUint32(base.length, i, true);
    const path = `${dir}/app-${String(i).padStart(4, "0")}`;
    await Deno.writeFile(path, bytes, { mode: 0o755 });
    apps.push({ name: `app-${i}`, path, sha256: await sha256Of(path) });
  }
  return apps;
}

function rules(n: number): string {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const a = 10 + (i >> 16), b = (i >> 8) & 255, c = i & 255;
    // Compact (no spaces): 10 000 rules must stay under the 1 MiB limit of a config file.
    out.push(
      `[[rule]]\nid="r${i}"\naction="${i % 2 ? "allow" : "deny"}"\ndirection="out"\n` +
        `protocol="tcp"\nremote=["${a}.${b}.${c}.0/24"]\nports=[${1 + (i % 60000)}]`,
    );
  }
  return out.join("\n");
}

async function idle(d: TestDaemon, seconds: number) {
  const pid = d.process.pid;
  await new Promise((r) => setTimeout(r, 3000)); // let start-up work (hash workers) settle
  const c0 = cpuSeconds(pid), t0 = performance.now();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const cpu = (cpuSeconds(pid) - c0) / ((performance.now() - t0) / 1000);
  return { rssMB: rssBytes(pid) / 2 ** 20, cpuPercent: cpu * 100 };
}

async function scrapeCost(d: TestDaemon, n: number) {
  const tokens = JSON.parse(await Deno.readTextFile(`${d.stateDir}/ui-tokens.json`));
  const get = async () => {
    const r = await fetch(`${d.uiUrl}/metrics`, {
      headers: { authorization: `Bearer ${tokens.viewer}` },
    });
    if (r.status !== 200) throw new Error(`/metrics: ${r.status}`);
    return (await r.text()).length;
  };
  await get();
  const pid = d.process.pid;
  const walls: number[] = [];
  let bytes = 0;
  const c0 = cpuSeconds(pid);
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    bytes = await get();
    walls.push(performance.now() - t);
  }
  const cpuMs = (cpuSeconds(pid) - c0) * 1000 / n;
  return { medianMs: median(walls), p95Ms: quantile(walls, 0.95), daemonCpuMs: cpuMs, bytes };
}

function historyGrowth(dir: string, n: number) {
  const path = `${dir}/history.db`;
  const store = openStore(path);
  const lineage = [
    { tgid: 1234, comm: "bash", exe: "/usr/bin/bash", dev: "266338304", ino: "1311" },
    { tgid: 1200, comm: "sshd", exe: "/usr/sbin/sshd", dev: "266338304", ino: "2211" },
    { tgid: 1, comm: "systemd", exe: "/usr/lib/systemd/systemd", dev: "266338304", ino: "77" },
  ];
  const batch = 2000;
  const t0 = performance.now();
  for (let done = 0; done < n; done += batch) {
    const rows: ConnEvent[] = [];
    for (let i = 0; i < batch; i++) {
      const k = done + i;
      rows.push({
        time: Date.now(),
        kind: "connect",
        verdict: k % 3 ? "allow" : "deny",
        reason: "unknown_app",
        tgid: 2000 + (k % 5000),
        uid: 1000,
        comm: `tool-${k % 200}`,
        exe: `/usr/local/bin/tool-${k % 200}`,
        dev: "266338304",
        ino: String(100_000 + (k % 200)),
        family: 4,
        daddr: `198.51.100.${k % 250}`,
        dport: 443,
        proto: 6,
        lineage,
      });
    }
    store.insertEvents(rows);
  }
  const insertS = (performance.now() - t0) / 1000;
  store.checkpoint();
  store.close();
  let size = 0;
  for (const f of [path, `${path}-wal`, `${path}-shm`]) {
    try {
      size += Deno.statSync(f).size;
    } catch { /* absent */ }
  }
  return { bytesPerEvent: size / n, mbPerMillion: size / n * 1e6 / 2 ** 20, insertS };
}

await runBench(async (cleanup) => {
  const dir = await Deno.makeTempDir({ prefix: "hw-bench-footprint-" });
  cleanup.defer(`remove ${dir}`, () => Deno.remove(dir, { recursive: true }));
  console.log(`load average: ${Deno.readTextFileSync("/proc/loadavg").trim()}`);

  const empty = await startTestDaemon({ mode: "enforcing", ui: true });
  cleanup.defer("stop empty daemon", () => empty.stop());
  const idleEmpty = await idle(empty, opts["idle-seconds"]);
  await empty.stop();
  console.log(
    `idle, 0 apps / 0 rules: RSS ${fmt(idleEmpty.rssMB, 1)} MB, CPU ${
      fmt(idleEmpty.cpuPercent, 2)
    } %`,
  );

  const apps = await makeApps(`${dir}/apps`, opts.apps);
  const full = await startTestDaemon({
    mode: "enforcing",
    ui: true,
    apps,
    rulesExtra: rules(opts.rules),
  });
  cleanup.defer("stop full daemon", () => full.stop());
  const idleFull = await idle(full, opts["idle-seconds"]);
  console.log(
    `idle, ${opts.apps} apps / ${opts.rules} rules: RSS ${fmt(idleFull.rssMB, 1)} MB, CPU ${
      fmt(idleFull.cpuPercent, 2)
    } %`,
  );
  const scrape = await scrapeCost(full, opts.scrapes);
  console.log(
    `/metrics with ${opts.apps} apps / ${opts.rules} rules, ${opts.scrapes} scrapes: median ${
      fmt(scrape.medianMs, 1)
    } ms, p95 ${fmt(scrape.p95Ms, 1)} ms, daemon CPU ${fmt(scrape.daemonCpuMs, 1)} ms/scrape, ${
      fmt(scrape.bytes)
    } bytes`,
  );
  await full.stop();

  const hist = historyGrowth(dir, opts.events);
  console.log(
    `history: ${fmt(hist.bytesPerEvent)} bytes/event → ${fmt(hist.mbPerMillion)} MB per million ` +
      `events (measured on ${fmt(opts.events)}, inserted in ${fmt(hist.insertS, 1)} s)`,
  );
  printSummary({
    name: "footprint",
    idle_rss_mb_empty: round(idleEmpty.rssMB, 1),
    idle_cpu_pct_empty: round(idleEmpty.cpuPercent, 2),
    idle_rss_mb_full: round(idleFull.rssMB, 1),
    idle_cpu_pct_full: round(idleFull.cpuPercent, 2),
    scrape_median_ms: round(scrape.medianMs, 1),
    scrape_p95_ms: round(scrape.p95Ms, 1),
    scrape_daemon_cpu_ms: round(scrape.daemonCpuMs, 1),
    scrape_bytes: scrape.bytes,
    history_bytes_per_event: round(hist.bytesPerEvent, 0),
    history_mb_per_million: round(hist.mbPerMillion, 0),
    loaded_machine: true,
  });
});
