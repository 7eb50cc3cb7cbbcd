/**
 * Validation of requests to the API, shared by the control socket (src/daemon/control_ops.ts)
 * and the web UI (ui/input.ts), so a request means the same thing whichever door it came through.
 * Every check throws a {@link RequestError} naming the field and what was wrong; the caller answers
 * "bad request" and changes nothing.
 *
 * @module
 */
import type { Duration, Mode } from "../config/model.ts";
import type { AllowRequest, EventQuery, ExplainRequest } from "./types.ts";

/** A request whose arguments are wrong: control socket code `bad_request`, HTTP 400. */
export class RequestError extends Error {
  override name = "RequestError";
}

/** Loose arguments as they arrive (a JSON object, form fields or a query string). */
export type Args = Record<string, unknown>;

function absent(v: unknown): boolean {
  return v === undefined || v === null;
}

/** A non-empty string argument; `required` throws when it is missing. */
export function str(args: Args, key: string, required: true): string;
export function str(args: Args, key: string, required?: false): string | undefined;
export function str(args: Args, key: string, required = false): string | undefined {
  const v = args[key];
  if (absent(v)) {
    if (required) throw new RequestError(`missing argument "${key}" (a string)`);
    return undefined;
  }
  if (typeof v !== "string" || v === "") {
    throw new RequestError(`argument "${key}" must be a non-empty string`);
  }
  return v;
}

/** An integer argument in [min, max]; a decimal string is accepted (form fields are strings). */
export function int(args: Args, key: string, min: number, max: number): number | undefined {
  const raw = args[key];
  if (absent(raw)) return undefined;
  const v = typeof raw === "string" && /^\d{1,16}$/.test(raw.trim()) ? Number(raw.trim()) : raw;
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) {
    throw new RequestError(`argument "${key}" must be an integer from ${min} to ${max}`);
  }
  return v;
}

/** A boolean argument. */
export function bool(args: Args, key: string): boolean | undefined {
  const v = args[key];
  if (absent(v)) return undefined;
  if (typeof v !== "boolean") throw new RequestError(`argument "${key}" must be true or false`);
  return v;
}

/** One of a fixed set of strings. */
export function oneOf<T extends string>(
  args: Args,
  key: string,
  values: readonly T[],
): T | undefined {
  const v = args[key];
  if (absent(v)) return undefined;
  if (typeof v !== "string" || !(values as readonly string[]).includes(v)) {
    throw new RequestError(`argument "${key}" must be one of: ${values.join(", ")}`);
  }
  return v as T;
}

/** Throws "missing argument" when `v` is undefined. */
export function required<T>(v: T | undefined, key: string, what: string): T {
  if (v === undefined) throw new RequestError(`missing argument "${key}" (${what})`);
  return v;
}

/** A mode name. */
export function parseMode(v: unknown): Mode {
  if (v === "learning" || v === "enforcing") return v;
  throw new RequestError(`mode must be "learning" or "enforcing", got ${JSON.stringify(v)}`);
}

/** An approval duration; absent means forever. */
export function parseDuration(v: unknown): Duration {
  if (v === undefined || v === null || v === "") return "forever";
  if (v === "once" || v === "session" || v === "forever") return v;
  throw new RequestError(`duration must be once, session or forever, got ${JSON.stringify(v)}`);
}

/** A lower-case hex SHA-256. */
export function parseSha256(v: unknown): string {
  if (typeof v === "string" && /^[0-9a-f]{64}$/.test(v)) return v;
  throw new RequestError("sha256 must be 64 lower-case hex characters");
}

/** Whether `s` is an IPv4 dotted quad or an IPv6 literal. */
export function isIpLiteral(s: string): boolean {
  const v4 = s.split(".");
  if (v4.length === 4 && v4.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255)) return true;
  try {
    // URL parsing validates IPv6 literals without a hand-written grammar.
    return s.includes(":") && new URL(`http://[${s}]/`).hostname.length > 2;
  } catch {
    return false;
  }
}

