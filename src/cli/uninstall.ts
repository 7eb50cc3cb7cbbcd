/**
 * `hashwall uninstall`: the reverse of `hashwall install`. Detaches and unpins the instance's
 * kernel programs (as `hashwall disable` does), removes the binary, the unit, its enable links and
 * the launcher's unpacked copy; keeps the config and the history unless `--purge`.
 *
 * @module
 */
import type { Command } from "./command.ts";
import { parseArgs, stringFlag, UsageError } from "./args.ts";
import { INSTALL_PATHS, resolveRoot } from "./install.ts";
import { disableInstance } from "../kernel/app_control.ts";
import { instanceName, type PinPaths, pinPaths } from "../kernel/pins.ts";
import { exists } from "../base/fs.ts";

/** What {@link uninstallPlan} found to remove. */
export interface UninstallPlan {
  /** Files to remove (binary, unit, enable symlinks), only those present. */
  files: string[];
  /** Folders to remove recursively (cache; config and state with --purge), only those present. */
  folders: string[];
  /** Folders kept (config and state without --purge), only those present. */
  kept: string[];
  /** The kernel instance to detach and unpin, or null when the kernel is left alone. */
  instance: string | null;
}

/**
 * Symlinks named hashwall.service in `<unitDir>/*.wants|*.requires/` (made by `systemctl
 * enable`); once the unit file is gone they would dangle.
 */
function enableLinks(unitDir: string): string[] {
  const name = INSTALL_PATHS.unit.slice(INSTALL_PATHS.unit.lastIndexOf("/") + 1);
  const out: string[] = [];
  let entries: Deno.DirEntry[] = [];
  try {
    entries = [...Deno.readDirSync(unitDir)];
  } catch {
    return out;
  }
  for (const e of entries) {
    if (!e.isDirectory || !/\.(wants|requires)$/.test(e.name)) continue;
    const link = `${unitDir}/${e.name}/${name}`;
    try {
      if (Deno.lstatSync(link).isSymlink) out.push(link);
    } catch { /* not enabled there */ }
  }
  return out.sort();
}

/**
 * Works out what uninstalling from `root` ("" = this system) removes. `stateDir` names the
 * instance whose pins go; without it the default instance, except under another root, whose
 * system is not the one running here (then the kernel is left alone).
 */
export function uninstallPlan(root: string, purge: boolean, stateDir?: string): UninstallPlan {
  const unitDir = root + INSTALL_PATHS.unit.slice(0, INSTALL_PATHS.unit.lastIndexOf("/"));
  const files = [
    root + INSTALL_PATHS.binary,
    root + INSTALL_PATHS.unit,
    root + INSTALL_PATHS.aptHook,
    ...enableLinks(unitDir),
  ]
    .filter(exists);
  const keepOrPurge = [root + INSTALL_PATHS.config, root + INSTALL_PATHS.state].filter(exists);
  const folders = [root + INSTALL_PATHS.cache].filter(exists);
  if (purge) folders.push(...keepOrPurge);
  const instance = stateDir !== undefined
    ? instanceName(stateDir)
    : root === ""
    ? instanceName(INSTALL_PATHS.state)
    : null;
  return { files, folders, kept: purge ? [] : keepOrPurge, instance };
}

/** The pins `disableInstance` would remove (for --dry-run). */
function pinnedEntries(pins: PinPaths): string[] {
  const out: string[] = [];
  for (const dir of [pins.links, pins.maps]) {
    try {
      for (const e of Deno.readDirSync(dir)) out.push(`${dir}/${e.name}`);
    } catch { /* nothing pinned there */ }
  }
  return out;
}

const USAGE = `Usage: hashwall uninstall [--root DIR] [--state DIR] [--purge] [--dry-run]

Reverses hashwall install:
  - detaches and unpins the kernel programs of the default instance (like hashwall disable), so
    traffic is no longer filtered by hashwall
  - removes ${INSTALL_PATHS.binary}, ${INSTALL_PATHS.unit} and its enable links
  - removes ${INSTALL_PATHS.aptHook} (the dpkg hook)
  - removes ${INSTALL_PATHS.cache} (the unpacked runtime of the self-extracting binary)
  - keeps ${INSTALL_PATHS.config} (config) and ${INSTALL_PATHS.state} (history) unless --purge
then prints the systemctl commands that stop the running service.

Options:
  --root DIR   uninstall from the system at DIR; its kernel state is not touched here unless
               --state is given too
  --state DIR  disable the instance of this state folder (default ${INSTALL_PATHS.state})
  --purge      also remove the config and the history
  --dry-run    print what would be done and change nothing`;

/** `hashwall uninstall`: remove what install put in place and disable the policy */
export const uninstallCommand: Command = {
  name: "uninstall",
  summary: "remove what install put in place and disable the policy",
  usage: USAGE,
  run(argv) {
    const a = parseArgs(argv, { boolean: ["dry-run", "purge"], string: ["root", "state"] });
    if (a.positionals.length) throw new UsageError(`unexpected "${a.positionals[0]}"`);
    const dry = a.flags["dry-run"] === true;
    const state = stringFlag(a, "state");
    if (state === "") throw new UsageError("--state needs a folder");
    const root = resolveRoot(stringFlag(a, "root"));
    if (!dry && Deno.uid() !== 0) {
      throw new Error("must run as root (try --dry-run to see what it would do)");
    }
    const plan = uninstallPlan(root, a.flags.purge === true, state);
    const would = dry ? "would " : "";

    if (plan.instance === null) {
      console.log(`kernel: left alone (--root ${root}: pass --state DIR to disable an instance)`);
    } else {
      const pins = pinPaths(plan.instance);
      const removed = dry ? pinnedEntries(pins) : disableInstance(pins);
      console.log(
        removed.length
          ? `${would}disable instance ${plan.instance}: ${would}remove ${removed.length} pins`
          : `kernel: nothing pinned for instance ${plan.instance}`,
      );
    }
    for (const f of plan.files) {
      if (!dry) Deno.removeSync(f);
      console.log(`${would}remove ${f}`);
    }
    for (const d of plan.folders) {
      if (!dry) Deno.removeSync(d, { recursive: true });
      console.log(`${would}remove ${d}/`);
    }
    for (const k of plan.kept) console.log(`keep ${k}/ (--purge removes it)`);
    if (plan.files.length === 0 && plan.folders.length === 0) {
      console.log(`nothing installed under ${root || "/"}`);
    }
    if (root === "") {
      console.log("\nIf the service still runs, stop it and forget the unit with:");
      console.log("  systemctl stop hashwall.service\n  systemctl daemon-reload");
    }
    return Promise.resolve(0);
  },
};
