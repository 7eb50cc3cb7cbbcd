/**
 * Shared pieces of the script-trust attacker tests (issue 13, vectors 4 and 6): scripts that
 * say which code ran and what the kernel answered, running commands as the unprivileged user
 * `nobody` inside a test daemon's cgroup, and small C programs built for one test.
 *
 * @module
 */
import type { TestDaemon } from "../helpers/daemon.ts";
import type { AppInfo, ConnEvent } from "../../src/api/types.ts";
import { until } from "../helpers/wait.ts";

/** uid/gid of `nobody` / `nogroup` on Debian. */
export const NOBODY = 65534;

/** Debian's python3 (a symlink to the real binary), not a pyenv shim. */
export const PY = "/usr/bin/python3";

/** PATH without shims, so `env python3` finds Debian's python3. */
export const ENV = { PATH: "/usr/bin:/bin" };

/**
 * A python script that connects once to 127.0.0.1:argv[1] and prints `TAG:ok` or `TAG:EPERM`.
 * Tags of one length let an attack swap the code in place (same size: mmap writes).
 */
export function connectPy(tag: string): string {
  return `#!/usr/bin/env python3
import socket, sys
TAG = "${tag}"
s = socket.socket()
try:
    s.connect(("127.0.0.1", int(sys.argv[1])))
    print(TAG + ":ok", flush=True)
except PermissionError:
    print(TAG + ":EPERM", flush=True)
`;
}

/** Prefixes argv so it runs as nobody:nogroup with no supplementary groups. */
export function asNobody(argv: string[]): string[] {
  return ["setpriv", `--reuid=${NOBODY}`, `--regid=${NOBODY}`, "--clear-groups", ...argv];
}

/** Runs argv as nobody in the daemon's test cgroup; returns its last stdout line (or stderr). */
export async function runNobody(d: TestDaemon, argv: string[], cwd?: string): Promise<string> {
  const r = await d.cg.run(asNobody(argv), { cwd, env: ENV });
  return (r.stdout.trim().split("\n").pop() ?? "") || `stderr: ${r.stderr.trim()}`;
}

/** A temp folder that nobody can enter and read (created by root, mode 755). */
export async function publicTempDir(prefix: string): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix });
  await Deno.chmod(dir, 0o755);
  return dir;
}

/** Writes a file with `mode`, owned by root unless `owner` is given. */
export async function writeFileAs(
  path: string,
  text: string | Uint8Array,
  mode: number,
  owner?: number,
): Promise<string> {
  if (typeof text === "string") await Deno.writeTextFile(path, text);
  else await Deno.writeFile(path, text);
  await Deno.chmod(path, mode);
  if (owner !== undefined) await Deno.chown(path, owner, owner);
  return path;
}

/** Compiles one C source to `out` (cc -O2). */
export async function compileC(source: string, out: string): Promise<string> {
  const src = `${out}.c`;
  await Deno.writeTextFile(src, source);
  const cc = await new Deno.Command("cc", { args: ["-O2", "-Wall", "-o", out, src] }).output();
  if (cc.code !== 0) throw new Error(new TextDecoder().decode(cc.stderr));
  await Deno.remove(src);
  return out;
}

/** The daemon's view of one app. */
export async function appInfo(d: TestDaemon, name: string): Promise<AppInfo> {
  const r = await d.cli(["apps", "list", "--json"]);
  if (r.code !== 0) throw new Error(r.stderr);
  const app = (JSON.parse(r.stdout) as AppInfo[]).find((a) => a.name === name);
  if (!app) throw new Error(`no app ${name} in apps list`);
  return app;
}

/** Waits until history holds an event matching `pred`; returns it. */
export function waitForEvent(
  d: TestDaemon,
  what: string,
  pred: (e: ConnEvent) => boolean,
  ms = 8000,
): Promise<ConnEvent> {
  return until(
    what,
    async () => {
      const r = await d.cli(["events", "--json"]);
      if (r.code !== 0) return undefined;
      return r.stdout.trim().split("\n").filter(Boolean).map((l) => JSON.parse(l) as ConnEvent)
        .find(pred);
    },
    ms,
    100,
  );
}
