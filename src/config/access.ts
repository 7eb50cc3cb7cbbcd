/**
 * Access control on config files, like sshd's StrictModes: a firewall policy that another user
 * could edit is no policy. Files and folders must be owned by the expected user (root) and not
 * writable by group or others; a symlink is judged by its target.
 *
 * @module
 */
import { ConfigError } from "./model.ts";

/** Options of the ownership/permission check. */
export interface AccessOptions {
  /** Owner required of every config file and folder (default 0, root). */
  expectedUid?: number;
  /**
   * One more owner accepted besides `expectedUid`: `hashwall check` run by a non-root user on
   * their own checkout (a workstation). Never set by the daemon.
   */
  alsoAcceptUid?: number;
}

/**
 * Access options for an offline check (`hashwall check`, `apps export --config`): root's files
 * always; run by another user, that user's own files too (their checkout of the policy repo).
 * The daemon never uses this.
 *
 * @example
 * ```ts
 * await loadPolicy(dir, offlineAccess()); // as uid 1000: files owned by root or 1000
 * ```
 */
export function offlineAccess(uid: number | null = Deno.uid()): AccessOptions {
  return uid !== null && uid !== 0 ? { alsoAcceptUid: uid } : {};
}

/** What a path must be. */
export type ExpectedKind = "file" | "dir";

/** A path that passed the check: its stat (of the symlink target, if a symlink). */
export interface CheckedPath {
  /** Stat of the path (of the target, for a symlink). */
  stat: Deno.FileInfo;
  /** The path itself is a symlink. */
  isSymlink: boolean;
}

/**
 * Checks that `path` is a `kind` owned by `expectedUid` and not group/other-writable. Returns the
 * stat, or a `FILE:1:1` error saying how to fix it. Missing paths give `null` with no error, so
 * callers decide whether absence is fine.
 *
 * @example
 * ```ts
 * const r = await checkAccess("/etc/hashwall/rules.toml", "file");
 * if (r instanceof ConfigError) console.error(String(r));
 * ```
 */
export async function checkAccess(
  path: string,
  kind: ExpectedKind,
  opts: AccessOptions = {},
): Promise<CheckedPath | ConfigError | null> {
  const uid = opts.expectedUid ?? 0;
  let link: Deno.FileInfo;
  try {
    link = await Deno.lstat(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    return new ConfigError(path, 1, 1, `cannot inspect: ${(e as Error).message}`);
  }
  let stat = link;
  if (link.isSymlink) {
    try {
      stat = await Deno.stat(path);
    } catch (e) {
      const why = e instanceof Deno.errors.NotFound ? "its target does not exist" : String(e);
      return new ConfigError(path, 1, 1, `refusing to load symlink: ${why}`);
    }
  }
  const what = link.isSymlink ? "symlink target" : kind === "dir" ? "folder" : "file";
  const isKind = kind === "dir" ? stat.isDirectory : stat.isFile;
  if (!isKind) {
    return new ConfigError(
      path,
      1,
      1,
      `refusing to load: ${what} is not a ${kind === "dir" ? "folder" : "regular file"}`,
    );
  }
  const problems = accessProblems(stat, uid)
    .filter((p) => !(opts.alsoAcceptUid === stat.uid && p.startsWith("is owned by")));
  if (problems.length) {
    const user = uid === 0 ? "root" : `${uid}`;
    const fix = `chown ${user}:${uid === 0 ? "root" : user} ${path} && chmod go-w ${path}`;
    return new ConfigError(
      path,
      1,
      1,
      `refusing to load: ${what} ${problems.join(" and ")}; fix with: ${fix}`,
    );
  }
  return { stat, isSymlink: link.isSymlink === true };
}

/** Why a stat fails the policy (empty when it passes). */
export function accessProblems(stat: Deno.FileInfo, expectedUid: number): string[] {
  const problems: string[] = [];
  if (stat.uid !== expectedUid) {
    problems.push(
      `is owned by uid ${stat.uid}, not ${expectedUid === 0 ? "root" : `uid ${expectedUid}`}`,
    );
  }
  const mode = stat.mode ?? 0;
  if (mode & 0o022) {
    const who = [mode & 0o020 ? "group" : "", mode & 0o002 ? "others" : ""].filter(Boolean);
    problems.push(`is writable by ${who.join(" and ")} (mode ${(mode & 0o7777).toString(8)})`);
  }
  return problems;
}
