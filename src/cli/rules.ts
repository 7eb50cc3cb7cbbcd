/**
 * `hashwall rules list|reload|explain`: the packet-filter rules with their kernel hit counters,
 * reloading them through the daemon, and which rule decides a given packet.
 *
 * @module
 */
import type { Command } from "./command.ts";
import { DEFAULT_CONFIG_DIR, DEFAULT_STATE_DIR } from "./command.ts";
import { parseArgs, stringFlag, UsageError } from "./args.ts";
import { reloadDaemon } from "./reload.ts";
import { formatErrors } from "../config/format.ts";
import { loadPolicy } from "../config/load.ts";
import { formatCidr } from "../config/cidr.ts";
import type { Policy, Rule } from "../config/model.ts";
import { explainPacket } from "../policy/explain.ts";
import { blocklistRuleId } from "../policy/blocklist.ts";
import { exists } from "../base/fs.ts";
import { PacketSyntaxError, parsePacket } from "../policy/packet.ts";
import { instanceName, pinPaths } from "../kernel/pins.ts";
import type { SlotCounter } from "../../ffi/filter_structs.ts";

const USAGE = `Usage: hashwall rules <list|reload|explain> [options]

  hashwall rules list [--json] [--config DIR] [--state DIR]
      The rules of rules.toml in match order (first match wins) with the kernel's per-rule
      packet/byte counters (and would-drop counts in learning mode) and the defaults' counters.

  hashwall rules reload [--json] [--state DIR]
      Asks the daemon to re-read the configuration. Any error changes nothing.

  hashwall rules explain <in|out> <tcp|udp|icmp|icmpv6|NUMBER> <ADDRESS>[:PORT] [--app NAME]
  hashwall rules explain out <tcp|udp> <HOST-NAME>:PORT [--app NAME] [--via NAME]
                         [--json] [--config DIR]
      Which rule (or default) decides a packet that belongs to no allowed flow, and why.
      ADDRESS is the remote address; PORT is the service port (local for in, remote for out).
      IPv6 with a port: [2001:db8::1]:443. --app judges an outbound packet as that app;
      --via as sent by a process that app NAME started (rules with via = "NAME" apply).

Examples:
  hashwall rules explain in tcp 192.0.2.7:22
  hashwall rules explain out udp [2001:db8::53]:53 --json
  hashwall rules explain out tcp github.com:443 --app curl
  hashwall rules explain out tcp 192.0.2.10:443 --app curl --via backup`;

function describeRule(r: Rule): string {
  const parts = [`${r.action} ${r.direction} ${r.protocol}`];
  parts.push(
    r.remoteHost
      ? `host ${r.remoteHost.map((h) => h.text).join(",")}`
      : r.remote
      ? `remote ${r.remote.map(formatCidr).join(",")}`
      : "remote any",
  );
  if (r.ports) {
    parts.push(
      `port ${r.ports.map((p) => p.from === p.to ? `${p.from}` : `${p.from}-${p.to}`).join(",")}`,
    );
  }
  if (r.app) parts.push(`app ${r.app}`);
  if (r.via) parts.push(`via ${r.via}`);
  return parts.join("  ");
}

async function loadOrReport(dir: string): Promise<Policy | null> {
  const r = await loadPolicy(dir);
  if (r.ok) return r.policy;
  console.error(formatErrors(r.errors));
  return null;
}

interface KernelView {
  mode: string;
  nrules: number;
  rules: SlotCounter[];
  defaults: Record<string, SlotCounter>;
  flows: Record<string, number>;
}

/** Reads the filter's counters from its pins; null (with the reason) when not loaded. */
async function readKernel(stateDir: string): Promise<{ view: KernelView | null; note?: string }> {
  try {
    // Imported lazily (`rules explain` needs no libbpf), and from filter_maps.ts, not filter.ts:
    // reading counters needs no BPF object, whose embedded copy takes ~15 ms to load.
    const { openPinnedFilterMaps } = await import("../kernel/filter_maps.ts");
    const maps = openPinnedFilterMaps(pinPaths(instanceName(stateDir)).root);
    try {
      const c = maps.counters();
      return {
        view: {
          mode: c.mode,
          nrules: c.nrules,
          rules: c.rules,
          defaults: c.defaults,
          flows: c.flows,
        },
      };
    } finally {
      maps.close();
    }
  } catch (e) {
    return { view: null, note: e instanceof Error ? e.message : String(e) };
  }
}

