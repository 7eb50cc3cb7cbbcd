/**
 * Input checks for the store: a bad row or query is refused with an error that names the field,
 * before anything is written.
 *
 * @module
 */
import type { ConnEvent, EventQuery } from "../api/types.ts";

/** Largest `limit` a query may ask for. */
export const MAX_QUERY_LIMIT = 10_000;
/** `limit` when a query gives none. */
export const DEFAULT_QUERY_LIMIT = 100;

/** A store input that does not fit the schema. */
export class StoreInputError extends Error {
  override name = "StoreInputError";
}

function fail(where: string, field: string, want: string, got: unknown): never {
  throw new StoreInputError(`${where}: "${field}" must be ${want} (got ${JSON.stringify(got)})`);
}

function isInt(v: unknown, min = -Infinity): v is number {
  return typeof v === "number" && Number.isInteger(v) && v >= min;
}

/** Throws a {@link StoreInputError} naming the first bad field of event `ev` (row `index`). */
export function validateConnEvent(ev: ConnEvent, index: number): void {
  const where = `event #${index}`;
  if (typeof ev !== "object" || ev === null) fail(where, "event", "an object", ev);
  if (!isInt(ev.time, 0)) fail(where, "time", "epoch milliseconds (integer ≥ 0)", ev.time);
  if (typeof ev.kind !== "string" || (ev.kind as string) === "") {
    fail(where, "kind", "a non-empty string", ev.kind);
  }
  if (ev.verdict !== "allow" && ev.verdict !== "deny") {
    fail(where, "verdict", '"allow" or "deny"', ev.verdict);
  }
  if (typeof ev.reason !== "string") fail(where, "reason", "a string", ev.reason);
  if (!isInt(ev.tgid, 0)) fail(where, "tgid", "an integer ≥ 0", ev.tgid);
  if (!isInt(ev.uid, 0)) fail(where, "uid", "an integer ≥ 0", ev.uid);
  for (const k of ["comm", "exe", "dev", "ino", "daddr"] as const) {
    if (typeof ev[k] !== "string") fail(where, k, "a string", ev[k]);
  }
  if (ev.family !== 0 && ev.family !== 4 && ev.family !== 6) {
    fail(where, "family", "0, 4 or 6", ev.family);
  }
  if (!isInt(ev.dport, 0) || ev.dport > 65535) fail(where, "dport", "0..65535", ev.dport);
  if (!isInt(ev.proto, 0) || ev.proto > 255) fail(where, "proto", "0..255", ev.proto);
  if (!Array.isArray(ev.lineage)) fail(where, "lineage", "an array", ev.lineage);
  if (ev.app !== undefined && ev.app !== null && typeof ev.app !== "string") {
    fail(where, "app", "a string when present", ev.app);
  }
  if (
    ev.host !== undefined && ev.host !== null &&
    (typeof ev.host !== "string" || !/^[a-z0-9_.-]{1,253}$/.test(ev.host))
  ) {
    fail(where, "host", "a lower-case host name when present", ev.host);
  }
  if (ev.ruleId !== undefined && ev.ruleId !== null && typeof ev.ruleId !== "string") {
    fail(where, "ruleId", "a string when present", ev.ruleId);
  }
}

/** Checks an {@link EventQuery} and returns it with the default limit filled in. */
export function normalizeEventQuery(
  q: EventQuery,
): Required<Pick<EventQuery, "limit">> & EventQuery {
  const where = "event query";
  if (typeof q !== "object" || q === null) fail(where, "query", "an object", q);
  if (q.since !== undefined && (typeof q.since !== "number" || !Number.isFinite(q.since))) {
    fail(where, "since", "epoch milliseconds", q.since);
  }
  if (q.app !== undefined && (typeof q.app !== "string" || q.app === "")) {
    fail(where, "app", "a non-empty string", q.app);
  }
  if (q.verdict !== undefined && q.verdict !== "allow" && q.verdict !== "deny") {
    fail(where, "verdict", '"allow" or "deny"', q.verdict);
  }
  const limit = q.limit ?? DEFAULT_QUERY_LIMIT;
  if (!isInt(limit, 1) || limit > MAX_QUERY_LIMIT) {
    fail(where, "limit", `an integer from 1 to ${MAX_QUERY_LIMIT}`, q.limit);
  }
  if (q.before !== undefined && !isInt(q.before, 1)) {
    fail(where, "before", "an event id (integer ≥ 1)", q.before);
  }
  return { ...q, limit };
}

/** Checks a positive integer option (`limit`, `maxRows`, …). */
export function checkPositiveInt(where: string, field: string, v: unknown, max = Infinity): number {
  if (!isInt(v, 1) || v > max) {
    fail(where, field, `an integer from 1${max === Infinity ? " up" : ` to ${max}`}`, v);
  }
  return v;
}
