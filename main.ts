/**
 * hashwall — a Linux host application firewall with an integrity focus.
 *
 * Entry point: parses the command line and dispatches to a subcommand in src/cli/.
 *
 * @module
 */
import { runCli } from "./src/cli/mod.ts";

if (import.meta.main) {
  Deno.exit(await runCli(Deno.args));
}