async function list(argv: string[]): Promise<number> {
  const a = parseArgs(argv, { boolean: ["json"], string: ["config", "state"] });
  if (a.positionals.length) throw new UsageError(`unexpected "${a.positionals[0]}"`);
  const policy = await loadOrReport(stringFlag(a, "config", DEFAULT_CONFIG_DIR));
  if (!policy) return 1;
  const stateDir = stringFlag(a, "state", DEFAULT_STATE_DIR);
  const { view, note } = await readKernel(stateDir);
  // The daemon puts one deny rule per blocklist in force (a last good copy exists) first.
  const blocks: { id: string; line: number; rule: string }[] = [];
  for (const b of policy.blocklists ?? []) {
    if (exists(`${stateDir}/blocklists/${b.id}.list`)) {
      blocks.push({
        id: blocklistRuleId(b.id),
        line: b.loc.line,
        rule: `deny out ${b.format} list ${b.source}`,
      });
    }
  }
  const stale = view !== null && view.nrules !== blocks.length + policy.rules.length;
  const rows = [
    ...blocks,
    ...policy.rules.map((r) => ({ id: r.id, line: r.loc.line, rule: describeRule(r) })),
  ].map((r, i) => ({ index: i + 1, ...r, counters: view && !stale ? view.rules[i] : undefined }));
  if (a.flags.json) {
    console.log(JSON.stringify({
      loaded: view !== null,
      stale,
      note,
      mode: view?.mode ?? policy.defaults.mode,
      rules: rows,
      defaults: {
        inbound: { verdict: policy.defaults.inbound, counters: view?.defaults.inbound },
        outbound: { verdict: policy.defaults.outbound, counters: view?.defaults.outbound },
        untracked: { verdict: policy.defaults.untracked, counters: view?.defaults.untracked },
      },
      flows: view?.flows,
    }));
    return 0;
  }
  const fmt = (c?: SlotCounter) =>
    c
      ? `${c.packets} pkts ${c.bytes} B${c.dropped ? ` ${c.dropped} dropped` : ""}` +
        `${c.wouldDrop ? ` ${c.wouldDrop} would-drop` : ""}`
      : "-";
  console.log("first match in file order wins; replies of allowed flows pass by state");
  for (const r of rows) {
    console.log(
      `${String(r.index).padStart(4)}  ${r.id}  (line ${r.line})  ${r.rule}  [${fmt(r.counters)}]`,
    );
  }
  const d = policy.defaults;
  console.log(`   default inbound ${d.inbound}  [${fmt(view?.defaults.inbound)}]`);
  console.log(`   default outbound ${d.outbound}  [${fmt(view?.defaults.outbound)}]`);
  console.log(`   untracked ${d.untracked}  [${fmt(view?.defaults.untracked)}]`);
  if (view) {
    const f = view.flows;
    console.log(
      `mode ${view.mode}; flows ${f.live}/${f.capacity} (evicted ${f.evicted}, expired ${f.expired}, closed ${f.closed})`,
    );
  } else console.log(`no kernel counters: ${note}`);
  if (stale) console.log("rules.toml differs from the loaded rules: run `hashwall rules reload`");
  return 0;
}

async function explain(argv: string[]): Promise<number> {
  const a = parseArgs(argv, { boolean: ["json"], string: ["config", "app", "via"] });
  let pkt;
  try {
    pkt = parsePacket(a.positionals, stringFlag(a, "app"), stringFlag(a, "via"));
  } catch (e) {
    if (e instanceof PacketSyntaxError) throw new UsageError(e.message);
    throw e;
  }
  const policy = await loadOrReport(stringFlag(a, "config", DEFAULT_CONFIG_DIR));
  if (!policy) return 1;
  const e = explainPacket(policy, pkt);
  if (a.flags.json) console.log(JSON.stringify(e));
  else {
    console.log(
      `${e.packet}: ${e.verdict.toUpperCase()}${e.learning ? " (learning: not enforced)" : ""}`,
    );
    for (const w of e.why) console.log(`  - ${w}`);
  }
  return 0;
}

/** `hashwall rules`: list, reload and explain packet-filter rules. */
export const rulesCommand: Command = {
  name: "rules",
  summary: "list, reload and explain packet-filter rules",
  usage: USAGE,
  run(argv) {
    const [sub, ...rest] = argv;
    if (sub === "list") return list(rest);
    if (sub === "explain") return explain(rest);
    if (sub === "reload") {
      const a = parseArgs(rest, { boolean: ["json"], string: ["state"] });
      if (a.positionals.length) throw new UsageError(`unexpected "${a.positionals[0]}"`);
      return reloadDaemon(
        "rules reload",
        stringFlag(a, "state", DEFAULT_STATE_DIR),
        !!a.flags.json,
      );
    }
    throw new UsageError(sub === undefined ? "missing subcommand" : `unknown subcommand "${sub}"`);
  },
};
