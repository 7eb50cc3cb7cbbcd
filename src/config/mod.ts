/**
 * The configuration model: load and validate `rules.toml` + `apps.toml` (+ `apps.d/`) into the
 * typed `Policy`, with `FILE:LINE:COL` errors; write learned approvals atomically.
 *
 * @example
 * ```ts
 * import { formatErrors, loadPolicy } from "./src/config/mod.ts";
 * const r = await loadPolicy("/etc/hashwall");
 * if (!r.ok) console.error(formatErrors(r.errors));
 * ```
 *
 * @module
 */
export * from "./model.ts";
export {
  type ConfigFolderTexts,
  configPath,
  type LoadOptions,
  loadPolicy,
  readConfigFolder,
} from "./load.ts";
export { type AccessOptions, checkAccess, type CheckedPath, type ExpectedKind } from "./access.ts";
export {
  CONFIG_KEYS,
  type ConfigText,
  DEFAULT_DEFAULTS,
  DEFAULT_UI_LISTEN,
  type ValidateInput,
  validateTexts,
} from "./validate.ts";
export { cidrContains, formatAddress, formatCidr, parseAddress, parseCidr } from "./cidr.ts";
export { parsePortSpec } from "./ports.ts";
export { formatErrors } from "./format.ts";
export { createFileAtomic, writeFileAtomic } from "./atomic.ts";
export {
  appendLearnedApp,
  ConfigRejectedError,
  LEARNED_FILE,
  type LearnedApp,
  removeLearnedApp,
} from "./learned.ts";
export { DEFAULT_APPS_TOML, DEFAULT_RULES_TOML, writeDefaultConfig } from "./defaults.ts";
export { MAX_CONFIG_BYTES } from "./source.ts";
