/**
 * Paths that name a file only through a magic link: `/proc/self/exe` (how Chromium, Electron
 * apps and many Go and Rust tools re-exec themselves), `/proc/PID/exe`, `/proc/self/fd/N`,
 * `/dev/fd/N` (fexecve). Such a name means a different file to every reader: to the daemon,
 * `/proc/self/exe` is its own runtime. They are never an app's path, and never approved.
 *
 * @module
 */

/**
 * Whether `path` (as given to execve, or as typed) lies under `/proc/` or `/dev/fd/`.
 *
 * @example
 * ```ts
 * viaMagicLink("/proc/self/exe"); // true
 * viaMagicLink("/usr/bin/curl");  // false
 * ```
 */
export function viaMagicLink(path: string): boolean {
  return path === "/proc" || path.startsWith("/proc/") || path.startsWith("/dev/fd/");
}

/**
 * Why `path` cannot be approved, or undefined when it can: it is (or a symlink on the way
 * leads) under `/proc` or `/dev/fd`. Symlinks are followed by hand, one hop at a time, because
 * realpath(3) would resolve the magic link for the daemon and hide it.
 *
 * @example
 * ```ts
 * magicPathProblem("/proc/self/exe");
 * // "/proc/self/exe is under /proc: … approve the real file (readlink -f /proc/PID/exe)"
 * ```
 */
export function magicPathProblem(path: string): string | undefined {
  const why = (p: string, via: string) =>
    `${p}${via === p ? "" : ` (through ${via})`} is under /proc or /dev/fd: such a path names a ` +
    "different file to every process (to the daemon, /proc/self/exe is its own runtime); " +
    "approve the real file instead (readlink -f /proc/PID/exe of the process)";
  const parts = path.split("/").filter((s) => s !== "" && s !== ".");
  let cur = "";
  for (let hops = 0; parts.length > 0;) {
    const next = parts.shift()!;
    if (next === "..") {
      cur = cur.slice(0, cur.lastIndexOf("/"));
      continue;
    }
    const candidate = `${cur}/${next}`;
    if (viaMagicLink(candidate)) return why(path, candidate);
    let target: string | undefined;
    try {
      if (Deno.lstatSync(candidate).isSymlink) target = Deno.readLinkSync(candidate);
    } catch {
      return undefined; // missing: hashing it fails with its own clear error
    }
    if (target === undefined) {
      cur = candidate;
      continue;
    }
    if (++hops > 40) return `${path}: too many levels of symbolic links`;
    if (viaMagicLink(target)) return why(path, `${candidate} -> ${target}`);
    if (target.startsWith("/")) cur = "";
    parts.unshift(...target.split("/").filter((s) => s !== "" && s !== "."));
  }
  return undefined;
}
