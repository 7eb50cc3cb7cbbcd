/**
 * Runs a real hashwall daemon for end-to-end tests: its own config folder, state folder (so its
 * own pins and socket), and a test cgroup. `stop()` ends it and removes everything it left:
 * pins (hashwall disable), the cgroup, the folders — on every path.
 *
 * The daemon runs from source (`deno run main.ts`), or from the built artifact when
 * HASHWALL_BIN is set (build.sh test sets it to dist/hashwall where that matters).
 *
 * @module
 */
import { v8FlagsArg } from "../../src/v8_flags.ts";
import { createTestCgroup, removeTestParentIfEmpty, type TestCgroup } from "./cgroup.ts";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;

/** What to put in the test config. */
export interface TestDaemonOptions {
  mode?: "learning" | "enforcing";
  /** Extra TOML appended to rules.toml (rules, integrity watches). */
  rulesExtra?: string;
  /** Extra keys for rules.toml's [defaults] table (e.g. `inbound = "deny"`). */
  defaultsExtra?: string;
  /** `[[app]]` entries. */
  apps?: {
    name: string;
    path: string;
    sha256: string;
    inherit?: boolean;
    interpreter?: boolean;
    onlyVia?: string[];
  }[];
  /** Start the web UI on a free loopback port. */
  ui?: boolean;
  allowLoopback?: boolean;
  /**
   * Packet-filter interfaces (`--interfaces`). Default: none, so a test daemon never attaches
   * to the host's interfaces; give veths of a test namespace together with `netns`. "all" omits
   * the flag (the daemon follows every interface as they come and go): only with `netns`.
   */
  interfaces?: string[] | "all" | "config";
  /** Network namespace (a /run/netns path) the packet filter attaches in. */
  netns?: string;
  /**
   * Runs the daemon itself inside this network namespace (`nsenter --net=PATH`, a /run/netns
   * path), as a container or systemd's NetworkNamespacePath= would. `interfaces: "config"` then
   * leaves the interfaces to `[defaults] interfaces`.
   */
  enterNetns?: string;
  /** The hashwall command for daemon and CLI (e.g. `[DIST_PATH]`); default hashwallCommand(). */
  command?: string[];
  /**
   * Run on this existing config folder (kept at stop) instead of writing one from the options
   * above (e.g. a folder an Ansible role put in place).
   */
  configDir?: string;
  /** Extra environment for the daemon and CLI runs (e.g. HASHWALL_CACHE_DIR). */
  env?: Record<string, string>;
}

/** A running test daemon. */
export interface TestDaemon extends AsyncDisposable {
  configDir: string;
  stateDir: string;
  cg: TestCgroup;
  /** Base URL of the UI when started with `ui: true`. */
  uiUrl?: string;
  process: Deno.ChildProcess;
  /** Everything the daemon logged so far (JSON lines). */
  logs(): string[];
  /** Runs `hashwall ARGS` against this daemon (adds --state/--config). */
  cli(args: string[], opts?: { stdin?: string }): Promise<CliResult>;
  /** Sends a signal. */
  signal(sig: Deno.Signal): void;
  /** Stops the daemon (SIGTERM) and cleans up everything. */
  stop(): Promise<void>;
  /** Waits until a log line (from line `from` on) matches. */
  waitForLog(re: RegExp, timeoutMs?: number, from?: number): Promise<string>;
  /** Starts the daemon again on the same config, state and cgroup (after it stopped or died). */
  restart(): Promise<void>;
}

/** Result of a CLI run. */
export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** The command that runs hashwall: dist binary or `deno run -A main.ts`. */
export function hashwallCommand(): string[] {
  const bin = Deno.env.get("HASHWALL_BIN");
  return bin ? [bin] : [Deno.execPath(), "run", "-A", v8FlagsArg(), MAIN];
}

/** Runs the hashwall CLI. */
export async function runHashwall(
  args: string[],
  opts: { stdin?: string; command?: string[]; env?: Record<string, string> } = {},
): Promise<CliResult> {
  const [cmd, ...pre] = opts.command ?? hashwallCommand();
  const child = new Deno.Command(cmd, {
    args: [...pre, ...args],
    stdin: opts.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", ...opts.env },
  }).spawn();
  if (opts.stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(opts.stdin));
    await w.close();
  }
  const out = await child.output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** SHA-256 of a file, hex. */
