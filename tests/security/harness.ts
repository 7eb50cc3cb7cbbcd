/**
 * The attacker harness of tests/security: the real kernel programs on a test cgroup, enforcing,
 * allow_loopback = false, and every attempt run as uid `nobody` (setpriv) inside that cgroup
 * with a clean environment (env -i), so only what a test adds is there.
 *
 * @module
 */
import { AppControl, disableInstance, type ScriptEntry } from "../../src/kernel/app_control.ts";
import { pinPaths } from "../../src/kernel/pins.ts";
import { identityOf } from "../../src/identity/running.ts";
import { fileTimes, statIdentity } from "../../src/integrity/hash.ts";
import { decodeEvent, HW, type RawEvent } from "../../ffi/structs.ts";
import { envAllowMask, interpreterKind } from "../../src/policy/interpreters.ts";
import { createTestCgroup, removeTestParentIfEmpty, type TestCgroup } from "../helpers/cgroup.ts";
import { loopbackListener } from "../helpers/netclient.ts";
import { loadPacketFilter, type PacketFilter } from "../../src/kernel/filter.ts";
import { validateTexts } from "../../src/config/validate.ts";
import { compilePolicy } from "../../src/policy/compile.ts";
import type { Policy } from "../../src/config/model.ts";

/** Reasons of the trust guards (bpf/hashwall.h), named for the assertions. */
export const HW_REASON = {
  ENV: 16,
  TRACED: 17,
  INJECTED: 18,
  ARGV: 19,
} as const;

/** The Python every test uses (`python3` on root's PATH is a pyenv shim). */
export const PYTHON = "/usr/bin/python3.11";
export const NOBODY = 65534;

/** A script that connects once to 127.0.0.1:PORT (argv[1]) and prints ok / EPERM. */
export const NET_PY = `import socket, sys
s = socket.socket()
try:
    s.connect(("127.0.0.1", int(sys.argv[-1])))
    print("ok")
except PermissionError:
    print("EPERM")
`;

/** Attacker code: the same connect, printed with an "evil:" prefix. */
export const EVIL_PY = NET_PY.replace('print("ok")', 'print("evil:ok")').replace(
  'print("EPERM")',
  'print("evil:EPERM")',
);

/** A bash script that connects once (bash's /dev/tcp, in the shell's own process). */
export function netSh(prefix = ""): string {
  return `P="\${@: -1}"
if : 3<>/dev/tcp/127.0.0.1/"$P" 2>/dev/null; then echo ${prefix}ok; else echo ${prefix}EPERM; fi
`;
}

/** A perl script that connects once. */
export function netPl(prefix = ""): string {
  return `use Socket;
my $p = $ARGV[-1];
socket(my $s, PF_INET, SOCK_STREAM, 0) or die;
if (connect($s, pack_sockaddr_in($p, inet_aton("127.0.0.1")))) { print "${prefix}ok\\n" }
elsif ($!{EPERM}) { print "${prefix}EPERM\\n" } else { print "${prefix}ERR:$!\\n" }
`;
}

/** One security test's world. */
export interface SecFixture {
  cg: TestCgroup;
  core: AppControl;
  /** A folder readable by nobody, owned by root (approved files live here). */
  dir: string;
  instance: string;
  port: number;
  /** Writes `text` to `dir/name` (mode 0755, root-owned) and returns its path. */
  file(name: string, text: string | Uint8Array): Promise<string>;
  /** Approves an executable (a binary) as `appId`. */
  approveBinary(
    path: string,
    appId: number,
    opts?: { flags?: number; allowEnv?: string[] },
  ): Promise<void>;
  /** Approves an interpreter (kind from its file name). */
  approveInterpreter(path: string, appId: number): Promise<void>;
  /** Approves a script (an interpreter runs it) as `appId`. */
  approveScript(
    path: string,
    appId: number,
    opts?: { allowEnv?: string[]; flags?: number },
  ): Promise<void>;
  /**
   * Runs `argv` as nobody in the cgroup with environment `env` only (plus PATH); `stdin` is a
   * file fed to it. Returns stdout lines.
   */
  run(
    argv: string[],
    opts?: { env?: Record<string, string>; stdin?: string; cwd?: string },
  ): Promise<string[]>;
  /** Starts `argv` like {@link run} but returns the child (stdout/stdin piped). */
  spawn(argv: string[], opts?: { env?: Record<string, string>; cwd?: string }): Deno.ChildProcess;
  /** The events reported so far (drained now). */
  events(): RawEvent[];
  /**
   * With `secSetup(name, { rules: true })`: compiles the `[[rule]]`s of `rulesText` (app names
   * resolved through `appIds`) into the packet filter's maps the connect hooks read.
   */
  rules(rulesText: string, appIds: Record<string, number>): Policy;
  close(): Promise<void>;
}

