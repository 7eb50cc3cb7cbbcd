/**
 * A table of connection events with the "why" of each verdict (rule, approval, reason) and the
 * lineage. Used by Overview (recent denials) and History.
 *
 * @module
 */
import type { ConnEvent } from "../../src/api/types.ts";
import { formatDest, formatTime, protoName } from "../format.ts";
import { VerdictBadge } from "../islands/status_badge.tsx";

/** Why a live socket was closed (kind "close" / "would_close"), in words. */
const CLOSE_WHY: Record<string, string> = {
  file_changed: "the app's file changed",
  app_revoked: "the app was revoked",
  hash_mismatch: "the app's hash no longer matches",
  approval_ended: "its once/session approval ended",
  not_approved: "the app is not approved (switch to enforcing)",
};

/** Human "why" of a verdict. */
export function explainReason(e: ConnEvent): string {
  if (e.kind === "close" || e.kind === "would_close") {
    const why = CLOSE_WHY[e.reason.replace(/_failed_\d+$/, "")] ?? e.reason;
    if (e.kind === "would_close") return `would close live connection: ${why} (learning mode)`;
    if (/_failed_\d+$/.test(e.reason)) return `closing the live connection failed: ${why}`;
    return `live connection closed: ${why}`;
  }
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
    case "not_via":
      return "started by none of the apps its only_via names";
    case "write_open":
      return `approval revoked: opened for writing by pid ${e.tgid} (${e.comm})`;
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

/**
 * Renders events newest first as given. `compact` (Overview's half-width panel) folds the six
 * columns into three — when and verdict, process, destination and why — so nothing has to scroll
 * sideways in a narrow panel; the lineage is left to History.
 */
export function EventsTable({ events, compact }: { events: ConnEvent[]; compact?: boolean }) {
  if (events.length === 0) return <p class="empty">No events match.</p>;
  if (compact) {
    return (
      <div class="table-wrap">
        <table class="table stack compact" data-test="events-table">
          <thead>
            <tr>
              <th>Time</th>
              <th>Process</th>
              <th>Destination · why</th>
            </tr>
          </thead>
          <tbody>
            {events.map((e, i) => (
              <tr key={e.id ?? i} data-event-id={e.id}>
                <td data-label="time">
                  <div class="nowrap">{formatTime(e.time)}</div>
                  <VerdictBadge verdict={e.verdict} unknown={e.reason === "unknown_app"} />
                </td>
                <ProcessCell e={e} />
                <td data-label="destination">
                  <Destination e={e} />
                  <div class="small">{explainReason(e)}</div>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    );
  }
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
            <th>Lineage</th>
          </tr>
        </thead>
        <tbody>
          {events.map((e, i) => (
            <tr key={e.id ?? i} data-event-id={e.id}>
              <td class="nowrap" data-label="time">{formatTime(e.time)}</td>
              <td data-label="verdict">
                <VerdictBadge verdict={e.verdict} unknown={e.reason === "unknown_app"} />
              </td>
              <ProcessCell e={e} />
              <td data-label="destination">
                <Destination e={e} />
              </td>
              <td data-label="why">{explainReason(e)}</td>
              <td class="mono small wrap-any" data-label="lineage">{lineageLine(e)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function ProcessCell({ e }: { e: ConnEvent }) {
  return (
    <td data-label="process">
      <div class="strong wrap-any">
        {e.app ?? e.comm}
        {e.via && <span class="muted small" data-test="via">&#32;via {e.via}</span>}
      </div>
      <div class="mono small muted break">{e.exe}</div>
    </td>
  );
}

/** Address and port; a full IPv6 address may wrap (only where it must), never clip. */
function Destination({ e }: { e: ConnEvent }) {
  return (
    <span class="mono wrap-any">
      {e.host && <span class="strong">{e.host}</span>}
      {e.host && " "}
      {formatDest(e.daddr, e.dport)} <span class="muted nowrap">{protoName(e.proto)}</span>
    </span>
  );
}
