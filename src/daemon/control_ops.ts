/**
 * The control-socket operations: each op name maps 1:1 onto a {@link HashwallApi} method, with its
 * arguments checked by the shared validators of src/api/requests.ts so the API only ever sees
 * well-formed input. Ops marked `write` are refused
 * for viewers before the API is reached.
 *
 * @module
 */
import type { Caller, HashwallApi } from "../api/types.ts";
import {
  bool,
  int,
  oneOf,
  parseAllowRequest,
  parseEventQuery,
  parseExplainRequest,
  RequestError,
  required,
  str,
} from "../api/requests.ts";

/** One operation of the protocol. */
export interface ControlOp {
  /** Changes state: admin only, audited by the API. */
  write: boolean;
  run(api: HashwallApi, caller: Caller, args: Record<string, unknown>): Promise<unknown>;
}

/** Every request/response op. `subscribe` is handled by the server itself (it streams). */
export const CONTROL_OPS: Readonly<Record<string, ControlOp>> = {
  "status": { write: false, run: (api, c) => api.status(c) },
  "apps.list": { write: false, run: (api, c) => api.appsList(c) },
  "apps.allow": { write: true, run: (api, c, a) => api.appsAllow(c, parseAllowRequest(a)) },
  "apps.revoke": { write: true, run: (api, c, a) => api.appsRevoke(c, str(a, "name", true)) },
  "apps.rehash": { write: true, run: (api, c, a) => api.appsRehash(c, str(a, "target")) },
  "mode": {
    write: true,
    run: (api, c, a) =>
      api.setMode(
        c,
        required(oneOf(a, "mode", ["learning", "enforcing"]), "mode", "learning|enforcing"),
        { closeUnapproved: bool(a, "closeUnapproved") },
      ),
  },
  "reload": { write: true, run: (api, c) => api.reload(c) },
  "events": { write: false, run: (api, c, a) => api.events(c, parseEventQuery(a)) },
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
        throw new RequestError(`missing argument "text" (a string)`);
      }
      return api.rulesSave(c, a.text);
    },
  },
  "rules.explain": {
    write: false,
    run: (api, c, a) => api.rulesExplain(c, parseExplainRequest(a)),
  },
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
