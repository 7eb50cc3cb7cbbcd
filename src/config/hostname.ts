/**
 * Host name patterns of `[[rule]] remote_host` and domain blocklists: an exact name
 * (`github.com`) or a leading wildcard (`*.githubusercontent.com`, every name below it, not the
 * name itself). Lower-case ASCII only: international names are written in punycode (`xn--…`),
 * as DNS carries them, so what the file says is what the kernel compares.
 *
 * @module
 */

/** A validated name pattern. */
export interface HostPattern {
  /** As written (lower-case), e.g. "*.example.com". */
  text: string;
  /** True for a leading "*." wildcard. */
  wildcard: boolean;
  /** The name without the "*." prefix. */
  name: string;
}

const LABEL = /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/;

/**
 * Checks a name pattern; throws an Error whose message says what is wrong.
 *
 * @example
 * ```ts
 * parseHostPattern("*.githubusercontent.com"); // { wildcard: true, name: "githubusercontent.com", ... }
 * ```
 */
export function parseHostPattern(text: string): HostPattern {
  if (text === "") throw new Error("empty host name");
  // deno-lint-ignore no-control-regex
  if (/[^\x00-\x7f]/.test(text)) {
    throw new Error(
      `"${text}" is not ASCII; write international names in punycode (xn--...), as DNS does`,
    );
  }
  if (text !== text.toLowerCase()) {
    throw new Error(`"${text}" has upper-case letters; write "${text.toLowerCase()}"`);
  }
  const wildcard = text.startsWith("*.");
  const name = wildcard ? text.slice(2) : text;
  if (name.includes("*")) {
    throw new Error(`"${text}": "*" is only allowed as a leading "*." (e.g. "*.example.com")`);
  }
  if (name.endsWith(".")) throw new Error(`"${text}": drop the trailing "."`);
  if (name.length > 253) throw new Error(`"${text}" is longer than 253 characters`);
  const labels = name.split(".");
  if (wildcard && labels.length < 2) {
    throw new Error(
      `"${text}": a wildcard needs at least two labels after "*." (e.g. "*.example.com")`,
    );
  }
  for (const l of labels) {
    if (!LABEL.test(l)) {
      throw new Error(
        `"${text}": label "${l}" must be 1-63 of a-z 0-9 - _ and not start or end with "-"`,
      );
    }
  }
  if (/^[0-9.]+$/.test(name)) {
    throw new Error(`"${text}" is an address, not a name; use remote = ["${name}/32"]`);
  }
  return { text, wildcard, name };
}
