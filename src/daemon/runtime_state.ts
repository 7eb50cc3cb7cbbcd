/**
 * Small run-time decisions an admin made that must survive a daemon restart but do not belong in
 * the hand-written config: a mode switched from the CLI/UI, apps revoked by name, and executables
 * dismissed from the learning list. Kept as `<state>/runtime.json` (0600, atomic rename).
 *
 * @module
 */
import type { Mode } from "../config/model.ts";

/** What runtime.json holds. */
export interface RuntimeData {
  /** Mode set with `hashwall mode` / the UI; wins over rules.toml until the file's mode changes. */
  modeOverride?: Mode;
  /** The rules.toml mode the override was made against (a changed file mode clears it). */
  modeOverrideBase?: Mode;
  /** App names revoked with `apps revoke` (until allowed again). */
  revoked: string[];
  /** Executables dismissed from the learning list. */
  dismissed: string[];
  /**
   * New hashes an admin approved for apps declared in hand-written files (which hashwall never
   * rewrites). Applies while the file still declares `declared`; editing the file ends it.
   */
  hashOverrides: Record<string, HashOverride>;
}

/** A new approved hash for an app whose declaring file hashwall does not rewrite. */
export interface HashOverride {
  path: string;
  sha256: string;
  /** The hash the file declared when this was made (editing the file ends the override). */
  declared: string;
  /** Set when a signed package update, not an admin, approved the hash. */
  package?: string;
  version?: string;
  level?: "deb" | "md5sums";
}

/** Loads and saves runtime.json. */
export class RuntimeState {
  readonly path: string;
  data: RuntimeData = { revoked: [], dismissed: [], hashOverrides: {} };

  constructor(stateDir: string) {
    this.path = `${stateDir}/runtime.json`;
    try {
      const parsed = JSON.parse(Deno.readTextFileSync(this.path));
      this.data = {
        modeOverride: parsed.modeOverride === "enforcing" || parsed.modeOverride === "learning"
          ? parsed.modeOverride
          : undefined,
        modeOverrideBase: parsed.modeOverrideBase,
        revoked: Array.isArray(parsed.revoked) ? parsed.revoked.filter(isString) : [],
        dismissed: Array.isArray(parsed.dismissed) ? parsed.dismissed.filter(isString) : [],
        hashOverrides: parsed.hashOverrides && typeof parsed.hashOverrides === "object"
          ? parsed.hashOverrides
          : {},
      };
    } catch { /* first start */ }
  }

  /** Writes the file atomically (temp + rename), mode 0600. */
  save(): void {
    const tmp = `${this.path}.tmp`;
    Deno.writeTextFileSync(tmp, JSON.stringify(this.data, null, 2), { mode: 0o600 });
    Deno.renameSync(tmp, this.path);
  }
}

function isString(v: unknown): v is string {
  return typeof v === "string";
}
