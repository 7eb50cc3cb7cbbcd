/**
 * `hashwall install`: puts the running binary, the embedded systemd unit and the default config
 * in place (optionally under another root folder), then prints the `systemctl` commands that
 * start the service. An existing config is never overwritten.
 *
 * @module
 */
import unitText from "../../config/hashwall.service" with { type: "text" };
import type { Command } from "./command.ts";
import { DEFAULT_CONFIG_DIR, DEFAULT_STATE_DIR } from "./command.ts";
import { parseArgs, stringFlag, UsageError } from "./args.ts";
import { writeFileAtomic } from "../config/atomic.ts";
import { configPath } from "../config/load.ts";
import { writeDefaultConfig } from "../config/defaults.ts";
import { APT_HOOK_PATH, aptHookText } from "../packages/apt_hook.ts";
import { exists } from "../base/fs.ts";

/** The systemd unit carried by this binary (config/hashwall.service, byte for byte). */
export const HASHWALL_UNIT: string = unitText;

/** Where `hashwall install` puts things, as seen from inside the target system. */
export const INSTALL_PATHS = {
  /** The binary systemd starts. */
  binary: "/usr/local/sbin/hashwall",
  /** The unit file. */
  unit: "/etc/systemd/system/hashwall.service",
  /** The config folder (rules.toml, apps.toml, apps.d/). */
  config: DEFAULT_CONFIG_DIR,
  /** The default instance's state folder (systemd StateDirectory=). */
  state: DEFAULT_STATE_DIR,
  /** Where the self-extracting launcher unpacks (systemd CacheDirectory=). */
  cache: "/var/cache/hashwall",
  /** The dpkg hook (Debian family: written when /etc/apt exists). */
  aptHook: APT_HOOK_PATH,
} as const;

/** The commands that start the service once installed. */
export const START_COMMANDS: readonly string[] = [
  "systemctl daemon-reload",
  "systemctl enable --now hashwall.service",
];

/**
 * Resolves `--root`: an existing folder, returned absolute and without a trailing slash ("" for
 * the real root, so `root + INSTALL_PATHS.x` is always the target path).
 *
 * @example
 * ```ts
 * resolveRoot(undefined); // ""
 * resolveRoot("/tmp/img/"); // "/tmp/img"
 * ```
 */
export function resolveRoot(flag: string | undefined): string {
  if (flag === undefined) return "";
  if (flag === "") throw new UsageError("--root needs a folder");
  const abs = flag.startsWith("/") ? flag : `${Deno.cwd()}/${flag}`;
  let info: Deno.FileInfo;
  try {
    info = Deno.statSync(abs);
  } catch {
    throw new UsageError(`--root ${flag}: no such folder`);
  }
  if (!info.isDirectory) throw new UsageError(`--root ${flag}: not a folder`);
  const real = Deno.realPathSync(abs);
  return real === "/" ? "" : real;
}

/**
 * The hashwall executable this process runs from: `HASHWALL_EXE` (set by the self-extracting
 * launcher to its own path), else the executable itself (a `deno compile` binary). Refuses the
 * Deno runtime of a source checkout, which is not hashwall.
 */
export function runningBinary(
  env: string | undefined = Deno.env.get("HASHWALL_EXE"),
  execPath: string = Deno.execPath(),
): string {
  if (env) return env;
  const base = execPath.slice(execPath.lastIndexOf("/") + 1);
  if (base === "deno") {
    throw new UsageError(
      `this process runs on the Deno runtime (${execPath}), not from a hashwall binary; ` +
        "pass --binary PATH (e.g. dist/hashwall from ./build.sh build)",
    );
  }
  return execPath;
}

/** Checks that `path` is an executable regular file; throws an error naming what is wrong. */
export function checkBinary(path: string): void {
  let info: Deno.FileInfo;
  try {
    info = Deno.statSync(path);
  } catch {
    throw new Error(`binary ${path}: no such file`);
  }
  if (!info.isFile) throw new Error(`binary ${path}: not a regular file`);
  if (info.size === 0) throw new Error(`binary ${path}: empty file`);
  if (((info.mode ?? 0) & 0o111) === 0) throw new Error(`binary ${path}: not executable`);
}

function sameFile(a: string, b: string): boolean {
  try {
    return Deno.realPathSync(a) === Deno.realPathSync(b);
  } catch {
    return false;
  }
}

