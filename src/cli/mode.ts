import type { Command } from "./command.ts";

/** `hashwall mode`: switch a running daemon between learning and enforcing */
export const modeCommand: Command = {
  name: "mode",
  summary: "switch a running daemon between learning and enforcing",
  usage:
    "Usage: hashwall mode [options]\n\nswitch a running daemon between learning and enforcing (not yet available in this build).",
  run() {
    console.error("hashwall mode: not yet available in this build");
    return Promise.resolve(3);
  },
};
