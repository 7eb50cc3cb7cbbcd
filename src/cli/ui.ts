/**
 * `hashwall ui url [--state DIR] [--viewer] [--ttl SECONDS]`: prints a one-time login link for
 * the running web UI. It reads the 0600 token file and the listen file from the state folder and
 * signs a fresh nonce + expiry (ui/auth/login_link.ts); the token itself never leaves the file.
 *
 * @module
 */
import { parseArgs, stringFlag, UsageError } from "./args.ts";
import { type Command, DEFAULT_STATE_DIR } from "./command.ts";
import { DEFAULT_LINK_TTL_S, makeLoginUrl, MAX_LINK_TTL_S } from "../../ui/auth/login_link.ts";
import { readListenInfo } from "../../ui/auth/listen_info.ts";
import { readTokens, TOKEN_FILE } from "../../ui/auth/tokens.ts";

const USAGE = `Usage: hashwall ui url [--state DIR] [--viewer] [--ttl SECONDS]

Prints a one-time login link for the web UI of the running daemon. The link works once and
expires after --ttl seconds (default ${DEFAULT_LINK_TTL_S}, at most ${MAX_LINK_TTL_S}).

Options:
  --state DIR      state folder of the instance (default ${DEFAULT_STATE_DIR})
  --viewer         a read-only session instead of an admin one
  --ttl SECONDS    lifetime of the link`;

/** `hashwall ui`: print a one-time login link for the web UI. */
export const uiCommand: Command = {
  name: "ui",
  summary: "print a one-time login link for the web UI",
  usage: USAGE,
  async run(argv) {
    const a = parseArgs(argv, { boolean: ["viewer"], string: ["state", "ttl"] });
    const [sub, ...extra] = a.positionals;
    if (sub !== "url") {
      throw new UsageError(
        sub === undefined ? "missing subcommand: url" : `unknown subcommand "${sub}"`,
      );
    }
    if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"`);
    const ttlText = stringFlag(a, "ttl", String(DEFAULT_LINK_TTL_S));
    const ttl = Number(ttlText);
    if (!/^\d+$/.test(ttlText) || ttl < 1 || ttl > MAX_LINK_TTL_S) {
      throw new UsageError(`--ttl must be 1..${MAX_LINK_TTL_S} seconds, got "${ttlText}"`);
    }
    const stateDir = stringFlag(a, "state", DEFAULT_STATE_DIR);
    const info = await readListenInfo(stateDir);
    let tokens;
    try {
      tokens = await readTokens(stateDir);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) {
        throw new Error(`${stateDir}/${TOKEN_FILE} not found: has the UI ever started here?`);
      }
      if (e instanceof Deno.errors.PermissionDenied) {
        throw new Error(`cannot read ${stateDir}/${TOKEN_FILE}: run as root`);
      }
      throw e;
    }
    const role = a.flags.viewer ? "viewer" : "admin";
    console.log(await makeLoginUrl(info.url, tokens, role, ttl));
    console.error(`(${role} link, works once, expires in ${ttl} s)`);
    return 0;
  },
};
