/**
 * Process chains for the lineage benchmarks (issue 21): a tiny C program that runs its arguments
 * as a child (posix_spawn: a fork and an exec) and waits, in two copies — `launcher`, the one a
 * benchmark approves with inherit, and `hop`, never approved — so
 * `launcher hop hop PROG ARGS…` runs PROG three levels under the launcher, every process below it
 * trusted "via" the launcher. Exit status and stdout pass through.
 *
 * @module
 */

const HOP = `#include <spawn.h>
#include <sys/wait.h>
extern char **environ;
int main(int argc, char **argv) {
  pid_t pid; int st;
  if (argc < 2 || posix_spawn(&pid, argv[1], NULL, NULL, argv + 1, environ) != 0) return 2;
  waitpid(pid, &st, 0);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 3;
}
`;

/** The two copies of the chain program in `dir`. */
export interface Chain {
  /** The copy to approve (with inherit). */
  launcher: string;
  /** The copy that stays unapproved. */
  hop: string;
  /** argv prefix that runs a program three levels under the launcher. */
  threeLevels: string[];
}

/**
 * Compiles the chain program into `dir` as `hop` and `launcher` (two files, two identities).
 *
 * @example
 * ```ts
 * const chain = await buildChain(tmpDir);
 * await cg.run([...chain.threeLevels, "/bin/true"]);
 * ```
 */
export async function buildChain(dir: string): Promise<Chain> {
  const src = `${dir}/hop.c`;
  const hop = `${dir}/hop`;
  const launcher = `${dir}/launcher`;
  await Deno.writeTextFile(src, HOP);
  const cc = await new Deno.Command("cc", {
    args: ["-O2", "-Wall", "-o", hop, src],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (cc.code !== 0) throw new Error(`compiling ${src}: ${new TextDecoder().decode(cc.stderr)}`);
  await Deno.copyFile(hop, launcher);
  await Deno.chmod(launcher, 0o755);
  return { launcher, hop, threeLevels: [launcher, hop, hop] };
}
