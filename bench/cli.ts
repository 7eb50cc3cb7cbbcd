/**
 * CLI latency (issue 22): wall time of the read-only commands of the shipped `dist/hashwall`
 * (`version`, `status`, `apps list`, `rules list`, `events --limit 20`) against `deno run` of an
 * empty file, measured in the same run, alternating, median of `--rounds`. Goal: each ≤ 3× the
 * empty run.
 *
 * The commands that talk to a daemon talk to a real one: a test daemon of the same artifact in
 * learning mode on a test cgroup (`--interfaces none`, UI off), stopped and removed at the end.
 * The artifact's first run (unpack + full verification) is done before timing: what is timed is
 * the everyday run, which checks the unpacked files' identity and times against the stamp of the
 * last full check instead of hashing 95 MB (packaging/launcher.sh.in).
 *
 * Run: deno run -A bench/cli.ts [--rounds 15]
 *
 * @module
 */
import { startTestDaemon } from "../tests/helpers/daemon.ts";
import { DIST_PATH } from "../tests/helpers/dist.ts";
import { runBench } from "./lib/cleanup.ts";
import { median, round } from "./lib/stats.ts";
import { fmt, markdownTable, printSummary } from "./lib/report.ts";
import { intOptionsOrExit } from "./lib/args.ts";

const opts = intOptionsOrExit(Deno.args, { rounds: 15 }, "bench/cli.ts");
const GOAL_RATIO = 3;

/** Runs a command to completion and returns its wall time in ms; throws on a non-zero exit. */
async function timed(cmd: string, args: string[]): Promise<number> {
  const t0 = performance.now();
  const out = await new Deno.Command(cmd, { args, stdout: "null", stderr: "piped" }).output();
  const ms = performance.now() - t0;
  if (!out.success) {
    throw new Error(`${cmd} ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  }
  return ms;
}

await runBench(async (cleanup) => {
  const daemon = await startTestDaemon({ mode: "learning", command: [DIST_PATH] });
  cleanup.defer("stop the test daemon", () => daemon.stop());
  const empty = await Deno.makeTempFile({ suffix: ".js" });
  cleanup.defer("remove the empty script", () => Deno.remove(empty));
  const state = ["--state", daemon.stateDir];
  const commands: Record<string, string[]> = {
    "version": ["version"],
    "status": ["status", ...state],
    "apps list": ["apps", "list", ...state],
    "rules list": ["rules", "list", "--config", daemon.configDir, ...state],
    "events --limit 20": ["events", "--limit", "20", ...state],
  };
  const deno = Deno.execPath();
  // Warm-up: the artifact unpacks and verifies once; deno's own caches settle.
  await timed(deno, ["run", "--no-config", empty]);
  for (const args of Object.values(commands)) await timed(DIST_PATH, args);

  const samples: Record<string, number[]> = { empty: [] };
  for (const name of Object.keys(commands)) samples[name] = [];
  for (let r = 0; r < opts.rounds; r++) {
    // Alternate the baseline with each command so load swings hit both alike.
    for (const [name, args] of Object.entries(commands)) {
      samples.empty.push(await timed(deno, ["run", "--no-config", empty]));
      samples[name].push(await timed(DIST_PATH, args));
    }
  }
  const base = median(samples.empty);
  const rows: (string | number)[][] = [["deno run empty.js", fmt(base, 1), "1.00", ""]];
  const ratios: Record<string, number> = {};
  for (const name of Object.keys(commands)) {
    const ms = median(samples[name]);
    ratios[name] = round(ms / base, 2);
    rows.push([
      `hashwall ${name}`,
      fmt(ms, 1),
      fmt(ratios[name], 2),
      ratios[name] <= GOAL_RATIO ? "met" : "NOT met",
    ]);
  }
  console.log(markdownTable(["command", "median ms", "× empty", `goal ≤ ${GOAL_RATIO}×`], rows));
  const worst = Math.max(...Object.values(ratios));
  printSummary({
    name: "cli",
    ratio: worst,
    goal: `every read-only command <= ${GOAL_RATIO}x deno run of an empty file`,
    met: worst <= GOAL_RATIO,
    baselineMs: round(base, 1),
    ratios,
    rounds: opts.rounds,
  });
});
