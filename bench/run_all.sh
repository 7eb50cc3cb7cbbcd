#!/usr/bin/env bash
# Runs every bench/*.ts with deno (one after another, so they do not disturb each other) and
# collects their output into build/bench/report.md and build/bench/report.json.
#
# Convention for a benchmark script: print human-readable lines; optionally make the LAST line of
# stdout one JSON object (e.g. {"name":"connect4","ratio":1.04}); it lands in report.json as
# "result". A non-zero exit marks the benchmark failed and makes this script exit 1.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

DENO="${DENO:-/usr/local/bin/deno}"
OUT=build/bench
mkdir -p "$OUT/raw"
rm -f "$OUT"/raw/*

shopt -s nullglob
benches=(bench/*.ts)
failed=0
for b in "${benches[@]}"; do
  name="$(basename "$b" .ts)"
  printf '==> bench %s\n' "$name"
  start=$(date +%s.%N)
  rc=0
  NO_COLOR=1 timeout -k 10 "${HASHWALL_BENCH_TIMEOUT:-1200}" "$DENO" run -A "$b" </dev/null \
    >"$OUT/raw/$name.out" 2>"$OUT/raw/$name.err" || rc=$?
  end=$(date +%s.%N)
  printf '%s %s\n' "$rc" "$(echo "$end - $start" | awk '{ print $1 - $3 }')" >"$OUT/raw/$name.status"
  sed 's/^/    /' "$OUT/raw/$name.out"
  if [ "$rc" != 0 ]; then
    failed=$((failed + 1))
    printf '    FAILED (exit %s); stderr:\n' "$rc"
    tail -n 20 "$OUT/raw/$name.err" | sed 's/^/    /'
  fi
done

# Assemble both reports from the raw files (JSON encoding is easier in TypeScript than in bash).
# The machine the figures come from (ratios travel between machines, absolute numbers do not).
machine="$(nproc)× $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), \
$(awk '/MemTotal/ { printf "%d GiB", $2 / 1048576 }' /proc/meminfo), kernel $(uname -r), \
load average $(cut -d' ' -f1-3 /proc/loadavg)"
"$DENO" run --no-config --allow-read="$OUT" --allow-write="$OUT" - "$OUT" "$machine" <<'TS'
const out = Deno.args[0];
const names = [...Deno.readDirSync(`${out}/raw`)]
  .filter((e) => e.name.endsWith(".status"))
  .map((e) => e.name.slice(0, -".status".length))
  .sort();
const results = names.map((name) => {
  const [code, seconds] = Deno.readTextFileSync(`${out}/raw/${name}.status`).trim().split(" ");
  const stdout = Deno.readTextFileSync(`${out}/raw/${name}.out`);
  const last = stdout.trimEnd().split("\n").at(-1) ?? "";
  let result: unknown = null;
  try {
    const parsed = JSON.parse(last);
    if (parsed && typeof parsed === "object") result = parsed;
  } catch {
    // Not every benchmark prints a JSON summary line.
  }
  return { name, exitCode: Number(code), seconds: Number(seconds), result, stdout };
});
const machine = Deno.args[1] ?? "unknown machine";
// One row per benchmark: its headline ratio (against the baseline measured in the same run), its
// goal and whether it was met, and its other top-level numbers.
const summary = results.map((r) => {
  const res = (r.result ?? {}) as Record<string, unknown>;
  const ratioKey = "ratio" in res ? "ratio" : Object.keys(res).find((k) => /ratio/i.test(k));
  const figures = Object.entries(res)
    .filter(([k, v]) => typeof v === "number" && k !== ratioKey)
    .map(([k, v]) => `${k} ${v}`);
  return {
    name: r.name,
    ratio: ratioKey ? res[ratioKey] : null,
    goal: res.goal ?? null,
    met: typeof res.met === "boolean" ? res.met : null,
    figures,
  };
});
const report = { generated: new Date().toISOString(), machine, summary, benchmarks: results };
Deno.writeTextFileSync(`${out}/report.json`, JSON.stringify(report, null, 2) + "\n");
const md = [
  "# hashwall benchmarks",
  "",
  `Generated ${report.generated} on ${machine}.`,
  "",
  "| benchmark | status | seconds | ratio vs same-run baseline | goal | met | figures |",
  "|---|---|---|---|---|---|---|",
  ...results.map((r, i) => {
    const s = summary[i];
    const met = s.met === null ? "" : s.met ? "yes" : "no";
    return `| ${r.name} | ${r.exitCode === 0 ? "ok" : `failed (${r.exitCode})`} | ` +
      `${r.seconds.toFixed(1)} | ${s.ratio ?? ""} | ${s.goal ?? ""} | ${met} | ` +
      `${s.figures.join(", ")} |`;
  }),
  "",
  ...results.flatMap((r) => [`## ${r.name}`, "", "```", r.stdout.trimEnd(), "```", ""]),
];
if (results.length === 0) md.push("No benchmarks yet (bench/*.ts).", "");
Deno.writeTextFileSync(`${out}/report.md`, md.join("\n"));
console.log(`==> ${results.length} benchmark(s); report in ${out}/report.md and report.json`);
TS
[ "$failed" = 0 ]
