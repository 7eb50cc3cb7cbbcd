/**
 * One-time login links. `hashwall ui url` signs `role + random nonce + expiry` with
 * HMAC-SHA256 keyed by that role's token; the server checks the signature, the expiry and that the
 * nonce was never used. The token itself never travels, and a link seen later (shell history,
 * screen share) is worthless once used or expired.
 *
 * @example
 * ```ts
 * const url = await makeLoginUrl("http://127.0.0.1:7480", tokens, "admin", 300);
 * // http://127.0.0.1:7480/login?role=admin&nonce=…&exp=…&sig=…
 * ```
 *
 * @module
 */
import type { Role } from "../../src/api/types.ts";
import { randomHex, type UiTokens } from "./tokens.ts";

/** Default lifetime of a link, seconds. */
export const DEFAULT_LINK_TTL_S = 300;
/** Longest lifetime a link may claim, seconds (the server refuses longer ones). */
export const MAX_LINK_TTL_S = 3600;

/** The signed fields of a login link. */
export interface LoginClaim {
  role: Role;
  nonce: string;
  /** Expiry, epoch seconds. */
  exp: number;
}

function message(c: LoginClaim): Uint8Array<ArrayBuffer> {
  return new TextEncoder().encode(`hashwall-ui-login\n${c.role}\n${c.nonce}\n${c.exp}`);
}

async function hmacKey(token: string): Promise<CryptoKey> {
  return await crypto.subtle.importKey(
    "raw",
    new TextEncoder().encode(token),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign", "verify"],
  );
}

/** Signs a claim with `token`; returns the signature as hex. */
export async function signClaim(token: string, claim: LoginClaim): Promise<string> {
  const sig = await crypto.subtle.sign("HMAC", await hmacKey(token), message(claim));
  return Array.from(new Uint8Array(sig), (x) => x.toString(16).padStart(2, "0")).join("");
}

/** Builds a fresh one-time link for `role` under `baseUrl`, valid for `ttlSeconds`. */
export async function makeLoginUrl(
  baseUrl: string,
  tokens: UiTokens,
  role: Role,
  ttlSeconds: number = DEFAULT_LINK_TTL_S,
): Promise<string> {
  if (!Number.isInteger(ttlSeconds) || ttlSeconds < 1 || ttlSeconds > MAX_LINK_TTL_S) {
    throw new Error(`link lifetime must be 1..${MAX_LINK_TTL_S} seconds, got ${ttlSeconds}`);
  }
  const claim: LoginClaim = {
    role,
    nonce: randomHex(16),
    exp: Math.floor(Date.now() / 1000) + ttlSeconds,
  };
  const sig = await signClaim(role === "admin" ? tokens.admin : tokens.viewer, claim);
  const q = new URLSearchParams({
    role: claim.role,
    nonce: claim.nonce,
    exp: String(claim.exp),
    sig,
  });
  return `${baseUrl.replace(/\/+$/, "")}/login?${q}`;
}

/** Result of checking a link's query (not yet whether the nonce was used). */
export type ClaimCheck = { ok: true; claim: LoginClaim } | { ok: false; reason: string };

/**
 * Checks the query of a login link: shape, signature (constant time, via WebCrypto verify) and
 * expiry. `nowMs` is injectable for tests of expiry.
 */
export async function checkLoginQuery(
  tokens: UiTokens,
  q: URLSearchParams,
  nowMs: number = Date.now(),
): Promise<ClaimCheck> {
  const role = q.get("role");
  const nonce = q.get("nonce") ?? "";
  const expText = q.get("exp") ?? "";
  const sig = q.get("sig") ?? "";
  if (role !== "admin" && role !== "viewer") return { ok: false, reason: "unknown role" };
  if (!/^[0-9a-f]{32}$/.test(nonce)) return { ok: false, reason: "malformed link" };
  if (!/^[0-9]{1,12}$/.test(expText)) return { ok: false, reason: "malformed link" };
  if (!/^[0-9a-f]{64}$/.test(sig)) return { ok: false, reason: "malformed link" };
  const claim: LoginClaim = { role, nonce, exp: Number(expText) };
  const sigBytes = new Uint8Array(sig.match(/../g)!.map((h) => parseInt(h, 16)));
  const key = await hmacKey(role === "admin" ? tokens.admin : tokens.viewer);
  const valid = await crypto.subtle.verify("HMAC", key, sigBytes, message(claim));
  if (!valid) return { ok: false, reason: "invalid signature" };
  const nowS = Math.floor(nowMs / 1000);
  if (claim.exp < nowS) return { ok: false, reason: "link expired" };
  if (claim.exp > nowS + MAX_LINK_TTL_S) return { ok: false, reason: "link lifetime too long" };
  return { ok: true, claim };
}
