/**
 * IPv4/IPv6 networks as written in `remote = [...]`: strict parsing (no octal, no zones, no
 * host bits), canonical formatting and membership tests.
 *
 * @module
 */
import type { Cidr } from "./model.ts";

/**
 * Parses an address (`192.0.2.7`, `2001:db8::1`) or a network (`192.0.2.0/24`). A bare address is
 * a host network (/32 or /128). Throws an `Error` whose message says what is wrong; a network
 * with host bits set is refused with a hint naming the network address.
 *
 * @example
 * ```ts
 * parseCidr("192.0.2.0/24"); // { family: 4, addr: Uint8Array [192,0,2,0], prefix: 24, text: "192.0.2.0/24" }
 * parseCidr("192.0.2.1/24"); // throws: host bits set ... did you mean 192.0.2.0/24?
 * ```
 */
export function parseCidr(text: string): Cidr {
  if (typeof text !== "string") throw new Error("expected a string");
  const slash = text.indexOf("/");
  const addrText = slash === -1 ? text : text.slice(0, slash);
  const addr = parseAddress(addrText);
  const family: 4 | 6 = addr.length === 4 ? 4 : 6;
  const max = family === 4 ? 32 : 128;
  let prefix = max;
  if (slash !== -1) {
    const p = text.slice(slash + 1);
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p)) {
      throw new Error(`bad prefix length "/${p}" in "${text}"; expected /0../${max}`);
    }
    prefix = Number(p);
    if (prefix > max) {
      throw new Error(
        `prefix length /${prefix} is too long for IPv${family}; expected /0../${max}`,
      );
    }
  }
  const network = maskAddress(addr, prefix);
  if (!network.every((b, i) => b === addr[i])) {
    const hint = formatCidr({ family, addr: network, prefix, text });
    throw new Error(`host bits set in "${text}"; did you mean ${hint}?`);
  }
  return { family, addr: network, prefix, text };
}

/**
 * Formats a network canonically: dotted quad or RFC 5952 IPv6 (lower case, longest zero run
 * compressed), always with the prefix length.
 *
 * @example
 * ```ts
 * formatCidr(parseCidr("2001:DB8:0:0::/32")); // "2001:db8::/32"
 * ```
 */
export function formatCidr(cidr: Cidr): string {
  return `${formatAddress(cidr.addr)}/${cidr.prefix}`;
}

/**
 * True when `addrBytes` (4 bytes for IPv4, 16 for IPv6) lies inside `cidr`. Families never mix:
 * an IPv4-mapped IPv6 address is not inside an IPv4 network.
 *
 * @example
 * ```ts
 * cidrContains(parseCidr("10.0.0.0/8"), new Uint8Array([10, 1, 2, 3])); // true
 * ```
 */
export function cidrContains(cidr: Cidr, addrBytes: Uint8Array): boolean {
  if (addrBytes.length !== cidr.addr.length) return false;
  const masked = maskAddress(addrBytes, cidr.prefix);
  return masked.every((b, i) => b === cidr.addr[i]);
}

/**
 * Parses a single IPv4 or IPv6 address into 4 or 16 bytes; throws on anything else.
 *
 * @example
 * ```ts
 * parseAddress("::1"); // 16 bytes, last one 1
 * ```
 */
export function parseAddress(text: string): Uint8Array {
  if (text.includes(":")) return parseIPv6(text);
  const v4 = parseIPv4(text);
  if (!v4) throw new Error(`"${text}" is not an IPv4 or IPv6 address`);
  return v4;
}

/**
 * Formats 4 or 16 address bytes (dotted quad, or RFC 5952 IPv6).
 *
 * @example
 * ```ts
 * formatAddress(new Uint8Array([127, 0, 0, 1])); // "127.0.0.1"
 * ```
 */
export function formatAddress(addr: Uint8Array): string {
  if (addr.length === 4) return Array.from(addr).join(".");
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((addr[i] << 8) | addr[i + 1]);
  // Longest run of two or more zero groups (first one on ties) becomes "::".
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart === -1) return hex.join(":");
  const head = hex.slice(0, bestStart).join(":");
  const tail = hex.slice(bestStart + bestLen).join(":");
  return `${head}::${tail}`;
}

function maskAddress(addr: Uint8Array, prefix: number): Uint8Array {
  const out = new Uint8Array(addr.length);
  for (let i = 0; i < addr.length; i++) {
    const bits = Math.max(0, Math.min(8, prefix - i * 8));
    out[i] = addr[i] & ((0xff << (8 - bits)) & 0xff);
  }
  return out;
}

function parseIPv4(text: string): Uint8Array | null {
  const parts = text.split(".");
  if (parts.length !== 4) return null;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    // No leading zeros: "010" means 8 to some tools and 10 to others.
    if (!/^(0|[1-9][0-9]{0,2})$/.test(parts[i])) return null;
    const n = Number(parts[i]);
    if (n > 255) return null;
    out[i] = n;
  }
  return out;
}

function parseIPv6(text: string): Uint8Array {
  const bad = (why: string) => new Error(`"${text}" is not a valid IPv6 address: ${why}`);
  if (text.includes("%")) throw bad("zone ids (%...) are not allowed");
  const halves = text.split("::");
  if (halves.length > 2) throw bad('"::" may appear only once');
  const parseGroups = (part: string, allowV4: boolean): number[] => {
    if (part === "") return [];
    const out: number[] = [];
    const items = part.split(":");
    items.forEach((g, i) => {
      if (allowV4 && i === items.length - 1 && g.includes(".")) {
        const v4 = parseIPv4(g);
        if (!v4) throw bad(`bad embedded IPv4 "${g}"`);
        out.push((v4[0] << 8) | v4[1], (v4[2] << 8) | v4[3]);
      } else if (/^[0-9A-Fa-f]{1,4}$/.test(g)) {
        out.push(parseInt(g, 16));
      } else {
        throw bad(g === "" ? "empty group" : `bad group "${g}"`);
      }
    });
    return out;
  };
  let groups: number[];
  if (halves.length === 2) {
    const head = parseGroups(halves[0], false);
    const tail = parseGroups(halves[1], true);
    if (head.length + tail.length > 7) throw bad("too many groups");
    groups = [...head, ...new Array(8 - head.length - tail.length).fill(0), ...tail];
  } else {
    groups = parseGroups(text, true);
    if (groups.length !== 8) throw bad(`expected 8 groups, got ${groups.length}`);
  }
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    out[i * 2] = g >> 8;
    out[i * 2 + 1] = g & 0xff;
  });
  return out;
}
