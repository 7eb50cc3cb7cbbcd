/**
 * `hashwall apps export`: the approvals in force as a stable, sorted document (TOML that loads as
 * an apps file, or JSON), so that two hosts built from the same images print byte-identical
 * output and `diff` shows only real differences.
 *
 * What goes in: name, path, approved sha256, inherit, interpreter, duration when it is not
 * "forever", `only_via` when set (leaving it out would widen the grant on the other host), and — where package trust applies — `pkg` and `version` (copied from the app when the
 * daemon or config reports them; see {@link EXPORT_OPTIONAL_KEYS}). What stays out: anything that
 * differs between identical hosts (status, last verification time, kernel identity, declaring
 * file) and `once` approvals (they name one process of one host).
 *
 * @module
 */

/** Fields of one exported approval, in output order. */
export interface ExportedApp {
  name: string;
  path: string;
  sha256: string;
  inherit: boolean;
  interpreter: boolean;
  /** Present only when not "forever". */
  duration?: string;
  /** `only_via`: the starters the app is trusted under (sorted); present only when set. */
  onlyVia?: string[];
  /** Package the approval comes from (package trust), when known. */
  pkg?: string;
  /** Package version, when known. */
  version?: string;
}

/**
 * Optional string keys copied from an app when present. Package trust adds `pkg` and `version`
 * to apps; listing a key here is all it takes for export to carry it (the hook for new fields).
 */
export const EXPORT_OPTIONAL_KEYS = ["pkg", "version"] as const;

/** What export reads from an app (an AppInfo from the daemon or an App from the config). */
export interface ExportSource {
  name: string;
  path: string;
  sha256: string;
  inherit: boolean;
  interpreter: boolean;
  duration?: string;
  onlyVia?: readonly string[];
}

/**
 * The approvals in force, normalised and sorted by path, then name. `once` approvals are left out.
 *
 * @example
 * ```ts
 * exportApps([{ name: "b", path: "/b", sha256: "AA", inherit: false, interpreter: false }]);
 * // [{ name: "b", path: "/b", sha256: "aa", inherit: false, interpreter: false }]
 * ```
 */
export function exportApps(apps: readonly ExportSource[]): ExportedApp[] {
  const out: ExportedApp[] = [];
  for (const a of apps) {
    if (a.duration === "once") continue;
    const e: ExportedApp = {
      name: a.name,
      path: a.path,
      sha256: a.sha256.toLowerCase(),
      inherit: !!a.inherit,
      interpreter: !!a.interpreter,
    };
    if (a.duration && a.duration !== "forever") e.duration = a.duration;
    if (a.onlyVia?.length) e.onlyVia = [...a.onlyVia].sort(cmp);
    const extra = a as unknown as Record<string, unknown>;
    for (const k of EXPORT_OPTIONAL_KEYS) {
      const v = extra[k];
      if (typeof v === "string" && v !== "") e[k] = v;
      else if (typeof v === "number") e[k] = String(v);
    }
    out.push(e);
  }
  return out.sort((x, y) => cmp(x.path, y.path) || cmp(x.name, y.name));
}

/** Byte-order comparison (not locale order), so every host sorts alike. */
function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** A TOML basic string (JSON's escapes are a subset TOML accepts). */
function tomlString(s: string): string {
  return JSON.stringify(s);
}

/**
 * TOML: a header comment and one `[[app]]` table per approval, keys in a fixed order. The result
 * loads as an apps file (`apps.d/*.toml`).
 */
export function renderExportToml(apps: readonly ExportedApp[]): string {
  const lines = [
    `# hashwall apps export: ${apps.length} approval${apps.length === 1 ? "" : "s"} in force,`,
    "# sorted by path then name (hosts with the same images diff clean)",
  ];
  for (const a of apps) {
    lines.push("", "[[app]]");
    lines.push(`name = ${tomlString(a.name)}`);
    lines.push(`path = ${tomlString(a.path)}`);
    lines.push(`sha256 = ${tomlString(a.sha256)}`);
    lines.push(`inherit = ${a.inherit}`);
    lines.push(`interpreter = ${a.interpreter}`);
    if (a.duration) lines.push(`duration = ${tomlString(a.duration)}`);
    if (a.onlyVia) lines.push(`only_via = [${a.onlyVia.map(tomlString).join(", ")}]`);
    for (const k of EXPORT_OPTIONAL_KEYS) {
      if (a[k] !== undefined) lines.push(`${k} = ${tomlString(a[k]!)}`);
    }
  }
  return lines.join("\n") + "\n";
}

/** JSON: `{"apps": [...]}`, two-space indented, keys in the same fixed order. */
export function renderExportJson(apps: readonly ExportedApp[]): string {
  return JSON.stringify({ apps }, null, 2) + "\n";
}
