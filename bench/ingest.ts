/**
 * Ring buffer → SQLite ingest (issues 8, 22): events per second the daemon's event path takes
 * without loss, and the consuming process's peak RSS. Goal (issue 22): 75 000 events/s for 2 s,
 * 0 lost, all committed, consumer peak RSS ≤ 100 MB.
 *
 * The consumer is the daemon's own path, in this process: AppControl.startDrain (50 ms timer,
 * 8 MiB ring, read by ffi/ringbuf.ts) → recordToConnEvent → LearningTracker → EventBatcher
 * (200 ms / 4 000 rows) → openStore (WAL, synchronous = FULL). The producer is a C sender in a
 * test cgroup, learning mode, dedup_ms = 0, allow_loopback = false: every UDP sendto() to 127.0.0.1:9 is one ring-buffer
 * event. It is paced at rising rates (2 s each) and finally run flat out; each step counts what
 * the kernel wrote (`events`), what it dropped for a full ring (`lost`), what the drain received
 * and what the store committed. Producer and consumer are pinned to different CPUs.
 *
 * Baseline in the same run: pre-built ConnEvent rows inserted through the same store
 * (insertEvents in batches of 4 000, as the batcher writes them) — the ratio is ingest / baseline.
 *
 * The consumer runs with the V8 flags hashwall ships with (src/v8_flags.ts): started without
 * them, the bench runs itself again with them.
 *
 * The consumer's CPU time per event over the paced steps is printed too: on a loaded machine it
 * tells what the path costs better than the wall-clock rates do.
 *
 * Run: deno run -A bench/ingest.ts [--seconds 2] [--baseline-rows 200000]
 *
 * @module
 */
import { AppControl, disableInstance } from "../src/kernel/app_control.ts";
import { pinPaths } from "../src/kernel/pins.ts";
import { bootEpochMs, IdentityPaths, recordToConnEvent } from "../src/kernel/events.ts";
import { LearningTracker } from "../src/daemon/learning.ts";
import { EventBatcher } from "../src/store/batcher.ts";
import { openStore } from "../src/store/store.ts";
import type { ConnEvent } from "../src/api/types.ts";
import { decodeEvent, HW } from "../ffi/structs.ts";
import { createTestCgroup, removeTestParentIfEmpty } from "../tests/helpers/cgroup.ts";
import { runBench } from "./lib/cleanup.ts";
import { allowedCpus, cpuPair, pinnedArgv, pinProcess } from "./lib/cpu.ts";
import { buildBenchTool } from "./lib/native.ts";
import { peakRssBytes, rssBytes } from "./lib/proc.ts";
import { round } from "./lib/stats.ts";
import { fmt, markdownTable, printSummary } from "./lib/report.ts";
import { intOptionsOrExit } from "./lib/args.ts";
import { v8FlagsArg } from "../src/v8_flags.ts";
import process from "node:process";

if (Deno.env.get("HASHWALL_BENCH_V8") !== v8FlagsArg()) {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", v8FlagsArg(), new URL(import.meta.url).pathname, ...Deno.args],
    env: { HASHWALL_BENCH_V8: v8FlagsArg() },
  }).spawn();
  Deno.exit((await child.status).code);
}

const opts = intOptionsOrExit(
  Deno.args,
  { seconds: 2, "baseline-rows": 200_000 },
  "bench/ingest.ts",
);
const RATES = [10_000, 20_000, 35_000, 50_000, 75_000, 100_000];
/** Issue 22: 75 000 events/s for 2 s, 0 lost, all committed, consumer peak RSS <= 100 MB. */
const GOAL_RATE = 75_000;
const GOAL_SECONDS = 2;
const GOAL_RSS_MB = 100;
const BATCH = 4000;

