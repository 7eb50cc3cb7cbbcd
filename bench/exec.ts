/**
 * Exec cost of the trust guards (issue 13): the exec tracepoint runs for every exec on the host,
 * and the tamper tracepoints for every open/ptrace/prctl. posix_spawn rate of
 *
 *   (1) a static no-op (an exec hashwall does not trust: the hook's cheapest and commonest path);
 *   (2) `python3.11 -X dev -W ignore script.py` with the interpreter and the script approved (the
 *       grammar walk and the environment check run),
 *   (3) the static no-op three levels under an inheriting launcher (issue 21): launcher (approved,
 *       inherit) → hop → hop → spawner → no-op, every one below the launcher trusted "via" it, so
 *       each exec takes the via path (old entry, guards) and each fork copies a lineage,
 *
 * with hashwall enforcing (1 000 approved apps, 100 approved scripts, programs attached on a test
 * cgroup, where the spawner runs) ÷ no programs loaded at all. Arms alternate for several rounds;
 * the median of the per-round ratios is the result (goal ≥ 0.97). A final pass with BPF run-time
 * stats gives the hooks' own ns per call. Figures on a shared machine are "under load".
 *
 * Run: deno run -A bench/exec.ts [--spawns 2000] [--pyspawns 200] [--rounds 9]
 *
 * @module
 */
import { AppControl, disableInstance, type ScriptEntry } from "../src/kernel/app_control.ts";
import { pinPaths } from "../src/kernel/pins.ts";
import { identityOf } from "../src/identity/running.ts";
import { closeBpfFd } from "../ffi/libbpf.ts";
import { HW, NO_TIMES } from "../ffi/structs.ts";
import { fileTimes, statIdentity } from "../src/integrity/hash.ts";
import { interpreterKind } from "../src/policy/interpreters.ts";
import { createTestCgroup, removeTestParentIfEmpty } from "../tests/helpers/cgroup.ts";
import { runBench } from "./lib/cleanup.ts";
import { median, round } from "./lib/stats.ts";
import { fmt, markdownTable, printSummary } from "./lib/report.ts";
import { progFdOfPinnedLink, withBpfStats } from "./lib/bpf_stats.ts";
import { intOptionsOrExit } from "./lib/args.ts";
import { buildChain } from "./lib/chain.ts";

const opts = intOptionsOrExit(
  Deno.args,
  { spawns: 2000, pyspawns: 200, rounds: 9 },
  "bench/exec.ts",
);
const GOAL = 0.97;
const PYTHON = "/usr/bin/python3.11";
const SYNTHETIC_DEV = 0xffff_fffe_0000_0000n;

const SPAWNER = `#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
extern char **environ;
int main(int argc, char **argv) {
  int n = atoi(argv[1]);
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  for (int i = 0; i < n; i++) {
    pid_t pid; int st;
    if (posix_spawn(&pid, argv[2], NULL, NULL, argv + 2, environ) != 0) return 2;
    waitpid(pid, &st, 0);
  }
  clock_gettime(CLOCK_MONOTONIC, &b);
  printf("%.0f\\n", n / ((b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9));
  return 0;
}
`;

async function gcc(dir: string, name: string, src: string, extra: string[] = []) {
  await Deno.writeTextFile(`${dir}/${name}.c`, src);
  const r = await new Deno.Command("gcc", {
    args: ["-O2", ...extra, "-o", `${dir}/${name}`, `${dir}/${name}.c`],
  }).output();
  if (r.code !== 0) throw new Error(new TextDecoder().decode(r.stderr));
  return `${dir}/${name}`;
}

