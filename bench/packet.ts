/**
 * Packet filter cost, measured between two test network namespaces (never the host's devices):
 *
 *   1. Bulk TCP throughput (iperf3, a → b) with no filter vs the filter attached to a's veth with
 *      1 000 rules (the iperf flow matched by the last one), arms alternating for several rounds;
 *      printed as the median of the per-round ratios (goal ≥ 0.98, issue 22).
 *   2. Per-packet program run time (BPF run-time stats) with 10, 100, 1 000 and 10 000 rules, for
 *      packets that belong to no flow and must be classified by the rules (UDP probes to ports
 *      and from addresses spread over the rule set, all denied so none opens a flow) — the cost
 *      should stay flat, since matching is a fixed number of LPM lookups.
 *
 * Run: deno run -A bench/packet.ts [--seconds 3] [--rounds 8] [--probes 4000]
 *
 * @module
 */
import { parseIntOptions } from "./lib/args.ts";
import { withBpfStats } from "./lib/bpf_stats.ts";
import { median, round } from "./lib/stats.ts";
import { validateTexts } from "../src/config/validate.ts";
import { parseCidr } from "../src/config/cidr.ts";
import type { Policy, Rule } from "../src/config/model.ts";
import { compilePolicy } from "../src/policy/compile.ts";
import { loadPacketFilter, type PacketFilter } from "../src/kernel/filter.ts";
import { createNetnsLab, type NetnsLab } from "../tests/helpers/netns.ts";

const opts = parseIntOptions(Deno.args, { seconds: 3, rounds: 8, probes: 4000 }, "bench/packet.ts");
/** Throughput with the filter over without (issue 22 raised it from 0.95). */
const GOAL = 0.98;

/** A rule as the config loader would produce it. */
function rule(i: number, r: Omit<Rule, "index" | "loc" | "id">): Rule {
  return { id: `r${i}`, index: i, loc: { file: "bench", line: i + 1, col: 1 }, ...r };
}

/**
 * A policy with `n` rules: n-1 deny rules spread over directions, TCP/UDP, ports and addresses,
 * then `last` (the rule the measured traffic meets). Built directly: 10 000 rules are more text
 * than the 1 MiB cap on rules.toml.
 */
function policyWith(n: number, last?: Omit<Rule, "index" | "loc" | "id">): Policy {
  const r = validateTexts({
    rulesFile: "bench",
    rulesText: '[defaults]\nmode = "enforcing"\ninbound = "deny"\noutbound = "deny"\n',
    appsTexts: [],
  });
  if (!r.ok) throw new Error(r.errors.map(String).join("\n"));
  const rules: Rule[] = [];
  for (let i = 0; i < n - (last ? 1 : 0); i++) {
    const net = `172.${16 + (i >> 16 & 15)}.${i >> 8 & 255}.${i & 255}`;
    rules.push(rule(i, {
      action: "deny",
      direction: i % 3 ? "in" : "out",
      protocol: i % 2 ? "udp" : "tcp",
      ports: [{ from: 20000 + (i % 20000), to: 20000 + (i % 20000) }],
      remote: [parseCidr(net), parseCidr(`fd10::${i.toString(16)}`)],
    }));
  }
  if (last) rules.push(rule(rules.length, last));
  return { ...r.policy, rules };
}

const IPERF_ALLOW: Omit<Rule, "index" | "loc" | "id"> = {
  action: "allow",
  direction: "out",
  protocol: "tcp",
  ports: [{ from: 5201, to: 5201 }],
  remote: [parseCidr("10.200.0.0/24")],
};

function applyRules(filter: PacketFilter, policy: Policy): number {
  const t0 = performance.now();
  filter.apply(compilePolicy(policy));
  return performance.now() - t0;
}

async function iperf(lab: NetnsLab, seconds: number): Promise<number> {
  const r = await lab.run(
    lab.a,
    ["iperf3", "-c", lab.addr.b4, "-t", String(seconds), "-J"],
    (seconds + 15) * 1000,
  );
  if (r.code !== 0) throw new Error(`iperf3 client failed: ${r.stderr || r.stdout.slice(0, 300)}`);
  const j = JSON.parse(r.stdout);
  return j.end.sum_received.bits_per_second / 1e9;
}

const PROBER = `
import socket, sys
n = int(sys.argv[1]); dst = sys.argv[2]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(n):
    s.sendto(b'x', (dst, 20000 + (i * 7919) % 30000))
print('sent', n)
`;

