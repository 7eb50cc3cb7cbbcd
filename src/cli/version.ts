import type { Command } from "./command.ts";
import { VERSION } from "../version.ts";

/** `hashwall version`: prints the version (also `hashwall --version`). */
export const versionCommand: Command = {
  name: "version",
  summary: "print the hashwall version",
  usage: "Usage: hashwall version [--json]\n\nPrints the version of this hashwall build.",
  run(argv) {
    if (argv.includes("--json")) console.log(JSON.stringify({ version: VERSION }));
    else console.log(`hashwall ${VERSION}`);
    return Promise.resolve(0);
  },
};
