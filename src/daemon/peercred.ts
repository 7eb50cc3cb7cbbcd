/**
 * Decides the role of a control-socket peer from the credentials the kernel reported
 * (SO_PEERCRED): uid 0 is admin; a process whose groups include the `hashwall` group is a viewer;
 * anyone else is refused. Group membership is read from the peer's own `/proc/<pid>/status`
 * (`Groups:`), because that is what the kernel enforces for that process, with the group's gid
 * looked up in `/etc/group`.
 *
 * @module
 */
import type { Role } from "../api/types.ts";
import type { PeerCred } from "../../ffi/socket.ts";

/** Name of the group whose members get read-only access. */
export const VIEWER_GROUP = "hashwall";

/** One `/etc/group` entry. */
export interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

/** The outcome of a role check: a role, or a refusal with the reason to send to the peer. */
export type PeerRole =
  | { ok: true; role: Role; who: string }
  | { ok: false; reason: string; who: string };

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

/**
 * The role of the peer `cred`. Root is admin. A non-root peer is a viewer when the `hashwall`
 * group exists and is the peer's primary group or one of its supplementary groups (read from
 * `/proc/<pid>/status`, whose real uid must match the kernel-reported uid so a recycled pid cannot
 * lend its groups). Everyone else is refused with a reason that says what to do.
 */
export function resolvePeerRole(cred: PeerCred, group = VIEWER_GROUP): PeerRole {
  const name = cred.uid === 0 ? "root" : userName(cred.uid);
  const who = `uid ${cred.uid}${name ? ` (${name})` : ""} pid ${cred.pid}`;
  if (cred.uid === 0) return { ok: true, role: "admin", who };
  const g = lookupGroup(group);
  if (!g) {
    return {
      ok: false,
      who,
      reason: `access refused: ${who} is not root and group "${group}" does not exist`,
    };
  }
  const ids = cred.pid > 0 ? processIds(cred.pid) : undefined;
  if (!ids || ids.uid !== cred.uid) {
    return {
      ok: false,
      who,
      reason: `access refused: cannot verify the groups of ${who} (process gone?)`,
    };
  }
  if (cred.gid === g.gid || ids.gid === g.gid || ids.groups.includes(g.gid)) {
    return { ok: true, role: "viewer", who };
  }
  return {
    ok: false,
    who,
    reason: `access refused: ${who} is not root and not in group "${group}" (read-only access ` +
      `needs membership: usermod -aG ${group} ${name ?? "<user>"}, then log in again)`,
  };
}
