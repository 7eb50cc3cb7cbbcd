/**
 * Loading the configuration folder: `rules.toml` (required), `apps.toml` (optional) and
 * `apps.d/*.toml` (optional, sorted), each access-checked, size-capped and decoded strictly, then
 * validated together by `validateTexts`.
 *
 * @module
 */
import { ConfigError, type LoadResult } from "./model.ts";
import { type AccessOptions, checkAccess } from "./access.ts";
import { decodeConfigBytes, MAX_CONFIG_BYTES, tooBigError } from "./source.ts";
import { type ConfigText, validateTexts } from "./validate.ts";

/** Options of `loadPolicy`. */
export interface LoadOptions extends AccessOptions {
  /** Largest accepted file, in bytes (default 1 MiB). */
  maxFileBytes?: number;
}

/** Joins a folder and a name without rewriting the folder, so errors show the path as given. */
export function configPath(dir: string, name: string): string {
  return dir.endsWith("/") ? `${dir}${name}` : `${dir}/${name}`;
}

/**
 * Loads and validates the config folder. Never throws for bad input: every problem (missing
 * rules.toml, wrong owner or mode, invalid UTF-8, TOML syntax, semantics) is a located error.
 * A missing apps.toml means "no apps"; a missing apps.d/ means no extra app files.
 *
 * @example
 * ```ts
 * const r = await loadPolicy("/etc/hashwall");
 * if (!r.ok) {
 *   console.error(formatErrors(r.errors));
 * } else {
 *   console.log(`${r.policy.rules.length} rules, mode ${r.policy.defaults.mode}`);
 * }
 * ```
 */
export async function loadPolicy(configDir: string, opts: LoadOptions = {}): Promise<LoadResult> {
  const read = await readConfigFolder(configDir, opts);
  const result = validateTexts({
    rulesFile: read.rules?.file ?? configPath(configDir, "rules.toml"),
    rulesText: read.rules?.text ?? "",
    appsTexts: read.apps,
    appsIncomplete: read.errors.length > 0,
  });
  if (read.errors.length === 0) return result;
  return { ok: false, errors: [...read.errors, ...(result.ok ? [] : result.errors)] };
}

/** The texts of a config folder, before validation. */
export interface ConfigFolderTexts {
  /** rules.toml, or `undefined` when it could not be read (see `errors`). */
  rules?: ConfigText;
  /** apps.toml (when present) then apps.d/*.toml in name order. */
  apps: ConfigText[];
  /** Access, size and encoding errors. */
  errors: ConfigError[];
}

/**
 * Reads a config folder's files with every access check applied, without validating them.
 * Used by `loadPolicy` and by the learned-apps writer (which validates a changed set).
 *
 * @example
 * ```ts
 * const t = await readConfigFolder("/etc/hashwall");
 * console.log(t.apps.map((a) => a.file));
 * ```
 */
export async function readConfigFolder(
  configDir: string,
  opts: LoadOptions = {},
): Promise<ConfigFolderTexts> {
  const errors: ConfigError[] = [];
  const out: ConfigFolderTexts = { apps: [], errors };
  const dir = await checkAccess(configDir, "dir", opts);
  if (dir === null) {
    errors.push(new ConfigError(configDir, 1, 1, "config folder not found (use --config DIR)"));
    return out;
  }
  if (dir instanceof ConfigError) {
    errors.push(dir);
    return out;
  }
  const rulesFile = configPath(configDir, "rules.toml");
  const rules = await readConfigFile(rulesFile, opts, errors);
  if (rules === null) {
    errors.push(
      new ConfigError(
        rulesFile,
        1,
        1,
        "rules.toml not found; it is required (`hashwall install` writes a commented default)",
      ),
    );
  } else if (rules) out.rules = rules;
  const appsFile = configPath(configDir, "apps.toml");
  const apps = await readConfigFile(appsFile, opts, errors);
  if (apps) out.apps.push(apps);
  const appsDir = configPath(configDir, "apps.d");
  const d = await checkAccess(appsDir, "dir", opts);
  if (d instanceof ConfigError) errors.push(d);
  else if (d !== null) {
    const names: string[] = [];
    try {
      for await (const e of Deno.readDir(appsDir)) {
        // Dot files are editor/atomic-write leftovers, never config.
        if (e.name.endsWith(".toml") && !e.name.startsWith(".")) names.push(e.name);
      }
    } catch (e) {
      errors.push(new ConfigError(appsDir, 1, 1, `cannot list: ${(e as Error).message}`));
    }
    names.sort();
    for (const name of names) {
      const t = await readConfigFile(configPath(appsDir, name), opts, errors);
      if (t) out.apps.push(t);
    }
  }
  return out;
}

/**
 * Reads one config file: access check, then open and re-check the opened file (so a swap between
 * check and open is caught), read at most the cap, decode. `null` when missing, `undefined` when
 * an error was recorded.
 */
async function readConfigFile(
  file: string,
  opts: LoadOptions,
  errors: ConfigError[],
): Promise<ConfigText | null | undefined> {
  const checked = await checkAccess(file, "file", opts);
  if (checked === null) return null;
  if (checked instanceof ConfigError) {
    errors.push(checked);
    return undefined;
  }
  const max = opts.maxFileBytes ?? MAX_CONFIG_BYTES;
  let f: Deno.FsFile | undefined;
  try {
    f = await Deno.open(file, { read: true });
    const st = await f.stat();
    if (st.ino !== checked.stat.ino || st.dev !== checked.stat.dev) {
      errors.push(new ConfigError(file, 1, 1, "file changed while being checked; try again"));
      return undefined;
    }
    if (st.size > max) {
      errors.push(tooBigError(file, st.size, max));
      return undefined;
    }
    // Capped again in case the file grows between stat and read.
    const bytes = await readCapped(f, max + 1);
    const r = decodeConfigBytes(file, bytes, max);
    if (!r.ok) {
      errors.push(...r.errors);
      return undefined;
    }
    return { file, text: r.text };
  } catch (e) {
    errors.push(new ConfigError(file, 1, 1, `cannot read: ${(e as Error).message}`));
    return undefined;
  } finally {
    f?.close();
  }
}

async function readCapped(f: Deno.FsFile, limit: number): Promise<Uint8Array> {
  const buf = new Uint8Array(limit);
  let n = 0;
  while (n < limit) {
    const got = await f.read(buf.subarray(n));
    if (got === null) break;
    n += got;
  }
  return buf.subarray(0, n);
}
