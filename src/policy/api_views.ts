/**
 * The packet-filter views of the daemon API (src/api/types.ts): active rules with their kernel
 * hit counters (`rulesGet`) and the explain answer (`rulesExplain`).
 *
 * @module
 */
import type { Policy } from "../config/model.ts";
import type { ExplainRequest, ExplainResult, RuleInfo } from "../api/types.ts";
import type { SlotCounter } from "../../ffi/filter_structs.ts";
import { explainPacket } from "./explain.ts";
import { parsePacket } from "./packet.ts";

/**
 * The rules as the API lists them. `counters` are the kernel's per-rule counters by rule index
 * (`PacketFilter.counters().rules`); a rule decided a packet when it passed, dropped or (learning)
 * would have dropped it.
 *
 * @example
 * ```ts
 * const rules = ruleInfos(policy, filter.counters().rules);
 * ```
 */
export function ruleInfos(policy: Policy, counters: readonly SlotCounter[] = []): RuleInfo[] {
  return policy.rules.map((r, i) => {
    const c = counters[i];
    const info: RuleInfo = {
      id: r.id,
      action: r.action,
      direction: r.direction,
      protocol: r.protocol,
      hits: c ? c.packets + c.dropped + c.wouldDrop : 0,
      line: r.loc.line,
    };
    if (r.remote) info.remote = r.remote.slice(0, 20).map((x) => x.text);
    if (r.remoteHost) info.remoteHost = r.remoteHost.slice(0, 20).map((x) => x.text);
    if (r.ports) {
      info.ports = r.ports.map((p) => p.from === p.to ? `${p.from}` : `${p.from}-${p.to}`);
    }
    if (r.app) info.app = r.app;
    if (r.via) info.via = r.via;
    if (r.comment) info.comment = r.comment;
    return info;
  });
}

/**
 * Answers an API explain request. `app` is the app name the caller resolved from `req.exe`
 * (outbound only); throws a `PacketSyntaxError` naming what is wrong with the request.
 */
export function explainRequest(policy: Policy, req: ExplainRequest, app?: string): ExplainResult {
  const host = req.remote.includes(":") ? `[${req.remote}]` : req.remote;
  const hasPort = req.protocol === "tcp" || req.protocol === "udp";
  if (req.via !== undefined && !policy.apps.some((a) => a.name === req.via)) {
    // A typo would otherwise just match no via rule and read as an answer.
    throw new Error(`via names no app "${req.via}" of the configuration`);
  }
  const pkt = parsePacket(
    [req.direction, req.protocol, hasPort ? `${host}:${req.port}` : req.remote],
    req.direction === "out" ? app : undefined,
    req.direction === "out" ? req.via : undefined,
  );
  const e = explainPacket(policy, pkt);
  const out: ExplainResult = { verdict: e.verdict, why: e.why.join(" ") };
  if (e.ruleId) out.ruleId = e.ruleId;
  return out;
}
