/**
 * Events and admin actions as flat log records with stable field names, for `--log-format json`
 * (one JSON object per line on stderr → journald → any shipper). The field names are a
 * user-facing contract documented in the README ("Events to the log pipeline"): add fields,
 * never rename or remove them.
 *
 * Every record carries `event` (what kind), `msg` (a one-line summary for humans) and the
 * logger adds `time` (RFC 3339, UTC, milliseconds) and `level`.
 *
 * @module
 */
import type { Caller, ConnEvent } from "../api/types.ts";
import type { Level } from "./log.ts";

/** A record ready for the logger: level, summary and the fields. */
export interface EventRecord {
  level: Level;
  msg: string;
  fields: Record<string, unknown>;
}

const PROTO: Record<number, string> = { 1: "icmp", 6: "tcp", 17: "udp", 58: "icmpv6" };

/**
 * A connection verdict (allow/deny of a process's connect, sendmsg or socket creation).
 *
 * @example
 * ```ts
 * connectionRecord(ev).fields.verdict; // "deny"
 * ```
 */
export function connectionRecord(ev: ConnEvent): EventRecord {
  const proto = PROTO[ev.proto] ?? String(ev.proto);
  const dest = ev.family === 6 ? `[${ev.daddr}]:${ev.dport}` : `${ev.daddr}:${ev.dport}`;
  return {
    level: ev.verdict === "deny" ? "warn" : "info",
    msg: `${ev.verdict} ${ev.app ?? ev.comm} (${ev.exe || "?"}) → ${dest}/${proto}: ${ev.reason}`,
    fields: {
      event: "connection",
      verdict: ev.verdict,
      reason: ev.reason,
      rule_id: ev.ruleId ?? null,
      hook: ev.kind,
      app: ev.app ?? null,
      exe: ev.exe || null,
      interpreter: ev.interpreter ?? null,
      comm: ev.comm,
      pid: ev.tgid,
      uid: ev.uid,
      family: ev.family === 0 ? null : `ipv${ev.family}`,
      dest_addr: ev.daddr || null,
      dest_port: ev.dport,
      protocol: proto,
      event_time: new Date(ev.time).toISOString(),
      lineage: ev.lineage.map((l) => ({ pid: l.tgid, comm: l.comm, exe: l.exe ?? null })),
    },
  };
}

/** An approved app's file was re-hashed with a different result (or went missing). */
export function appHashRecord(r: {
  name: string;
  path: string;
  oldSha256?: string;
  newSha256?: string;
  status: string;
  who: string;
}): EventRecord {
  return {
    level: r.status === "valid" ? "notice" : "warn",
    msg: `app ${r.name} (${r.path}) is ${r.status}`,
    fields: {
      event: "app_hash",
      app: r.name,
      path: r.path,
      status: r.status,
      old_sha256: r.oldSha256 ?? null,
      new_sha256: r.newSha256 ?? null,
      by: r.who,
    },
  };
}

/** A watched file (integrity watch or the config) changed. */
export function integrityRecord(c: {
  path: string;
  change: string;
  oldHash?: string | null;
  newHash?: string | null;
  pid?: number | null;
  exe?: string | null;
}): EventRecord {
  return {
    level: "warn",
    msg: `integrity: ${c.path} ${c.change}`,
    fields: {
      event: "integrity",
      path: c.path,
      change: c.change,
      old_sha256: c.oldHash ?? null,
      new_sha256: c.newHash ?? null,
      pid: c.pid ?? null,
      exe: c.exe ?? null,
    },
  };
}

/** An administrative action (what the audit log records), allowed or refused. */
export function adminRecord(
  caller: Caller,
  action: string,
  detail: unknown,
  ok: boolean,
  error?: string,
): EventRecord {
  return {
    level: ok ? "notice" : "warn",
    msg: `admin: ${action} by ${caller.who} (${caller.role}, ${caller.channel}): ${
      ok ? "ok" : `refused: ${error ?? "failed"}`
    }`,
    fields: {
      event: "admin",
      action,
      ok,
      error: error ?? null,
      actor: caller.who,
      role: caller.role,
      channel: caller.channel,
      actor_uid: caller.uid ?? null,
      actor_pid: caller.pid ?? null,
      detail: detail ?? null,
    },
  };
}

/** Connection records logged per second at most (see {@link ConnectionLogLimit}). */
export const CONNECTION_LOG_PER_SECOND = 200;

/**
 * Caps connection records at `perSecond` per one-second window. A flood of unknown apps (tens of
 * thousands of verdicts a second, all kept in history) must not flood the log pipeline: journald
 * drops a service's messages past its rate limit (10 000 per 30 s by default), and the records
 * lost then would be the rare ones that matter (admin actions, hash and integrity changes), which
 * are never capped. What is held back is counted and reported once the next window opens.
 *
 * @example
 * ```ts
 * const limit = new ConnectionLogLimit(2);
 * limit.admit(0); // { log: true }
 * limit.admit(1); limit.admit(2); // the third in the window: { log: false }
 * limit.admit(1000); // { log: true, suppressed: 1 }
 * ```
 */
export class ConnectionLogLimit {
  #windowStart = -Infinity;
  #logged = 0;
  #held = 0;
  constructor(readonly perSecond: number = CONNECTION_LOG_PER_SECOND) {}

  /** Whether a record at `nowMs` may be logged; `suppressed` = records held back in the last window. */
  admit(nowMs: number): { log: boolean; suppressed?: number } {
    let suppressed: number | undefined;
    if (nowMs - this.#windowStart >= 1000) {
      if (this.#held) suppressed = this.#held;
      this.#windowStart = nowMs;
      this.#logged = 0;
      this.#held = 0;
    }
    if (this.#logged < this.perSecond) {
      this.#logged++;
      return { log: true, suppressed };
    }
    this.#held++;
    return { log: false, suppressed };
  }
}

/** The record saying how many connection records a window held back. */
export function suppressedRecord(count: number, perSecond: number): EventRecord {
  return {
    level: "warn",
    msg: `${count} connection events not logged (over ${perSecond}/s; history has them)`,
    fields: { event: "connection_suppressed", count },
  };
}
