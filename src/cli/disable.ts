import type { Command } from "./command.ts";

/** `hashwall disable`: detach and unpin an instance's kernel programs (emergency exit) */
export const disableCommand: Command = {
  name: "disable",
  summary: "detach and unpin an instance's kernel programs (emergency exit)",
  usage:
    "Usage: hashwall disable [options]\n\ndetach and unpin an instance's kernel programs (emergency exit) (not yet available in this build).",
  run() {
    console.error("hashwall disable: not yet available in this build");
    return Promise.resolve(3);
  },
};
