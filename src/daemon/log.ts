/**
 * Daemon logging to stderr: journald-friendly `<N>` priority prefixes by default, or JSON lines
 * with `--log-format json`.
 *
 * @module
 */

/** Log format selected with `--log-format`. */
export type LogFormat = "journal" | "json";

const PRIORITY = { error: 3, warn: 4, notice: 5, info: 6, debug: 7 } as const;
/** A log level. */
export type Level = keyof typeof PRIORITY;

/** A logger writing one line per message. */
export interface Logger {
  log(level: Level, msg: string, fields?: Record<string, unknown>): void;
  /** The format lines are written in (absent: a logger for tests, treated as "journal"). */
  readonly format?: LogFormat;
  /**
   * Logs one event record (see event_log.ts). Lines are gathered and written together once the
   * current task ends, so a burst of kernel events costs one write, not one per event. Absent on
   * loggers that do not carry events.
   */
  event?(level: Level, msg: string, fields: Record<string, unknown>): void;
}

/** Creates a stderr logger in `format`. */
export function createLogger(format: LogFormat = "journal"): Logger {
  const enc = new TextEncoder();
  const line = (level: Level, msg: string, fields?: Record<string, unknown>) =>
    format === "json"
      ? JSON.stringify({ time: new Date().toISOString(), level, msg, ...fields })
      : `<${PRIORITY[level]}>${msg}${
        fields && Object.keys(fields).length ? " " + JSON.stringify(fields) : ""
      }`;
  const write = (text: string) => {
    const bytes = enc.encode(text);
    try {
      // writeSync may write less than asked on a pipe: loop until all of it is out.
      for (let off = 0; off < bytes.length;) off += Deno.stderr.writeSync(bytes.subarray(off));
    } catch { /* stderr closed: nothing better to do */ }
  };
  let pending: string[] = [];
  const flush = () => {
    const lines = pending;
    pending = [];
    if (lines.length) write(lines.join("\n") + "\n");
  };
  return {
    format,
    log(level, msg, fields) {
      flush(); // keep order with events gathered earlier
      write(line(level, msg, fields) + "\n");
    },
    event(level, msg, fields) {
      if (pending.length === 0) queueMicrotask(flush);
      pending.push(line(level, msg, fields));
    },
  };
}
