/** Every subcommand, in the order `hashwall --help` lists them. */
import type { Command } from "./command.ts";
import { runCommand } from "./run.ts";
import { checkCommand } from "./check.ts";
import { statusCommand } from "./status.ts";
import { appsCommand } from "./apps.ts";
import { rulesCommand } from "./rules.ts";
import { eventsCommand } from "./events.ts";
import { integrityCommand } from "./integrity.ts";
import { modeCommand } from "./mode.ts";
import { reloadCommand } from "./reload.ts";
import { uiCommand } from "./ui.ts";
import { disableCommand } from "./disable.ts";
import { installCommand } from "./install.ts";
import { uninstallCommand } from "./uninstall.ts";
import { versionCommand } from "./version.ts";
import { packagesCommand } from "./packages.ts";

/** The registered subcommands. */
export const COMMANDS: Command[] = [
  runCommand,
  checkCommand,
  statusCommand,
  appsCommand,
  rulesCommand,
  eventsCommand,
  integrityCommand,
  modeCommand,
  reloadCommand,
  uiCommand,
  disableCommand,
  installCommand,
  uninstallCommand,
  packagesCommand,
  versionCommand,
];
