/**
 * Turning config file bytes into text safely: size cap, strict UTF-8, no NUL bytes. Each problem
 * becomes a located error instead of an exception or a silently mangled policy.
 *
 * @module
 */
import { ConfigError } from "./model.ts";
import { lineColAt } from "./position.ts";

/** Largest config file accepted (1 MiB): policy files are small; anything bigger is a mistake. */
export const MAX_CONFIG_BYTES = 1024 * 1024;

/** Text, or the errors that prevented getting it. */
export type DecodeResult = { ok: true; text: string } | { ok: false; errors: ConfigError[] };

/**
 * Decodes config bytes as strict UTF-8 (a leading BOM is dropped), refusing files over
 * `maxBytes`, invalid UTF-8 and NUL bytes with `FILE:LINE:COL` errors.
 *
 * @example
 * ```ts
 * decodeConfigBytes("rules.toml", new Uint8Array([0x61, 0xff]));
 * // { ok: false, errors: [rules.toml:1:2: invalid UTF-8 (byte 0xff at offset 1)] }
 * ```
 */
export function decodeConfigBytes(
  file: string,
  bytes: Uint8Array,
  maxBytes = MAX_CONFIG_BYTES,
): DecodeResult {
  if (bytes.length > maxBytes) {
    return { ok: false, errors: [tooBigError(file, bytes.length, maxBytes)] };
  }
  const bad = firstInvalidUtf8(bytes);
  if (bad !== -1) {
    const prefix = new TextDecoder().decode(bytes.subarray(0, bad));
    const at = lineColAt(prefix, prefix.length);
    const hex = bytes[bad].toString(16).padStart(2, "0");
    return {
      ok: false,
      errors: [
        new ConfigError(file, at.line, at.col, `invalid UTF-8 (byte 0x${hex} at offset ${bad})`),
      ],
    };
  }
  let text = new TextDecoder("utf-8", { ignoreBOM: false }).decode(bytes);
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const nul = checkTextLimits(file, text, maxBytes);
  return nul.length ? { ok: false, errors: nul } : { ok: true, text };
}

/**
 * Checks text already decoded (the UI editor hands over strings): length cap and NUL bytes.
 * Returns the errors (empty when fine).
 *
 * @example
 * ```ts
 * checkTextLimits("rules.toml", "a = 1\0"); // [rules.toml:1:6: NUL byte ...]
 * ```
 */
export function checkTextLimits(file: string, text: string, maxBytes = MAX_CONFIG_BYTES) {
  if (text.length > maxBytes) return [tooBigError(file, text.length, maxBytes)];
  const i = text.indexOf("\0");
  if (i === -1) return [];
  const at = lineColAt(text, i);
  return [new ConfigError(file, at.line, at.col, "NUL byte in config text; remove it")];
}

/** The located error for a file over the size cap. */
export function tooBigError(file: string, size: number, max: number): ConfigError {
  return new ConfigError(
    file,
    1,
    1,
    `file is ${size} bytes, over the ${max}-byte limit; config files are expected to be small`,
  );
}

/** Offset of the first byte that does not belong to a valid UTF-8 sequence, or -1. */
function firstInvalidUtf8(b: Uint8Array): number {
  let i = 0;
  while (i < b.length) {
    const c = b[i];
    if (c < 0x80) {
      i++;
      continue;
    }
    let n: number;
    let min: number;
    if (c >= 0xc2 && c <= 0xdf) [n, min] = [1, 0x80];
    else if (c >= 0xe0 && c <= 0xef) [n, min] = [2, 0x800];
    else if (c >= 0xf0 && c <= 0xf4) [n, min] = [3, 0x10000];
    else return i;
    let cp = c & (0x3f >> n);
    for (let k = 1; k <= n; k++) {
      const cc = b[i + k];
      if (cc === undefined || (cc & 0xc0) !== 0x80) return i;
      cp = (cp << 6) | (cc & 0x3f);
    }
    // Overlong forms, UTF-16 surrogates and code points past U+10FFFF are not UTF-8.
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
    i += n + 1;
  }
  return -1;
}
