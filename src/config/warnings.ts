/**
 * Configurations that are valid but probably not what was meant, worded for `hashwall check`
 * (stdout, exit 0) and the Learning page.
 *
 * @module
 */
import { HW } from "../../ffi/structs.ts";
import { interpreterKind } from "../policy/interpreters.ts";
import type { App } from "./model.ts";

/**
 * One warning per app with `inherit = true` on a shell or an interpreter: its descendants are
 * trusted via it whatever they run, so it trusts every program or script it is handed.
 *
 * @example
 * ```ts
 * for (const w of inheritWarnings(policy.apps)) console.log(`warning: ${w}`);
 * ```
 */
export function inheritWarnings(apps: readonly App[]): string[] {
  const out: string[] = [];
  for (const a of apps) {
    if (!a.inherit) continue;
    const kind = interpreterKind(a.path);
    const at = `${a.loc.file}:${a.loc.line}:${a.loc.col}: app "${a.name}"`;
    if (kind === HW.KIND_SHELL) {
      out.push(
        `${at}: inherit = true on a shell trusts every program it runs; approve the scripts ` +
          `instead, or give the programs it starts their own [[app]] or only_via`,
      );
    } else if (a.interpreter || kind !== HW.KIND_OTHER) {
      out.push(
        `${at}: inherit = true on an interpreter trusts every script and program it runs; ` +
          `approve the scripts instead (with inherit on the script if its children need it)`,
      );
    }
  }
  return out;
}
