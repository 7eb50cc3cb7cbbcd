/**
 * How to run this very hashwall again from a shell: the command the daemon prints as the next
 * step ("get a login link with: …"). A bare `hashwall` only when that name on PATH is this
 * binary; otherwise the absolute path the launcher ran from (`HASHWALL_EXE`), or the Deno
 * command of a source checkout, so the printed line works when pasted.
 *
 * @module
 */
import { PRODUCTION_STATE_DIR } from "../kernel/pins.ts";

/** Quotes `s` for a POSIX shell when it needs it. */
export function shellQuote(s: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replaceAll("'", `'\\''`)}'`;
}

function realPath(p: string): string | undefined {
  try {
    return Deno.realPathSync(p);
  } catch {
    return undefined;
  }
}

/** The first `name` on `PATH`, resolved to its real path. */
function onPath(name: string, pathVar: string | undefined): string | undefined {
  for (const dir of (pathVar ?? "").split(":")) {
    if (!dir.startsWith("/")) continue; // a relative PATH entry depends on the caller's cwd
    const real = realPath(`${dir}/${name}`);
    if (real) return real;
  }
  return undefined;
}

/**
 * The argv that runs this hashwall from any folder.
 *
 * @example
 * ```ts
 * selfArgv({ exe: "/work/hw/dist/hashwall", path: "/usr/bin" }); // ["/work/hw/dist/hashwall"]
 * selfArgv({ exe: "/usr/local/bin/hashwall", path: "/usr/local/bin" }); // ["hashwall"]
 * ```
 */
export function selfArgv(
  env: { exe?: string; path?: string } = {
    exe: Deno.env.get("HASHWALL_EXE"),
    path: Deno.env.get("PATH"),
  },
): string[] {
  let exe = env.exe;
  if (!exe) {
    const execPath = Deno.execPath();
    if (!/\/deno$/.test(execPath)) exe = execPath; // a `deno compile` binary
    else {
      // From source: `deno run -A …/main.ts`.
      const main = new URL(Deno.mainModule);
      return [execPath, "run", "-A", main.protocol === "file:" ? main.pathname : main.href];
    }
  }
  const real = realPath(exe) ?? exe;
  if (onPath("hashwall", env.path) === real) return ["hashwall"];
  return [exe];
}

/**
 * The shell command that runs `hashwall ARGS` against the instance of `stateDir` (`--state` is
 * added unless it is the production folder).
 *
 * @example
 * ```ts
 * selfCommand(["ui", "url"], "/tmp/hw"); // "/work/hw/dist/hashwall ui url --state /tmp/hw"
 * ```
 */
export function selfCommand(args: string[], stateDir: string, argv0 = selfArgv()): string {
  const abs = stateDir.startsWith("/") ? stateDir : `${Deno.cwd()}/${stateDir}`;
  const norm = abs.replace(/\/+$/, "") || "/";
  const state = norm === PRODUCTION_STATE_DIR ? [] : ["--state", norm];
  return [...argv0, ...args, ...state].map(shellQuote).join(" ");
}
