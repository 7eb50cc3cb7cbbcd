/**
 * Groups unapproved connection attempts by executable for the Learning page: one entry per exe
 * with counts, recent pids, the latest lineage and per-destination counts. Pure, so the live
 * island and any server-side list build entries the same way.
 *
 * @module
 */
import type { ConnEvent, LearningEntry } from "../src/api/types.ts";

/** How many recent pids an entry keeps. */
const MAX_TGIDS = 8;

/**
 * Reasons of attempts the daemon lists on the Learning page (src/daemon/learning.ts): an unknown
 * executable, a script an approved interpreter ran without approval (the event names the script),
 * and an app whose approval was revoked. "not_inherited" is left out: its executable is approved
 * already, so the daemon's list hides it, and approving it again would change nothing.
 */
const LEARNING_REASONS = new Set(["unknown_app", "interpreter", "revoked"]);

/** Whether an event belongs on the Learning page (an app without approval tried to connect). */
export function isLearningEvent(e: ConnEvent): boolean {
  return LEARNING_REASONS.has(e.reason);
}

/** Returns `entries` with `e` folded in (a new array; the input is not changed). */
export function addLearningEvent(entries: LearningEntry[], e: ConnEvent): LearningEntry[] {
  const i = entries.findIndex((x) => x.exe === e.exe);
  const old = i === -1 ? undefined : entries[i];
  const destinations = [...(old?.destinations ?? [])];
  // As the daemon groups them (src/daemon/learning.ts): by name when known, else by address.
  const d = destinations.findIndex((x) =>
    (e.host ? x.host === e.host : x.host === undefined && x.daddr === e.daddr) &&
    x.dport === e.dport && x.proto === e.proto
  );
  if (d === -1) {
    destinations.push({
      ...(e.host ? { host: e.host } : {}),
      daddr: e.daddr,
      dport: e.dport,
      proto: e.proto,
      count: 1,
      lastSeen: e.time,
    });
  } else {
    destinations[d] = {
      ...destinations[d],
      daddr: e.time >= destinations[d].lastSeen ? e.daddr : destinations[d].daddr,
      count: destinations[d].count + 1,
      lastSeen: Math.max(destinations[d].lastSeen, e.time),
    };
  }
  const entry: LearningEntry = {
    exe: e.exe,
    sha256: old?.sha256,
    attempts: (old?.attempts ?? 0) + 1,
    firstSeen: Math.min(old?.firstSeen ?? e.time, e.time),
    lastSeen: Math.max(old?.lastSeen ?? e.time, e.time),
    lineage: e.lineage,
    tgids: [e.tgid, ...(old?.tgids ?? []).filter((t) => t !== e.tgid)].slice(0, MAX_TGIDS),
    destinations,
  };
  const next = [...entries];
  if (i === -1) next.unshift(entry);
  else next[i] = entry;
  return next;
}