/** What one producer step measured. */
interface Step {
  target: string;
  /** Rate the producer achieved (sendto calls per second). */
  sent: number;
  sendRate: number;
  events: number;
  lost: number;
  received: number;
  written: number;
  /** Committed rows per second, producer start to last commit. */
  ingestRate: number;
  /** ms from the producer's end until the last row was committed. */
  lagMs: number;
  /** CPU time this process (the consumer) spent in the step, µs. */
  cpuUs: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

await runBench(async (cleanup) => {
  const allowed = allowedCpus();
  const { client: producerCpu, server: consumerCpu } = cpuPair();
  const dir = await Deno.makeTempDir({ prefix: "hw-bench-ingest-" });
  cleanup.defer(`remove ${dir}`, () => Deno.remove(dir, { recursive: true }));
  const tool = await buildBenchTool(dir);

  cleanup.defer("remove test cgroup parent", () => removeTestParentIfEmpty());
  const cg = await createTestCgroup("bench-ingest");
  cleanup.defer("remove cgroup", () => cg.remove());

  // Keep every thread of this process (the consumer) off the producer's CPU.
  cleanup.defer("unpin this process", () => pinProcess(Deno.pid, allowed));
  await pinProcess(Deno.pid, [consumerCpu]);

  const instance = `bench-ingest-${crypto.randomUUID().slice(0, 8)}`;
  const pins = pinPaths(instance);
  cleanup.defer(`disable instance ${instance}`, () => disableInstance(pins));
  const core = AppControl.open({
    pins,
    cgroupPath: cg.path,
    settings: { mode: HW.MODE_LEARNING, allowLoopback: false, daemonTgid: Deno.pid, dedupMs: 0 },
  });
  cleanup.defer("close kernel core", () => core.close());
  core.attachLineage();
  core.attachHooks();

  const store = openStore(`${dir}/ingest.db`);
  cleanup.defer("close store", () => store.close());
  const batcher = new EventBatcher(store);
  cleanup.defer("close batcher", () => batcher.close());
  const resolver = new IdentityPaths();
  const learning = new LearningTracker();
  const bootEpoch = bootEpochMs();
  let received = 0;
  let sample: ConnEvent | undefined;
  const rawSamples: Uint8Array[] = [];
  const rssBefore = rssBytes();
  core.startDrain((rec) => {
    const ev = recordToConnEvent(rec, resolver, bootEpoch);
    learning.add(ev);
    batcher.push(ev);
    sample ??= ev;
    if (rawSamples.length < 1000) rawSamples.push(rec.slice());
    received++;
  });

  const step = async (rate: number, count: number): Promise<Step> => {
    const c0 = core.counters();
    const r0 = received;
    const w0 = batcher.health().written;
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const argv = pinnedArgv(producerCpu, [tool, "send", String(count), String(rate), "127.0.0.1"]);
    const out = await cg.run([...argv, "9"]);
    const tEnd = performance.now();
    const m = /^sent=(\d+) failed=(\d+) ns=(\d+)$/.exec(out.stdout.trim());
    if (!m || out.code !== 0) throw new Error(`producer: "${out.stdout.trim()}" ${out.stderr}`);
    const [sent, , ns] = m.slice(1).map(Number);
    // Wait until every event the kernel wrote was received and committed (bounded).
    let c = core.counters();
    const deadline = performance.now() + 10_000;
    while (performance.now() < deadline) {
      c = core.counters();
      const pending = (c.events - c0.events) - (received - r0);
      if (pending <= 0 && batcher.health().backlog === 0) break;
      await sleep(pending > 0 ? 20 : 50);
    }
    const tDone = performance.now();
    const cpu = process.cpuUsage(cpu0);
    const written = batcher.health().written - w0;
    return {
      target: rate === 0 ? "flat out" : fmt(rate),
      sent,
      sendRate: sent / (ns / 1e9),
      events: c.events - c0.events,
      lost: c.lost - c0.lost,
      received: received - r0,
      written,
      ingestRate: written / ((tDone - t0) / 1000),
      lagMs: tDone - tEnd,
      cpuUs: cpu.user + cpu.system,
    };
  };

  const steps: Step[] = [];
  await step(0, 2000); // warm-up: JIT, first transaction
  for (const rate of RATES) {
    steps.push(await step(rate, rate * opts.seconds));
    await sleep(300);
  }
  steps.push(await step(0, RATES.at(-1)! * opts.seconds));
  const peakRss = peakRssBytes();
  const health = batcher.health();
  if (!health.ok) throw new Error(`store writes failed during ingest: ${health.error}`);
  if (!sample) throw new Error("no event was received");

  // Baseline: the same store code inserting pre-built rows, no kernel, no decoding.
  const rows = opts["baseline-rows"];
  const prebuilt: ConnEvent[] = Array.from({ length: rows }, (_, i) => ({
    ...sample!,
    time: sample!.time + i,
    dport: 1 + (i % 65535),
  }));
  const base = openStore(`${dir}/baseline.db`);
  cleanup.defer("close baseline store", () => base.close());
  const b0 = performance.now();
  for (let i = 0; i < rows; i += BATCH) base.insertEvents(prebuilt.slice(i, i + BATCH));
  const baseRate = rows / ((performance.now() - b0) / 1000);

  // Where the consumer's time goes: decoding alone, over records captured above.
  const DECODE_N = 50_000;
  const d0 = performance.now();
  for (let i = 0; i < DECODE_N; i++) {
    recordToConnEvent(rawSamples[i % rawSamples.length], resolver, bootEpoch);
  }
  const decodeRate = DECODE_N / ((performance.now() - d0) / 1000);
  const p0 = performance.now();
  for (let i = 0; i < DECODE_N; i++) decodeEvent(rawSamples[i % rawSamples.length]);
  const parseRate = DECODE_N / ((performance.now() - p0) / 1000);

  // A step is lossless when the kernel dropped nothing and every event it wrote was committed.
  // Its rate is what the producer achieved: the consumer kept pace with it for the whole step.
  // (ingest/s in the table also counts the wait for the last commit, up to one 200 ms flush
  // interval, so at 2 s per step it reads below the rate that was sustained.)
  const lossless = steps.filter((s) => s.lost === 0 && s.written === s.events);
  const best = lossless.reduce<Step | undefined>(
    (a, s) => (a === undefined || s.sendRate > a.sendRate ? s : a),
    undefined,
  );
  const bestRate = best?.sendRate ?? 0;
  // The goal: a step paced at >= GOAL_RATE for GOAL_SECONDS that lost nothing and committed all.
  const goalStep = lossless.find((s) =>
    s.sendRate >= GOAL_RATE * 0.99 && s.events >= GOAL_RATE * GOAL_SECONDS * 0.99
  );
  // Load-independent view of the consumer: its CPU time per event over the paced steps (other
  // work on a loaded machine stretches wall time, far less the CPU time the path itself needs).
  const paced = steps.filter((s) => s.received > 0);
  const cpuPerEvent = paced.reduce((n, s) => n + s.cpuUs, 0) /
    Math.max(1, paced.reduce((n, s) => n + s.received, 0));
  const rssOk = peakRss / 1e6 <= GOAL_RSS_MB;
  const met = goalStep !== undefined && rssOk;
  const bestCommitted = best?.ingestRate ?? 0;
  const ratio = bestRate / baseRate;

  console.log(
    `Ring buffer → SQLite through the daemon's path; producer on CPU ${producerCpu}, consumer ` +
      `on CPU ${consumerCpu}; ${opts.seconds} s per paced step. Load average at the end: ` +
      `${Deno.readTextFileSync("/proc/loadavg").split(" ").slice(0, 3).join(" ")}.`,
  );
  console.log("");
  console.log(markdownTable(
    [
      "target/s",
      "sent/s",
      "kernel events",
      "lost (ring full)",
      "received",
      "committed",
      "ingest/s",
      "lag after end",
    ],
    steps.map((s) => [
      s.target,
      fmt(s.sendRate),
      fmt(s.events),
      fmt(s.lost),
      fmt(s.received),
      fmt(s.written),
      fmt(s.ingestRate),
      `${fmt(s.lagMs)} ms`,
    ]),
  ));
  console.log("");
  console.log(markdownTable(["measure", "value", "goal"], [
    [
      `${fmt(GOAL_RATE)} events/s for ${GOAL_SECONDS} s: 0 lost, all committed`,
      goalStep ? `${fmt(goalStep.sendRate)}/s, ${fmt(goalStep.events)} events` : (() => {
        // Why not: the producer fell short of the rate (a loaded machine), or events were lost.
        const s = steps.find((x) => x.target === fmt(GOAL_RATE));
        return s
          ? `step sent ${fmt(s.sendRate)}/s, lost ${fmt(s.lost)}, ` +
            `committed ${fmt(s.written)} of ${fmt(s.events)}`
          : "no such step";
      })(),
      `${goalStep ? "met" : "NOT met"}`,
    ],
    [
      "best lossless ingest: sustained rate with 0 lost, all committed (events/s)",
      fmt(bestRate),
      "",
    ],
    [
      "the same step counted to its last commit (events/s)",
      fmt(bestCommitted),
      `last commit ${fmt(best?.lagMs ?? 0)} ms after the producer ended`,
    ],
    [
      "baseline: pre-built rows via insertEvents (rows/s)",
      fmt(baseRate),
      `batches of ${fmt(BATCH)}`,
    ],
    ["ratio ingest / baseline", ratio.toFixed(3), ""],
    [
      "breakdown: recordToConnEvent alone (records/s)",
      fmt(decodeRate),
      "decoding + names and paths (cached per identity and lineage)",
    ],
    ["breakdown: decodeEvent alone (records/s)", fmt(parseRate), "struct decoding only"],
    [
      "consumer CPU per event over the paced steps (µs)",
      cpuPerEvent.toFixed(2),
      `one CPU at this cost: ${fmt(1e6 / cpuPerEvent)} events/s`,
    ],
    [
      "peak RSS of the consumer (VmHWM)",
      `${(peakRss / 1e6).toFixed(1)} MB`,
      `≤ ${GOAL_RSS_MB} MB: ${rssOk ? "met" : "NOT met"}`,
    ],
    ["RSS of the consumer before the first event", `${(rssBefore / 1e6).toFixed(1)} MB`, ""],
    ["V8 flags of the consumer (as shipped)", v8FlagsArg(), "src/v8_flags.ts"],
  ]));
  printSummary({
    name: "ingest",
    ratio: round(ratio),
    eventsPerSec: Math.round(bestRate),
    committedPerSec: Math.round(bestCommitted),
    baselineRowsPerSec: Math.round(baseRate),
    lostTotal: steps.reduce((n, s) => n + s.lost, 0),
    peakRssMB: round(peakRss / 1e6, 1),
    rssBeforeMB: round(rssBefore / 1e6, 1),
    decodeRecordsPerSec: Math.round(decodeRate),
    parseRecordsPerSec: Math.round(parseRate),
    cpuUsPerEvent: round(cpuPerEvent, 2),
    goal: `>= ${GOAL_RATE} events/s for ${GOAL_SECONDS} s, 0 lost, all committed, ` +
      `<= ${GOAL_RSS_MB} MB`,
    met,
    steps: steps.map((s) => ({
      target: s.target,
      sendRate: Math.round(s.sendRate),
      events: s.events,
      lost: s.lost,
      written: s.written,
      ingestRate: Math.round(s.ingestRate),
    })),
  });
});
