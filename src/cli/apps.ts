import type { Command } from "./command.ts";
import { DEFAULT_STATE_DIR } from "./command.ts";
import { parseArgs, type ParsedArgs, stringFlag, UsageError } from "./args.ts";
import { callAndPrint, exitCodeFor, table } from "./daemon_call.ts";
import { callDaemon, streamDaemon } from "../daemon/client.ts";
import type { AppInfo, LiveMessage } from "../api/types.ts";
// `apps list` is a read-only command with a latency goal (bench/cli.ts): what only `allow`,
// `export` and `interpreters` need (hashing with node:crypto, the config parser, the FFI struct
// tables) is imported inside those subcommands, so `list` neither loads nor evaluates it.

const USAGE = `Usage: hashwall apps <subcommand> [options]    (--state DIR, --json on each)

  list                      every registered app: name, status, inherit, hash, path
  allow PATH [--name N] [--inherit] [--for once|session|forever] [--pid TGID] [--hosts]
                            approve the file at PATH as it is now (its SHA-256 is taken now).
                            forever (default) writes apps.d/learned.toml; session lasts until
                            the daemon stops; once trusts only process TGID (--pid). --hosts
                            also appends an allow rule to rules.toml for each named destination
                            it tried ("allow curl to api.github.com:443")
  revoke NAME               revoke an app at once (kept revoked until allowed again)
  rehash NAME|PATH          re-hash one app: valid → approved again, else revoked (red)
  rehash --all              re-hash every app (progress shown on a terminal)
  export [--format toml|json] [--config DIR]
                            the approvals in force, sorted by path then name, without
                            host-specific fields (status, times, kernel identity), so two
                            hosts with the same images diff clean. From the running daemon
                            (--state), or with --config DIR from a config folder offline
                            (no daemon, no root). TOML loads as an apps.d/ file.
  interpreters              list interpreters found on this host with their hashes, as
                            [[app]] entries with interpreter = true, ready for apps.toml

Status: valid (hash matches; approved in the kernel), invalid (hash differs: revoked),
missing (no file), pending (changed; being re-hashed).
PACKAGE: for trust = "package" apps, the owning package, its version, and what the approved hash
rests on: admin (approved by hand), deb (the file's SHA-256 in the package archive, checked
against a signed apt index), md5sums (dpkg's recorded MD5: weaker).
Exit codes: 0 ok, 1 refused/failed, 2 usage, 3 daemon not running, 4 forbidden.`;

/** One line per app for a terminal. */
export function renderApps(apps: AppInfo[]): string {
  if (apps.length === 0) return "no apps registered";
  return table([
    ["NAME", "STATUS", "INHERIT", "SHA256", "PACKAGE", "PATH"],
    ...apps.map((a) => [
      a.name,
      a.status + (a.interpreter ? " (interpreter)" : ""),
      a.inherit ? "yes" : "no",
      (a.status === "invalid" ? a.actualSha256 ?? a.sha256 : a.sha256).slice(0, 16),
      packageLabel(a),
      a.path,
    ]),
  ]);
}

/**
 * "curl 7.88.1-10 (deb)": the owning package, its version and what the approved hash rests on
 * (admin: approved by hand; deb: the package archive apt verified; md5sums: dpkg's MD5, weaker).
 * "-" for apps without package trust.
 */
export function packageLabel(a: AppInfo): string {
  if (!a.package) return a.trust === "package" ? "(no package)" : "-";
  return `${a.package.name} ${a.package.version ?? "?"} (${a.package.level})`;
}

const INTERPRETERS = ["python3", "perl", "node", "ruby", "sh", "bash", "dash", "java"];

/** Interpreters on this host: PATH lookup, symlinks resolved, hashed. */
async function interpreters(): Promise<{ name: string; path: string; sha256: string }[]> {
  const dirs = ["/usr/local/bin", "/usr/bin", "/bin"];
  const seen = new Set<string>();
  const out: { name: string; path: string; sha256: string }[] = [];
  for (const name of INTERPRETERS) {
    for (const d of dirs) {
      let real: string;
      try {
        real = await Deno.realPath(`${d}/${name}`);
        const st = await Deno.stat(real);
        if (!st.isFile || (st.mode! & 0o111) === 0) continue;
      } catch {
        continue;
      }
      if (seen.has(real)) break;
      // A shell-script shim (pyenv) is not the interpreter: skip files starting with "#!".
      const head = new Uint8Array(2);
      const f = await Deno.open(real);
      await f.read(head);
      f.close();
      if (head[0] === 0x23 && head[1] === 0x21) continue;
      seen.add(real);
      const { hashFile } = await import("../integrity/hash.ts");
      out.push({ name, path: real, sha256: (await hashFile(real)).sha256 });
      break;
    }
  }
  return out;
}

async function rehashAll(state: string, json: boolean): Promise<number> {
  const tty = Deno.stderr.isTerminal() && !json;
  const ac = new AbortController();
  if (tty) {
    void streamDaemon(state, "subscribe", {}, (m) => {
      const msg = m as LiveMessage;
      if (msg.type === "rehash-progress") {
        Deno.stderr.writeSync(
          new TextEncoder().encode(`\r\x1b[K[${msg.done}/${msg.total}] ${msg.path ?? ""}`),
        );
      }
    }, { signal: ac.signal }).catch(() => {});
  }
  try {
    const r = await callDaemon(state, "apps.rehash", {}) as AppInfo[];
    if (tty) Deno.stderr.writeSync(new TextEncoder().encode("\r\x1b[K"));
    console.log(json ? JSON.stringify(r, null, 2) : renderApps(r));
    return r.some((a) => a.status !== "valid") ? 1 : 0;
  } catch (e) {
    console.error(`hashwall apps rehash: ${e instanceof Error ? e.message : String(e)}`);
    return exitCodeFor(e);
  } finally {
    ac.abort();
  }
}

