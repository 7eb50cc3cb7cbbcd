/**
 * `hashwall integrity baseline|check`: AIDE-like file integrity over `[[integrity.watch]]` paths and
 * the config files themselves. Runs without the daemon: reads the config and the state folder.
 *
 * @module
 */
import type { Command } from "./command.ts";
import { DEFAULT_CONFIG_DIR, DEFAULT_STATE_DIR } from "./command.ts";
import { parseArgs, stringFlag, UsageError } from "./args.ts";
import { formatErrors } from "../config/format.ts";
import { loadPolicy } from "../config/load.ts";
import {
  buildBaseline,
  checkBaseline,
  hasChanges,
  type IntegrityEntry,
  type IntegrityReport,
} from "../integrity/baseline.ts";
import { loadBaseline, saveBaseline } from "../integrity/baseline_store.ts";
import { policyEntries } from "../integrity/entries.ts";

const USAGE = `Usage: hashwall integrity baseline [--config DIR] [--state DIR] [--json]
       hashwall integrity check    [--config DIR] [--state DIR] [--json]

baseline  hashes every file under the [[integrity.watch]] paths of rules.toml and the config
          files themselves, and stores hash, size, mode, owner, inode and mtime in
          STATE/integrity-baseline.json (mode 0600).
check     compares the same paths with the baseline and lists added, removed and changed files
          with before/after for each changed attribute.
          Exit status: 0 no changes, 1 changes found, 2 error (bad config, no baseline,
          unreadable files).

Options:
  --config DIR   config folder (default ${DEFAULT_CONFIG_DIR})
  --state DIR    state folder (default ${DEFAULT_STATE_DIR})
  --paths LIST   comma-separated absolute paths to cover instead of the config (folders are
                 recursive)
  --json         machine-readable output on stdout`;

function parsePaths(list: string): IntegrityEntry[] {
  const paths = list.split(",").map((p) => p.trim()).filter((p) => p !== "");
  if (paths.length === 0) throw new UsageError("--paths needs at least one path");
  for (const p of paths) {
    if (!p.startsWith("/")) throw new UsageError(`--paths: "${p}" is not an absolute path`);
  }
  return paths.map((path) => ({ path, recursive: true }));
}

async function entriesFrom(configDir: string): Promise<IntegrityEntry[] | number> {
  const r = await loadPolicy(configDir);
  if (!r.ok) {
    console.error(formatErrors(r.errors));
    return 2;
  }
  return policyEntries(r.policy);
}

function short(v: string | number | undefined, attribute: string): string {
  if (v === undefined) return "-";
  if (attribute === "mode" && typeof v === "number") return "0" + (v & 0o7777).toString(8);
  if (attribute === "sha256" && typeof v === "string") return v.slice(0, 16) + "…";
  return String(v);
}

function printReport(r: IntegrityReport): void {
  for (const a of r.added) console.log(`added    ${a.path}`);
  for (const a of r.removed) console.log(`removed  ${a.path}`);
  for (const c of r.changed) {
    const parts = c.changes.map((x) =>
      `${x.attribute} ${short(x.before, x.attribute)} → ${short(x.after, x.attribute)}`
    );
    console.log(`changed  ${c.path}: ${parts.join("; ")}`);
  }
  for (const e of r.errors) console.error(`error    ${e.path}: ${e.error}`);
  const since = new Date(r.baselineCreatedAt).toISOString();
  console.log(
    `${r.added.length} added, ${r.removed.length} removed, ${r.changed.length} changed, ` +
      `${r.errors.length} unreadable; ${r.scanned} files checked against the baseline of ${since}`,
  );
}

/** `hashwall integrity`: file-integrity baseline and check. */
export const integrityCommand: Command = {
  name: "integrity",
  summary: "file-integrity baseline and check",
  usage: USAGE,
  async run(argv: string[]): Promise<number> {
    const args = parseArgs(argv, { boolean: ["json"], string: ["config", "state", "paths"] });
    const [action, extra] = args.positionals;
    if (action !== "baseline" && action !== "check") {
      throw new UsageError(
        action === undefined ? "missing action: baseline or check" : `unknown action "${action}"`,
      );
    }
    if (extra !== undefined) throw new UsageError(`unexpected argument "${extra}"`);
    const configDir = stringFlag(args, "config", DEFAULT_CONFIG_DIR);
    const stateDir = stringFlag(args, "state", DEFAULT_STATE_DIR);
    const paths = stringFlag(args, "paths");
    if (paths !== undefined && args.flags.config !== undefined) {
      throw new UsageError("--paths and --config exclude each other");
    }

    if (action === "baseline") {
      const entries = paths !== undefined ? parsePaths(paths) : await entriesFrom(configDir);
      if (typeof entries === "number") return entries;
      let file: string;
      let count: number;
      try {
        const b = await buildBaseline(entries);
        count = Object.keys(b.files).length;
        file = await saveBaseline(stateDir, b);
      } catch (e) {
        console.error(`hashwall integrity baseline: ${e instanceof Error ? e.message : e}`);
        return 2;
      }
      if (args.flags.json) console.log(JSON.stringify({ ok: true, file, files: count }));
      else console.log(`baseline of ${count} files written to ${file}`);
      return 0;
    }

    let baseline;
    try {
      baseline = await loadBaseline(stateDir);
    } catch (e) {
      console.error(`hashwall integrity check: ${e instanceof Error ? e.message : e}`);
      return 2;
    }
    // The baseline's own entries decide what is checked, so a config edit cannot silently shrink
    // the check; a differing config is pointed out.
    const entries = paths !== undefined ? parsePaths(paths) : baseline.entries;
    if (paths === undefined && args.flags.config !== undefined) {
      const now = await entriesFrom(configDir);
      if (typeof now === "number") return now;
      const key = (es: IntegrityEntry[]) =>
        JSON.stringify(es.map((e) => `${e.path}:${e.recursive}`).sort());
      if (key(now) !== key(baseline.entries)) {
        console.error(
          "note: the config's integrity paths differ from the baseline's; checking the baseline's " +
            'paths (run "hashwall integrity baseline" to adopt the new ones)',
        );
      }
    }
    const report = await checkBaseline(baseline, entries);
    if (args.flags.json) console.log(JSON.stringify(report));
    else printReport(report);
    if (report.errors.length) return 2;
    return hasChanges(report) ? 1 : 0;
  },
};
