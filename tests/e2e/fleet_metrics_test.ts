/**
 * Metrics and alerts for fleets: a real daemon's `/metrics` scraped before and after a real tamper
 * (an approved binary written to, a watched file modified, the mode switched to learning) becomes
 * the input of `promtool test rules` for deploy/prometheus/hashwall.rules.yml; the Grafana
 * dashboard may reference only metric names the daemon really exports.
 */
import assert from "node:assert/strict";
import { sha256Of, startTestDaemon } from "../helpers/daemon.ts";
import { until } from "../helpers/wait.ts";
import { inputSeries, parseScrape, type Sample, sampleValue } from "../helpers/prom.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const RULES = `${ROOT}deploy/prometheus/hashwall.rules.yml`;
const DASHBOARD = `${ROOT}deploy/grafana/hashwall.json`;

async function promtool(args: string[], stdin?: string) {
  const child = new Deno.Command("promtool", {
    args,
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(stdin));
    await w.close();
  }
  const o = await child.output();
  const dec = new TextDecoder();
  return { code: o.code, out: dec.decode(o.stdout) + dec.decode(o.stderr) };
}

/** The annotations the rules render for host "hostA" (kept in step with the rules file). */
const SUMMARY = {
  hash: {
    summary: "hashwall on hostA: an approved app's file changed",
    description:
      "An approved app no longer matches its approved SHA-256 (revoked in the kernel). See `hashwall apps list` and `hashwall events` on the host.",
  },
  integrity: (change: string) => ({
    summary: `hashwall on hostA: a watched path was ${change}`,
    description:
      "A file under an [[integrity.watch]] path changed. See the Integrity page or `hashwall integrity check`.",
  }),
  notEnforcing: {
    summary: "hashwall on hostA is not enforcing",
    description:
      "Unknown apps are allowed on this host. Switch with `hashwall mode enforcing` once the learning list is empty.",
  },
  learning: { summary: "hashwall on hostA switched from enforcing to learning" },
};

const ALERTS = [
  "HashwallApprovedAppHashChanged",
  "HashwallIntegrityChange",
  "HashwallEventsLost",
  "HashwallDown",
  "HashwallNotEnforcing",
  "HashwallModeSwitchedToLearning",
  "HashwallBlocklistRefreshFailing",
];

