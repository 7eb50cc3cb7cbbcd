/**
 * `/metrics` in the Prometheus text format, from `api.status()`.
 *
 * The daemon's `StatusInfo.counters` keys this module reads by name: `allow`, `deny`, `unknown`
 * (the kernel's verdict counters, see HW_CNT_* in bpf/hashwall.h), `hash_queue` (files waiting to
 * be hashed) and `watched_files` (files under watch). Every counter is also exported generically as
 * `hashwall_counter{name="…"}` so a new one is visible before it gets its own metric.
 *
 * @module
 */
import type { StatusInfo } from "../src/api/types.ts";

function esc(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

function num(v: number | undefined): string {
  return Number.isFinite(v) ? String(v) : "0";
}

/** Renders the metrics page. */
export function renderMetrics(s: StatusInfo): string {
  const c = s.counters;
  const out: string[] = [];
  const metric = (
    name: string,
    type: string,
    help: string,
    rows: [string, number | undefined][],
  ) => {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, v] of rows) out.push(`${name}${labels} ${num(v)}`);
  };
  metric("hashwall_verdicts_total", "counter", "Connection verdicts by decision.", [
    ['{decision="allow"}', c.allow ?? 0],
    ['{decision="deny"}', c.deny ?? 0],
    ['{decision="unknown"}', c.unknown ?? 0],
  ]);
  metric("hashwall_lost_events_total", "counter", "Kernel events lost (ring buffer full).", [
    ["", s.lostEvents],
  ]);
  metric("hashwall_hash_queue", "gauge", "Files waiting to be hashed.", [["", c.hash_queue ?? 0]]);
  metric("hashwall_watches", "gauge", "Files under watch.", [["", c.watched_files ?? 0]]);
  metric("hashwall_apps", "gauge", "Registered apps by hash status.", [
    ['{status="valid"}', s.apps.valid],
    ['{status="invalid"}', s.apps.invalid],
    ['{status="missing"}', s.apps.missing],
    ['{status="pending"}', s.apps.pending],
  ]);
  metric("hashwall_enforcing", "gauge", "1 when enforcing, 0 when learning.", [
    ["", s.mode === "enforcing" ? 1 : 0],
  ]);
  metric(
    "hashwall_counter",
    "untyped",
    "Every daemon counter by name.",
    Object.keys(c).sort().map((k) => [`{name="${esc(k)}"}`, c[k]]),
  );
  return out.join("\n") + "\n";
}
