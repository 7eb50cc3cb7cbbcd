/**
 * Where the control socket of an instance lives. Kept apart from the server so the CLI client can
 * import it without pulling in the FFI server code.
 *
 * Every instance's socket sits under /run/hashwall, never in its state folder: state folders are
 * private (0700: database, UI tokens), and a socket inside one cannot be reached by the viewers
 * it is meant for. The default instance keeps `/run/hashwall/control.sock` (what systemd's
 * RuntimeDirectory makes and earlier versions used); any other instance gets its own folder
 * `/run/hashwall/<instance>/` (0750 root:hashwall), named like its bpffs pins.
 *
 * @module
 */
import { DEFAULT_STATE_DIR } from "../base/paths.ts";
import { instanceName } from "../kernel/pins.ts";

/** The runtime folder of every instance (systemd's RuntimeDirectory=hashwall). */
export const RUNTIME_DIR = "/run/hashwall";

/** The production control socket: under /run, so it disappears on reboot with the daemon. */
export const RUNTIME_CONTROL_SOCKET = `${RUNTIME_DIR}/control.sock`;

/**
 * The control socket of the instance whose state folder is `stateDir`.
 *
 * @example
 * ```ts
 * controlSocketPath("/var/lib/hashwall"); // "/run/hashwall/control.sock"
 * controlSocketPath("/tmp/hw-test");      // "/run/hashwall/s-1f0c…/control.sock"
 * ```
 */
export function controlSocketPath(stateDir: string): string {
  const dir = stateDir.length > 1 ? stateDir.replace(/\/+$/, "") : stateDir;
  if (dir === DEFAULT_STATE_DIR) return RUNTIME_CONTROL_SOCKET;
  return `${RUNTIME_DIR}/${instanceName(dir)}/control.sock`;
}
