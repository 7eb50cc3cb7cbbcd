/**
 * The folders hashwall uses when none is given. Kept at the bottom so the daemon, the CLI and the
 * control-socket client agree without importing each other.
 *
 * @module
 */

/** Default state folder (pins, database, tokens, control socket). */
export const DEFAULT_STATE_DIR = "/var/lib/hashwall";
/** Default config folder. */
export const DEFAULT_CONFIG_DIR = "/etc/hashwall";