await runBench(async (cleanup) => {
  const dir = await Deno.makeTempDir({ prefix: "hw-bench-exec-" });
  cleanup.defer(`remove ${dir}`, () => Deno.remove(dir, { recursive: true }));
  const spawner = await gcc(dir, "spawner", SPAWNER);
  const noop = await gcc(dir, "noop", "int main(void){return 0;}\n", ["-static"]);
  const chain = await buildChain(dir);
  const launcher = chain.launcher;
  const script = `${dir}/script.py`;
  await Deno.writeTextFile(script, "pass\n");
  const cg = await createTestCgroup("bench-exec");
  cleanup.defer("remove cgroup", () => cg.remove().then(removeTestParentIfEmpty));
  const instance = `bench-exec-${crypto.randomUUID().slice(0, 8)}`;
  const pins = pinPaths(instance);
  cleanup.defer("disable instance", () => disableInstance(pins));

  let core: AppControl | undefined;
  const load = async () => {
    core = AppControl.open({
      pins,
      cgroupPath: cg.path,
      settings: { mode: HW.MODE_ENFORCING, allowLoopback: false, daemonTgid: 0, dedupMs: 10_000 },
    });
    core.attachLineage();
    for (let i = 1; i <= 1000; i++) {
      core.approve({
        key: { dev: SYNTHETIC_DEV, ino: BigInt(i) },
        appId: 1000 + i,
        flags: 0,
        times: NO_TIMES,
      });
    }
    core.approve({
      key: identityOf(await Deno.stat(launcher)),
      appId: 3,
      flags: HW.APP_INHERIT,
      times: fileTimes(statIdentity(launcher)),
    });
    core.approve({
      key: identityOf(await Deno.stat(PYTHON)),
      appId: 1,
      flags: HW.APP_INTERPRETER,
      times: fileTimes(statIdentity(PYTHON)),
    });
    core.approve({
      key: identityOf(await Deno.stat(script)),
      appId: 2,
      flags: 0,
      times: fileTimes(statIdentity(script)),
    });
    const scripts: ScriptEntry[] = [];
    for (let i = 1; i < 100; i++) {
      scripts.push({
        path: `/nonexistent/s${i}.py`,
        dirKey: { dev: SYNTHETIC_DEV + 1n, ino: BigInt(i) },
        key: { dev: SYNTHETIC_DEV + 2n, ino: BigInt(i) },
        appId: 3000 + i,
        flags: 0,
      });
    }
    scripts.push({
      path: script,
      dirKey: identityOf(await Deno.stat(dir)),
      key: identityOf(await Deno.stat(script)),
      appId: 2,
      flags: 0,
    });
    core.setScripts(scripts);
    core.setAppExec(
      new Map([[1, { kind: interpreterKind(PYTHON), envAllow: 0 }], [2, {
        kind: 0,
        envAllow: 0,
      }]]),
    );
    core.attachHooks();
  };
  const unload = () => {
    core?.close();
    core = undefined;
    disableInstance(pins);
  };
  cleanup.defer("unload", unload);

  const threeLevels = chain.threeLevels;
  const rate = async (n: number, argv: string[], chain = false) => {
    const cmd = [spawner, String(n), ...argv];
    const r = await cg.run(chain ? [...threeLevels, ...cmd] : cmd, {
      env: { PYTHONDONTWRITEBYTECODE: "1" },
    });
    if (r.code !== 0) throw new Error(`spawner failed: ${r.stderr}`);
    return Number(r.stdout.trim());
  };
  const noopArgv = [noop];
  const pyArgv = [PYTHON, "-X", "dev", "-W", "ignore", script];

  const ratios = { noop: [] as number[], python: [] as number[], chain: [] as number[] };
  const rows: string[][] = [];
  for (let round_ = 0; round_ < opts.rounds; round_++) {
    const order = round_ % 2 === 0 ? ["off", "on"] : ["on", "off"];
    const res: Record<string, { noop: number; python: number; chain: number }> = {};
    for (const arm of order) {
      if (arm === "on") await load();
      res[arm] = {
        noop: await rate(opts.spawns, noopArgv),
        python: await rate(opts.pyspawns, pyArgv),
        chain: await rate(opts.spawns, noopArgv, true),
      };
      if (arm === "on") unload();
    }
    ratios.noop.push(res.on.noop / res.off.noop);
    ratios.python.push(res.on.python / res.off.python);
    ratios.chain.push(res.on.chain / res.off.chain);
    rows.push([
      String(round_ + 1),
      fmt(res.off.noop),
      fmt(res.on.noop),
      fmt(res.off.python, 1),
      fmt(res.on.python, 1),
      fmt(res.off.chain),
      fmt(res.on.chain),
    ]);
  }
  console.log(
    markdownTable([
      "round",
      "no-op off/s",
      "no-op on/s",
      "python off/s",
      "python on/s",
      "3-level chain off/s",
      "3-level chain on/s",
    ], rows),
  );

  // The hooks' own cost, stats on (not during the rate rounds).
  await load();
  const names = ["hw_exec", "hw_fork", "hw_exit", "hw_openat_exit", "hw_prctl"];
  const fds = new Map(names.map((n) => [n, progFdOfPinnedLink(`${pins.links}/${n}`)]));
  const costs = await withBpfStats(fds, async () => {
    await rate(Math.min(opts.spawns, 1000), noopArgv);
    await rate(Math.min(opts.pyspawns, 20), pyArgv);
  });
  // The chain on its own: every exec and fork below the launcher takes the via/lineage paths.
  const chainCosts = await withBpfStats(fds, async () => {
    await rate(Math.min(opts.spawns, 1000), noopArgv, true);
  });
  for (const c of chainCosts) costs.push({ ...c, name: `${c.name} (3-level chain)` });
  for (const fd of fds.values()) closeBpfFd(fd);
  unload();
  console.log(markdownTable(
    ["program", "runs", "ns/run"],
    costs.map((c) => [c.name, String(c.runs), fmt(c.nsPerRun, 0)]),
  ));
  const noopRatio = round(median(ratios.noop));
  const pyRatio = round(median(ratios.python));
  const chainRatio = round(median(ratios.chain));
  printSummary({
    name: "exec",
    ratio: noopRatio,
    ratioPython: pyRatio,
    ratioChain3: chainRatio,
    goal: `>= ${GOAL}`,
    met: noopRatio >= GOAL && pyRatio >= GOAL && chainRatio >= GOAL,
    nsPerRun: Object.fromEntries(costs.map((c) => [c.name, round(c.nsPerRun, 0)])),
    spawns: opts.spawns,
    pySpawns: opts.pyspawns,
    rounds: opts.rounds,
    approvedApps: 1000,
    approvedScripts: 100,
  });
});
