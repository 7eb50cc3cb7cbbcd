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

/** Default state folder (pins, database, tokens, control socket). */
export const DEFAULT_STATE_DIR = "/var/lib/hashwall";
/** Default config folder. */
export const DEFAULT_CONFIG_DIR = "/etc/hashwall";
