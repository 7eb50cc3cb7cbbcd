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
import { lookupGroup, processIds, userName } from "../base/users.ts";

/** Name of the group whose members get read-only access. */
export const VIEWER_GROUP = "hashwall";

/** The outcome of a role check: a role, or a refusal with the reason to send to the peer. */
export type PeerRole =
  | { ok: true; role: Role; who: string }
  | { ok: false; reason: string; who: string };

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
