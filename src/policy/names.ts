/**
 * Name hashes as the kernel computes them (bpf/dns.h, see the hostnames section of
 * bpf/hashwall.h): FNV-1a 64 over the dotted lower-case name read backwards, so every suffix's
 * hash falls out of one backwards scan. A pattern hashes as its text ("*.example.com" or
 * "github.com").
 *
 * @module
 */
import { DNS } from "../../ffi/dns_structs.ts";

const OFFSET = 0xcbf29ce484222325n;
const PRIME = 0x100000001b3n;
const MASK = 0xffffffffffffffffn;

function step(h: bigint, byte: number): bigint {
  return ((h ^ BigInt(byte)) * PRIME) & MASK;
}

/**
 * The kernel's hash of a name or pattern text (ASCII, lower-case).
 *
 * @example
 * ```ts
 * nameHash("*.example.com"); // the key rules with that pattern compile to
 * ```
 */
export function nameHash(text: string): bigint {
  let h = OFFSET;
  for (let i = text.length - 1; i >= 0; i--) h = step(h, text.charCodeAt(i));
  return h;
}

/**
 * The pattern hashes the kernel remembers for an answered `name`, in its order: for each "." from
 * the end, "*.<suffix>" when `known` has it, then the whole name; at most HW_DNS_PATS.
 */
export function patternsOf(name: string, known: (pat: bigint) => boolean): bigint[] {
  const out: bigint[] = [];
  const keep = (p: bigint) => {
    if (known(p) && out.length < DNS.PATS) out.push(p);
  };
  let h = OFFSET;
  for (let i = name.length - 1; i >= 0; i--) {
    const c = name.charCodeAt(i);
    if (c === 0x2e) keep(step(step(h, 0x2e), 0x2a));
    h = step(h, c);
  }
  keep(h);
  return out;
}
