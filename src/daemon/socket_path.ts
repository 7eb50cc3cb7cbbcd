/**
 * Where the control socket of an instance lives. Kept apart from the server so the CLI client can
 * import it without pulling in the FFI server code.
 *
 * @module
 */
import { DEFAULT_STATE_DIR } from "../base/paths.ts";

/** The production control socket: under /run, so it disappears on reboot with the daemon. */
export const RUNTIME_CONTROL_SOCKET = "/run/hashwall/control.sock";

/**
 * The control socket of the instance whose state folder is `stateDir`: `<stateDir>/control.sock`,
 * except for the production default `/var/lib/hashwall`, whose socket is
 * `/run/hashwall/control.sock`.
 *
 * @example
 * ```ts
 * controlSocketPath("/var/lib/hashwall"); // "/run/hashwall/control.sock"
 * controlSocketPath("/tmp/hw-test");      // "/tmp/hw-test/control.sock"
 * ```
 */
export function controlSocketPath(stateDir: string): string {
  const dir = stateDir.length > 1 ? stateDir.replace(/\/+$/, "") : stateDir;
  return dir === DEFAULT_STATE_DIR ? RUNTIME_CONTROL_SOCKET : `${dir}/control.sock`;
}
