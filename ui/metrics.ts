/**
 * `/metrics` in the Prometheus text format, from `api.status()`.
 *
 * The daemon's `StatusInfo.counters` keys this module reads by name: `allow`, `deny`, `unknown`
 * (the kernel's verdict counters, see HW_CNT_* in bpf/hashwall.h), `hash_queue` (files waiting to
 * be hashed), `watched_files` (files under watch), `hooks_attached`, `history_dropped`,
 * `history_backlog`, `app_hash_changes_<status>`, `integrity_changes_<change>` and `dns_*` (the kernel DNS parser, see
 * HW_DNS_CNT_*). Metric names
 * and labels are a contract (README, "Metrics and alerts"; deploy/prometheus, deploy/grafana). Every counter is also exported generically as
 * `hashwall_counter{name="…"}` so a new one is visible before it gets its own metric.
 *
 * @module
 */
import type { StatusInfo } from "../src/api/types.ts";

/** Fixed label values, so every series exists from the first scrape (rate() needs a start). */
const APP_STATUSES = ["valid", "invalid", "missing", "pending"] as const;
const INTEGRITY_CHANGES = ["modified", "replaced", "deleted", "created"] as const;
const INTEGRITY_SCOPES = ["watch", "config"] as const;

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
    "hashwall_dns_total",
    "counter",
    "Kernel DNS answer parser (hostnames): queries, answers, addresses named, and refusals.",
    Object.keys(c).filter((k) => k.startsWith("dns_")).sort().map((k) => [
      `{counter="${esc(k.slice(4))}"}`,
      c[k],
    ]),
  );
  metric(
    "hashwall_hooks_attached",
    "gauge",
    "App-control hooks attached to the cgroup (connect4/6, sendmsg4/6, sock_create); 0 = not enforcing anything.",
    [["", c.hooks_attached ?? 0]],
  );
  metric(
    "hashwall_app_hash_changes_total",
    "counter",
    "Re-hashes of an approved app's file after a change, by the status it ended in (invalid = hash changed).",
    APP_STATUSES.map((st) => [`{status="${st}"}`, c[`app_hash_changes_${st}`] ?? 0]),
  );
  metric(
    "hashwall_integrity_changes_total",
    "counter",
    "Changes seen on watched paths, by kind; scope is watch ([[integrity.watch]]) or config (hashwall's own config files).",
    INTEGRITY_SCOPES.flatMap((sc) =>
      INTEGRITY_CHANGES.map((k): [string, number] => [
        `{scope="${sc}",change="${k}"}`,
        c[`integrity_changes_${sc}_${k}`] ?? 0,
      ])
    ),
  );
  metric(
    "hashwall_history_dropped_total",
    "counter",
    "Events not written to history (state folder full or read-only, memory buffer full).",
    [["", c.history_dropped ?? 0]],
  );
  metric("hashwall_history_backlog", "gauge", "Events held in memory waiting to be written.", [
    ["", c.history_backlog ?? 0],
  ]);
  metric("hashwall_warnings", "gauge", "Warnings shown in `hashwall status`.", [
    ["", s.warnings.length],
  ]);
  metric("hashwall_start_time_seconds", "gauge", "When the daemon started (Unix time).", [
    ["", Math.floor(s.startedAt / 1000)],
  ]);
  metric("hashwall_info", "gauge", "Always 1; the version and instance as labels.", [
    [`{version="${esc(s.version)}",instance_name="${esc(s.instance)}"}`, 1],
  ]);
  metric(
    "hashwall_counter",
    "untyped",
    "Every daemon counter by name.",
    Object.keys(c).sort().map((k) => [`{name="${esc(k)}"}`, c[k]]),
  );
  return out.join("\n") + "\n";
}
