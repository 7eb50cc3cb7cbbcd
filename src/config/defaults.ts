/**
 * The embedded default configuration (config/rules.toml and config/apps.toml, built into the
 * binary as text) and the installer that writes it without ever overwriting an admin's files.
 *
 * @module
 */
import rulesToml from "../../config/rules.toml" with { type: "text" };
import appsToml from "../../config/apps.toml" with { type: "text" };
import { createFileAtomic } from "./atomic.ts";
import { configPath } from "./load.ts";

/** The default rules.toml: learning mode, UI on 127.0.0.1:7447, every key shown and commented. */
export const DEFAULT_RULES_TOML: string = rulesToml;
/** The default apps.toml: no apps, a commented example of every key. */
export const DEFAULT_APPS_TOML: string = appsToml;

/**
 * Writes the default config into `dir` (created with mode 0755 if missing): rules.toml and
 * apps.toml (mode 0644) and an empty apps.d/. Existing files are never touched. Resolves to the
 * paths actually written.
 *
 * @example
 * ```ts
 * const written = await writeDefaultConfig("/etc/hashwall");
 * // [] when both files already existed
 * ```
 */
export async function writeDefaultConfig(dir: string): Promise<string[]> {
  await Deno.mkdir(dir, { recursive: true, mode: 0o755 });
  const written: string[] = [];
  for (
    const [name, text] of [["rules.toml", DEFAULT_RULES_TOML], ["apps.toml", DEFAULT_APPS_TOML]]
  ) {
    const path = configPath(dir, name);
    if (await createFileAtomic(path, text, 0o644)) written.push(path);
  }
  try {
    await Deno.mkdir(configPath(dir, "apps.d"), { mode: 0o755 });
  } catch (e) {
    if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
  }
  return written;
}
