/**
 * CPU pinning with `taskset`: a client and a server on separate CPUs, so the numbers measure the
 * code under test and not the scheduler moving both onto one core.
 *
 * @module
 */

/**
 * The CPUs this process may run on, from /proc/self/status (`Cpus_allowed_list`, e.g. "0-1").
 *
 * @example
 * ```ts
 * allowedCpus(); // [0, 1]
 * ```
 */
export function allowedCpus(): number[] {
  const status = Deno.readTextFileSync("/proc/self/status");
  const m = /^Cpus_allowed_list:\s*(.+)$/m.exec(status);
  if (!m) throw new Error("allowedCpus: no Cpus_allowed_list in /proc/self/status");
  return parseCpuList(m[1].trim());
}

/**
 * Parses a kernel CPU list ("0-2,5") into CPU numbers.
 *
 * @example
 * ```ts
 * parseCpuList("0-2,5"); // [0, 1, 2, 5]
 * ```
 */
export function parseCpuList(list: string): number[] {
  const out: number[] = [];
  for (const part of list.split(",")) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (!m) throw new Error(`parseCpuList: "${part}" in "${list}" is not N or N-M`);
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    for (let c = lo; c <= hi; c++) out.push(c);
  }
  return out;
}

/**
 * Two distinct CPUs for a producer/client and a consumer/server. Throws on a one-CPU machine:
 * side-by-side numbers from one shared core would mislead.
 *
 * @example
 * ```ts
 * const { client, server } = cpuPair(); // { client: 0, server: 1 }
 * ```
 */
export function cpuPair(): { client: number; server: number } {
  const cpus = allowedCpus();
  if (cpus.length < 2) throw new Error(`need 2 CPUs to pin client and server apart, have ${cpus}`);
  return { client: cpus[0], server: cpus[1] };
}

/**
 * `argv` wrapped in `taskset -c CPU`; taskset execs the program, so the pid and the executable
 * that the kernel sees are the program's own.
 *
 * @example
 * ```ts
 * pinnedArgv(0, ["/tmp/netclient", "loop", "10", "tcp4", "127.0.0.1", "8080"]);
 * ```
 */
export function pinnedArgv(cpu: number, argv: readonly string[]): string[] {
  return ["taskset", "-c", String(cpu), ...argv];
}

/**
 * Pins every thread of process `pid` to `cpus` (`taskset -a -p`). Use it on this process to keep
 * a Deno consumer off the producer's CPU; {@link unpinProcess} undoes it.
 *
 * @example
 * ```ts
 * await pinProcess(Deno.pid, [1]);
 * ```
 */
export async function pinProcess(pid: number, cpus: readonly number[]): Promise<void> {
  const out = await new Deno.Command("taskset", {
    args: ["-a", "-c", "-p", cpus.join(","), String(pid)],
    stdout: "null",
    stderr: "piped",
  }).output();
  if (out.code !== 0) {
    throw new Error(`taskset -a -c -p ${cpus} ${pid}: ${new TextDecoder().decode(out.stderr)}`);
  }
}

/**
 * Lets every thread of `pid` run on all allowed CPUs again.
 *
 * @example
 * ```ts
 * await unpinProcess(Deno.pid, [0, 1]);
 * ```
 */
export async function unpinProcess(pid: number, allowed: readonly number[]): Promise<void> {
  await pinProcess(pid, allowed);
}
