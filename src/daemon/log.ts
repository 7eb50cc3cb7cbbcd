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
}

/** Creates a stderr logger in `format`. */
export function createLogger(format: LogFormat = "journal"): Logger {
  const enc = new TextEncoder();
  return {
    log(level, msg, fields) {
      const line = format === "json"
        ? JSON.stringify({ time: new Date().toISOString(), level, msg, ...fields })
        : `<${PRIORITY[level]}>${msg}${
          fields && Object.keys(fields).length ? " " + JSON.stringify(fields) : ""
        }`;
      try {
        Deno.stderr.writeSync(enc.encode(line + "\n"));
      } catch { /* stderr closed: nothing better to do */ }
    },
  };
}
