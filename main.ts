/**
 * hashwall — a Linux host application firewall with an integrity focus.
 *
 * Entry point: parses the command line and dispatches to a subcommand in src/cli/.
 *
 * @module
 */
// First: the daemon's SIGHUP guard must exist before the rest of the program evaluates.
import "./src/daemon/early_hup.ts";
import { runCli } from "./src/cli/mod.ts";

if (import.meta.main) {
  Deno.exit(await runCli(Deno.args));
}
