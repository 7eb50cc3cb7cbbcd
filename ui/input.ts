/**
 * Validation of what browsers send. Every check throws an {@link InputError} naming the field and
 * what was wrong; routes turn it into a 400 and change nothing.
 *
 * @module
 */
import type { ExplainRequest } from "../src/daemon/api.ts";
import type { Duration, Mode } from "../src/config/model.ts";

/** Bad input from the browser. */
export class InputError extends Error {
  override name = "InputError";
}

/** A mode name. */
export function parseMode(v: unknown): Mode {
  if (v === "learning" || v === "enforcing") return v;
  throw new InputError(`mode must be "learning" or "enforcing", got ${JSON.stringify(v)}`);
}

/** An approval duration; absent means forever. */
export function parseDuration(v: unknown): Duration {
  if (v === undefined || v === null || v === "") return "forever";
  if (v === "once" || v === "session" || v === "forever") return v;
  throw new InputError(`duration must be once, session or forever, got ${JSON.stringify(v)}`);
}

/** A list of absolute executable paths (1..100). */
export function parseExeList(v: unknown): string[] {
  const list = Array.isArray(v) ? v : v === undefined ? [] : [v];
  if (list.length === 0) throw new InputError("select at least one app (exes is empty)");
  if (list.length > 100) throw new InputError("at most 100 apps at once");
  for (const x of list) {
    if (typeof x !== "string" || !x.startsWith("/") || x.length > 4096 || x.includes("\0")) {
      throw new InputError(`exes: ${JSON.stringify(x)} is not an absolute path`);
    }
  }
  return list as string[];
}

/** An app name or path for rehash; undefined means all. */
export function parseTarget(v: unknown): string | undefined {
  if (v === undefined || v === null || v === "") return undefined;
  if (typeof v !== "string" || v.length > 4096 || v.includes("\0")) {
    throw new InputError("target must be an app name or path");
  }
  return v;
}

/** A lower-case hex SHA-256. */
export function parseSha256(v: unknown): string {
  if (typeof v === "string" && /^[0-9a-f]{64}$/.test(v)) return v;
  throw new InputError("sha256 must be 64 lower-case hex characters");
}

/** A non-empty short string field. */
export function parseName(v: unknown, field: string): string {
  if (typeof v === "string" && v.length > 0 && v.length <= 256) return v;
  throw new InputError(`${field} must be a non-empty string`);
}

/** rules.toml text submitted from the editor (≤ 1 MiB). */
export function parseRulesText(v: unknown): string {
  if (typeof v !== "string") throw new InputError("text must be the rules.toml text");
  if (v.length > 1 << 20) throw new InputError("rules.toml text is larger than 1 MiB");
  // Browsers submit textarea content with CRLF line ends.
  return v.replace(/\r\n/g, "\n");
}

/** The explain form/query. */
export function parseExplain(q: Record<string, unknown>): ExplainRequest {
  const direction = q.direction ?? "out";
  if (direction !== "in" && direction !== "out") {
    throw new InputError(`direction must be "in" or "out"`);
  }
  const protocol = q.protocol ?? "tcp";
  if (!["tcp", "udp", "icmp", "icmpv6"].includes(String(protocol))) {
    throw new InputError("protocol must be tcp, udp, icmp or icmpv6");
  }
  const remote = String(q.remote ?? "").trim();
  if (!isIpLiteral(remote)) throw new InputError(`remote must be an IP address, got "${remote}"`);
  const portText = String(q.port ?? "").trim();
  const port = Number(portText);
  if (!/^\d{1,5}$/.test(portText) || port > 65535) {
    throw new InputError(`port must be 0..65535, got "${portText}"`);
  }
  const exe = String(q.exe ?? "").trim();
  if (exe && !exe.startsWith("/")) throw new InputError("exe must be an absolute path");
  return {
    direction,
    protocol: protocol as ExplainRequest["protocol"],
    remote,
    port,
    ...(exe ? { exe } : {}),
  };
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
