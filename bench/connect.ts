/**
 * Loopback TCP connect+close rate with and without the hashwall kernel core (issue 3), measured
 * side by side in one run:
 *
 *   (a) baseline: the C netclient in a test cgroup with no programs attached;
 *   (b) the same client in a test cgroup with the kernel core attached, enforcing, 1 000 approved
 *       apps (synthetic identities + the client's own) and allow_loopback = false, so every
 *       connect goes through the full trust decision;
 *   (c) same cgroup and maps, plus 100 approved scripts: the client binary is approved as an
 *       interpreter, and its trust comes from an approved script. netclient's first argument
 *       ("loop") is what the kernel takes as the script, resolved as a bare name in the working
 *       directory — so the run starts in a folder holding an approved file named `loop`;
 *   (d) hostnames at scale: its own cgroup and kernel core instance with the packet filter's rule
 *       maps holding 10 000 `remote_host` rules for the client (plus one address rule allowing
 *       it) and 100 000 cached (process, address) -> name entries; the client's connects go
 *       through the address rules and the name lookup (a miss: it resolved nothing);
 *   (e) lineage (issue 21): its own instance with the rule maps; an unapproved client runs three
 *       levels under an approved launcher with inherit (launcher → hop → hop → client), trusted
 *       "via" it, and 100 `[[rule]] via` rules are in force (99 naming other apps, one allowing
 *       what the launcher starts), so each connect also reads the lineage and looks up the via
 *       groups, and the matching via rule decides.
 *
 * Client and listener run on separate CPUs (taskset). The arms alternate for several rounds; the
 * medians of the per-round ratios b/a, c/a and e/a are the result (goal ≥ 0.98, issue 22), d/a
 * the hostnames result (goal ≥ 0.97, issue 16), computed on the
 * client's own CPU time (wait4 rusage: the hooks run inside its connect() syscalls), because this
 * machine is shared and wall time swings with other load; wall-time ratios are printed too. A final pass with BPF
 * run-time stats on gives the programs' own ns per call (stats stay off while rates are measured).
 *
 * The listener answers every accepted connection with a reset (SO_LINGER 0): with a normal close
 * the client's ports pile up in TIME_WAIT, and loops of thousands of connects then stall in the
 * kernel's ephemeral port search (identical runs varied 4x). The cost: about 1 connect in 1 000
 * to 10 000 gets ECONNRESET (a race between port reuse and the resets); those are counted and
 * tolerated up to 1 %, since each still ran connect() through the hooks. Runs also rotate over 16
 * listening ports.
 *
 * Run: deno run -A bench/connect.ts [--connects 10000] [--rounds 15]
 *
 * @module
 */
import { AppControl, disableInstance, type ScriptEntry } from "../src/kernel/app_control.ts";
import { pinPaths } from "../src/kernel/pins.ts";
import { identityOf } from "../src/identity/running.ts";
import { closeBpfFd } from "../ffi/libbpf.ts";
import { HW, NO_TIMES } from "../ffi/structs.ts";
import { fileTimes, statIdentity } from "../src/integrity/hash.ts";
import {
  createTestCgroup,
  removeTestParentIfEmpty,
  type TestCgroup,
} from "../tests/helpers/cgroup.ts";
import { runBench } from "./lib/cleanup.ts";
import { cpuPair, pinnedArgv } from "./lib/cpu.ts";
import { buildBenchTool, buildNetclient, startListener } from "./lib/native.ts";
import { median, round } from "./lib/stats.ts";
import { fmt, markdownTable, printSummary } from "./lib/report.ts";
import { type ProgCost, progFdOfPinnedLink, withBpfStats } from "./lib/bpf_stats.ts";
import { intOptionsOrExit } from "./lib/args.ts";
import { loadPacketFilter } from "../src/kernel/filter.ts";
import { compilePolicy } from "../src/policy/compile.ts";
import { validateTexts } from "../src/config/validate.ts";
import { parseHostPattern } from "../src/config/hostname.ts";
import type { Rule } from "../src/config/model.ts";
import { mapUpdate } from "../ffi/libbpf.ts";
import { DNS_LAYOUT, encodeAddrKey } from "../ffi/dns_structs.ts";
import { nameHash } from "../src/policy/names.ts";
import { buildChain } from "./lib/chain.ts";

