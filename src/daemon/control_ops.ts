/**
 * The control-socket operations: each op name maps 1:1 onto a {@link HashwallApi} method, with its
 * arguments checked here so the API only ever sees well-formed input. Ops marked `write` are refused
 * for viewers before the API is reached.
 *
 * @module
 */
import type { AllowRequest, Caller, EventQuery, ExplainRequest, HashwallApi } from "./api.ts";

/** A request whose op or arguments are wrong; answered with code `bad_request`. */
export class BadRequestError extends Error {
  override name = "BadRequestError";
}

/** One operation of the protocol. */
export interface ControlOp {
  /** Changes state: admin only, audited by the API. */
  write: boolean;
  run(api: HashwallApi, caller: Caller, args: Record<string, unknown>): Promise<unknown>;
}

type Args = Record<string, unknown>;

function str(args: Args, key: string, required: true): string;
function str(args: Args, key: string, required?: false): string | undefined;
function str(args: Args, key: string, required = false): string | undefined {
  const v = args[key];
  if (v === undefined || v === null) {
    if (required) throw new BadRequestError(`missing argument "${key}" (a string)`);
    return undefined;
  }
  if (typeof v !== "string" || v === "") {
    throw new BadRequestError(`argument "${key}" must be a non-empty string`);
  }
  return v;
}

function int(args: Args, key: string, min: number, max: number): number | undefined {
  const v = args[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) {
    throw new BadRequestError(`argument "${key}" must be an integer from ${min} to ${max}`);
  }
  return v;
}

function bool(args: Args, key: string): boolean | undefined {
  const v = args[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "boolean") throw new BadRequestError(`argument "${key}" must be true or false`);
  return v;
}

function oneOf<T extends string>(args: Args, key: string, values: readonly T[]): T | undefined {
  const v = args[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "string" || !(values as readonly string[]).includes(v)) {
    throw new BadRequestError(`argument "${key}" must be one of: ${values.join(", ")}`);
  }
  return v as T;
}

function required<T>(v: T | undefined, key: string, what: string): T {
  if (v === undefined) throw new BadRequestError(`missing argument "${key}" (${what})`);
  return v;
}

/** Checks `events` arguments into an {@link EventQuery}. */
export function eventQueryArgs(args: Args): EventQuery {
  const q: EventQuery = {};
  const since = args.since;
  if (since !== undefined && since !== null) {
    if (typeof since !== "number" || !Number.isFinite(since) || since < 0) {
      throw new BadRequestError(`argument "since" must be epoch milliseconds`);
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

function allowArgs(args: Args): AllowRequest {
  const path = str(args, "path", true);
  if (!path.startsWith("/")) throw new BadRequestError(`argument "path" must be absolute`);
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
  if (sha256 !== undefined) {
    if (!/^[0-9a-f]{64}$/.test(sha256)) {
      throw new BadRequestError(`argument "sha256" must be 64 lower-case hex digits`);
    }
    req.sha256 = sha256;
  }
  return req;
}

function explainArgs(args: Args): ExplainRequest {
  const req: ExplainRequest = {
    direction: required(oneOf(args, "direction", ["in", "out"] as const), "direction", "in|out"),
    protocol: required(
      oneOf(args, "protocol", ["tcp", "udp", "icmp", "icmpv6"] as const),
      "protocol",
      "tcp|udp|icmp|icmpv6",
    ),
    remote: str(args, "remote", true),
    port: required(int(args, "port", 0, 65535), "port", "0..65535"),
  };
  const exe = str(args, "exe");
  if (exe !== undefined) req.exe = exe;
  return req;
}

/** Every request/response op. `subscribe` is handled by the server itself (it streams). */
export const CONTROL_OPS: Readonly<Record<string, ControlOp>> = {
  "status": { write: false, run: (api, c) => api.status(c) },
  "apps.list": { write: false, run: (api, c) => api.appsList(c) },
  "apps.allow": { write: true, run: (api, c, a) => api.appsAllow(c, allowArgs(a)) },
  "apps.revoke": { write: true, run: (api, c, a) => api.appsRevoke(c, str(a, "name", true)) },
  "apps.rehash": { write: true, run: (api, c, a) => api.appsRehash(c, str(a, "target")) },
  "mode": {
    write: true,
    run: (api, c, a) =>
      api.setMode(
        c,
        required(oneOf(a, "mode", ["learning", "enforcing"]), "mode", "learning|enforcing"),
      ),
  },
  "reload": { write: true, run: (api, c) => api.reload(c) },
  "events": { write: false, run: (api, c, a) => api.events(c, eventQueryArgs(a)) },
  "events.counts": {
    write: false,
    run: (api, c, a) =>
      api.eventCounts(
        c,
        required(int(a, "since", 0, Number.MAX_SAFE_INTEGER), "since", "epoch ms"),
      ),
  },
  "rules.get": { write: false, run: (api, c) => api.rulesGet(c) },
  "rules.save": {
    write: true,
    run: (api, c, a) => {
      if (typeof a.text !== "string") {
        throw new BadRequestError(`missing argument "text" (a string)`);
      }
      return api.rulesSave(c, a.text);
    },
  },
  "rules.explain": { write: false, run: (api, c, a) => api.rulesExplain(c, explainArgs(a)) },
  "integrity.status": { write: false, run: (api, c) => api.integrityStatus(c) },
  "learning.list": { write: false, run: (api, c) => api.learningList(c) },
  "packages.hook": {
    write: true,
    run: (api, c, a) =>
      api.packagesHook(c, required(oneOf(a, "phase", ["pre", "post"]), "phase", "pre|post")),
  },
  "learning.deny": { write: true, run: (api, c, a) => api.learningDeny(c, str(a, "exe", true)) },
};

/** Op names a client may send (for error messages and help). */
export const OP_NAMES: readonly string[] = [...Object.keys(CONTROL_OPS), "subscribe"];
