import type { Command } from "./command.ts";

/** `hashwall rules`: list, reload and explain packet-filter rules */
export const rulesCommand: Command = {
  name: "rules",
  summary: "list, reload and explain packet-filter rules",
  usage:
    "Usage: hashwall rules [options]\n\nlist, reload and explain packet-filter rules (not yet available in this build).",
  run() {
    console.error("hashwall rules: not yet available in this build");
    return Promise.resolve(3);
  },
};
