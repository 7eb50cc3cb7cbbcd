import type { Command } from "./command.ts";

/** `hashwall run`: run the daemon (kernel programs, integrity watch, UI) */
export const runCommand: Command = {
  name: "run",
  summary: "run the daemon (kernel programs, integrity watch, UI)",
  usage:
    "Usage: hashwall run [options]\n\nrun the daemon (kernel programs, integrity watch, UI) (not yet available in this build).",
  run() {
    console.error("hashwall run: not yet available in this build");
    return Promise.resolve(3);
  },
};