/**
 * Copies `src` to `dest` as root-owned 0755 through a temp file and a rename, so a running copy
 * of the old binary is never written into ("text file busy") and a crash leaves the old one.
 */
async function installBinary(src: string, dest: string): Promise<void> {
  const dir = dest.slice(0, dest.lastIndexOf("/"));
  await Deno.mkdir(dir, { recursive: true, mode: 0o755 });
  const tmp = `${dir}/.hashwall.${crypto.randomUUID()}.tmp`;
  try {
    await Deno.copyFile(src, tmp);
    await Deno.chown(tmp, 0, 0);
    await Deno.chmod(tmp, 0o755);
    await Deno.rename(tmp, dest);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw e;
  }
}

async function installUnit(dest: string): Promise<void> {
  await Deno.mkdir(dest.slice(0, dest.lastIndexOf("/")), { recursive: true, mode: 0o755 });
  await writeFileAtomic(dest, HASHWALL_UNIT, 0o644);
  // The mode given to the temp file passes through the umask: set it exactly.
  await Deno.chown(dest, 0, 0);
  await Deno.chmod(dest, 0o644);
}

const USAGE = `Usage: hashwall install [--root DIR] [--binary PATH] [--dry-run]

Installs hashwall as a systemd service:
  ${INSTALL_PATHS.binary}              this binary (mode 0755, owner root)
  ${INSTALL_PATHS.unit}  the unit carried by this binary (mode 0644)
  ${INSTALL_PATHS.config}/                        the default config (rules.toml, apps.toml, apps.d/),
                                        only the files that do not exist yet
  ${INSTALL_PATHS.aptHook}       apt's DPkg::Pre-/Post-Invoke hook (when /etc/apt exists), so
                                        approvals of package files follow signed upgrades
then prints the systemctl commands that start it. Running it again upgrades the binary and the
unit and keeps the config.

Options:
  --root DIR     install into DIR as the root folder (a system image, or tests)
  --binary PATH  the hashwall binary to install (default: the one running, i.e. $HASHWALL_EXE
                 of the self-extracting launcher or this executable)
  --dry-run      print what would be done and change nothing`;

/** `hashwall install`: install the binary, systemd unit and default config */
export const installCommand: Command = {
  name: "install",
  summary: "install the binary, systemd unit and default config",
  usage: USAGE,
  async run(argv) {
    const a = parseArgs(argv, { boolean: ["dry-run"], string: ["root", "binary"] });
    if (a.positionals.length) throw new UsageError(`unexpected "${a.positionals[0]}"`);
    const dry = a.flags["dry-run"] === true;
    const root = resolveRoot(stringFlag(a, "root"));
    const src = stringFlag(a, "binary") ?? runningBinary();
    checkBinary(src);
    if (!dry && Deno.uid() !== 0) {
      throw new Error("must run as root (try --dry-run to see what it would do)");
    }
    const binary = root + INSTALL_PATHS.binary;
    const unit = root + INSTALL_PATHS.unit;
    const config = root + INSTALL_PATHS.config;
    const would = dry ? "would " : "";

    if (sameFile(src, binary)) console.log(`${binary}: already this binary, left as is`);
    else {
      if (!dry) await installBinary(src, binary);
      console.log(`${would}install ${binary} (0755) from ${src}`);
    }

    if (!dry) await installUnit(unit);
    console.log(`${would}install ${unit} (0644)`);

    if (exists(root + "/etc/apt/apt.conf.d")) {
      if (!dry) {
        await writeFileAtomic(
          root + INSTALL_PATHS.aptHook,
          aptHookText(INSTALL_PATHS.binary),
          0o644,
        );
        await Deno.chmod(root + INSTALL_PATHS.aptHook, 0o644);
      }
      console.log(`${would}install ${root + INSTALL_PATHS.aptHook} (0644)`);
    }

    const files = ["rules.toml", "apps.toml"].map((f) => configPath(config, f));
    const written = dry ? files.filter((f) => !exists(f)) : await writeDefaultConfig(config);
    for (const f of files) {
      console.log(written.includes(f) ? `${would}write ${f} (0644)` : `keep existing ${f}`);
    }

    console.log(
      `\n${dry ? "Then start" : "Start"} it${root ? ` (inside the system at ${root})` : ""} with:`,
    );
    for (const c of START_COMMANDS) console.log(`  ${c}`);
    return 0;
  },
};
