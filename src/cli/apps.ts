import type { Command } from "./command.ts";

/** `hashwall apps`: list, allow, revoke and rehash approved apps */
export const appsCommand: Command = {
  name: "apps",
  summary: "list, allow, revoke and rehash approved apps",
  usage:
    "Usage: hashwall apps [options]\n\nlist, allow, revoke and rehash approved apps (not yet available in this build).",
  run() {
    console.error("hashwall apps: not yet available in this build");
    return Promise.resolve(3);
  },
};