/** `events` arguments → an {@link EventQuery}. */
export function parseEventQuery(args: Args): EventQuery {
  const q: EventQuery = {};
  const since = args.since;
  if (!absent(since)) {
    if (typeof since !== "number" || !Number.isFinite(since) || since < 0) {
      throw new RequestError(`argument "since" must be epoch milliseconds`);
    }
    q.since = since;
  }
  const app = str(args, "app");
  if (app !== undefined) q.app = app;
  const verdict = oneOf(args, "verdict", ["allow", "deny"] as const);
  if (verdict !== undefined) q.verdict = verdict;
  const limit = int(args, "limit", 1, 10_000);
  if (limit !== undefined) q.limit = limit;
  const before = int(args, "before", 1, Number.MAX_SAFE_INTEGER);
  if (before !== undefined) q.before = before;
  return q;
}

/** `apps allow` arguments → an {@link AllowRequest}. */
export function parseAllowRequest(args: Args): AllowRequest {
  const path = str(args, "path", true);
  if (!path.startsWith("/")) throw new RequestError(`argument "path" must be absolute`);
  const req: AllowRequest = { path };
  const name = str(args, "name");
  if (name !== undefined) req.name = name;
  const inherit = bool(args, "inherit");
  if (inherit !== undefined) req.inherit = inherit;
  const duration = oneOf(args, "duration", ["once", "session", "forever"] as const);
  if (duration !== undefined) req.duration = duration;
  const tgid = int(args, "tgid", 1, 0x7fffffff);
  if (tgid !== undefined) req.tgid = tgid;
  const sha256 = str(args, "sha256");
  if (sha256 !== undefined) req.sha256 = parseSha256(sha256);
  const hosts = bool(args, "hosts");
  if (hosts !== undefined) req.hosts = hosts;
  return req;
}

/**
 * `rules explain` arguments → an {@link ExplainRequest}. `defaults` fills a missing direction or
 * protocol (the UI's form starts from "out tcp"); without it both are required.
 */
export function parseExplainRequest(
  args: Args,
  defaults: Partial<Pick<ExplainRequest, "direction" | "protocol">> = {},
): ExplainRequest {
  const direction = oneOf(args, "direction", ["in", "out"] as const) ?? defaults.direction;
  const protocol = oneOf(args, "protocol", ["tcp", "udp", "icmp", "icmpv6"] as const) ??
    defaults.protocol;
  const remote = typeof args.remote === "string" ? args.remote.trim() : args.remote;
  if (typeof remote !== "string" || !isIpLiteral(remote)) {
    throw new RequestError(`remote must be an IP address, got ${JSON.stringify(remote ?? "")}`);
  }
  const req: ExplainRequest = {
    direction: required(direction, "direction", "in|out"),
    protocol: required(protocol, "protocol", "tcp|udp|icmp|icmpv6"),
    remote,
    port: required(int(args, "port", 0, 65535), "port", "0..65535"),
  };
  const exe = typeof args.exe === "string" ? args.exe.trim() : args.exe;
  if (!absent(exe) && exe !== "") {
    if (typeof exe !== "string" || !exe.startsWith("/")) {
      throw new RequestError("exe must be an absolute path");
    }
    req.exe = exe;
  }
  const via = typeof args.via === "string" ? args.via.trim() : args.via;
  if (!absent(via) && via !== "") {
    // The app-name syntax of apps.toml (src/config/validate.ts).
    if (typeof via !== "string" || !/^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$/.test(via)) {
      throw new RequestError(
        `via must be an app name (letters, digits, "._+-", up to 64), got ${JSON.stringify(via)}`,
      );
    }
    if (req.direction !== "out") {
      throw new RequestError("via (the app that started the process) only goes with out");
    }
    req.via = via;
  }
  return req;
}
