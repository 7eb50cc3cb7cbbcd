/**
 * Where the integrity baseline lives: `<state>/integrity-baseline.json`, mode 0600, replaced
 * atomically. A JSON file (not the SQLite store) so `hashwall integrity` works without the daemon
 * and an admin can read or archive it with ordinary tools.
 *
 * @module
 */
import { writeFileAtomic } from "../config/atomic.ts";
import type { Baseline } from "./baseline.ts";

/** File name of the baseline inside the state folder. */
export const BASELINE_FILE = "integrity-baseline.json";

/** Path of the baseline for a state folder. */
export function baselinePath(stateDir: string): string {
  return `${stateDir.replace(/\/+$/, "")}/${BASELINE_FILE}`;
}

/** Writes the baseline (0600, atomic); creates the state folder (0700) when missing. */
export async function saveBaseline(stateDir: string, b: Baseline): Promise<string> {
  await Deno.mkdir(stateDir, { recursive: true, mode: 0o700 });
  const path = baselinePath(stateDir);
  await writeFileAtomic(path, JSON.stringify(b, null, 1) + "\n", 0o600);
  return path;
}

/** Reads and checks the baseline; throws a clear error when missing or malformed. */
export async function loadBaseline(stateDir: string): Promise<Baseline> {
  const path = baselinePath(stateDir);
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new Error(`no baseline at ${path}: run "hashwall integrity baseline" first`);
    }
    throw e;
  }
  let b: unknown;
  try {
    b = JSON.parse(text);
  } catch (e) {
    throw new Error(`${path}: not valid JSON (${e instanceof Error ? e.message : e})`);
  }
  const o = b as Partial<Baseline>;
  if (
    typeof o !== "object" || o === null || o.version !== 1 || typeof o.createdAt !== "number" ||
    !Array.isArray(o.entries) || typeof o.files !== "object" || o.files === null
  ) {
    throw new Error(`${path}: not a hashwall baseline (version 1)`);
  }
  return o as Baseline;
}
