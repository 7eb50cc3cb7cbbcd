import type { Command } from "./command.ts";

/** `hashwall check`: validate the configuration; exit 0, or 1 with every error */
export const checkCommand: Command = {
  name: "check",
  summary: "validate the configuration; exit 0, or 1 with every error",
  usage:
    "Usage: hashwall check [options]\n\nvalidate the configuration; exit 0, or 1 with every error (not yet available in this build).",
  run() {
    console.error("hashwall check: not yet available in this build");
    return Promise.resolve(3);
  },
};
