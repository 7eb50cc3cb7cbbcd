/** The shape every subcommand module exports (one file per subcommand under src/cli/). */
export interface Command {
  /** The word typed after `hashwall`. */
  name: string;
  /** One line for `hashwall --help`. */
  summary: string;
  /** The full `--help` text of this subcommand. */
  usage: string;
  /** Runs the command; resolves to the process exit code. */
  run(argv: string[]): Promise<number>;
}

// The default folders live in src/base/paths.ts (the daemon and the client need them too).
export { DEFAULT_CONFIG_DIR, DEFAULT_STATE_DIR } from "../base/paths.ts";
