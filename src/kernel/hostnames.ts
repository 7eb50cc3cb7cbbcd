/**
 * The userspace view of the kernel's hostname maps (bpf/dns.h): which name a process resolved an
 * address from, and the parser's counters. Read-only: only the kernel writes names, from answers
 * to queries the asking socket sent.
 *
 * @module
 */
import { mapKeys, mapLookup, mapLookupPerCpu } from "../../ffi/libbpf.ts";
import {
  type AddrEntry,
  decodeAddrEntry,
  decodeName,
  DNS,
  DNS_COUNTER_NAMES,
  DNS_LAYOUT,
  encodeAddrKey,
  encodeU64,
} from "../../ffi/dns_structs.ts";

/** Map fds of the hostname maps (AppControl.map(...).fd). */
export interface HostnameFds {
  addrs: number;
  names: number;
  stats: number;
}

/** Reads the kernel's (process, address) -> name entries and the parser's counters. */
export class HostnameMaps {
  #fds: HostnameFds;

  /** Wraps the maps of a loaded or pinned kernel core. */
  constructor(fds: HostnameFds) {
    this.#fds = fds;
  }

  /** The parser's counters by name (summed over CPUs). */
  stats(): Record<(typeof DNS_COUNTER_NAMES)[number], number> {
    const out = {} as Record<(typeof DNS_COUNTER_NAMES)[number], number>;
    DNS_COUNTER_NAMES.forEach((name, i) => {
      const key = new Uint8Array(4);
      new DataView(key.buffer).setUint32(0, i, true);
      let sum = 0n;
      for (const v of mapLookupPerCpu(this.#fds.stats, key, 8) ?? []) {
        sum += new DataView(v.buffer, v.byteOffset, 8).getBigUint64(0, true);
      }
      out[name] = Number(sum);
    });
    return out;
  }

  /** The name text of a name hash, while the kernel still holds it. */
  nameOf(hash: bigint): string | undefined {
    const v = mapLookup(this.#fds.names, encodeU64(hash), DNS.NAME_LEN);
    return v ? decodeName(v) : undefined;
  }

  /**
   * The name process `tgid` resolved `addr` (4 or 16 bytes) from, when the kernel has one. Kept
   * past the TTL for evidence (an event names the host even when the rule no longer would).
   */
  nameFor(tgid: number, addr: Uint8Array): string | undefined {
    const v = mapLookup(
      this.#fds.addrs,
      encodeAddrKey(tgid, addr),
      DNS_LAYOUT.hw_dns_addr_val.size,
    );
    if (!v) return undefined;
    return this.nameOf(decodeAddrEntry(encodeAddrKey(tgid, addr), v).name);
  }

  /** Every (process, address) -> name entry (diagnostics and tests). */
  entries(): AddrEntry[] {
    const out: AddrEntry[] = [];
    for (const k of mapKeys(this.#fds.addrs, DNS_LAYOUT.hw_dns_addr_key.size)) {
      const v = mapLookup(this.#fds.addrs, k, DNS_LAYOUT.hw_dns_addr_val.size);
      if (v) out.push(decodeAddrEntry(k, v));
    }
    return out;
  }
}
