/**
 * All-or-nothing policy reload for the packet filter: a load result with any error, or a rule
 * set the kernel tables cannot hold, changes nothing; otherwise the compiled policy is written
 * with one atomic switch.
 *
 * @module
 */
import type { LoadResult, Policy } from "../config/model.ts";
import {
  type CompiledPolicy,
  CompileError,
  type CompileOptions,
  compilePolicy,
} from "./compile.ts";

/** What reload needs of the filter (PacketFilter and FilterMaps both fit). */
export interface PolicyTarget {
  apply(compiled: CompiledPolicy): number;
}

/** Outcome of {@link reloadPolicy}. */
export type ReloadOutcome =
  | { ok: true; policy: Policy; compiled: CompiledPolicy; generation: number }
  | { ok: false; errors: string[] };

/**
 * Validated config in, kernel policy out — or located errors out and the old policy untouched.
 *
 * @example
 * ```ts
 * const r = reloadPolicy(filter, await loadPolicy("/etc/hashwall"));
 * if (!r.ok) console.error(r.errors.join("\n"));
 * ```
 */
export function reloadPolicy(
  target: PolicyTarget,
  loaded: LoadResult,
  opts: CompileOptions = {},
): ReloadOutcome {
  if (!loaded.ok) return { ok: false, errors: loaded.errors.map(String) };
  let compiled: CompiledPolicy;
  try {
    compiled = compilePolicy(loaded.policy, opts);
  } catch (e) {
    if (e instanceof CompileError) return { ok: false, errors: [e.message] };
    throw e;
  }
  const generation = target.apply(compiled);
  return { ok: true, policy: loaded.policy, compiled, generation };
}