/** `apps export`: from the daemon (approvals in force) or, with --config, from a folder. */
async function exportCommand(a: ParsedArgs, state: string): Promise<number> {
  const format = a.flags.json ? "json" : stringFlag(a, "format", "toml");
  if (format !== "toml" && format !== "json") {
    throw new UsageError("--format must be toml or json");
  }
  const { exportApps, renderExportJson, renderExportToml } = await import("./apps_export.ts");
  const render = format === "json" ? renderExportJson : renderExportToml;
  const dir = stringFlag(a, "config");
  if (dir !== undefined) {
    const { loadPolicy } = await import("../config/load.ts");
    const { offlineAccess } = await import("../config/access.ts");
    const { formatErrors } = await import("../config/format.ts");
    const r = await loadPolicy(dir, offlineAccess());
    if (!r.ok) {
      console.error(formatErrors(r.errors));
      return 1;
    }
    console.log(render(exportApps(r.policy.apps)).trimEnd());
    return 0;
  }
  try {
    const apps = await callDaemon(state, "apps.list", {}) as AppInfo[];
    console.log(render(exportApps(apps)).trimEnd());
    return 0;
  } catch (e) {
    console.error(`hashwall apps export: ${e instanceof Error ? e.message : String(e)}`);
    return exitCodeFor(e);
  }
}

function only(a: ParsedArgs, n: number, what: string): void {
  if (a.positionals.length !== n) throw new UsageError(what);
}

/** `hashwall apps`. */
export const appsCommand: Command = {
  name: "apps",
  summary: "list, allow, revoke and rehash approved apps",
  usage: USAGE,
  async run(argv) {
    const [sub = "list", ...rest] = argv;
    const a = parseArgs(rest, {
      boolean: ["json", "inherit", "all", "hosts"],
      string: ["state", "name", "for", "pid", "format", "config"],
    });
    const state = stringFlag(a, "state", DEFAULT_STATE_DIR);
    const json = !!a.flags.json;
    switch (sub) {
      case "list":
        only(a, 0, "apps list takes no arguments");
        return await callAndPrint(
          "apps list",
          state,
          "apps.list",
          {},
          json,
          (r) => renderApps(r as AppInfo[]),
        );
      case "allow": {
        only(a, 1, "apps allow needs exactly one PATH");
        const path = a.positionals[0];
        if (!path.startsWith("/")) throw new UsageError("PATH must be absolute");
        const duration = stringFlag(a, "for", "forever");
        if (!["once", "session", "forever"].includes(duration)) {
          throw new UsageError("--for must be once, session or forever");
        }
        const pid = a.flags.pid ? Number(stringFlag(a, "pid")) : undefined;
        if (duration === "once" && !(pid && Number.isInteger(pid) && pid > 0)) {
          throw new UsageError("--for once needs --pid TGID (the process to trust)");
        }
        const { interpreterKind } = await import("../policy/interpreters.ts");
        const { HW } = await import("../../ffi/structs.ts");
        if (a.flags.inherit && interpreterKind(path) !== HW.KIND_OTHER) {
          console.error(
            `warning: --inherit on ${path} (a shell or an interpreter) trusts every program and ` +
              `script it runs`,
          );
        }
        return await callAndPrint(
          "apps allow",
          state,
          "apps.allow",
          {
            path,
            name: stringFlag(a, "name"),
            inherit: !!a.flags.inherit,
            duration,
            tgid: pid,
            ...(a.flags.hosts ? { hosts: true } : {}),
          },
          json,
          (r) => {
            const app = r as AppInfo;
            return `approved ${app.name} (${app.path}) sha256 ${app.sha256} for ${duration}`;
          },
        );
      }
      case "revoke":
        only(a, 1, "apps revoke needs exactly one NAME");
        return await callAndPrint(
          "apps revoke",
          state,
          "apps.revoke",
          {
            name: a.positionals[0],
          },
          json,
          () => `revoked ${a.positionals[0]}`,
        );
      case "rehash":
        if (a.flags.all) {
          only(a, 0, "apps rehash --all takes no NAME");
          return await rehashAll(state, json);
        }
        only(a, 1, "apps rehash needs NAME|PATH or --all");
        return await callAndPrint(
          "apps rehash",
          state,
          "apps.rehash",
          {
            target: a.positionals[0],
          },
          json,
          (r) => renderApps(r as AppInfo[]),
        );
      case "export":
        only(a, 0, "apps export takes no arguments");
        return await exportCommand(a, state);
      case "interpreters": {
        only(a, 0, "apps interpreters takes no arguments");
        const found = await interpreters();
        if (json) console.log(JSON.stringify(found, null, 2));
        else {
          console.log("# Interpreters found on this host. Add the ones you use to apps.toml:");
          console.log("# a process running them is trusted only through an approved script.");
          for (const i of found) {
            console.log(
              `\n[[app]]\nname = "${i.name}"\npath = "${i.path}"\nsha256 = "${i.sha256}"\ninterpreter = true`,
            );
          }
        }
        return 0;
      }
      default:
        throw new UsageError(`unknown apps subcommand "${sub}"`);
    }
  },
};
