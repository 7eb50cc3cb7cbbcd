import type { Command } from "./command.ts";

/** `hashwall install`: install the binary, systemd unit and default config */
export const installCommand: Command = {
  name: "install",
  summary: "install the binary, systemd unit and default config",
  usage:
    "Usage: hashwall install [options]\n\ninstall the binary, systemd unit and default config (not yet available in this build).",
  run() {
    console.error("hashwall install: not yet available in this build");
    return Promise.resolve(3);
  },
};
