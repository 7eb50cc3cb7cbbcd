/**
 * A table of connection events with the "why" of each verdict (rule, approval, reason) and the
 * lineage. Used by Overview (recent denials) and History.
 *
 * @module
 */
import type { ConnEvent } from "../../src/api/types.ts";
import { formatDest, formatTime, protoName } from "../format.ts";
import { VerdictBadge } from "../islands/status_badge.tsx";

/** Human "why" of a verdict. */
export function explainReason(e: ConnEvent): string {
  switch (e.reason) {
    case "rule":
      return e.ruleId ? `rule "${e.ruleId}"` : "a rule";
    case "unknown_app":
      return e.verdict === "allow"
        ? "unknown app (learning mode: allowed, reported)"
        : "unknown app";
    case "not_inherited":
      return "parent approved, but without inherit";
    case "revoked":
      return "approval revoked (hash changed or removed)";
    case "interpreter":
      return "interpreter without an approved script";
    default:
      if (e.verdict === "allow" && e.app) return `approved app "${e.app}"`;
      return e.reason;
  }
}

/** Lineage as one line: oldest ancestor → … → the process. */
export function lineageLine(e: ConnEvent): string {
  return [...e.lineage].reverse().map((l) => `${l.comm}(${l.tgid})`)
    .concat(`${e.comm}(${e.tgid})`).join(" → ");
}

/** Renders events newest first as given; `compact` drops the lineage column (narrow panels). */
export function EventsTable({ events, compact }: { events: ConnEvent[]; compact?: boolean }) {
  if (events.length === 0) return <p class="empty">No events match.</p>;
  return (
    <div class="table-wrap">
      <table class="table stack" data-test="events-table">
        <thead>
          <tr>
            <th>Time</th>
            <th>Verdict</th>
            <th>Process</th>
            <th>Destination</th>
            <th>Why</th>
            {!compact && <th>Lineage</th>}
          </tr>
        </thead>
        <tbody>
          {events.map((e, i) => (
            <tr key={e.id ?? i} data-event-id={e.id}>
              <td class="nowrap" data-label="time">{formatTime(e.time)}</td>
              <td data-label="verdict">
                <VerdictBadge verdict={e.verdict} unknown={e.reason === "unknown_app"} />
              </td>
              <td data-label="process">
                <div class="strong">{e.app ?? e.comm}</div>
                <div class="mono small muted break">{e.exe}</div>
              </td>
              <td class="mono nowrap" data-label="destination">
                {formatDest(e.daddr, e.dport)} <span class="muted">{protoName(e.proto)}</span>
              </td>
              <td data-label="why">{explainReason(e)}</td>
              {!compact && <td class="mono small" data-label="lineage">{lineageLine(e)}</td>}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
