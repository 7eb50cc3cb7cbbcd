/**
 * The TypeScript mirror of the "hostnames" section of bpf/hashwall.h: constants, sizes and
 * offsets, with encoders/decoders built only on those offsets.
 *
 * tests/unit/dns_layout_test.ts compiles a C probe against the header and checks every size,
 * offset and constant here. Change both together.
 *
 * @module
 */

/** Constants of the hostnames section (names without the `HW_DNS_` prefix). */
export const DNS = {
  PORT: 53,
  NAME_LEN: 256,
  NAME_MAX: 253,
  PKT_MAX: 1024,
  MAX_ANSWERS: 16,
  MAX_PTRS: 8,
  MAX_CHAIN: 8,
  PATS: 4,
  ADDR_MAX: 131072,
  NAMES_MAX: 16384,
  QUERY_MAX: 16384,
  SOCK_MAX: 16384,
  PAT_MAX: 131072,
  RULE_MAX: 262144,
  TTL_MAX_S: 86400,
  TTL_GRACE_S: 3,
  CNT_QUERIES: 0,
  CNT_ANSWERS: 1,
  CNT_ADDRS: 2,
  CNT_UNMATCHED: 3,
  CNT_MALFORMED: 4,
  CNT_OVERFLOW: 5,
  CNT_SKIPPED: 6,
  CNT_NAME_HITS: 7,
  CNT_MAX: 8,
} as const;

/** Names of the DNS counters, indexed by their HW_DNS_CNT_* value (for status and /metrics). */
export const DNS_COUNTER_NAMES = [
  "queries",
  "answers",
  "addresses",
  "unmatched",
  "malformed",
  "overflow",
  "skipped_records",
  "name_rule_hits",
] as const;

/** Size and field offsets of each hostnames struct. */
export const DNS_LAYOUT = {
  hw_dns_sock_val: { size: 16, fields: { start_ns: 0, tgid: 8 } },
  hw_dns_query_key: { size: 16, fields: { cookie: 0, id: 8 } },
  hw_dns_query_val: { size: 24, fields: { qhash: 0, start_ns: 8, tgid: 16 } },
  hw_dns_addr_key: { size: 24, fields: { tgid: 0, family: 4, addr: 8 } },
  hw_dns_addr_val: { size: 56, fields: { expires_ns: 0, start_ns: 8, name: 16, pats: 24 } },
  hw_dns_name: { size: 256, fields: { name: 0 } },
  hw_dns_rule_key: {
    size: 24,
    fields: { gen: 0, dir: 1, proto: 2, pclass: 4, app_id: 8, pat: 16 },
  },
} as const;

const L = DNS_LAYOUT;

/** A name-rule map key (bpf/rules_app.h hw_flt_names). */
export interface NameRuleKey {
  gen: number;
  dir: number;
  proto: number;
  pclass: number;
  appId: number;
  /** Pattern hash (see src/policy/names.ts). */
  pat: bigint;
}

/** Encodes a key of hw_flt_names. */
export function encodeNameRuleKey(k: NameRuleKey): Uint8Array {
  const f = L.hw_dns_rule_key.fields;
  const b = new Uint8Array(L.hw_dns_rule_key.size);
  const dv = new DataView(b.buffer);
  b[f.gen] = k.gen;
  b[f.dir] = k.dir;
  b[f.proto] = k.proto;
  dv.setUint32(f.pclass, k.pclass, true);
  dv.setUint32(f.app_id, k.appId, true);
  dv.setBigUint64(f.pat, k.pat, true);
  return b;
}

/** The generation byte of a hw_flt_names key. */
export function nameRuleKeyGen(key: Uint8Array): number {
  return key[L.hw_dns_rule_key.fields.gen];
}

/** Encodes a u64 map key (hw_flt_pats, hw_dns_names). */
export function encodeU64(v: bigint): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, v, true);
  return b;
}

/** Decodes a u64 map key. */
export function decodeU64(b: Uint8Array): bigint {
  return new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0, true);
}

/** Encodes a (process, address) key of hw_dns_addrs; `addr` has 4 or 16 bytes. */
export function encodeAddrKey(tgid: number, addr: Uint8Array): Uint8Array {
  const f = L.hw_dns_addr_key.fields;
  const b = new Uint8Array(L.hw_dns_addr_key.size);
  new DataView(b.buffer).setUint32(f.tgid, tgid, true);
  b[f.family] = addr.length === 4 ? 4 : 6;
  b.set(addr, f.addr);
  return b;
}

/** A decoded (process, address) -> name entry. */
export interface AddrEntry {
  tgid: number;
  family: 4 | 6;
  addr: Uint8Array;
  expiresNs: bigint;
  startNs: bigint;
  /** Hash of the question's name: the key of hw_dns_names. */
  name: bigint;
  /** Rule patterns the name matched when it was answered. */
  pats: bigint[];
}

/** Decodes a hw_dns_addrs entry. */
export function decodeAddrEntry(key: Uint8Array, value: Uint8Array): AddrEntry {
  const kf = L.hw_dns_addr_key.fields;
  const vf = L.hw_dns_addr_val.fields;
  const kd = new DataView(key.buffer, key.byteOffset, key.byteLength);
  const vd = new DataView(value.buffer, value.byteOffset, value.byteLength);
  const family = key[kf.family] === 4 ? 4 : 6;
  const pats: bigint[] = [];
  for (let i = 0; i < DNS.PATS; i++) {
    const p = vd.getBigUint64(vf.pats + 8 * i, true);
    if (p !== 0n) pats.push(p);
  }
  return {
    tgid: kd.getUint32(kf.tgid, true),
    family,
    addr: key.slice(kf.addr, kf.addr + (family === 4 ? 4 : 16)),
    expiresNs: vd.getBigUint64(vf.expires_ns, true),
    startNs: vd.getBigUint64(vf.start_ns, true),
    name: vd.getBigUint64(vf.name, true),
    pats,
  };
}

/** Decodes a hw_dns_names value (NUL-terminated ASCII). */
export function decodeName(value: Uint8Array): string {
  const end = value.indexOf(0);
  return new TextDecoder().decode(value.subarray(0, end < 0 ? value.length : end));
}
