/**
 * Which rule decides a packet, and why: what `hashwall rules explain` prints. The deciding rule
 * comes from the kernel model in ./match.ts (the compiled tables walked the kernel's way), so the
 * explanation is what the kernel does, not a second implementation of it.
 *
 * @module
 */
import type { Policy } from "../config/model.ts";
import { matchRule } from "./match.ts";
import { formatPacket, type Packet, protoName } from "./packet.ts";

/** The verdict for a packet, with the deciding rule when one matched. */
export interface Explanation {
  packet: string;
  verdict: "allow" | "deny";
  /** "rule" when a rule matched, otherwise the default that applied. */
  decidedBy: "rule" | "default-inbound" | "default-outbound";
  ruleId?: string;
  /** 0-based position of the rule in rules.toml. */
  ruleIndex?: number;
  /** rules.toml line of the rule. */
  line?: number;
  /** Learning mode: the verdict is reported, never enforced. */
  learning: boolean;
  /** Human sentences: the decision, then how state changes it. */
  why: string[];
}

/**
 * Explains the verdict for an unsolicited packet (one that belongs to no allowed flow).
 *
 * @example
 * ```ts
 * explainPacket(policy, parsePacket("in tcp 192.0.2.7:22")).why[0];
 * // 'rule "ssh" (rules.toml:12, 3rd rule) allows it: first rule that matches in file order'
 * ```
 */
export function explainPacket(policy: Policy, pkt: Packet): Explanation {
  const i = matchRule(policy, pkt);
  const learning = policy.defaults.mode === "learning";
  const why: string[] = [];
  let out: Explanation;
  if (i >= 0) {
    const r = policy.rules[i];
    why.push(
      `rule "${r.id}" (${r.loc.file}:${r.loc.line}, rule #${i + 1}) ${r.action}s it: the first ` +
        `rule in file order whose direction, protocol, ${r.remoteHost ? "remote_host" : "remote"}` +
        `${r.ports ? ", port" : ""}` +
        `${r.app ? ", app" : ""}${r.via ? `, via "${r.via}" (started by it)` : ""} all match`,
    );
    out = {
      packet: formatPacket(pkt),
      verdict: r.action,
      decidedBy: "rule",
      ruleId: r.id,
      ruleIndex: i,
      line: r.loc.line,
      learning,
      why,
    };
  } else {
    const inbound = pkt.direction === "in";
    const verdict = inbound ? policy.defaults.inbound : policy.defaults.outbound;
    why.push(
      `no rule matches ${protoName(pkt.proto)} ${pkt.direction}bound to this ` +
        `${inbound ? "local port" : "remote"}; [defaults] ${inbound ? "inbound" : "outbound"} = ` +
        `"${verdict}" decides`,
    );
    out = {
      packet: formatPacket(pkt),
      verdict,
      decidedBy: inbound ? "default-inbound" : "default-outbound",
      learning,
      why,
    };
  }
  if (out.verdict === "allow" && [6, 17, 1, 58].includes(pkt.proto)) {
    why.push(
      "allowed: the flow is tracked, so its replies and the rest of the connection pass by state",
    );
  }
  if (pkt.direction === "in") {
    why.push("replies to an allowed outbound flow pass by state without being judged by rules");
  }
  if (pkt.host !== undefined) {
    why.push(
      `judged by name in the connect hook: a remote_host rule matches only an address the app ` +
        `itself resolved from "${pkt.host}" (DNS answer seen by the kernel, TTL still valid); ` +
        `rules naming networks (remote) need an address and were not considered`,
    );
  }
  if (pkt.app !== undefined) {
    why.push(`judged in the connect hook for app "${pkt.app}"; tc egress admits the socket's flow`);
  } else if (pkt.direction === "out" && policy.rules.some((r) => r.app !== undefined)) {
    why.push("app-scoped rules were skipped: give --app NAME to judge as that app");
  }
  const onlyVia = pkt.app !== undefined
    ? policy.apps.find((a) => a.name === pkt.app)?.onlyVia
    : undefined;
  if (onlyVia?.length) {
    const starters = onlyVia.map((n) => `"${n}"`).join(", ");
    const trusted = pkt.via !== undefined && onlyVia.includes(pkt.via);
    why.push(
      `app "${pkt.app}" is approved only via ${starters} (only_via): ` +
        (pkt.via === undefined
          ? "give --via NAME to judge it as started by one of them"
          : trusted
          ? `started by "${pkt.via}", it is trusted as "${pkt.app}"`
          : `started by "${pkt.via}", it is not trusted as "${pkt.app}"`),
    );
  }
  if (pkt.via !== undefined) {
    why.push(
      `judged as a process started (at any depth) by a process trusted as "${pkt.via}": rules ` +
        `with via = "${pkt.via}" apply (the kernel reads the trusted ancestors recorded when the ` +
        `process was created)`,
    );
  } else if (pkt.direction === "out" && policy.rules.some((r) => r.via !== undefined)) {
    why.push("via rules were skipped: give --via NAME to judge a process started by that app");
  }
  if (learning && out.verdict === "deny") {
    why.push("learning mode: nothing is dropped; the filter counts it as would-drop");
  }
  return out;
}
