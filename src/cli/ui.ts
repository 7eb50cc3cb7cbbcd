import type { Command } from "./command.ts";

/** `hashwall ui`: print a one-time login link for the web UI */
export const uiCommand: Command = {
  name: "ui",
  summary: "print a one-time login link for the web UI",
  usage:
    "Usage: hashwall ui [options]\n\nprint a one-time login link for the web UI (not yet available in this build).",
  run() {
    console.error("hashwall ui: not yet available in this build");
    return Promise.resolve(3);
  },
};
