/**
 * One real daemon with its web UI for a browser test: `hashwall run --ui 127.0.0.1:0` on a test
 * cgroup (tests/helpers/daemon.ts), the island bundle built first (the daemon embeds it when it
 * starts from source), a work folder with test binaries (netclient copies, each its own kernel
 * identity), a loopback listener, and logins through the link `hashwall ui url` prints.
 * `close()` stops the daemon and removes everything, on every path.
 *
 * @example
 * ```ts
 * await using f = await startUiDaemon({ binaries: ["good"], approved: ["good"] });
 * await f.login(page);
 * assert.equal((await f.connect(f.bin.good)).verdict, "ok");
 * ```
 *
 * @module
 */
import assert from "node:assert/strict";
import type { Page } from "playwright-core";
import type { Role } from "../../src/api/types.ts";
import { buildIslandBundle } from "./browser.ts";
import { sha256Of, startTestDaemon, type TestDaemon, type TestDaemonOptions } from "./daemon.ts";
import { loopbackListener, netclientCopy } from "./netclient.ts";
export { until } from "./wait.ts";

/** What the test daemon starts with. */
export interface UiDaemonOptions {
  mode?: "learning" | "enforcing";
  allowLoopback?: boolean;
  /** netclient copies to create in the work folder before the daemon starts, by name. */
  binaries?: string[];
  /** Names among `binaries` registered in apps.toml at their current hash. */
  approved?: string[];
  /** More `[[app]]` entries (e.g. an interpreter outside the work folder). */
  apps?: TestDaemonOptions["apps"];
  /** Files to create in the work folder before the daemon starts: relative path → content. */
  files?: Record<string, string>;
  /** Extra rules.toml text; a function gets the work folder (for integrity watches). */
  rulesExtra?: string | ((dir: string) => string);
}

/** Result of one connect attempt made in the daemon's cgroup through the launcher script. */
export interface ConnectResult {
  /** What netclient printed: "ok", "EPERM" or "ERR:<errno name>". */
  verdict: string;
  /** Pid of the launcher shell, the client's parent (shown in the lineage). */
  launcherPid: number;
}

/** A running daemon + UI for one test. */
export interface UiDaemon extends AsyncDisposable {
  daemon: TestDaemon;
  /** Base URL, `http://127.0.0.1:PORT`. */
  url: string;
  port: number;
  stateDir: string;
  configDir: string;
  /** Work folder of this test (binaries, watched files); removed on close. */
  dir: string;
  /** Paths of the binaries made from `binaries`, by name. */
  bin: Record<string, string>;
  /** Port of a loopback listener that accepts and closes every connection. */
  listenPort: number;
  /** A fresh one-time login link from `hashwall ui url` (`--viewer` for a viewer). */
  loginUrl(role?: Role): Promise<string>;
  /** Opens a login link in `page` and checks the role the page shows. */
  login(page: Page, role?: Role): Promise<void>;
  /** `hashwall ARGS --json` against this daemon; asserts exit 0 and parses stdout. */
  json<T>(args: string[]): Promise<T>;
  /** Creates another netclient copy (a new identity) in the work folder. */
  newBinary(name: string): Promise<string>;
  /**
   * Runs `launch.sh EXE tcp4 127.0.0.1 PORT` in the daemon's cgroup: a real connect decided by
   * the kernel, with the launcher as the client's parent.
   */
  connect(exe: string, port?: number): Promise<ConnectResult>;
  close(): Promise<void>;
}

let bundle: Promise<void> | undefined;

/** The launcher: reports its pid, then runs its arguments as a child (not exec: lineage). */
const LAUNCHER = '#!/bin/sh\necho "launcher $$"\n"$@"\nexit $?\n';

/** Starts a daemon with the UI on a free loopback port (see module doc). */
export async function startUiDaemon(o: UiDaemonOptions = {}): Promise<UiDaemon> {
  bundle ??= buildIslandBundle();
  await bundle;
  const dir = await Deno.makeTempDir({ prefix: "hw-ui-" });
  const listener = loopbackListener();
  let daemon: TestDaemon | undefined;
  const cleanup = async () => {
    listener.close();
    try {
      await daemon?.stop();
    } finally {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  };
  try {
    await Deno.writeTextFile(`${dir}/launch.sh`, LAUNCHER, { mode: 0o755 });
    await Deno.chmod(`${dir}/launch.sh`, 0o755);
    for (const [rel, content] of Object.entries(o.files ?? {})) {
      const path = `${dir}/${rel}`;
      await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
      await Deno.writeTextFile(path, content);
    }
    const bin: Record<string, string> = {};
    for (const name of o.binaries ?? []) bin[name] = await netclientCopy(dir, name);
    const apps = [...(o.apps ?? [])];
    for (const name of o.approved ?? []) {
      if (!bin[name]) throw new Error(`approved "${name}" is not among binaries`);
      apps.push({ name, path: bin[name], sha256: await sha256Of(bin[name]) });
    }
    daemon = await startTestDaemon({
      ui: true,
      mode: o.mode,
      allowLoopback: o.allowLoopback,
      apps,
      rulesExtra: typeof o.rulesExtra === "function" ? o.rulesExtra(dir) : o.rulesExtra,
    });
    const d = daemon;
    if (!d.uiUrl) throw new Error(`daemon did not report its UI address:\n${d.logs().join("\n")}`);
    const url = d.uiUrl;
    let closed = false;
    const close = async () => {
      if (closed) return;
      closed = true;
      await cleanup();
    };
    const loginUrl = async (role: Role = "admin") => {
      const r = await d.cli(["ui", "url", ...(role === "viewer" ? ["--viewer"] : [])]);
      assert.equal(r.code, 0, `hashwall ui url: ${r.stderr}`);
      return r.stdout.trim();
    };
    return {
      daemon: d,
      url,
      port: Number(new URL(url).port),
      stateDir: d.stateDir,
      configDir: d.configDir,
      dir,
      bin,
      listenPort: listener.port,
      loginUrl,
      async login(page, role = "admin") {
        await page.goto(await loginUrl(role));
        assert.equal(await page.textContent("[data-test=role]"), role);
      },
      async json<T>(args: string[]) {
        const r = await d.cli([...args, "--json"]);
        assert.equal(r.code, 0, `hashwall ${args.join(" ")}: ${r.stderr}`);
        return JSON.parse(r.stdout) as T;
      },
      newBinary: (name) => netclientCopy(dir, name),
      async connect(exe, port = listener.port) {
        const r = await d.cg.run([`${dir}/launch.sh`, exe, "tcp4", "127.0.0.1", `${port}`]);
        const lines = r.stdout.trim().split("\n");
        const launcherPid = Number(/^launcher (\d+)$/.exec(lines[0] ?? "")?.[1]);
        const verdict = lines[1] ?? `no output (stderr: ${r.stderr.trim()})`;
        return { verdict, launcherPid };
      },
      close,
      [Symbol.asyncDispose]: close,
    };
  } catch (e) {
    await cleanup();
    throw e;
  }
}

/** Waits until the page's island bundle hydrated and its live stream is open. */
export async function hydrated(page: Page): Promise<void> {
  await page.waitForSelector("html[data-hydrated][data-live=open]", { timeout: 10_000 });
}