const opts = intOptionsOrExit(Deno.args, { connects: 10_000, rounds: 15 }, "bench/connect.ts");
const APPS = 1000;
const SCRIPTS = 100;
const NAME_RULES = 10_000;
const VIA_RULES = 100;
const CACHED_NAMES = 100_000;
/** b/a, c/a and e/a: the hot path with every check of the round (issue 22). */
const GOAL = 0.98;
/** d/a: 10 000 name rules and 100 000 cached names (issue 16). */
const GOAL_NAMES = 0.97;
/** Device numbers no real file system has, so synthetic approvals never match a real file. */
const SYNTHETIC_APP_DEV = 0xffff_fffe_0000_0000n;
const SYNTHETIC_SCRIPT_DEV = 0xffff_fffd_0000_0000n;
/** Listening ports the runs rotate through (see the module doc). */
const PORTS = 16;

/** One way of running the client. */
interface ArmSpec {
  label: string;
  cg: TestCgroup;
  exe: string;
  cwd?: string;
  /** argv before the client (a process chain it runs under). */
  prefix?: string[];
}

/** An arm with its measurements (ms and connects per second). */
interface Arm extends ArmSpec {
  /** Median cost of a `loop 0` run (process start), subtracted from each timed run. */
  overhead: { cpu: number; wall: number };
  /** Connects per second of client CPU time, per round. */
  cpu: number[];
  /** Connects per second of wall time, per round. */
  wall: number[];
}

