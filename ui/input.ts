/**
 * Validation of what browsers send. Every check throws a {@link RequestError} (exported here as
 * `InputError`) naming the field and what was wrong; routes turn it into a 400 and change nothing.
 * Checks that requests share with the control socket live in src/api/requests.ts.
 *
 * @module
 */
import type { ExplainRequest } from "../src/api/types.ts";
import { parseExplainRequest, RequestError } from "../src/api/requests.ts";

// The validators the control socket shares (one meaning per request, whichever door it came
// through); UI code imports them from here with the browser-only ones below.
export {
  isIpLiteral,
  parseDuration,
  parseMode,
  parseSha256,
  RequestError as InputError,
} from "../src/api/requests.ts";

/** A list of absolute executable paths (1..100). */
export function parseExeList(v: unknown): string[] {
  const list = Array.isArray(v) ? v : v === undefined ? [] : [v];
  if (list.length === 0) throw new RequestError("select at least one app (exes is empty)");
  if (list.length > 100) throw new RequestError("at most 100 apps at once");
  for (const x of list) {
    if (typeof x !== "string" || !x.startsWith("/") || x.length > 4096 || x.includes("\0")) {
      throw new RequestError(`exes: ${JSON.stringify(x)} is not an absolute path`);
    }
  }
  return list as string[];
}

/** An app name or path for rehash; undefined means all. */
export function parseTarget(v: unknown): string | undefined {
  if (v === undefined || v === null || v === "") return undefined;
  if (typeof v !== "string" || v.length > 4096 || v.includes("\0")) {
    throw new RequestError("target must be an app name or path");
  }
  return v;
}

/** A non-empty short string field. */
export function parseName(v: unknown, field: string): string {
  if (typeof v === "string" && v.length > 0 && v.length <= 256) return v;
  throw new RequestError(`${field} must be a non-empty string`);
}

/** rules.toml text submitted from the editor (≤ 1 MiB). */
export function parseRulesText(v: unknown): string {
  if (typeof v !== "string") throw new RequestError("text must be the rules.toml text");
  if (v.length > 1 << 20) throw new RequestError("rules.toml text is larger than 1 MiB");
  // Browsers submit textarea content with CRLF line ends.
  return v.replace(/\r\n/g, "\n");
}

/** The explain form/query: direction and protocol default to "out tcp". */
export function parseExplain(q: Record<string, unknown>): ExplainRequest {
  return parseExplainRequest(q, { direction: "out", protocol: "tcp" });
}