Deno.test("alert rules fire on series scraped from a real daemon after a real tamper", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hw-fleet-metrics-" });
  try {
    const app = `${dir}/approved-tool`;
    await Deno.copyFile("/usr/bin/true", app);
    await Deno.chmod(app, 0o755);
    const watched = `${dir}/watched`;
    await Deno.mkdir(watched);
    await Deno.writeTextFile(`${watched}/settings.conf`, "port = 1\n");
    await using d = await startTestDaemon({
      mode: "enforcing",
      ui: true,
      apps: [{ name: "approved-tool", path: app, sha256: await sha256Of(app) }],
      rulesExtra: `[[integrity.watch]]\npath = "${watched}"\nrecursive = true\n`,
    });
    const tokens = JSON.parse(await Deno.readTextFile(`${d.stateDir}/ui-tokens.json`));
    const scrape = async (): Promise<{ text: string; samples: Sample[] }> => {
      const r = await fetch(`${d.uiUrl}/metrics`, {
        headers: { authorization: `Bearer ${tokens.viewer}` },
      });
      assert.equal(r.status, 200);
      const text = await r.text();
      return { text, samples: parseScrape(text) };
    };

    const before = await scrape();
    assert.equal(sampleValue(before.samples, "hashwall_enforcing"), 1);
    assert.equal(sampleValue(before.samples, "hashwall_apps", { status: "valid" }), 1);
    assert.ok(sampleValue(before.samples, "hashwall_hooks_attached")! >= 5);
    // promtool's linter: the only complaint allowed is the name of the generic
    // hashwall_counter{name} family, kept as it is because names are a stable contract.
    const lint = await promtool(["check", "metrics"], before.text);
    const complaints = lint.out.split("\n").filter((l) =>
      l.trim() && !l.startsWith("hashwall_counter metric name should not include type")
    );
    assert.deepEqual(complaints, [], `promtool check metrics:\n${lint.out}`);

    // The tamper: a write to the approved binary, a watched file changed, mode to learning.
    const f = await Deno.open(app, { append: true });
    await f.write(new TextEncoder().encode("tampered"));
    f.close();
    await Deno.writeTextFile(`${watched}/settings.conf`, "port = 2\n");
    assert.equal((await d.cli(["mode", "learning"])).code, 0);
    const after = await until(
      "tamper, integrity change and mode visible in /metrics",
      async () => {
        const s = await scrape();
        const hash = sampleValue(s.samples, "hashwall_app_hash_changes_total", {
          status: "invalid",
        });
        const integ = sampleValue(s.samples, "hashwall_integrity_changes_total", {
          scope: "watch",
          change: "modified",
        });
        return hash === 1 && integ! >= 1 && sampleValue(s.samples, "hashwall_enforcing") === 0 &&
          s;
      },
      15_000,
      200,
    );
    assert.equal(sampleValue(after.samples, "hashwall_apps", { status: "invalid" }), 1);
    assert.equal(sampleValue(after.samples, "hashwall_lost_events_total"), 0);

    const check = await promtool(["check", "rules", RULES]);
    assert.equal(check.code, 0, check.out);

    // Timeline: "before" for minutes 0-10, "after" from 11 to 59, one sample a minute.
    const series = inputSeries([
      { samples: [...before.samples, { name: "up", labels: "", value: 1 }], minutes: 11 },
      { samples: [...after.samples, { name: "up", labels: "", value: 1 }], minutes: 49 },
    ], 'instance="hostA",job="hashwall"');
    const base = { instance: "hostA", job: "hashwall" };
    const expect = (at: string, firing: Record<string, object[]>) =>
      ALERTS.map((alertname) => ({
        eval_time: at,
        alertname,
        exp_alerts: firing[alertname] ?? [],
      }));
    const changes = ["modified", "replaced", "deleted", "created"].filter((c) =>
      (sampleValue(after.samples, "hashwall_integrity_changes_total", {
        scope: "watch",
        change: c,
      }) ?? 0) > 0
    );
    const tests = {
      rule_files: [RULES],
      evaluation_interval: "1m",
      tests: [{
        interval: "1m",
        input_series: series,
        alert_rule_test: [
          // Before the tamper: nothing fires.
          ...expect("5m", {}),
          // Just after: hash changed, integrity change, switched to learning (not yet 30 min).
          ...expect("20m", {
            HashwallApprovedAppHashChanged: [{ exp_labels: base, exp_annotations: SUMMARY.hash }],
            HashwallIntegrityChange: changes.map((change) => ({
              exp_labels: { ...base, change },
              exp_annotations: SUMMARY.integrity(change),
            })),
            HashwallModeSwitchedToLearning: [{
              exp_labels: { ...base, severity: "critical" },
              exp_annotations: SUMMARY.learning,
            }],
          }),
          // Later: the app is still invalid, learning has lasted over 30 minutes.
          ...expect("50m", {
            HashwallApprovedAppHashChanged: [{ exp_labels: base, exp_annotations: SUMMARY.hash }],
            HashwallNotEnforcing: [{
              exp_labels: { ...base, severity: "critical" },
              exp_annotations: SUMMARY.notEnforcing,
            }],
          }),
        ],
      }],
    };
    // severity comes from the rule's labels.
    for (const t of tests.tests[0].alert_rule_test) {
      for (const a of t.exp_alerts as { exp_labels: Record<string, string> }[]) {
        a.exp_labels.severity = t.alertname === "HashwallIntegrityChange" ? "warning" : "critical";
      }
    }
    const testFile = `${dir}/hashwall.test.yml`;
    await Deno.writeTextFile(testFile, JSON.stringify(tests, null, 2));
    await Deno.writeTextFile(`${dir}/before.prom`, before.text);
    const run = await promtool(["test", "rules", testFile]);
    assert.equal(
      run.code,
      0,
      `promtool test rules:\n${run.out}\nseries:\n${JSON.stringify(series)}`,
    );

    // Every metric the dashboard queries is one the daemon exports (or Prometheus's own `up`).
    const dash = JSON.parse(await Deno.readTextFile(DASHBOARD));
    const exported = new Set(after.samples.map((s) => s.name));
    const exprs: string[] = [];
    const walk = (v: unknown) => {
      if (Array.isArray(v)) v.forEach(walk);
      else if (v && typeof v === "object") {
        for (const [k, x] of Object.entries(v)) {
          if ((k === "expr" || k === "definition") && typeof x === "string") exprs.push(x);
          else walk(x);
        }
      }
    };
    walk(dash);
    assert.ok(exprs.length >= 10, `dashboard has queries (${exprs.length})`);
    for (const e of exprs) {
      for (const name of e.match(/\b(hashwall_[a-z0-9_]+|up)\b/g) ?? []) {
        assert.ok(name === "up" || exported.has(name), `dashboard queries ${name}, not exported`);
      }
    }
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});
