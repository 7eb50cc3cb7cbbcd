import type { Command } from "./command.ts";

/** `hashwall uninstall`: remove what install put in place and disable the policy */
export const uninstallCommand: Command = {
  name: "uninstall",
  summary: "remove what install put in place and disable the policy",
  usage:
    "Usage: hashwall uninstall [options]\n\nremove what install put in place and disable the policy (not yet available in this build).",
  run() {
    console.error("hashwall uninstall: not yet available in this build");
    return Promise.resolve(3);
  },
};
