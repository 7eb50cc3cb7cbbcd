import type { Command } from "./command.ts";

/** `hashwall integrity`: file-integrity baseline and check */
export const integrityCommand: Command = {
  name: "integrity",
  summary: "file-integrity baseline and check",
  usage:
    "Usage: hashwall integrity [options]\n\nfile-integrity baseline and check (not yet available in this build).",
  run() {
    console.error("hashwall integrity: not yet available in this build");
    return Promise.resolve(3);
  },
};