await runBench(async (cleanup) => {
  const { client: clientCpu, server: serverCpu } = cpuPair();
  const dir = await Deno.makeTempDir({ prefix: "hw-bench-connect-" });
  cleanup.defer(`remove ${dir}`, () => Deno.remove(dir, { recursive: true }));

  const tool = await buildBenchTool(dir);
  const client = await buildNetclient(dir, "client");
  const interp = await buildNetclient(dir, "interp"); // approved as an interpreter for (c)
  const stranger = await buildNetclient(dir, "stranger"); // never approved: proves hooks decide
  const scriptDir = `${dir}/scripts`;
  await Deno.mkdir(scriptDir);
  await Deno.writeTextFile(`${scriptDir}/loop`, "# the script (c) runs as\n");
  const listener = await startListener(tool, PORTS, ["taskset", "-c", String(serverCpu)]);
  cleanup.defer("stop listener", () => listener.stop());

  cleanup.defer("remove test cgroup parent", () => removeTestParentIfEmpty());
  const cgBase = await createTestCgroup("bench-connect-base");
  cleanup.defer("remove baseline cgroup", () => cgBase.remove());
  const cgHw = await createTestCgroup("bench-connect-hw");
  cleanup.defer("remove hashwall cgroup", () => cgHw.remove());

  const instance = `bench-connect-${crypto.randomUUID().slice(0, 8)}`;
  const pins = pinPaths(instance);
  cleanup.defer(`disable instance ${instance}`, () => disableInstance(pins));
  const core = AppControl.open({
    pins,
    cgroupPath: cgHw.path,
    settings: {
      mode: HW.MODE_ENFORCING,
      allowLoopback: false,
      daemonTgid: Deno.pid,
      dedupMs: 10_000,
    },
  });
  cleanup.defer("close kernel core", () => core.close());
  core.attachLineage();
  // 1 000 apps: the client, the interpreter, and synthetic identities.
  const timesOf = (p: string) => fileTimes(statIdentity(p));
  core.approve({
    key: identityOf(await Deno.stat(client)),
    appId: 1,
    flags: 0,
    times: timesOf(client),
  });
  core.approve({
    key: identityOf(await Deno.stat(interp)),
    appId: 2,
    flags: HW.APP_INTERPRETER,
    times: timesOf(interp),
  });
  for (let i = 0; i < APPS - 2; i++) {
    core.approve({
      key: { dev: SYNTHETIC_APP_DEV, ino: BigInt(i + 1) },
      appId: i + 3,
      flags: 0,
      times: NO_TIMES,
    });
  }
  // 100 scripts, each also approved by its identity (the kernel checks trust against hw_approved).
  const dirKey = identityOf(await Deno.stat(scriptDir));
  const scripts: ScriptEntry[] = [{
    path: `${scriptDir}/loop`,
    dirKey,
    key: identityOf(await Deno.stat(`${scriptDir}/loop`)),
    appId: 5001,
    flags: 0,
  }];
  for (let i = 1; i < SCRIPTS; i++) {
    const key = { dev: SYNTHETIC_SCRIPT_DEV, ino: BigInt(i) };
    scripts.push({
      path: `${scriptDir}/synthetic-${i}.py`,
      dirKey,
      key,
      appId: 5001 + i,
      flags: 0,
    });
  }
  const loopTimes = timesOf(`${scriptDir}/loop`);
  for (const s of scripts) {
    const times = s.appId === 5001 ? loopTimes : NO_TIMES;
    core.approve({ key: s.key, appId: s.appId, flags: s.flags, times });
  }
  core.setScripts(scripts);
  core.attachHooks();
  // (d): its own instance with the filter's rule maps (loaded first: the core reuses them).
  const cgNames = await createTestCgroup("bench-connect-names");
  cleanup.defer("remove names cgroup", () => cgNames.remove());
  const namesInstance = `bench-connect-names-${crypto.randomUUID().slice(0, 8)}`;
  const namesPins = pinPaths(namesInstance);
  cleanup.defer(`disable instance ${namesInstance}`, () => disableInstance(namesPins));
  const filter = loadPacketFilter({ pinRoot: namesPins.root });
  cleanup.defer("close names filter", () => filter.close());
  // Built in code: 10 000 rules in TOML would pass the 1 MiB config-file limit.
  const loaded = validateTexts({
    rulesFile: "rules.toml",
    rulesText:
      `[[rule]]\nid = "client"\naction = "allow"\ndirection = "out"\nprotocol = "tcp"\napp = "client"\n`,
    appsTexts: [{
      file: "apps.toml",
      text: `[[app]]\nname = "client"\npath = "${client}"\nsha256 = "${"0".repeat(64)}"\n`,
    }],
  });
  if (!loaded.ok) throw new Error(loaded.errors.join("\n"));
  const nameRules: Rule[] = Array.from({ length: NAME_RULES }, (_, i) => ({
    id: `n${i}`,
    action: "allow",
    direction: "out",
    protocol: "tcp",
    ports: [{ from: 443, to: 443 }],
    app: "client",
    remoteHost: [parseHostPattern(`n${i}.bench.hw`), parseHostPattern(`*.w${i}.bench.hw`)],
    index: i,
    loc: loaded.policy.rules[0].loc,
  }));
  loaded.policy.rules = [...nameRules, ...loaded.policy.rules].map((r, index) => ({ ...r, index }));
  filter.apply(compilePolicy(loaded.policy, { appId: () => 1 }));
  const coreNames = AppControl.open({
    pins: namesPins,
    cgroupPath: cgNames.path,
    settings: {
      mode: HW.MODE_ENFORCING,
      allowLoopback: false,
      daemonTgid: Deno.pid,
      dedupMs: 10_000,
    },
  });
  cleanup.defer("close names kernel core", () => coreNames.close());
  coreNames.attachLineage();
  coreNames.approve({
    key: identityOf(await Deno.stat(client)),
    appId: 1,
    flags: 0,
    times: fileTimes(statIdentity(client)),
  });
  {
    const fd = coreNames.map("hw_dns_addrs").fd;
    const val = new Uint8Array(DNS_LAYOUT.hw_dns_addr_val.size);
    const dv = new DataView(val.buffer);
    const f = DNS_LAYOUT.hw_dns_addr_val.fields;
    dv.setBigUint64(f.expires_ns, 0xffff_ffff_ffff_ffffn, true);
    for (let i = 0; i < CACHED_NAMES; i++) {
      dv.setBigUint64(f.name, nameHash(`n${i % NAME_RULES}.bench.hw`), true);
      dv.setBigUint64(f.pats, nameHash(`n${i % NAME_RULES}.bench.hw`), true);
      // Synthetic tgids above pid_max's default, so no real process matches them.
      const addr = new Uint8Array([10, (i >> 16) & 255, (i >> 8) & 255, i & 255]);
      mapUpdate(fd, encodeAddrKey(5_000_000 + (i % 1000), addr), val);
    }
  }
  coreNames.attachHooks();
  // (e): lineage, its own instance with the rule maps; `stranger` is trusted only via the launcher.
  const chain = await buildChain(dir);
  const cgChain = await createTestCgroup("bench-connect-chain");
  cleanup.defer("remove chain cgroup", () => cgChain.remove());
  const chainInstance = `bench-connect-chain-${crypto.randomUUID().slice(0, 8)}`;
  const chainPins = pinPaths(chainInstance);
  cleanup.defer(`disable instance ${chainInstance}`, () => disableInstance(chainPins));
  const chainFilter = loadPacketFilter({ pinRoot: chainPins.root });
  cleanup.defer("close chain filter", () => chainFilter.close());
  {
    const others = Array.from({ length: VIA_RULES - 1 }, (_, i) => `other${i}`);
    const viaRules = others.map((n, i) =>
      `[[rule]]\nid = "v${i}"\naction = "deny"\ndirection = "out"\nprotocol = "tcp"\n` +
      `ports = [${9000 + i}]\nvia = "${n}"\n`
    ).join("\n") +
      `\n[[rule]]\nid = "launched"\naction = "allow"\ndirection = "out"\nprotocol = "tcp"\n` +
      `remote = ["127.0.0.1"]\nvia = "launcher"\n`;
    const ids = new Map([
      ["launcher", 1],
      ...others.map((n, i) =>
        [n, 100 + i] as const
      ),
    ]);
    const appsText = [...ids.keys()].map((n) =>
      `[[app]]\nname = "${n}"\npath = "/nonexistent/${n}"\nsha256 = "${"0".repeat(64)}"\n`
    ).join("\n");
    const r = validateTexts({
      rulesFile: "rules.toml",
      rulesText: viaRules,
      appsTexts: [{ file: "apps.toml", text: appsText }],
    });
    if (!r.ok) throw new Error(r.errors.join("\n"));
    chainFilter.apply(compilePolicy(r.policy, { appId: (n) => ids.get(n) }));
  }
  const coreChain = AppControl.open({
    pins: chainPins,
    cgroupPath: cgChain.path,
    settings: {
      mode: HW.MODE_ENFORCING,
      allowLoopback: false,
      daemonTgid: Deno.pid,
      dedupMs: 10_000,
    },
  });
  cleanup.defer("close chain kernel core", () => coreChain.close());
  coreChain.attachLineage();
  coreChain.approve({
    key: identityOf(await Deno.stat(chain.launcher)),
    appId: 1,
    flags: HW.APP_INHERIT,
    times: fileTimes(statIdentity(chain.launcher)),
  });
  coreChain.attachHooks();
  const approved = core.approvedKeys().length;
  if (approved !== APPS + SCRIPTS) {
    throw new Error(`expected ${APPS + SCRIPTS} approved identities, found ${approved}`);
  }

  let runs = 0;
  let resets = 0;
  const nextPort = () => String(listener.ports[runs++ % listener.ports.length]);
  /** Runs `exe loop count tcp4` once in the arm's cgroup on the client CPU; CPU and wall ms. */
  const timed = async (arm: ArmSpec, count: number) => {
    const argv = pinnedArgv(clientCpu, [
      tool,
      "time",
      ...arm.prefix ?? [],
      arm.exe,
      "loop",
      String(count),
      "tcp4",
    ]);
    const r = await arm.cg.run([...argv, "127.0.0.1", nextPort()], { cwd: arm.cwd });
    const m = /^ok=(\d+) eperm=(\d+) other=(\d+)\ncpu_ns=(\d+) wall_ns=(\d+)$/.exec(
      r.stdout.trim(),
    );
    const [ok, eperm, other, cpuNs, wallNs] = m ? m.slice(1).map(Number) : [0, 0, 0, 0, 0];
    // A rare ECONNRESET is the port-reuse race (module doc), not a verdict: tolerated up to 1 %
    // and counted. Any EPERM means the hooks refused the approved client.
    if (!m || eperm !== 0 || ok + other !== count || other > count / 100) {
      throw new Error(`${arm.label}: ${count} connects gave "${r.stdout.trim()}" ${r.stderr}`);
    }
    resets += other;
    return { cpu: cpuNs / 1e6, wall: wallNs / 1e6 };
  };

  // The hooks must really decide: an unapproved binary, and the interpreter running a script
  // nobody approved ("tcp4" is its first argument), are both refused.
  const refused = await cgHw.run([stranger, "tcp4", "127.0.0.1", nextPort()]);
  const refusedScript = await cgHw.run([interp, "tcp4", "127.0.0.1", nextPort()], {
    cwd: scriptDir,
  });
  // (e)'s client alone (not under the launcher) is refused too: its trust comes from the chain.
  const refusedAlone = await cgChain.run([stranger, "tcp4", "127.0.0.1", nextPort()]);
  if (
    refused.stdout.trim() !== "EPERM" || refusedScript.stdout.trim() !== "EPERM" ||
    refusedAlone.stdout.trim() !== "EPERM"
  ) {
    throw new Error(
      `hooks did not refuse: unapproved binary "${refused.stdout.trim()}", unapproved script ` +
        `"${refusedScript.stdout.trim()}", (e)'s client alone "${refusedAlone.stdout.trim()}"`,
    );
  }

  const specs = [
    { label: "(a) no programs (baseline)", cg: cgBase, exe: client },
    {
      label: `(b) hashwall enforcing, ${fmt(APPS)} apps, allow_loopback = false`,
      cg: cgHw,
      exe: client,
    },
    {
      label: `(c) as (b), trusted through 1 of ${SCRIPTS} approved scripts`,
      cg: cgHw,
      exe: interp,
      cwd: scriptDir,
    },
    {
      label: `(d) hostnames: ${fmt(NAME_RULES)} name rules, ${fmt(CACHED_NAMES)} cached names`,
      cg: cgNames,
      exe: client,
    },
    {
      label: `(e) lineage: 3 levels under an inheriting launcher, ${VIA_RULES} via rules`,
      cg: cgChain,
      exe: stranger,
      prefix: chain.threeLevels,
    },
  ];
  const arms: Arm[] = [];
  for (const s of specs) {
    const cpu: number[] = [];
    const wall: number[] = [];
    for (let i = 0; i < 5; i++) {
      const t = await timed(s, 0);
      cpu.push(t.cpu);
      wall.push(t.wall);
    }
    await timed(s, Math.min(opts.connects, 2000)); // warm-up
    arms.push({ ...s, overhead: { cpu: median(cpu), wall: median(wall) }, cpu: [], wall: [] });
  }

  const n = opts.connects;
  const ratios = {
    cpu: arms.slice(1).map(() => [] as number[]),
    wall: arms.slice(1).map(() => [] as number[]),
  };
  for (let r = 0; r < opts.rounds; r++) {
    // Alternate the order so a drift over time does not favour one arm.
    const order = r % 2 === 0 ? arms : [...arms].reverse();
    const got = new Map<Arm, { cpu: number; wall: number }>();
    for (const arm of order) {
      const t = await timed(arm, n);
      const rate = (ms: number, fixed: number) => n / (Math.max(ms - fixed, 0.001) / 1000);
      got.set(arm, { cpu: rate(t.cpu, arm.overhead.cpu), wall: rate(t.wall, arm.overhead.wall) });
    }
    for (const arm of arms) {
      arm.cpu.push(got.get(arm)!.cpu);
      arm.wall.push(got.get(arm)!.wall);
    }
    for (const k of ["cpu", "wall"] as const) {
      for (let i = 1; i < arms.length; i++) {
        ratios[k][i - 1].push(got.get(arms[i])![k] / got.get(arms[0])![k]);
      }
    }
  }
  // The result: medians of per-round ratios (a round's arms run back to back, so a load change
  // on this shared machine hits them together), on the client's CPU time; wall time is shown too.
  const ratioB = median(ratios.cpu[0]);
  const ratioC = median(ratios.cpu[1]);
  const wallRatioB = median(ratios.wall[0]);
  const wallRatioC = median(ratios.wall[1]);
  const ratioD = median(ratios.cpu[2]);
  const ratioE = median(ratios.cpu[3]);

  // Programs' own cost, with stats on only for this pass.
  const progFds = new Map<string, number>();
  cleanup.defer("close program fds", () => progFds.forEach((fd) => closeBpfFd(fd)));
  for (const name of ["hw_connect4", "hw_sock_create", "hw_sock_release"]) {
    progFds.set(name, progFdOfPinnedLink(`${pins.links}/${name}`));
  }
  const costs: ProgCost[] = await withBpfStats(progFds, async () => {
    for (let i = 0; i < 2; i++) await timed(arms[1], n);
  });
  // (d)'s programs: connect4 with the name lookup, and the DNS programs on every packet.
  const namesFds = new Map<string, number>();
  cleanup.defer("close names program fds", () => namesFds.forEach((fd) => closeBpfFd(fd)));
  for (const name of ["hw_connect4", "hw_sock_release", "hw_dns_egress", "hw_dns_ingress"]) {
    namesFds.set(`(d) ${name}`, progFdOfPinnedLink(`${namesPins.links}/${name}`));
  }
  costs.push(
    ...await withBpfStats(namesFds, async () => {
      for (let i = 0; i < 2; i++) await timed(arms[3], n);
    }),
  );
  // (e)'s connect4: the lineage read and the via groups on top of (b)'s work.
  const chainFds = new Map<string, number>();
  cleanup.defer("close chain program fds", () => chainFds.forEach((fd) => closeBpfFd(fd)));
  chainFds.set("(e) hw_connect4", progFdOfPinnedLink(`${chainPins.links}/hw_connect4`));
  costs.push(
    ...await withBpfStats(chainFds, async () => {
      for (let i = 0; i < 2; i++) await timed(arms[4], n);
    }),
  );
  const counters = core.counters();

  const med = (a: Arm, k: "cpu" | "wall") => median(a[k]);
  const verdict = (x: number, goal = GOAL) => (x >= goal ? "met" : "NOT met");
  console.log(
    `Loopback TCP connect+close, ${fmt(n)} connects per run, ${opts.rounds} rounds alternating, ` +
      `client on CPU ${clientCpu}, listener on CPU ${serverCpu}. Rates per second of the ` +
      `client's CPU time (user + system) and of wall time; medians; ratios are medians of ` +
      `per-round ratios.`,
  );
  console.log("");
  console.log(markdownTable(
    [
      "arm",
      "connects/CPU-s",
      "CPU µs per connect",
      "ratio (CPU)",
      "connects/s (wall)",
      "ratio (wall)",
    ],
    arms.map((a, i) => [
      a.label,
      fmt(med(a, "cpu")),
      (1e6 / med(a, "cpu")).toFixed(2),
      i === 0 ? "1.000" : median(ratios.cpu[i - 1]).toFixed(3),
      fmt(med(a, "wall")),
      i === 0 ? "1.000" : median(ratios.wall[i - 1]).toFixed(3),
    ]),
  ));
  console.log("");
  console.log(
    `goal ≥ ${GOAL} (CPU-time ratio): b/a ${ratioB.toFixed(3)} ${verdict(ratioB)}, ` +
      `c/a ${ratioC.toFixed(3)} ${verdict(ratioC)}, e/a ${ratioE.toFixed(3)} ${verdict(ratioE)}; ` +
      `names goal ≥ ${GOAL_NAMES}: d/a ${ratioD.toFixed(3)} ${verdict(ratioD, GOAL_NAMES)}`,
  );
  for (
    const [name, xs] of [
      ["b/a CPU ", ratios.cpu[0]],
      ["c/a CPU ", ratios.cpu[1]],
      ["d/a CPU ", ratios.cpu[2]],
      ["e/a CPU ", ratios.cpu[3]],
      ["b/a wall", ratios.wall[0]],
      ["c/a wall", ratios.wall[1]],
    ] as const
  ) console.log(`per-round ${name}: ${xs.map((x) => x.toFixed(3)).join(" ")}`);
  console.log("");
  console.log(
    "BPF programs' own run time (kernel.bpf_stats_enabled on for 2 extra runs of b, then d, then e):",
  );
  console.log("");
  console.log(markdownTable(
    ["program", "runs", "ns per run"],
    costs.map((c) => [c.name, fmt(c.runs), c.nsPerRun.toFixed(0)]),
  ));
  console.log("");
  console.log(
    `kernel counters: allow ${fmt(counters.allow)}, deny ${fmt(counters.deny)}; client start ` +
      `cost subtracted per run (CPU/wall ms): ${
        arms.map((a) => `${a.overhead.cpu.toFixed(1)}/${a.overhead.wall.toFixed(1)}`).join(", ")
      }; connects reset by the listener race: ${resets}`,
  );
  printSummary({
    name: "connect",
    ratio: round(ratioB),
    ratioScripts: round(ratioC),
    ratioNames: round(ratioD),
    ratioChainVia: round(ratioE),
    wallRatio: round(wallRatioB),
    wallRatioScripts: round(wallRatioC),
    goal: `>= ${GOAL}`,
    met: ratioB >= GOAL && ratioC >= GOAL && ratioE >= GOAL,
    goalNames: `>= ${GOAL_NAMES}`,
    metNames: ratioD >= GOAL_NAMES,
    connectsPerCpuSecond: Object.fromEntries(
      ["baseline", "hashwall", "scripts", "names", "chainVia"].map((
        k,
        i,
      ) => [k, Math.round(med(arms[i], "cpu"))]),
    ),
    connectsPerWallSecond: Object.fromEntries(
      ["baseline", "hashwall", "scripts", "names", "chainVia"].map((
        k,
        i,
      ) => [k, Math.round(med(arms[i], "wall"))]),
    ),
    nsPerRun: Object.fromEntries(costs.map((c) => [c.name, round(c.nsPerRun, 1)])),
    connectsPerRun: n,
    rounds: opts.rounds,
    approvedApps: APPS,
    approvedScripts: SCRIPTS,
    connectResets: resets,
  });
});