/** argv prefix: become nobody with a clean environment. */
export function asNobody(env: Record<string, string> = {}): string[] {
  return [
    "setpriv",
    `--reuid=${NOBODY}`,
    `--regid=${NOBODY}`,
    "--clear-groups",
    "env",
    "-i",
    "PATH=/usr/bin:/bin",
    ...Object.entries(env).map(([k, v]) => `${k}=${v}`),
  ];
}

/** Sets up the kernel core on a fresh test cgroup (enforcing, allow_loopback = false). */
export async function secSetup(
  name: string,
  opts: { rules?: boolean } = {},
): Promise<SecFixture> {
  const dir = await Deno.makeTempDir({ prefix: `hw-sec-${name}-` });
  await Deno.chmod(dir, 0o755);
  const cg = await createTestCgroup(`sec-${name}`);
  const instance = `test-sec-${name}-${crypto.randomUUID().slice(0, 8)}`;
  const listener = loopbackListener();
  const records: Uint8Array[] = [];
  let core: AppControl;
  let filter: PacketFilter | undefined;
  try {
    // The rule maps belong to the packet filter (pinned first, reused by the core); no
    // interface is attached: only the connect hooks on the test cgroup read them.
    if (opts.rules) filter = loadPacketFilter({ pinRoot: pinPaths(instance).root });
    core = AppControl.open({
      pins: pinPaths(instance),
      cgroupPath: cg.path,
      settings: {
        mode: HW.MODE_ENFORCING,
        allowLoopback: false,
        daemonTgid: Deno.pid,
        dedupMs: 0,
      },
    });
    core.attachLineage();
    core.attachHooks();
    core.startDrain((r) => records.push(r.slice()), 20);
  } catch (e) {
    listener.close();
    filter?.close();
    disableInstance(pinPaths(instance));
    await cg.remove();
    await Deno.remove(dir, { recursive: true });
    throw e;
  }
  const appExec = new Map<number, { kind: number; envAllow: number }>();
  const scripts: ScriptEntry[] = [];
  const approve = async (path: string, appId: number, flags: number) => {
    core.approve({
      key: identityOf(await Deno.stat(path)),
      appId,
      flags,
      times: fileTimes(statIdentity(path)),
    });
  };
  const f: SecFixture = {
    cg,
    core,
    dir,
    instance,
    port: listener.port,
    async file(n, text) {
      const p = `${dir}/${n}`;
      if (typeof text === "string") await Deno.writeTextFile(p, text);
      else await Deno.writeFile(p, text);
      await Deno.chmod(p, 0o755);
      return p;
    },
    async approveBinary(path, appId, opts = {}) {
      await approve(path, appId, opts.flags ?? 0);
      appExec.set(appId, { kind: HW.KIND_OTHER, envAllow: envAllowMask(opts.allowEnv ?? []) });
      core.setAppExec(appExec);
    },
    async approveInterpreter(path, appId) {
      await approve(path, appId, HW.APP_INTERPRETER);
      appExec.set(appId, { kind: interpreterKind(path), envAllow: 0 });
      core.setAppExec(appExec);
    },
    async approveScript(path, appId, opts = {}) {
      await approve(path, appId, opts.flags ?? 0);
      const folder = path.slice(0, path.lastIndexOf("/")) || "/";
      scripts.push({
        path,
        dirKey: identityOf(await Deno.stat(folder)),
        key: identityOf(await Deno.stat(path)),
        appId,
        flags: opts.flags ?? 0,
      });
      core.setScripts(scripts);
      appExec.set(appId, { kind: HW.KIND_OTHER, envAllow: envAllowMask(opts.allowEnv ?? []) });
      core.setAppExec(appExec);
    },
    async run(argv, opts = {}) {
      const full = [...asNobody(opts.env), ...argv];
      const cmd = opts.stdin ? ["sh", "-c", `exec "$@" < "${opts.stdin}"`, "sh", ...full] : full;
      const r = await cg.run(cmd, { cwd: opts.cwd });
      return r.stdout.trim().split("\n").filter((l) => l.length > 0);
    },
    spawn(argv, opts = {}) {
      return new Deno.Command("/bin/sh", {
        args: [
          "-c",
          `echo $$ > "${cg.path}/cgroup.procs" && exec "$@"`,
          "sh",
          ...asNobody(opts.env),
          ...argv,
        ],
        cwd: opts.cwd,
        stdin: "piped",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
    },
    events() {
      core.drain();
      return records.map(decodeEvent);
    },
    rules(rulesText, appIds) {
      if (!filter) throw new Error("secSetup(name, { rules: true }) loads the rule maps");
      const appsText = Object.keys(appIds).map((n) =>
        `[[app]]\nname = "${n}"\npath = "/bin/${n}"\nsha256 = "${"a".repeat(64)}"\n`
      ).join("\n");
      const r = validateTexts({
        rulesFile: "rules.toml",
        rulesText,
        appsTexts: [{ file: "apps.toml", text: appsText }],
      });
      if (!r.ok) throw new Error(r.errors.join("\n"));
      const compiled = compilePolicy(r.policy, { appId: (n) => appIds[n] });
      if (compiled.skipped.length) throw new Error(JSON.stringify(compiled.skipped));
      filter.apply(compiled);
      return r.policy;
    },
    async close() {
      listener.close();
      try {
        filter?.close();
        core.close();
      } finally {
        disableInstance(pinPaths(instance));
        await cg.remove();
        await removeTestParentIfEmpty();
        await Deno.remove(dir, { recursive: true });
      }
    },
  };
  return f;
}

/** Compiles a C fixture (tests/fixtures/NAME.c) into `dir`; extra gcc args (e.g. -static). */
export async function buildFixture(name: string, dir: string, extra: string[] = []) {
  const src = new URL(`../fixtures/${name}.c`, import.meta.url).pathname;
  const out = `${dir}/${name}`;
  const cc = await new Deno.Command("gcc", { args: ["-O2", "-Wall", ...extra, "-o", out, src] })
    .output();
  if (cc.code !== 0) throw new Error(new TextDecoder().decode(cc.stderr));
  await Deno.chmod(out, 0o755);
  return out;
}

/** Reads one line from a child's stdout (the rest stays readable through the same reader). */
export async function readLine(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  state: { buf: string },
  timeoutMs = 10_000,
): Promise<string> {
  const dec = new TextDecoder();
  const deadline = Date.now() + timeoutMs;
  while (!state.buf.includes("\n")) {
    if (Date.now() > deadline) throw new Error(`no line within ${timeoutMs} ms: ${state.buf}`);
    const { value, done } = await reader.read();
    if (done) break;
    state.buf += dec.decode(value);
  }
  const i = state.buf.indexOf("\n");
  if (i < 0) {
    const rest = state.buf;
    state.buf = "";
    return rest;
  }
  const line = state.buf.slice(0, i);
  state.buf = state.buf.slice(i + 1);
  return line;
}

/**
 * Ends a spawned line-reading child (stdin, stdout and stderr piped): releases the reader,
 * closes its pipes and waits for it to exit (it ends on stdin's EOF).
 */
export async function releaseChild(
  child: Deno.ChildProcess,
  reader: ReadableStreamDefaultReader<Uint8Array>,
): Promise<void> {
  reader.releaseLock();
  await child.stdout.cancel().catch(() => {});
  await child.stdin.close().catch(() => {});
  await child.stderr.cancel().catch(() => {});
  await child.status;
}
