/**
 * Optional parts the daemon starts after its core, in order. Each returns its cleanup. Kept as a
 * list so the life cycle stays readable and a part can be left out of a build.
 *
 * @module
 */
import type { DaemonCore } from "./core.ts";
import { controlSocketPath, startControlServer } from "./control.ts";
import { retentionPolicyOf, startRetention } from "./retention.ts";

/** A part: starts against the core, resolves to its stop function. */
export type DaemonPart = (core: DaemonCore) => Promise<() => Promise<void> | void>;

/** The control socket: the CLI's way in, roles from SO_PEERCRED. */
const controlSocket: DaemonPart = (core) => {
  const path = controlSocketPath(core.opts.stateDir);
  const server = startControlServer(core, path, {
    audit: (caller, action, detail, ok, error) =>
      core.store.audit(caller, action, detail, ok, error),
    log: (msg) => core.log.log("warn", `control socket: ${msg}`),
  });
  core.extraAttachPoints.push(`control socket ${path}`);
  return Promise.resolve(() => server.close());
};

/** History retention ([history] max_age_days, max_rows): at start, then hourly. */
const retention: DaemonPart = (core) =>
  Promise.resolve(
    startRetention(
      { applyRetention: (p) => core.applyRetention(p) },
      () => retentionPolicyOf(core.policy),
      core.log,
    ),
  );

/** The parts, in start order. */
export const optionalParts: DaemonPart[] = [controlSocket, retention];
