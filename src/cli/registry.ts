/**
 * The subcommands, loaded on demand: `hashwall status` evaluates the status command and the client,
 * not the daemon, the UI and their libraries. Name and summary are here so `hashwall --help`
 * loads nothing; tests/unit/cli_registry_test.ts checks they match each module's own.
 *
 * @module
 */
import type { Command } from "./command.ts";

/** A subcommand as the dispatcher sees it before loading it. */
export interface CommandEntry {
  name: string;
  summary: string;
  /** Loads the module and returns its {@link Command}. */
  load(): Promise<Command>;
}

/** The registered subcommands, in `--help` order. */
export const COMMANDS: readonly CommandEntry[] = [
  {
    name: "run",
    summary: "run the daemon (kernel programs, integrity watch, UI)",
    load: async () => (await import("./run.ts")).runCommand,
  },
  {
    name: "check",
    summary: "validate the configuration; exit 0, or 1 with every error",
    load: async () => (await import("./check.ts")).checkCommand,
  },
  {
    name: "status",
    summary: "show mode, counters, lost events and attach points",
    load: async () => (await import("./status.ts")).statusCommand,
  },
  {
    name: "apps",
    summary: "list, allow, revoke and rehash approved apps",
    load: async () => (await import("./apps.ts")).appsCommand,
  },
  {
    name: "rules",
    summary: "list, reload and explain packet-filter rules",
    load: async () => (await import("./rules.ts")).rulesCommand,
  },
  {
    name: "events",
    summary: "show connection history (from the daemon or its database)",
    load: async () => (await import("./events.ts")).eventsCommand,
  },
  {
    name: "integrity",
    summary: "file-integrity baseline and check",
    load: async () => (await import("./integrity.ts")).integrityCommand,
  },
  {
    name: "mode",
    summary: "switch a running daemon between learning and enforcing",
    load: async () => (await import("./mode.ts")).modeCommand,
  },
  {
    name: "reload",
    summary: "re-read the configuration of a running daemon",
    load: async () => (await import("./reload.ts")).reloadCommand,
  },
  {
    name: "ui",
    summary: "print a one-time login link for the web UI",
    load: async () => (await import("./ui.ts")).uiCommand,
  },
  {
    name: "disable",
    summary: "detach and unpin an instance's kernel programs (emergency exit)",
    load: async () => (await import("./disable.ts")).disableCommand,
  },
  {
    name: "install",
    summary: "install the binary, systemd unit and default config",
    load: async () => (await import("./install.ts")).installCommand,
  },
  {
    name: "uninstall",
    summary: "remove what install put in place and disable the policy",
    load: async () => (await import("./uninstall.ts")).uninstallCommand,
  },
  {
    name: "packages",
    summary: "dpkg hook: follow signed package updates of approved apps",
    load: async () => (await import("./packages.ts")).packagesCommand,
  },
  {
    name: "version",
    summary: "print the hashwall version",
    load: async () => (await import("./version.ts")).versionCommand,
  },
];