async function main(): Promise<void> {
  const lab = await createNetnsLab("bench");
  const pinRoot = `/sys/fs/bpf/hashwall-test/bench-${crypto.randomUUID().slice(0, 8)}`;
  let filter: PacketFilter | undefined;
  try {
    filter = loadPacketFilter({ pinRoot });
    const server = lab.spawn(lab.b, ["iperf3", "-s", "-B", lab.addr.b4]);
    await new Promise((r) => setTimeout(r, 500));
    const applyMs = applyRules(filter, policyWith(1000, IPERF_ALLOW));

    // 1. Throughput, arms alternating (ABBA) so drift hits both alike.
    const base: number[] = [];
    const filtered: number[] = [];
    const f = filter;
    const withFilter = async () => {
      f.attach([lab.ifname], { netns: lab.a.path });
      try {
        filtered.push(await iperf(lab, opts.seconds));
      } finally {
        f.detach();
      }
    };
    for (let round = 0; round < opts.rounds; round++) {
      if (round % 2 === 0) {
        base.push(await iperf(lab, opts.seconds));
        await withFilter();
      } else {
        await withFilter();
        base.push(await iperf(lab, opts.seconds));
      }
    }
    // The established-flow path during bulk transfer, with stats on (not during the ratio).
    filter.attach([lab.ifname], { netns: lab.a.path });
    const flowCost = await withBpfStats(
      new Map([["ingress", filter.programFds.ingress], ["egress", filter.programFds.egress]]),
      async () => void await iperf(lab, 2),
    );
    filter.detach();
    server.kill("SIGKILL");
    // Each round measures both arms back to back: the median of the per-round ratios cancels
    // the drift between rounds that a ratio of the two medians does not (as bench/connect does).
    const ratio = median(filtered.map((x, i) => x / base[i]));
    const ratioOfMedians = median(filtered) / median(base);
    console.log(`throughput without filter (Gbit/s): ${base.map((x) => round(x, 2)).join(", ")}`);
    console.log(
      `throughput, 1 000 rules (Gbit/s):   ${filtered.map((x) => round(x, 2)).join(", ")}`,
    );
    console.log(
      `ratio filtered/unfiltered, median of per-round ratios: ${
        round(ratio, 3)
      } (goal >= ${GOAL}); ` +
        `ratio of the medians: ${round(ratioOfMedians, 3)}`,
    );
    console.log(`compile + apply of 1 000 rules: ${round(applyMs, 1)} ms`);
    for (const c of flowCost) {
      console.log(
        `established flow, ${c.name}: ${round(c.nsPerRun, 1)} ns/packet over ${c.runs} packets`,
      );
    }

    // 2. Per-packet cost of classification by rule-set size.
    filter.attach([lab.ifname], { netns: lab.a.path });
    const perSize: Record<string, number> = {};
    console.log("rules   ingress ns/packet (unsolicited, classified)   runs   apply ms");
    for (const n of [10, 100, 1000, 10000]) {
      const ms = applyRules(filter, policyWith(n));
      await lab.run(lab.b, ["python3", "-c", PROBER, "200", lab.addr.a4]); // warm-up
      const [cost] = await withBpfStats(
        new Map([["ingress", filter.programFds.ingress]]),
        async () => {
          await lab.run(lab.b, ["python3", "-c", PROBER, String(opts.probes), lab.addr.a4], 60_000);
        },
      );
      perSize[n] = round(cost.nsPerRun, 1);
      console.log(
        `${String(n).padStart(5)}   ${String(round(cost.nsPerRun, 1)).padStart(8)}` +
          `${String(cost.runs).padStart(39)}   ${round(ms, 0)}`,
      );
    }
    const flat = perSize[10000] / perSize[10];
    console.log(`ns/packet at 10 000 rules vs 10 rules: ${round(flat, 2)}x`);
    console.log(JSON.stringify({
      name: "packet",
      ratio: round(ratio, 3),
      ratioOfMedians: round(ratioOfMedians, 3),
      gbpsBase: round(median(base), 2),
      gbpsFiltered: round(median(filtered), 2),
      nsPerPacket: perSize,
      flatness: round(flat, 2),
      goal: `>= ${GOAL}`,
      met: ratio >= GOAL,
    }));
  } finally {
    try {
      filter?.destroy();
    } finally {
      await lab.delete();
      try {
        Deno.removeSync(pinRoot, { recursive: true });
      } catch { /* gone */ }
      try {
        Deno.removeSync("/sys/fs/bpf/hashwall-test");
      } catch { /* not empty or gone */ }
    }
  }
}

await main();
