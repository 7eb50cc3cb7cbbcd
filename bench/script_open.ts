/**
 * Cost of the open syscall tracepoints that decide a script's trust (bpf/script_open.h, issue 13
 * vector 4a). They fire for every open on the host, so the common case — a process that runs no
 * pending or approved script — must cost one hash lookup at enter and one at exit.
 *
 * Measured with BPF run-time stats (bench/lib/bpf_stats.ts) while python loops over
 * open()+close() of one file:
 *   (a) an unwatched process (python3 -c: no script);
 *   (b) a watched one: an approved script run by an approved interpreter, opening another file
 *       (each open reads the name and compares it with the script's path);
 * plus the wall time per open of (a) before the programs are attached and after (ratio).
 * Stats count every open on the host during the pass (the machine is shared): figures are
 * "under load".
 *
 * Run: deno run -A bench/script_open.ts [--opens 200000]
 *
 * @module
 */
import { intOptionsOrExit } from "./lib/args.ts";
import { runBench } from "./lib/cleanup.ts";
import { type ProgCost, progFdOfPinnedLink, withBpfStats } from "./lib/bpf_stats.ts";
import { fmt, markdownTable, printSummary } from "./lib/report.ts";
import { closeBpfFd } from "../ffi/libbpf.ts";
import { HW } from "../ffi/structs.ts";
import { AppControl, disableInstance } from "../src/kernel/app_control.ts";
import { pinPaths } from "../src/kernel/pins.ts";
import { identityOf } from "../src/identity/running.ts";
import { fileTimes, statIdentity } from "../src/integrity/hash.ts";
import { createTestCgroup, removeTestParentIfEmpty } from "../tests/helpers/cgroup.ts";

const opts = intOptionsOrExit(Deno.args, { opens: 200_000 }, "bench/script_open.ts");
const PY = "/usr/bin/python3";
const LOOP = (n: number, target: string, flags = "os.O_RDONLY") =>
  `import os, time\nt = time.perf_counter()\nfor _ in range(${n}):\n    os.close(os.open(${
    JSON.stringify(target)
  }, ${flags}))\nprint((time.perf_counter() - t) * 1e9 / ${n})\n`;

await runBench(async (cleanup) => {
  const dir = await Deno.makeTempDir({ prefix: "hw-bench-open-" });
  cleanup.defer(`remove ${dir}`, () => Deno.remove(dir, { recursive: true }));
  const target = `${dir}/target`;
  await Deno.writeTextFile(target, "x\n");
  const script = `${dir}/opens.py`;
  await Deno.writeTextFile(script, LOOP(opts.opens, target));
  const python = await Deno.realPath(PY);

  cleanup.defer("remove test cgroup parent", () => removeTestParentIfEmpty());
  const cg = await createTestCgroup("bench-script-open");
  cleanup.defer("remove cgroup", () => cg.remove());
  const nsPerOpen = async (argv: string[]) => {
    const r = await cg.run(argv);
    if (r.code !== 0) throw new Error(`${argv.join(" ")}: ${r.stderr}`);
    return Number(r.stdout.trim());
  };
  const inline = [PY, "-c", LOOP(opts.opens, target)];

  const before = await nsPerOpen(inline);

  const instance = `bench-open-${crypto.randomUUID().slice(0, 8)}`;
  const pins = pinPaths(instance);
  cleanup.defer(`disable instance ${instance}`, () => disableInstance(pins));
  const core = AppControl.open({
    pins,
    cgroupPath: cg.path,
    settings: { mode: HW.MODE_ENFORCING, allowLoopback: false, daemonTgid: Deno.pid, dedupMs: 1 },
  });
  cleanup.defer("close kernel core", () => core.close());
  core.attachLineage();
  const key = identityOf(await Deno.stat(script));
  core.approve({
    key: identityOf(await Deno.stat(python)),
    appId: 1,
    flags: HW.APP_INTERPRETER,
    times: fileTimes(statIdentity(python)),
  });
  core.approve({ key, appId: 2, flags: 0, times: fileTimes(statIdentity(script)) });
  core.setScripts([{
    path: script,
    dirKey: identityOf(await Deno.stat(dir)),
    key,
    appId: 2,
    flags: 0,
  }]);

  const progs = new Map<string, number>();
  cleanup.defer("close program fds", () => progs.forEach((fd) => closeBpfFd(fd)));
  progs.set("hw_script_open_enter", progFdOfPinnedLink(`${pins.links}/hw_script_sys_enter_openat`));
  progs.set("hw_script_open_exit", progFdOfPinnedLink(`${pins.links}/hw_script_sys_exit_openat`));
  // The tamper/write-revoke exit program (bpf/write_revoke.h): same tracepoints, global.
  progs.set("hw_openat_exit", progFdOfPinnedLink(`${pins.links}/hw_openat_exit`));
  const after = await nsPerOpen(inline);
  let unwatched: ProgCost[] = [];
  let watched: ProgCost[] = [];
  unwatched = await withBpfStats(progs, async () => void (await nsPerOpen(inline)));
  watched = await withBpfStats(progs, async () => void (await nsPerOpen([PY, script])));
  // Writable opens of a file nobody approved: the write-revoke path's common case (one lookup).
  const writeInline = [PY, "-c", LOOP(opts.opens, target, "os.O_WRONLY")];
  const writable = await withBpfStats(progs, async () => void (await nsPerOpen(writeInline)));
  const trusted = core.counters().exec_trusted;

  console.log(
    `open()+close() of one file, ${fmt(opts.opens)} per run, python3 in a test cgroup; ` +
      `BPF stats count every open on the host during the pass (under load).`,
  );
  console.log("");
  console.log(markdownTable(
    ["process", "program", "runs", "ns per run"],
    [
      ...unwatched.map((
        c,
      ) => ["unwatched (python3 -c)", c.name, fmt(c.runs), c.nsPerRun.toFixed(1)]),
      ...watched.map((
        c,
      ) => ["watched (approved script)", c.name, fmt(c.runs), c.nsPerRun.toFixed(1)]),
      ...writable.map((
        c,
      ) => ["O_WRONLY opens, unapproved file", c.name, fmt(c.runs), c.nsPerRun.toFixed(1)]),
    ],
  ));
  console.log("");
  console.log(
    `wall ns per open+close, unwatched: ${before.toFixed(0)} without the programs, ` +
      `${after.toFixed(0)} with them (ratio ${(before / after).toFixed(3)})`,
  );
  printSummary({
    bench: "script_open",
    opens: opts.opens,
    unwatched_ns_per_open: round1(unwatched.reduce((s, c) => s + c.nsPerRun, 0)),
    watched_ns_per_open: round1(watched.reduce((s, c) => s + c.nsPerRun, 0)),
    openat_exit_ns_readonly: round1(
      unwatched.find((c) => c.name === "hw_openat_exit")?.nsPerRun ?? 0,
    ),
    openat_exit_ns_writable: round1(
      writable.find((c) => c.name === "hw_openat_exit")?.nsPerRun ?? 0,
    ),
    wall_ns_before: Math.round(before),
    wall_ns_after: Math.round(after),
    scripts_trusted_at_open: trusted,
  });
});

function round1(x: number): number {
  return Math.round(x * 10) / 10;
}
