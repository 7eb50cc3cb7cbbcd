/**
 * Optional parts the daemon starts after its core, in order. Each returns its cleanup. Kept as a
 * list so the life cycle stays readable and a part can be left out of a build.
 *
 * @module
 */
import type { DaemonCore } from "./core.ts";
import type { HashwallApi } from "../api/types.ts";
import { controlSocketPath, startControlServer } from "./control.ts";
import { retentionPolicyOf, startRetention } from "./retention.ts";

/** A part: starts against the core, resolves to its stop function. */
export type DaemonPart = (core: DaemonCore) => Promise<() => Promise<void> | void>;

/**
 * The control socket: the CLI's way in, roles from SO_PEERCRED. Started BEFORE the core (see
 * src/daemon/lifecycle.ts): binding refuses to run beside a live daemon of the same state folder
 * before this one touches the kernel, and its refusal path (roles, limits) is live from the
 * first moment. Calls that reach the API before the core is ready get "starting" errors.
 */
export const controlSocket: DaemonPart = (core) => {
  const path = controlSocketPath(core.opts.stateDir);
  const server = startControlServer(whenReady(core), path, {
    audit: (caller, action, detail, ok, error) => {
      if (core.ready) core.store.audit(caller, action, detail, ok, error);
    },
    log: (msg) => core.log.log("warn", `control socket: ${msg}`),
  });
  core.extraAttachPoints.push(`control socket ${path}`);
  return Promise.resolve(() => server.close());
};

/** The core's API, refusing every call until the core finished starting. */
function whenReady(core: DaemonCore): HashwallApi {
  return new Proxy(core, {
    get(target, prop) {
      const v = Reflect.get(target, prop, target);
      if (typeof v !== "function") return v;
      return (...args: unknown[]) => {
        if (!target.ready) throw new Error("hashwall is starting: try again in a moment");
        return v.apply(target, args);
      };
    },
  });
}

/** History retention ([history] max_age_days, max_rows): at start, then hourly. */
const retention: DaemonPart = (core) =>
  Promise.resolve(
    startRetention(
      { applyRetention: (p) => core.applyRetention(p) },
      () => retentionPolicyOf(core.policy),
      core.log,
    ),
  );

/** The parts started after the core, in start order. */
export const optionalParts: DaemonPart[] = [retention];
