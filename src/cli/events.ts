import type { Command } from "./command.ts";

/** `hashwall events`: show connection and integrity history */
export const eventsCommand: Command = {
  name: "events",
  summary: "show connection and integrity history",
  usage:
    "Usage: hashwall events [options]\n\nshow connection and integrity history (not yet available in this build).",
  run() {
    console.error("hashwall events: not yet available in this build");
    return Promise.resolve(3);
  },
};
