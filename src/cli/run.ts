import type { Command } from "./command.ts";
import { DEFAULT_CONFIG_DIR, DEFAULT_STATE_DIR } from "./command.ts";
import { parseArgs, stringFlag, UsageError } from "./args.ts";
import { cgroup2Mount } from "../kernel/cgroup.ts";
import { writeDefaultConfig } from "../config/defaults.ts";
import { runDaemon } from "../daemon/lifecycle.ts";
import type { Mode } from "../config/model.ts";

const USAGE = `Usage: hashwall run [options]

Runs the daemon: loads the kernel programs (or takes over the pinned ones of a previous run),
approves the apps whose hashes match, watches them, records history and serves the web UI.

Options:
  --config DIR        config folder (default ${DEFAULT_CONFIG_DIR})
  --default-config    use the embedded default config, written once to STATE/default-config
  --state DIR         state folder: pins, database, tokens, socket (default ${DEFAULT_STATE_DIR})
  --mode MODE         learning | enforcing (overrides rules.toml)
  --cgroup PATH       cgroup2 folder to attach to (default: the cgroup2 mount)
  --ui HOST:PORT|off  web UI address (overrides [ui] listen)
  --interfaces LIST   packet-filter interfaces, comma-separated, or "none" (overrides
                      [defaults] interfaces; the rules still apply to connects of apps)
  --netns PATH        attach the packet filter inside this network namespace (testing)
  --log-format F      journal (default: <N> priority prefixes) | json`;

/** Parses `--ui`: "off", "127.0.0.1:7447", "[::1]:7447" or "localhost:7447". */
export function parseUiFlag(v: string): { host: string | null; port: number } {
  if (v === "off") return { host: null, port: 0 };
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(v);
  if (!m) throw new UsageError(`--ui must be HOST:PORT or off, got "${v}"`);
  const host = m[1] ?? m[2];
  const port = Number(m[3]);
  if (!["127.0.0.1", "::1", "localhost"].includes(host)) {
    throw new UsageError(`--ui must listen on a loopback address (127.0.0.1, ::1, localhost)`);
  }
  if (port > 65535) throw new UsageError(`--ui port must be 0..65535`);
  return { host, port };
}

/** `hashwall run`: the daemon. */
export const runCommand: Command = {
  name: "run",
  summary: "run the daemon (kernel programs, integrity watch, UI)",
  usage: USAGE,
  async run(argv) {
    const a = parseArgs(argv, {
      boolean: ["default-config"],
      string: ["config", "state", "mode", "cgroup", "ui", "log-format", "interfaces", "netns"],
    });
    if (a.positionals.length) throw new UsageError(`unexpected "${a.positionals[0]}"`);
    const mode = stringFlag(a, "mode") as Mode | undefined;
    if (mode && mode !== "learning" && mode !== "enforcing") {
      throw new UsageError(`--mode must be learning or enforcing`);
    }
    const logFormat = stringFlag(a, "log-format", "journal");
    if (logFormat !== "journal" && logFormat !== "json") {
      throw new UsageError(`--log-format must be journal or json`);
    }
    const stateDir = stringFlag(a, "state", DEFAULT_STATE_DIR);
    let configDir = stringFlag(a, "config", DEFAULT_CONFIG_DIR);
    if (a.flags["default-config"]) {
      if (a.flags.config) throw new UsageError("--config and --default-config exclude each other");
      Deno.mkdirSync(stateDir, { recursive: true, mode: 0o700 });
      configDir = `${stateDir}/default-config`;
      Deno.mkdirSync(configDir, { recursive: true, mode: 0o700 });
      await writeDefaultConfig(configDir);
    }
    const ui = a.flags.ui ? parseUiFlag(stringFlag(a, "ui")!) : undefined;
    const ifaceFlag = stringFlag(a, "interfaces");
    const interfaces = ifaceFlag === undefined
      ? undefined
      : ifaceFlag === "none"
      ? []
      : ifaceFlag.split(",").map((s) => s.trim()).filter(Boolean);
    return await runDaemon({
      configDir,
      stateDir,
      cgroup: stringFlag(a, "cgroup") ?? cgroup2Mount(),
      mode,
      ui,
      interfaces,
      netns: stringFlag(a, "netns"),
      logFormat,
    });
  },
};
