/**
 * Test cgroups: every kernel test attaches programs only to a cgroup it creates under
 * `<cgroup2>/hashwall-test/`, never to the cgroup2 root (the machine's own agent lives there).
 * `using` / `await using` and `finally` paths remove the cgroup on every path, failures included.
 *
 * @module
 */
import { cgroup2Mount } from "../../src/kernel/cgroup.ts";

export { cgroup2Mount };

/** A cgroup created for one test. */
export interface TestCgroup extends AsyncDisposable {
  /** Absolute path of the cgroup folder. */
  path: string;
  /** Spawns `argv` inside this cgroup (the shell joins it before exec). */
  spawn(argv: string[], opts?: { cwd?: string; env?: Record<string, string> }): Deno.ChildProcess;
  /** Runs `argv` inside this cgroup to completion. */
  run(
    argv: string[],
    opts?: { cwd?: string; env?: Record<string, string> },
  ): Promise<{ code: number; stdout: string; stderr: string }>;
  /** Kills every process in the cgroup and removes it. Safe to call twice. */
  remove(): Promise<void>;
}

const PARENT = "hashwall-test";

/** Creates `<cgroup2>/hashwall-test/<name>-<random>`. */
export async function createTestCgroup(name: string): Promise<TestCgroup> {
  const parent = `${cgroup2Mount()}/${PARENT}`;
  await Deno.mkdir(parent, { recursive: true });
  const path = `${parent}/${name}-${crypto.randomUUID().slice(0, 8)}`;
  await Deno.mkdir(path);
  let removed = false;
  const spawn = (argv: string[], opts: { cwd?: string; env?: Record<string, string> } = {}) =>
    new Deno.Command("/bin/sh", {
      args: ["-c", `echo $$ > "${path}/cgroup.procs" && exec "$@"`, "sh", ...argv],
      cwd: opts.cwd,
      env: opts.env,
      stdout: "piped",
      stderr: "piped",
      stdin: "null",
    }).spawn();
  const cg: TestCgroup = {
    path,
    spawn,
    async run(argv, opts) {
      const out = await spawn(argv, opts).output();
      const dec = new TextDecoder();
      return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
    },
    async remove() {
      if (removed) return;
      removed = true;
      await removeCgroup(path);
    },
    async [Symbol.asyncDispose]() {
      await cg.remove();
    },
  };
  return cg;
}

/** Kills the processes of a cgroup (cgroup.kill) and removes it, retrying while it drains. */
export async function removeCgroup(path: string): Promise<void> {
  try {
    await Deno.writeTextFile(`${path}/cgroup.kill`, "1");
  } catch { /* already gone or no cgroup.kill */ }
  for (let i = 0; i < 100; i++) {
    try {
      await Deno.remove(path);
      return;
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  throw new Error(`could not remove test cgroup ${path}`);
}

/** Removes the shared test parent if it is empty (called at the end of suites; best effort). */
export async function removeTestParentIfEmpty(): Promise<void> {
  try {
    await Deno.remove(`${cgroup2Mount()}/${PARENT}`);
  } catch { /* not empty or absent */ }
}
