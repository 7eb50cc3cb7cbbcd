/**
 * Shared set-up of the packet-filter kernel tests: a namespace lab, the filter loaded with pins
 * in a private bpffs folder, a policy from rules.toml text, and the filter attached to veth0 of
 * namespace "a" only. Everything is removed on every path.
 *
 * @module
 */
import { validateTexts } from "../../src/config/validate.ts";
import type { Policy } from "../../src/config/model.ts";
import { compilePolicy } from "../../src/policy/compile.ts";
import { type FlowTimeouts, loadPacketFilter, type PacketFilter } from "../../src/kernel/filter.ts";
import { createNetnsLab, type NetnsLab } from "../helpers/netns.ts";

/** Parses rules.toml text; throws with the located errors when invalid. */
export function policyFrom(rulesText: string): Policy {
  const r = validateTexts({ rulesFile: "rules.toml", rulesText, appsTexts: [] });
  if (!r.ok) throw new Error(r.errors.map(String).join("\n"));
  return r.policy;
}

/** A running filter in a lab. */
export interface FilterLab {
  lab: NetnsLab;
  filter: PacketFilter;
  pinRoot: string;
  /** Compiles and applies rules.toml text. */
  apply(rulesText: string): void;
}

/** Runs `fn` with a filtered lab; cleans up the filter, pins and namespaces afterwards. */
export async function withFilterLab(
  tag: string,
  rulesText: string,
  fn: (f: FilterLab) => Promise<void>,
  timeouts: Partial<FlowTimeouts> = {},
): Promise<void> {
  const pinRoot = `/sys/fs/bpf/hashwall-test/${tag}-${crypto.randomUUID().slice(0, 8)}`;
  const lab = await createNetnsLab(tag);
  let filter: PacketFilter | undefined;
  try {
    filter = loadPacketFilter({ pinRoot, timeouts });
    const f = filter;
    const apply = (text: string) => {
      f.apply(compilePolicy(policyFrom(text)));
    };
    apply(rulesText);
    filter.attach([lab.ifname], { netns: lab.a.path });
    await fn({ lab, filter, pinRoot, apply });
  } finally {
    try {
      filter?.destroy();
    } finally {
      await lab.delete();
      for (const d of [pinRoot, "/sys/fs/bpf/hashwall-test"]) {
        try {
          Deno.removeSync(d, { recursive: d === pinRoot });
        } catch { /* not empty or gone */ }
      }
    }
  }
}