export async function sha256Of(path: string): Promise<string> {
  const data = await Deno.readFile(path);
  const d = await crypto.subtle.digest("SHA-256", data);
  return [...new Uint8Array(d)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** Writes a root-owned, 0600 test config. */
export async function writeTestConfig(dir: string, o: TestDaemonOptions): Promise<void> {
  await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
  await Deno.chmod(dir, 0o700);
  const rules = [
    "[defaults]",
    `mode = "${o.mode ?? "learning"}"`,
    `allow_loopback = ${o.allowLoopback ?? false}`,
    o.defaultsExtra ?? "",
    "",
    "[ui]",
    `listen = "127.0.0.1:7447"`,
    "",
    o.rulesExtra ?? "",
  ].join("\n");
  const apps = (o.apps ?? []).map((a) =>
    `[[app]]\nname = "${a.name}"\npath = "${a.path}"\nsha256 = "${a.sha256}"\ninherit = ${
      a.inherit ?? false
    }\ninterpreter = ${a.interpreter ?? false}\n${
      a.onlyVia ? `only_via = ${JSON.stringify(a.onlyVia)}\n` : ""
    }`
  ).join("\n");
  await Deno.writeTextFile(`${dir}/rules.toml`, rules, { mode: 0o600 });
  await Deno.writeTextFile(`${dir}/apps.toml`, apps, { mode: 0o600 });
}

function interfaceArgs(o: TestDaemonOptions): string[] {
  if (o.interfaces === "config") {
    // Never the host's interfaces: the config decides only inside a test namespace.
    if (!o.netns && !o.enterNetns) throw new Error('startTestDaemon: "config" needs a namespace');
    return [];
  }
  if (o.interfaces === "all") {
    // Never the host's interfaces: following "all" is allowed only inside a test namespace.
    if (!o.netns) throw new Error('startTestDaemon: interfaces "all" needs netns');
    return [];
  }
  return ["--interfaces", o.interfaces?.length ? o.interfaces.join(",") : "none"];
}

/** Starts a daemon and waits until it is ready. */
export async function startTestDaemon(o: TestDaemonOptions = {}): Promise<TestDaemon> {
  const root = await Deno.makeTempDir({ prefix: "hw-daemon-" });
  const configDir = o.configDir ?? `${root}/config`;
  const stateDir = `${root}/state`;
  if (!o.configDir) await writeTestConfig(configDir, o);
  const cg = await createTestCgroup("daemon");
  const [cmd, ...pre] = [
    ...(o.enterNetns ? ["nsenter", `--net=${o.enterNetns}`, "--"] : []),
    ...(o.command ?? hashwallCommand()),
  ];
  const args = [
    ...pre,
    "run",
    "--config",
    configDir,
    "--state",
    stateDir,
    "--cgroup",
    cg.path,
    "--log-format",
    "json",
    "--ui",
    o.ui ? "127.0.0.1:0" : "off",
    ...interfaceArgs(o),
    ...(o.netns ? ["--netns", o.netns] : []),
  ];
  const lines: string[] = [];
  const waiters: { re: RegExp; resolve: (l: string) => void }[] = [];
  let exited = false;
  let process!: Deno.ChildProcess;
  let status!: Promise<Deno.CommandStatus>;
  let pumps!: Promise<unknown>;
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    let buf = "";
    const dec = new TextDecoder();
    for await (const chunk of stream) {
      buf += dec.decode(chunk, { stream: true });
      let i;
      while ((i = buf.indexOf("\n")) !== -1) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        lines.push(line);
        for (const w of [...waiters]) {
          if (w.re.test(line)) {
            waiters.splice(waiters.indexOf(w), 1);
            w.resolve(line);
          }
        }
      }
    }
  };
  const launch = () => {
    exited = false;
    process = new Deno.Command(cmd, {
      args,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1", ...o.env },
    }).spawn();
    pumps = Promise.all([pump(process.stdout), pump(process.stderr)]);
    status = process.status.then((s) => {
      exited = true;
      return s;
    });
  };
  launch();

  const waitForLog = (re: RegExp, timeoutMs = 30_000, from = 0): Promise<string> => {
    const hit = lines.slice(from).find((l) => re.test(l));
    if (hit) return Promise.resolve(hit);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        reject(new Error(`timed out waiting for ${re}; daemon logged:\n${lines.join("\n")}`));
      }, timeoutMs);
      waiters.push({
        re,
        resolve: (l) => {
          clearTimeout(t);
          resolve(l);
        },
      });
      void status.then(() => {
        setTimeout(() => {
          clearTimeout(t);
          reject(new Error(`daemon exited; it logged:\n${lines.join("\n")}`));
        }, 200);
      });
    });
  };
  const readyRe = o.ui ? /web UI on/ : /"msg":"hashwall \d/;

  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    try {
      if (!exited) process.kill("SIGTERM");
      const killer = setTimeout(() => {
        try {
          process.kill("SIGKILL");
        } catch { /* gone */ }
      }, 15_000);
      await status;
      clearTimeout(killer);
      await pumps.catch(() => {});
    } finally {
      await runHashwall(["disable", "--state", stateDir]);
      await cg.remove();
      await removeTestParentIfEmpty();
      await Deno.remove(root, { recursive: true }).catch(() => {});
    }
  };

  const d: TestDaemon = {
    configDir,
    stateDir,
    cg,
    get process() {
      return process;
    },
    logs: () => [...lines],
    cli: (a, opts) =>
      runHashwall([...a, "--state", stateDir], { command: o.command, env: o.env, ...opts }),
    signal: (sig) => process.kill(sig),
    stop,
    waitForLog,
    async restart() {
      if (!exited) {
        process.kill("SIGTERM");
        await status;
      }
      await pumps.catch(() => {});
      const from = lines.length;
      launch();
      const ready = await waitForLog(readyRe, 30_000, from);
      if (o.ui) d.uiUrl = /(http:\/\/127\.0\.0\.1:\d+)/.exec(ready)?.[1];
    },
    [Symbol.asyncDispose]: stop,
  };
  try {
    const ready = await waitForLog(readyRe);
    if (o.ui) d.uiUrl = /(http:\/\/127\.0\.0\.1:\d+)/.exec(ready)?.[1];
    return d;
  } catch (e) {
    await stop();
    throw e;
  }
}
