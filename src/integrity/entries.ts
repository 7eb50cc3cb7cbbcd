/**
 * What file integrity covers for a policy: every `[[integrity.watch]]` path plus the config files
 * themselves (`Policy.files`), which are always watched.
 *
 * @module
 */
import type { Policy } from "../config/model.ts";
import type { IntegrityEntry } from "./baseline.ts";

/**
 * The integrity entries of a policy.
 *
 * @example
 * ```ts
 * const entries = policyEntries(policy); // [{ path: "/etc/ssh", recursive: true }, …, rules.toml]
 * ```
 */
export function policyEntries(policy: Policy): IntegrityEntry[] {
  const out: IntegrityEntry[] = policy.integrity.watch.map((w) => ({
    path: w.path,
    recursive: w.recursive,
  }));
  const seen = new Set(out.map((e) => e.path));
  for (const f of policy.files) {
    if (!seen.has(f)) out.push({ path: f, recursive: false });
  }
  return out;
}
