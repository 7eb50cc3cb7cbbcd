/**
 * A status label with colour AND text, so status never depends on colour vision alone.
 *
 * @module
 */
import type { AppStatus } from "../../src/api/types.ts";

const LABEL: Record<AppStatus, string> = {
  valid: "valid",
  invalid: "hash mismatch",
  missing: "missing",
  pending: "not yet hashed",
};

const TONE: Record<AppStatus, string> = {
  valid: "ok",
  invalid: "bad",
  missing: "neutral",
  pending: "neutral",
};

/** Renders an app's hash status as a badge. */
export function StatusBadge({ status }: { status: AppStatus }) {
  return <span class={`badge badge-${TONE[status]}`} data-status={status}>{LABEL[status]}</span>;
}

/**
 * Renders a verdict (allow/deny) as a badge; an unknown app allowed by learning mode gets the
 * warning tone, since it was let through without an approval.
 */
export function VerdictBadge(
  { verdict, unknown }: { verdict: "allow" | "deny"; unknown?: boolean },
) {
  const tone = verdict === "deny" ? "bad" : unknown ? "warn" : "ok";
  return <span class={`badge badge-${tone}`}>{verdict}</span>;
}
