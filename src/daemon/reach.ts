/**
 * Says why this process could not connect to a control socket (EACCES): which folder on the way
 * it may not search, or that the socket itself is not writable for it, with modes, owners and the
 * groups this process actually carries. A guess ("needs membership of group hashwall") sends a
 * member of that group looking in the wrong place.
 *
 * @module
 */
import { VIEWER_GROUP } from "./peercred.ts";
import { lookupGroup, userName } from "../base/users.ts";

function groupName(gid: number, groupFile = "/etc/group"): string {
  try {
    for (const line of Deno.readTextFileSync(groupFile).split("\n")) {
      const f = line.split(":");
      if (f.length >= 3 && f[2] !== "" && Number(f[2]) === gid) return f[0];
    }
  } catch { /* no names */ }
  return String(gid);
}

function describe(path: string): string {
  try {
    const st = Deno.statSync(path);
    const mode = (st.mode! & 0o7777).toString(8).padStart(4, "0");
    return `mode ${mode}, owner ${userName(st.uid!) ?? st.uid}:${groupName(st.gid!)}`;
  } catch {
    return "mode unknown";
  }
}

/** The groups this process carries (what the kernel checks), from /proc/self/status. */
function ownGroups(): number[] {
  try {
    const line = Deno.readTextFileSync("/proc/self/status").split("\n")
      .find((l) => l.startsWith("Groups:"));
    const sup = (line?.slice(7).trim().split(/\s+/) ?? []).filter(Boolean).map(Number);
    return [...new Set([Deno.gid() ?? -1, ...sup])].filter((g) => g >= 0);
  } catch {
    return Deno.gid() === null ? [] : [Deno.gid()!];
  }
}

/** What this process is and what being a viewer would take, for the end of the message. */
function whoAmI(group: string): string {
  const uid = Deno.uid() ?? -1;
  const groups = ownGroups();
  const g = lookupGroup(group);
  const me = userName(uid) ?? String(uid);
  const carried = groups.map((x) => groupName(x)).join(",") || "none";
  let hint: string;
  if (!g) hint = `group "${group}" does not exist on this host`;
  else if (groups.includes(g.gid)) hint = `you are in group "${group}"`;
  else if (g.members.includes(me)) {
    hint = `you are listed in group "${group}", but this session does not carry it yet: ` +
      `log in again (or run: newgrp ${group})`;
  } else hint = `read-only access needs membership of group "${group}"`;
  return `you are ${me} (uid ${uid}, groups ${carried}); ${hint}`;
}

/**
 * Explains an EACCES on connecting to `socketPath`.
 *
 * @example
 * ```ts
 * reachProblem("/var/lib/hw/control.sock");
 * // "cannot reach /var/lib/hw/control.sock: no search permission on /var/lib/hw (mode 0700,
 * //  owner root:root) (EACCES); you are alice (uid 1000, groups alice,hashwall); …"
 * ```
 */
export function reachProblem(socketPath: string, group = VIEWER_GROUP): string {
  const parts = socketPath.split("/").filter(Boolean);
  let dir = "";
  for (let i = 0; i < parts.length; i++) {
    const next = `${dir}/${parts[i]}`;
    try {
      Deno.lstatSync(next);
    } catch (e) {
      if (e instanceof Deno.errors.PermissionDenied) {
        const d = dir || "/";
        return `cannot reach ${socketPath}: no search permission on the folder ${d} ` +
          `(${describe(d)}) (EACCES); ${whoAmI(group)}`;
      }
      break; // missing: the caller's own error says so
    }
    dir = next;
  }
  return `cannot connect to ${socketPath}: no write permission on the socket ` +
    `(${describe(socketPath)}) (EACCES); ${whoAmI(group)}`;
}
