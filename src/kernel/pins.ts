/**
 * Where an instance's maps and links are pinned in bpffs. Pins keep the policy enforced while the
 * daemon is stopped or restarting; `hashwall disable` removes them.
 *
 * @module
 */
// Not node:crypto: its first import costs ~50 ms, and every CLI command needs this name.
import { sha256Hex } from "../base/sha256.ts";
import { exists } from "../base/fs.ts";

/** The bpffs mount hashwall uses. */
export const BPFFS = "/sys/fs/bpf";
/** The production state folder: its instance is called "default". */
export const PRODUCTION_STATE_DIR = "/var/lib/hashwall";

/**
 * The instance name for a state folder: "default" for the production folder, otherwise a short
 * hash of the folder's absolute path, so tests can run several daemons side by side.
 */
export function instanceName(stateDir: string): string {
  const abs = stateDir.startsWith("/") ? stateDir : `${Deno.cwd()}/${stateDir}`;
  const norm = abs.replace(/\/+$/, "") || "/";
  if (norm === PRODUCTION_STATE_DIR) return "default";
  return "s-" + sha256Hex(norm).slice(0, 16);
}

/** Pin folder layout of one instance. */
export interface PinPaths {
  root: string;
  maps: string;
  links: string;
}

/** The pin folders of `instance`. */
export function pinPaths(instance: string): PinPaths {
  const root = `${BPFFS}/hashwall/${instance}`;
  return { root, maps: `${root}/maps`, links: `${root}/links` };
}

/** Whether `path` exists (pins are files in bpffs): src/base/fs.ts's `exists`, under its old name. */
export const pinExists: (path: string) => boolean = exists;
