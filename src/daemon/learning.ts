/**
 * The learning list: executables that tried the network without trust, grouped by executable,
 * with destinations, counts and the lineage of the latest attempt. Fed by live events and seeded
 * from the history at start.
 *
 * @module
 */
import type { ConnEvent, LearningDestination, LearningEntry } from "../api/types.ts";

const MAX_DESTINATIONS = 32;
const MAX_TGIDS = 16;
const MAX_ENTRIES = 2000;

/** Aggregates untrusted attempts per executable. */
export class LearningTracker {
  #entries = new Map<string, LearningEntry>();

  /** Accounts one event; events of trusted processes (reason "rule" etc.) are ignored. */
  add(ev: ConnEvent): void {
    if (!["unknown_app", "not_inherited", "interpreter", "revoked"].includes(ev.reason)) return;
    let e = this.#entries.get(ev.exe);
    if (!e) {
      if (this.#entries.size >= MAX_ENTRIES) this.#evictOldest();
      e = {
        exe: ev.exe,
        attempts: 0,
        firstSeen: ev.time,
        lastSeen: ev.time,
        lineage: [],
        tgids: [],
        destinations: [],
      };
      this.#entries.set(ev.exe, e);
    }
    e.attempts++;
    e.firstSeen = Math.min(e.firstSeen, ev.time);
    if (ev.time >= e.lastSeen) {
      e.lastSeen = ev.time;
      e.lineage = ev.lineage;
    }
    if (!e.tgids.includes(ev.tgid)) {
      e.tgids.unshift(ev.tgid);
      e.tgids.length = Math.min(e.tgids.length, MAX_TGIDS);
    }
    // Grouped by name when the app resolved one (a CDN name has many addresses), else address.
    const d = e.destinations.find((x) =>
      (ev.host ? x.host === ev.host : x.host === undefined && x.daddr === ev.daddr) &&
      x.dport === ev.dport && x.proto === ev.proto
    );
    if (d) {
      d.count++;
      if (ev.time >= d.lastSeen) d.daddr = ev.daddr;
      d.lastSeen = Math.max(d.lastSeen, ev.time);
    } else if (e.destinations.length < MAX_DESTINATIONS) {
      const nd: LearningDestination = {
        daddr: ev.daddr,
        dport: ev.dport,
        proto: ev.proto,
        count: 1,
        lastSeen: ev.time,
      };
      if (ev.host) nd.host = ev.host;
      e.destinations.push(nd);
      // Named destinations first (by name), then addresses.
      e.destinations.sort((a, b) =>
        a.host && b.host ? a.host.localeCompare(b.host) : a.host ? -1 : b.host ? 1 : 0
      );
    }
  }

  /** Removes an executable (approved or dismissed). */
  remove(exe: string): boolean {
    return this.#entries.delete(exe);
  }

  /** Entries, most recent first, excluding `hidden` executables. */
  list(hidden: (exe: string) => boolean): LearningEntry[] {
    return [...this.#entries.values()].filter((e) => !hidden(e.exe))
      .sort((a, b) => b.lastSeen - a.lastSeen);
  }

  #evictOldest(): void {
    let oldest: LearningEntry | undefined;
    for (const e of this.#entries.values()) if (!oldest || e.lastSeen < oldest.lastSeen) oldest = e;
    if (oldest) this.#entries.delete(oldest.exe);
  }
}
