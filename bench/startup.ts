/**
 * `hashwall run` to ready (issue 8): the time from spawning the daemon until it logs
 * `"msg":"hashwall <version> enforcing"`, with 1 000 approved apps whose files exist (copies of a
 * small binary, each with a different 4-byte tail, listed in apps.toml with their real SHA-256).
 *
 * Three starts per configuration:
 *   cold  — fresh state folder, page cache dropped first (every file and the daemon's own code
 *           read from disk);
 *   first — fresh state folder, page cache warm;
 *   warm  — a second start on the state folder of `first` (takes over its pins; a hash cache in
 *           the state folder would be used here).
 * Baseline in the same run: the same three starts with 0 apps; ratios are 1 000 apps / 0 apps.
 * Goal: warm start with 1 000 apps ≤ 1 s. Each daemon runs on a test cgroup with `--ui off`,
 * is stopped with SIGTERM, and its instance is disabled (pins removed) before the next.
 *
 * Run: deno run -A bench/startup.ts [--rounds 3] [--apps 1000]
 *
 * @module
 */
import { createHash } from "node:crypto";
import { hashwallCommand, runHashwall, writeTestConfig } from "../tests/helpers/daemon.ts";
import { createTestCgroup, removeTestParentIfEmpty } from "../tests/helpers/cgroup.ts";
import { instanceName, pinPaths } from "../src/kernel/pins.ts";
import { closeBpfFd, mapKeys, objGet } from "../ffi/libbpf.ts";
import { runBench } from "./lib/cleanup.ts";
import { buildNetclient } from "./lib/native.ts";
import { dropCaches, peakRssBytes } from "./lib/proc.ts";
import { median, round } from "./lib/stats.ts";
import { fmt, markdownTable, printSummary } from "./lib/report.ts";
import { intOptionsOrExit } from "./lib/args.ts";

const opts = intOptionsOrExit(Deno.args, { rounds: 3, apps: 1000 }, "bench/startup.ts");
const GOAL_WARM_MS = 1000;
const READY = /"msg":"hashwall \d[^"]* (enforcing|learning)"/;
const START_TIMEOUT_MS = 60_000;
const VARIANTS = ["cold", "first", "warm"] as const;
type Variant = (typeof VARIANTS)[number];

/** The daemon being timed, so a SIGINT/SIGTERM cleanup can kill it. */
let liveDaemon: Deno.ChildProcess | undefined;

/** Kills the daemon being timed, if any, and waits for it. */
async function killLiveDaemon(): Promise<void> {
  const d = liveDaemon;
  if (!d) return;
  try {
    d.kill("SIGKILL");
  } catch { /* already exited */ }
  await d.status;
}

/** Writes `n` distinct files (base bytes + a 4-byte index) and returns their apps.toml entries. */
async function makeApps(dir: string, base: Uint8Array, n: number) {
  await Deno.mkdir(dir, { recursive: true });
  const apps = [];
  for (let i = 0; i < n; i++) {
    const bytes = new Uint8Array(base.length + 4);
    bytes.set(base);
    new DataView(bytes.buffer).setUint32(base.length, i, true);
    const path = `${dir}/app-${String(i).padStart(4, "0")}`;
    await Deno.writeFile(path, bytes, { mode: 0o755 });
    const sha256 = createHash("sha256").update(bytes).digest("hex");
    apps.push({ name: `bench-app-${i}`, path, sha256 });
  }
  return apps;
}

/** Number of identities in an instance's pinned hw_approved map (proof the apps were approved). */
function approvedCount(stateDir: string): number {
  const fd = objGet(`${pinPaths(instanceName(stateDir)).maps}/hw_approved`);
  try {
    let n = 0;
    for (const _ of mapKeys(fd, 16)) n++;
    return n;
  } finally {
    closeBpfFd(fd);
  }
}

/** CPU time (user + system, all threads) a live process used so far, in ms (10 ms ticks). */
function cpuMsOf(pid: number): number {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  // Fields after the ")" that closes the command name: utime and stime are the 12th and 13th.
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(f[11]) + Number(f[12])) * 10;
}

