/**
 * Optional parts the daemon starts after its core, in order. Each returns its cleanup. Kept as a
 * list so the life cycle stays readable and a part can be left out of a build.
 *
 * @module
 */
import type { DaemonCore } from "./core.ts";

/** A part: starts against the core, resolves to its stop function. */
export type DaemonPart = (core: DaemonCore) => Promise<() => Promise<void> | void>;

/** The parts, in start order. */
export const optionalParts: DaemonPart[] = [];
