/**
 * Prometheus text-format scrapes for tests: parse a real `/metrics` page into samples, and turn a
 * timeline of scrapes into `promtool test rules` input series.
 *
 * @module
 */

/** One sample: the series as written on the page (`name{labels}`) and its value. */
export interface Sample {
  name: string;
  /** Label pairs as written, without braces (may be ""). */
  labels: string;
  value: number;
}

/** Parses the samples of a Prometheus text page (comments skipped; values must be numbers). */
export function parseScrape(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`not a sample line: ${line}`);
    const value = Number(m[3]);
    if (!Number.isFinite(value)) throw new Error(`not a number: ${line}`);
    out.push({ name: m[1], labels: m[2] ?? "", value });
  }
  return out;
}

/** Value of `name` whose labels contain every `key="value"` of `want`; undefined when absent. */
export function sampleValue(
  samples: Sample[],
  name: string,
  want: Record<string, string> = {},
): number | undefined {
  return samples.find((s) =>
    s.name === name && Object.entries(want).every(([k, v]) => s.labels.includes(`${k}="${v}"`))
  )?.value;
}

/**
 * promtool input series for a timeline of scrapes: `phases[i]` holds for `minutes[i]` samples at a
 * 1m interval. Every series gets `extra` labels (instance, job as Prometheus would add them). A
 * series missing from a phase is written as `_` (no sample) for that phase.
 */
export function inputSeries(
  phases: { samples: Sample[]; minutes: number }[],
  extra: string,
): { series: string; values: string }[] {
  const keys = new Map<string, { name: string; labels: string }>();
  for (const p of phases) {
    for (const s of p.samples) keys.set(`${s.name}{${s.labels}}`, s);
  }
  return [...keys.entries()].map(([key, s]) => {
    const labels = [s.labels, extra].filter(Boolean).join(",");
    const values = phases.map((p) => {
      const hit = p.samples.find((x) => `${x.name}{${x.labels}}` === key);
      return hit ? `${hit.value}+0x${p.minutes - 1}` : `_x${p.minutes}`;
    }).join(" ");
    return { series: `${s.name}{${labels}}`, values };
  });
}