/**
 * Starts the daemon, returns ms from spawn to the ready line and the approved count, and stops
 * it (SIGTERM; SIGKILL after 15 s). The daemon is killed on every path.
 */
async function timeStart(
  configDir: string,
  stateDir: string,
  cgroup: string,
): Promise<{ ms: number; cpuMs: number; approved: number; hwmMB: number }> {
  const [cmd, ...pre] = hashwallCommand();
  const args = [
    ...pre,
    "run",
    "--config",
    configDir,
    "--state",
    stateDir,
    "--cgroup",
    cgroup,
    "--log-format",
    "json",
    "--ui",
    "off",
    // Never the host's interfaces (house rule): without this the enforcing daemon attached its
    // packet filter to every host interface, eth0 included, for each timed start.
    "--interfaces",
    "none",
  ];
  const t0 = performance.now();
  const child = new Deno.Command(cmd, {
    args,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  liveDaemon = child;
  const log: string[] = [];
  let ready = -1;
  let cpuAtReady = 0;
  let hwmAtReady = 0;
  // Reads stderr to the end (so the daemon never blocks on a full pipe), noting the ready time.
  const reader = (async () => {
    let buf = "";
    for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) {
      buf += chunk;
      const parts = buf.split("\n");
      buf = parts.pop()!;
      log.push(...parts);
      if (ready < 0 && parts.some((l) => READY.test(l))) {
        ready = performance.now() - t0;
        cpuAtReady = cpuMsOf(child.pid);
        hwmAtReady = peakRssBytes(child.pid) / 1e6;
      }
    }
  })();
  let exited = false;
  const status = child.status.finally(() => exited = true);
  try {
    const deadline = performance.now() + START_TIMEOUT_MS;
    while (ready < 0 && !exited && performance.now() < deadline) {
      await new Promise((r) => setTimeout(r, 5));
    }
    if (ready < 0) throw new Error(`daemon never became ready; it logged:\n${log.join("\n")}`);
    return { ms: ready, cpuMs: cpuAtReady, approved: approvedCount(stateDir), hwmMB: hwmAtReady };
  } finally {
    const killer = setTimeout(() => {
      try {
        child.kill("SIGKILL");
      } catch { /* gone */ }
    }, 15_000);
    try {
      child.kill("SIGTERM");
    } catch { /* already gone */ }
    await status;
    clearTimeout(killer);
    liveDaemon = undefined;
    await reader.catch(() => {});
  }
}

await runBench(async (cleanup) => {
  const dir = await Deno.makeTempDir({ prefix: "hw-bench-startup-" });
  cleanup.defer(`remove ${dir}`, () => Deno.remove(dir, { recursive: true }));
  cleanup.defer("remove test cgroup parent", () => removeTestParentIfEmpty());
  const cg = await createTestCgroup("bench-startup");
  cleanup.defer("remove cgroup", () => cg.remove());

  const base = await Deno.readFile(await buildNetclient(dir, "base"));
  const configs = new Map<number, string>();
  for (const n of [0, opts.apps]) {
    const configDir = `${dir}/config-${n}`;
    await writeTestConfig(configDir, {
      mode: "enforcing",
      apps: await makeApps(`${dir}/apps-${n}`, base, n),
    });
    configs.set(n, configDir);
  }

  const times = new Map<string, number[]>();
  const cpuTimes = new Map<string, number[]>();
  /** Peak RSS (VmHWM) of the daemon at ready, per app count: hashing included. */
  const hwm = new Map<number, number[]>();
  const key = (n: number, v: Variant) => `${n}/${v}`;
  const record = (n: number, v: Variant, ms: number, cpuMs: number, approved: number) => {
    if (!cpuTimes.has(key(n, v))) cpuTimes.set(key(n, v), []);
    cpuTimes.get(key(n, v))!.push(cpuMs);
    if (approved !== n) throw new Error(`${v} start with ${n} apps approved ${approved}`);
    if (!times.has(key(n, v))) times.set(key(n, v), []);
    times.get(key(n, v))!.push(ms);
  };
  let seq = 0;
  for (let r = 0; r < opts.rounds; r++) {
    // Alternate which configuration goes first, so drift does not favour one.
    const order = r % 2 === 0 ? [0, opts.apps] : [opts.apps, 0];
    for (const n of order) {
      const configDir = configs.get(n)!;
      for (const fresh of ["cold", "first"] as const) {
        const stateDir = `${dir}/state-${seq++}`;
        cleanup.defer(`disable ${stateDir}`, () => runHashwall(["disable", "--state", stateDir]));
        cleanup.defer("kill the daemon being timed", killLiveDaemon);
        if (fresh === "cold") await dropCaches();
        const first = await timeStart(configDir, stateDir, cg.path);
        record(n, fresh, first.ms, first.cpuMs, first.approved);
        if (!hwm.has(n)) hwm.set(n, []);
        hwm.get(n)!.push(first.hwmMB);
        if (fresh === "first") {
          const warm = await timeStart(configDir, stateDir, cg.path);
          record(n, "warm", warm.ms, warm.cpuMs, warm.approved);
        }
        // Pins go now (the deferred disable covers failure paths).
        const off = await runHashwall(["disable", "--state", stateDir]);
        if (off.code !== 0) throw new Error(`hashwall disable --state ${stateDir}: ${off.stderr}`);
      }
    }
  }

  const med = (n: number, v: Variant) => median(times.get(key(n, v))!);
  const cpu = (n: number, v: Variant) => median(cpuTimes.get(key(n, v))!);
  console.log(
    `hashwall run → ready ("hashwall <version> enforcing"), ${opts.rounds} rounds, medians; ` +
      `${fmt(opts.apps)} apps of ${fmt(base.length + 4)} bytes each. Wall time from spawn, and ` +
      `the daemon's CPU time (all threads, 10 ms ticks) at ready. Load average at the end: ` +
      `${Deno.readTextFileSync("/proc/loadavg").split(" ").slice(0, 3).join(" ")}.`,
  );
  console.log("");
  console.log(markdownTable(
    [
      "start",
      "0 apps (baseline)",
      `${fmt(opts.apps)} apps`,
      "ratio",
      "added by the apps",
      "CPU 0 apps",
      `CPU ${fmt(opts.apps)} apps`,
      "CPU ratio",
    ],
    VARIANTS.map((v) => [
      v,
      `${fmt(med(0, v))} ms`,
      `${fmt(med(opts.apps, v))} ms`,
      (med(opts.apps, v) / med(0, v)).toFixed(2),
      `${fmt(med(opts.apps, v) - med(0, v))} ms`,
      `${fmt(cpu(0, v))} ms`,
      `${fmt(cpu(opts.apps, v))} ms`,
      (cpu(opts.apps, v) / cpu(0, v)).toFixed(2),
    ]),
  ));
  console.log("");
  const warm = med(opts.apps, "warm");
  console.log(
    `goal: warm start with ${fmt(opts.apps)} apps ≤ ${GOAL_WARM_MS} ms: ` +
      `${warm <= GOAL_WARM_MS ? "met" : "NOT met"} (${fmt(warm)} ms). Every start hashes every ` +
      `app file by design (a cache row from an earlier run proves nothing against root).`,
  );
  const hwm0 = median(hwm.get(0)!);
  const hwmN = median(hwm.get(opts.apps)!);
  console.log(
    `peak RSS of the daemon at ready (VmHWM, median of cold and first starts): ` +
      `${round(hwm0, 1)} MB with 0 apps, ${round(hwmN, 1)} MB with ${fmt(opts.apps)} apps.`,
  );
  printSummary({
    name: "startup",
    peakRssMB: { baseline: round(hwm0, 1), apps: round(hwmN, 1) },
    ratio: round(warm / med(0, "warm")),
    goal: `warm <= ${GOAL_WARM_MS} ms with ${opts.apps} apps`,
    met: warm <= GOAL_WARM_MS,
    apps: opts.apps,
    rounds: opts.rounds,
    ms: Object.fromEntries(
      VARIANTS.map((
        v,
      ) => [v, { baseline: round(med(0, v), 1), apps: round(med(opts.apps, v), 1) }]),
    ),
    cpuMs: Object.fromEntries(
      VARIANTS.map((v) => [v, { baseline: cpu(0, v), apps: cpu(opts.apps, v) }]),
    ),
  });
});
