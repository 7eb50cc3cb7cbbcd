import type { Command } from "./command.ts";

/** `hashwall reload`: re-read the configuration of a running daemon */
export const reloadCommand: Command = {
  name: "reload",
  summary: "re-read the configuration of a running daemon",
  usage:
    "Usage: hashwall reload [options]\n\nre-read the configuration of a running daemon (not yet available in this build).",
  run() {
    console.error("hashwall reload: not yet available in this build");
    return Promise.resolve(3);
  },
};
