/**
 * `hashwall events`: connection history through the control socket, or straight from the database
 * (read-only) when no daemon runs. `--follow` streams new events from the daemon.
 *
 * @module
 */
import type { Command } from "./command.ts";
import { DEFAULT_STATE_DIR } from "./command.ts";
import { parseArgs, stringFlag, UsageError } from "./args.ts";
import type { ConnEvent, EventQuery } from "../api/types.ts";
import { callDaemon, DaemonError, streamDaemon } from "../daemon/client.ts";
// The store (node:sqlite, whose first import costs tens of ms) only when no daemon answers:
// `events` is a read-only command with a latency goal (bench/cli.ts).

const USAGE = `Usage: hashwall events [--state DIR] [--json] [--since DURATION] [--app NAME]
                       [--verdict allow|deny] [--follow] [--limit N]

Shows connection attempts and verdicts, oldest first (the newest N, default 100, max 10000).
  --since DURATION   only events newer than this: 30s, 10m, 2h, 7d
  --app NAME         only events of this app
  --verdict V        only "allow" or "deny"
  --limit N          how many of the newest events (1..10000, default 100)
  --follow           keep printing new events until interrupted (needs a running daemon)
  --json             one JSON object per line
  --state DIR        state folder of the instance (default ${DEFAULT_STATE_DIR})
Without a running daemon the history database is read directly (read-only).`;

const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * Parses a duration like `30s`, `10m`, `2h`, `7d` into milliseconds.
 *
 * @example
 * ```ts
 * parseDuration("10m"); // 600000
 * ```
 */
export function parseDuration(text: string): number {
  const m = /^(\d{1,9})(s|m|h|d)$/.exec(text.trim());
  if (!m || Number(m[1]) === 0) {
    throw new UsageError(`--since "${text}" is not a duration like 30s, 10m, 2h or 7d`);
  }
  return Number(m[1]) * UNIT_MS[m[2]];
}

const PROTO: Record<number, string> = { 1: "icmp", 6: "tcp", 17: "udp", 58: "icmpv6" };

/** One readable line: time, verdict, app/comm, exe, pid, destination, reason. */
export function formatEvent(e: ConnEvent): string {
  const time = new Date(e.time).toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z");
  const who = (e.app ? `${e.app} (${e.comm})` : e.comm) + (e.via ? ` via ${e.via}` : "");
  const addr = e.family === 6 ? `[${e.daddr}]` : e.daddr;
  const host = e.host ? `${e.host} (${addr})` : addr;
  const proto = PROTO[e.proto] ?? `proto ${e.proto}`;
  const why = e.ruleId
    ? `${e.reason} ${e.ruleId}`
    : e.kind === "close" || e.kind === "would_close"
    ? `${e.kind.toUpperCase().replace("_", " ")} ${e.reason}` // a live socket whose trust ended
    : e.reason;
  return `${time}  ${
    e.verdict.toUpperCase().padEnd(5)
  }  ${who}  ${e.exe}  pid ${e.tgid} uid ${e.uid}` +
    `  -> ${host}:${e.dport}/${proto}  ${why}`;
}

function buildQuery(flags: Record<string, string | boolean | undefined>): EventQuery {
  const q: EventQuery = {};
  const since = typeof flags.since === "string" ? flags.since : undefined;
  if (since !== undefined) q.since = Date.now() - parseDuration(since);
  if (typeof flags.app === "string") {
    if (flags.app === "") throw new UsageError("--app needs a name");
    q.app = flags.app;
  }
  if (typeof flags.verdict === "string") {
    if (flags.verdict !== "allow" && flags.verdict !== "deny") {
      throw new UsageError(`--verdict must be "allow" or "deny" (got "${flags.verdict}")`);
    }
    q.verdict = flags.verdict;
  }
  if (typeof flags.limit === "string") {
    const n = Number(flags.limit);
    if (!/^\d+$/.test(flags.limit) || n < 1 || n > 10_000) {
      throw new UsageError(`--limit must be a whole number from 1 to 10000 (got "${flags.limit}")`);
    }
    q.limit = n;
  }
  return q;
}

function matches(e: ConnEvent, q: EventQuery): boolean {
  return (q.app === undefined || e.app === q.app) &&
    (q.verdict === undefined || e.verdict === q.verdict);
}

/** Fetches history: from the daemon, or from the database when the daemon is not running. */
async function history(stateDir: string, q: EventQuery): Promise<ConnEvent[]> {
  try {
    return await callDaemon(stateDir, "events", { ...q }) as ConnEvent[];
  } catch (e) {
    if (!(e instanceof DaemonError) || e.code !== "not_running") throw e;
    const { DB_FILE, openStore } = await import("../store/store.ts");
    const path = `${stateDir}/${DB_FILE}`;
    let store;
    try {
      store = openStore(path, { readOnly: true });
    } catch (err) {
      throw new Error(`${e.message}, and ${err instanceof Error ? err.message : err}`);
    }
    try {
      return store.queryEvents(q);
    } finally {
      store.close();
    }
  }
}

/** `hashwall events`: show connection history */
export const eventsCommand: Command = {
  name: "events",
  summary: "show connection history (from the daemon or its database)",
  usage: USAGE,
  async run(argv) {
    const a = parseArgs(argv, {
      boolean: ["json", "follow"],
      string: ["state", "since", "app", "verdict", "limit"],
    });
    if (a.positionals.length > 0) {
      throw new UsageError(`unexpected argument "${a.positionals[0]}"`);
    }
    const stateDir = stringFlag(a, "state", DEFAULT_STATE_DIR);
    const q = buildQuery(a.flags);
    const json = a.flags.json === true;
    const print = (e: ConnEvent) => console.log(json ? JSON.stringify(e) : formatEvent(e));

    if (a.flags.follow === true) {
      // Subscribe first, then print history, so nothing falls between the two; events that
      // arrive in both are printed once (by id).
      const seen = new Set<number>();
      const early: ConnEvent[] = [];
      let live = false;
      const ac = new AbortController();
      const stop = () => ac.abort();
      Deno.addSignalListener("SIGINT", stop);
      try {
        const stream = streamDaemon(stateDir, "subscribe", {}, (m) => {
          const msg = m as { type?: string; event?: ConnEvent };
          if (msg.type !== "event" || !msg.event || !matches(msg.event, q)) return;
          if (!live) early.push(msg.event);
          else if (msg.event.id === undefined || !seen.has(msg.event.id)) print(msg.event);
        }, { signal: ac.signal });
        const past = (await callDaemon(stateDir, "events", { ...q }) as ConnEvent[]).reverse();
        for (const e of past) {
          if (e.id !== undefined) seen.add(e.id);
          print(e);
        }
        for (const e of early) if (e.id === undefined || !seen.has(e.id)) print(e);
        live = true;
        await stream;
      } catch (e) {
        if (e instanceof DaemonError && e.code === "not_running") {
          throw new Error(`--follow needs a running daemon: ${e.message}`);
        }
        throw e;
      } finally {
        Deno.removeSignalListener("SIGINT", stop);
      }
      return 0;
    }

    const events = (await history(stateDir, q)).reverse();
    for (const e of events) print(e);
    return 0;
  },
};
