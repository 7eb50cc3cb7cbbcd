/**
 * Users, groups and a process's ids, read from `/etc/passwd`, `/etc/group` and
 * `/proc/<pid>/status` (no NSS: hashwall runs as a static service and must not load modules).
 *
 * @module
 */

/** One `/etc/group` entry. */
export interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

/**
 * Looks `name` up in `/etc/group` (or `groupFile`).
 *
 * @example
 * ```ts
 * const g = lookupGroup("hashwall"); // { name: "hashwall", gid: 998, members: ["alice"] } or undefined
 * ```
 */
export function lookupGroup(name: string, groupFile = "/etc/group"): GroupEntry | undefined {
  let text: string;
  try {
    text = Deno.readTextFileSync(groupFile);
  } catch {
    return undefined;
  }
  for (const line of text.split("\n")) {
    const f = line.split(":");
    if (f.length < 4 || f[0] !== name) continue;
    const gid = Number(f[2]);
    if (!Number.isInteger(gid)) continue;
    return { name: f[0], gid, members: f[3].split(",").filter((m) => m !== "") };
  }
  return undefined;
}

/** The user name of `uid` from `/etc/passwd`, or undefined. */
export function userName(uid: number, passwdFile = "/etc/passwd"): string | undefined {
  try {
    for (const line of Deno.readTextFileSync(passwdFile).split("\n")) {
      const f = line.split(":");
      if (f.length >= 3 && Number(f[2]) === uid && f[2] !== "") return f[0];
    }
  } catch { /* unreadable passwd: no name */ }
  return undefined;
}

/** Real uid and supplementary groups of a live process, from `/proc/<pid>/status`. */
export function processIds(
  pid: number,
): { uid: number; gid: number; groups: number[] } | undefined {
  let text: string;
  try {
    text = Deno.readTextFileSync(`/proc/${pid}/status`);
  } catch {
    return undefined;
  }
  const field = (key: string) => {
    const m = text.match(new RegExp(`^${key}:\\s*(.*)$`, "m"));
    return m ? m[1].trim().split(/\s+/).filter((s) => s !== "").map(Number) : undefined;
  };
  const uid = field("Uid");
  const gid = field("Gid");
  if (!uid || !gid) return undefined;
  return { uid: uid[0], gid: gid[0], groups: field("Groups") ?? [] };
}
