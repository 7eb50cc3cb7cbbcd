import type { Command } from "./command.ts";

/** `hashwall status`: show mode, counters, lost events and attach points */
export const statusCommand: Command = {
  name: "status",
  summary: "show mode, counters, lost events and attach points",
  usage:
    "Usage: hashwall status [options]\n\nshow mode, counters, lost events and attach points (not yet available in this build).",
  run() {
    console.error("hashwall status: not yet available in this build");
    return Promise.resolve(3);
  },
};
