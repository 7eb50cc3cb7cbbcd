/**
 * Port specs as written in `ports = [22, "8000-8080"]`.
 *
 * @module
 */
import type { PortRange } from "./model.ts";

/**
 * Parses one port spec: an integer, a decimal string `"443"`, or a range `"A-B"` with
 * 1 <= A <= B <= 65535. Throws an `Error` naming what is wrong.
 *
 * @example
 * ```ts
 * parsePortSpec(22); // { from: 22, to: 22 }
 * parsePortSpec("8000-8080"); // { from: 8000, to: 8080 }
 * parsePortSpec("9-1"); // throws: reversed range
 * ```
 */
export function parsePortSpec(spec: string | number | bigint): PortRange {
  if (typeof spec === "number" || typeof spec === "bigint") {
    const n = checkPort(spec, String(spec));
    return { from: n, to: n };
  }
  if (typeof spec !== "string") throw new Error('expected a port number or a "A-B" range');
  const m = /^([0-9]+)(?:-([0-9]+))?$/.exec(spec);
  if (!m) {
    throw new Error(`"${spec}" is not a port or range; expected e.g. 443 or "8000-8080"`);
  }
  const from = checkPort(Number(m[1]), m[1]);
  const to = m[2] === undefined ? from : checkPort(Number(m[2]), m[2]);
  if (from > to) {
    throw new Error(`range "${spec}" is reversed; did you mean "${to}-${from}"?`);
  }
  return { from, to };
}

function checkPort(n: number | bigint, text: string): number {
  const v = typeof n === "bigint" ? Number(n) : n;
  if (!Number.isInteger(v) || v < 1 || v > 65535) {
    throw new Error(`port ${text} is out of range; expected 1..65535`);
  }
  return v;
}
