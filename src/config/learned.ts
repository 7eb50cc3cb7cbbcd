/**
 * The daemon's approvals file, `apps.d/learned.toml`: rewritten atomically (mode 0600) from its
 * parsed entries, and only when the whole config stays valid, so hand-written files keep their
 * comments and a bad approval can never break the next load.
 *
 * @module
 */
import type { App, ConfigError } from "./model.ts";
import { writeFileAtomic } from "./atomic.ts";
import { configPath, type LoadOptions, readConfigFolder } from "./load.ts";
import { formatErrors } from "./format.ts";
import { type ConfigText, validateTexts } from "./validate.ts";

/** An app approval to record (the `[[app]]` keys; `inherit`/`interpreter` default to false). */
export type LearnedApp = Omit<App, "loc" | "inherit" | "interpreter"> & {
  inherit?: boolean;
  interpreter?: boolean;
};

/** A change refused because the config (before or after it) is not valid; carries every error. */
export class ConfigRejectedError extends Error {
  /** Always "ConfigRejectedError". */
  override name = "ConfigRejectedError";
  /** `errors`: every error found; `what`: what was refused, for the message. */
  constructor(readonly errors: ConfigError[], what: string) {
    super(`${what}:\n${formatErrors(errors)}`);
  }
}

/** Name of the file the daemon owns inside apps.d/. */
export const LEARNED_FILE = "learned.toml";

/** Serialises rewrites per config folder (two approvals at once must not lose one). */
const queues = new Map<string, Promise<unknown>>();

function serialised<T>(key: string, job: () => Promise<T>): Promise<T> {
  const prev = queues.get(key) ?? Promise.resolve();
  const next = prev.catch(() => {}).then(job);
  queues.set(key, next);
  return next;
}

/**
 * Adds (or, for an existing name in learned.toml, replaces) an app approval in
 * `apps.d/learned.toml`. Throws `ConfigRejectedError` and writes nothing if the config is
 * invalid before or would be after (e.g. the name is already used in apps.toml).
 *
 * @example
 * ```ts
 * await appendLearnedApp("/etc/hashwall", {
 *   name: "curl",
 *   path: "/usr/bin/curl",
 *   sha256: "0".repeat(64),
 *   duration: "forever",
 * });
 * ```
 */
export function appendLearnedApp(
  configDir: string,
  app: LearnedApp,
  opts: LoadOptions = {},
): Promise<void> {
  return serialised(configDir, async () => {
    await rewriteLearned(configDir, opts, (apps) => {
      const entry = { inherit: false, interpreter: false, ...app };
      const i = apps.findIndex((a) => a.name === app.name);
      if (i === -1) apps.push(entry);
      else apps[i] = entry;
      return true;
    });
  });
}

/**
 * Removes the approval named `name` from `apps.d/learned.toml`. Resolves to `false` when there was
 * none. Throws `ConfigRejectedError` (writing nothing) if the removal would leave the config
 * invalid, e.g. a rule still names the app.
 *
 * @example
 * ```ts
 * const removed = await removeLearnedApp("/etc/hashwall", "curl");
 * ```
 */
export function removeLearnedApp(
  configDir: string,
  name: string,
  opts: LoadOptions = {},
): Promise<boolean> {
  return serialised(configDir, () =>
    rewriteLearned(configDir, opts, (apps) => {
      const i = apps.findIndex((a) => a.name === name);
      if (i === -1) return false;
      apps.splice(i, 1);
      return true;
    }));
}

async function rewriteLearned(
  configDir: string,
  opts: LoadOptions,
  change: (apps: LearnedApp[]) => boolean,
): Promise<boolean> {
  const appsDir = configPath(configDir, "apps.d");
  const learnedFile = configPath(appsDir, LEARNED_FILE);
  await ensureAppsDir(appsDir);
  const folder = await readConfigFolder(configDir, opts);
  if (folder.errors.length) throw new ConfigRejectedError(folder.errors, "config not readable");
  const current = folder.apps.find((t) => t.file === learnedFile);
  const apps = current ? parseLearned(current) : [];
  if (!change(apps)) return false;
  const text = renderLearned(apps);
  const appsTexts: ConfigText[] = folder.apps.map((t) =>
    t.file === learnedFile ? { file: learnedFile, text } : t
  );
  if (!current) appsTexts.push({ file: learnedFile, text });
  const check = validateTexts({
    rulesFile: folder.rules?.file ?? configPath(configDir, "rules.toml"),
    rulesText: folder.rules?.text ?? "",
    appsTexts,
  });
  if (!check.ok) throw new ConfigRejectedError(check.errors, "change refused");
  await writeFileAtomic(learnedFile, text, 0o600);
  return true;
}

function parseLearned(t: ConfigText): LearnedApp[] {
  const r = validateTexts({ rulesFile: "(none)", rulesText: "", appsTexts: [t] });
  if (!r.ok) throw new ConfigRejectedError(r.errors, `${t.file} is invalid; fix it first`);
  return r.policy.apps.map(({ loc: _loc, ...rest }) => rest);
}

async function ensureAppsDir(dir: string): Promise<void> {
  try {
    await Deno.mkdir(dir, { mode: 0o755 });
  } catch (e) {
    if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
  }
}

/** A TOML basic string (JSON escapes are valid TOML; DEL must be escaped in TOML too). */
function tomlString(s: string): string {
  return JSON.stringify(s).replaceAll("\x7f", "\\u007f");
}

/**
 * Renders learned apps as TOML (the file is regenerated whole, so it carries no hand comments).
 *
 * @example
 * ```ts
 * renderLearned([{ name: "curl", path: "/usr/bin/curl", sha256: "0".repeat(64) }]);
 * ```
 */
export function renderLearned(apps: readonly LearnedApp[]): string {
  const lines = [
    "# Apps approved through hashwall (learning, `hashwall apps`, or the web UI).",
    "# This file is rewritten by hashwall; put hand-written entries in apps.toml or another",
    "# apps.d/*.toml file, where comments are kept.",
  ];
  for (const a of apps) {
    lines.push("", "[[app]]");
    lines.push(`name = ${tomlString(a.name)}`);
    lines.push(`path = ${tomlString(a.path)}`);
    lines.push(`sha256 = ${tomlString(a.sha256)}`);
    lines.push(`inherit = ${a.inherit === true}`);
    lines.push(`interpreter = ${a.interpreter === true}`);
    if (a.duration !== undefined) lines.push(`duration = ${tomlString(a.duration)}`);
    if (a.trust !== undefined) lines.push(`trust = ${tomlString(a.trust)}`);
    if (a.package !== undefined) lines.push(`package = ${tomlString(a.package)}`);
    if (a.packageVersion !== undefined) {
      lines.push(`package_version = ${tomlString(a.packageVersion)}`);
    }
  }
  return lines.join("\n") + "\n";
}
