/**
 * The TypeScript mirror of the "packet filter" section of bpf/hashwall.h: constants, sizes and
 * offsets, with encoders/decoders built only on those offsets.
 *
 * tests/unit/policy_layout_test.ts compiles a C probe against the header and checks every size,
 * offset and constant here. Change both together.
 *
 * @module
 */

/** Constants of the packet filter section (names without the `HW_FLT_` prefix). */
export const FLT = {
  MAX_RULES: 16384,
  SLOTS: 16384 + 4,
  SLOT_DEFAULT_IN: 16384,
  SLOT_DEFAULT_OUT: 16385,
  SLOT_UNTRACKED: 16386,
  SLOT_SOCKET: 16387,
  LPM_MAX: 262144,
  HOST_MAX: 262144,
  PORT_MAX: 65536,
  FLOWS_MAX: 65536,
  SOCK_MAX: 65536,
  NO_RULE: 0xffffffff,
  PCLASS_ANY: 0xffffffff,
  PCLASS_NONE: 0xfffffffe,
  DIR_IN: 0,
  DIR_OUT: 1,
  PROTO_ICMP: 1,
  PROTO_TCP: 6,
  PROTO_UDP: 17,
  PROTO_ICMPV6: 58,
  PROTO_OTHER: 255,
  NONE: 0,
  ALLOW: 1,
  DENY: 2,
  LPM_META_BITS: 96,
  PORT_META_BITS: 32,
  ST_OPEN: 1,
  ST_CLOSING: 2,
  FIN_IN: 1,
  FIN_OUT: 2,
  CNT_PASS_STATE: 0,
  CNT_NEW_FLOW: 1,
  CNT_FLOW_CLOSED: 2,
  CNT_FLOW_EXPIRED: 3,
  CNT_DROP: 4,
  CNT_WOULD_DROP: 5,
  CNT_UNTRACKED: 6,
  CNT_LOOPBACK: 7,
  CNT_NON_IP: 8,
  CNT_REJUDGED: 9,
  CNT_REJUDGE_DROP: 10,
  CNT_FLOW_FAIL: 11,
  CNT_RELATED: 12,
  CNT_MAX: 16,
  VIA_BIT: 0x80000000,
  VIA_ID_BASE: 0x80000000,
  VIA_GROUPS_MAX: 8192,
} as const;

/** Names of the global filter counters, indexed by their HW_FLT_CNT_* value. */
export const FLT_COUNTER_NAMES: readonly string[] = [
  "pass_state",
  "new_flow",
  "flow_closed",
  "flow_expired",
  "drop",
  "would_drop",
  "untracked",
  "loopback",
  "non_ip",
  "rejudged",
  "rejudge_drop",
  "flow_fail",
  "related",
];

/** Size and field offsets of each filter struct. */
export const FLT_LAYOUT = {
  hw_flt_lpm4_key: {
    size: 24,
    fields: { prefixlen: 0, gen: 4, dir: 5, proto: 6, pclass: 8, app_id: 12, addr: 16 },
  },
  hw_flt_lpm6_key: {
    size: 32,
    fields: { prefixlen: 0, gen: 4, dir: 5, proto: 6, pclass: 8, app_id: 12, addr: 16 },
  },
  hw_flt_match: { size: 8, fields: { rule: 0, action: 4 } },
  hw_flt_host4_key: {
    size: 16,
    fields: { gen: 0, dir: 1, proto: 2, pclass: 4, app_id: 8, addr: 12 },
  },
  hw_flt_host6_key: {
    size: 32,
    fields: { gen: 0, dir: 1, proto: 2, pclass: 4, app_id: 8, addr: 12 },
  },
  hw_flt_portx_key: { size: 8, fields: { gen: 0, dir: 1, proto: 2, port: 4 } },
  hw_flt_port_key: { size: 16, fields: { prefixlen: 0, gen: 4, dir: 5, proto: 6, port: 8 } },
  hw_flt_ctl: {
    size: 24,
    fields: {
      active_gen: 0,
      tcp_idle_s: 4,
      udp_idle_s: 8,
      icmp_idle_s: 12,
      tcp_close_s: 16,
      seq: 20,
    },
  },
  hw_flt_gen: {
    size: 24,
    fields: { mode: 0, def_in: 4, def_out: 8, def_untracked: 12, nrules: 16, any_mask: 20 },
  },
  hw_flt_flow_key: {
    size: 40,
    fields: { remote: 0, local: 16, rport: 32, lport: 34, proto: 36, family: 37 },
  },
  hw_flt_flow: {
    size: 24,
    fields: { last_ns: 0, slot: 8, gen: 12, origin: 16, state: 17, fin: 18 },
  },
  hw_flt_counter: { size: 32, fields: { packets: 0, bytes: 8, would_drop: 16, dropped: 24 } },
  hw_flt_via_key: { size: 12, fields: { gen: 0, app_id: 4, via_app: 8 } },
} as const;

const L = FLT_LAYOUT;

/** An address trie key (IPv4 when `addr` has 4 bytes, IPv6 when 16). */
export interface LpmKey {
  gen: number;
  dir: number;
  proto: number;
  pclass: number;
  appId: number;
  addr: Uint8Array;
  /** Prefix length of the address part only (0..32 or 0..128). */
  addrPrefix: number;
}

/** Encodes an address trie key for hw_flt_lpm4 / hw_flt_lpm6. */
export function encodeLpmKey(k: LpmKey): Uint8Array {
  const v4 = k.addr.length === 4;
  const lay = v4 ? L.hw_flt_lpm4_key : L.hw_flt_lpm6_key;
  const b = new Uint8Array(lay.size);
  const dv = new DataView(b.buffer);
  dv.setUint32(lay.fields.prefixlen, FLT.LPM_META_BITS + k.addrPrefix, true);
  b[lay.fields.gen] = k.gen;
  b[lay.fields.dir] = k.dir;
  b[lay.fields.proto] = k.proto;
  dv.setUint32(lay.fields.pclass, k.pclass, true);
  dv.setUint32(lay.fields.app_id, k.appId, true);
  b.set(k.addr, lay.fields.addr);
  return b;
}

/** Encodes a host hash key (hw_flt_host4 / hw_flt_host6) from a full-length LpmKey. */
export function encodeHostKey(k: Omit<LpmKey, "addrPrefix">): Uint8Array {
  const lay = k.addr.length === 4 ? L.hw_flt_host4_key : L.hw_flt_host6_key;
  const b = new Uint8Array(lay.size);
  const dv = new DataView(b.buffer);
  b[lay.fields.gen] = k.gen;
  b[lay.fields.dir] = k.dir;
  b[lay.fields.proto] = k.proto;
  dv.setUint32(lay.fields.pclass, k.pclass, true);
  dv.setUint32(lay.fields.app_id, k.appId, true);
  b.set(k.addr, lay.fields.addr);
  return b;
}

/** Encodes a hw_flt_portx_key (port in host order). */
export function encodePortxKey(k: Omit<PortKey, "portPrefix">): Uint8Array {
  const f = L.hw_flt_portx_key.fields;
  const b = new Uint8Array(L.hw_flt_portx_key.size);
  b[f.gen] = k.gen;
  b[f.dir] = k.dir;
  b[f.proto] = k.proto;
  new DataView(b.buffer).setUint16(f.port, k.port, true);
  return b;
}

/** Encodes a hw_flt_via_key: (gen, rule app or 0, via app) of a [[rule]] via group. */
export function encodeViaKey(gen: number, appId: number, viaApp: number): Uint8Array {
  const f = L.hw_flt_via_key.fields;
  const b = new Uint8Array(L.hw_flt_via_key.size);
  const dv = new DataView(b.buffer);
  b[f.gen] = gen;
  dv.setUint32(f.app_id, appId >>> 0, true);
  dv.setUint32(f.via_app, viaApp >>> 0, true);
  return b;
}

/** Decodes the generation byte of a host or single-port hash key. */
export function hashKeyGen(key: Uint8Array): number {
  return key[0];
}

/** Decodes the generation byte of an address trie key (to clear one generation). */
export function lpmKeyGen(key: Uint8Array): number {
  return key[L.hw_flt_lpm4_key.fields.gen];
}

/** Encodes a hw_flt_match value. */
export function encodeMatch(rule: number, action: number): Uint8Array {
  const b = new Uint8Array(L.hw_flt_match.size);
  const dv = new DataView(b.buffer);
  dv.setUint32(L.hw_flt_match.fields.rule, rule, true);
  dv.setUint32(L.hw_flt_match.fields.action, action, true);
  return b;
}

/** A port trie key: `port` is the first port of the prefix, `portPrefix` 0..16 bits. */
export interface PortKey {
  gen: number;
  dir: number;
  proto: number;
  port: number;
  portPrefix: number;
}

/** Encodes a hw_flt_port_key (port in network order). */
export function encodePortKey(k: PortKey): Uint8Array {
  const f = L.hw_flt_port_key.fields;
  const b = new Uint8Array(L.hw_flt_port_key.size);
  const dv = new DataView(b.buffer);
  dv.setUint32(f.prefixlen, FLT.PORT_META_BITS + k.portPrefix, true);
  b[f.gen] = k.gen;
  b[f.dir] = k.dir;
  b[f.proto] = k.proto;
  dv.setUint16(f.port, k.port, false);
  return b;
}

/** Decodes the generation byte of a port trie key. */
export function portKeyGen(key: Uint8Array): number {
  return key[L.hw_flt_port_key.fields.gen];
}

/** Encodes a u32 (map keys and the port-class values). */
export function encodeU32(v: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, v >>> 0, true);
  return b;
}

/** hw_flt_ctl fields. */
export interface FilterCtl {
  activeGen: number;
  tcpIdleS: number;
  udpIdleS: number;
  icmpIdleS: number;
  tcpCloseS: number;
  /**
   * Bumped by every generation switch and never reused (0 before the first): the connect hooks'
   * verdict cache is keyed by it (bpf/verdict_cache.h), so a switch retires every cached verdict.
   */
  seq: number;
}

/** Encodes struct hw_flt_ctl. */
export function encodeCtl(c: FilterCtl): Uint8Array {
  const f = L.hw_flt_ctl.fields;
  const b = new Uint8Array(L.hw_flt_ctl.size);
  const dv = new DataView(b.buffer);
  dv.setUint32(f.active_gen, c.activeGen, true);
  dv.setUint32(f.tcp_idle_s, c.tcpIdleS, true);
  dv.setUint32(f.udp_idle_s, c.udpIdleS, true);
  dv.setUint32(f.icmp_idle_s, c.icmpIdleS, true);
  dv.setUint32(f.tcp_close_s, c.tcpCloseS, true);
  dv.setUint32(f.seq, c.seq, true);
  return b;
}

/** Decodes struct hw_flt_ctl. */
export function decodeCtl(b: Uint8Array): FilterCtl {
  const f = L.hw_flt_ctl.fields;
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  return {
    activeGen: dv.getUint32(f.active_gen, true),
    tcpIdleS: dv.getUint32(f.tcp_idle_s, true),
    udpIdleS: dv.getUint32(f.udp_idle_s, true),
    icmpIdleS: dv.getUint32(f.icmp_idle_s, true),
    tcpCloseS: dv.getUint32(f.tcp_close_s, true),
    seq: dv.getUint32(f.seq, true),
  };
}

/** hw_flt_gen fields (actions as HW_FLT_ALLOW/DENY, mode as HW_MODE_*). */
export interface FilterGen {
  mode: number;
  defIn: number;
  defOut: number;
  defUntracked: number;
  nrules: number;
  /** Bits {@link anyBit}(dir, proto): rules without ports exist for that direction/protocol. */
  anyMask: number;
}

/** The any_mask bit of a direction and keyed protocol (HW_FLT_ANY_BIT). */
export function anyBit(dir: number, proto: number): number {
  const slot = proto === FLT.PROTO_TCP
    ? 0
    : proto === FLT.PROTO_UDP
    ? 1
    : proto === FLT.PROTO_ICMP
    ? 2
    : proto === FLT.PROTO_ICMPV6
    ? 3
    : 4;
  return (1 << (dir * 8 + slot)) >>> 0;
}

/** Encodes struct hw_flt_gen. */
export function encodeGen(g: FilterGen): Uint8Array {
  const f = L.hw_flt_gen.fields;
  const b = new Uint8Array(L.hw_flt_gen.size);
  const dv = new DataView(b.buffer);
  dv.setUint32(f.mode, g.mode, true);
  dv.setUint32(f.def_in, g.defIn, true);
  dv.setUint32(f.def_out, g.defOut, true);
  dv.setUint32(f.def_untracked, g.defUntracked, true);
  dv.setUint32(f.nrules, g.nrules, true);
  dv.setUint32(f.any_mask, g.anyMask, true);
  return b;
}

/** One hw_flt_counter, summed over CPUs. */
export interface SlotCounter {
  packets: number;
  bytes: number;
  wouldDrop: number;
  dropped: number;
}

/** Sums per-CPU hw_flt_counter copies (each `FLT_LAYOUT.hw_flt_counter.size` bytes). */
export function sumCounters(perCpu: Uint8Array[]): SlotCounter {
  const f = L.hw_flt_counter.fields;
  const out: SlotCounter = { packets: 0, bytes: 0, wouldDrop: 0, dropped: 0 };
  for (const b of perCpu) {
    const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
    out.packets += Number(dv.getBigUint64(f.packets, true));
    out.bytes += Number(dv.getBigUint64(f.bytes, true));
    out.wouldDrop += Number(dv.getBigUint64(f.would_drop, true));
    out.dropped += Number(dv.getBigUint64(f.dropped, true));
  }
  return out;
}

/** A decoded flow table entry with its key. */
export interface FlowEntry {
  family: 4 | 6;
  proto: number;
  remote: Uint8Array;
  local: Uint8Array;
  rport: number;
  lport: number;
  lastNs: bigint;
  slot: number;
  gen: number;
  origin: number;
  state: number;
  fin: number;
}

/** Decodes a flow key and value. */
export function decodeFlow(key: Uint8Array, value: Uint8Array): FlowEntry {
  const k = L.hw_flt_flow_key.fields;
  const v = L.hw_flt_flow.fields;
  const kd = new DataView(key.buffer, key.byteOffset, key.byteLength);
  const vd = new DataView(value.buffer, value.byteOffset, value.byteLength);
  const family = key[k.family] === 6 ? 6 : 4;
  const n = family === 4 ? 4 : 16;
  return {
    family,
    proto: key[k.proto],
    remote: key.slice(k.remote, k.remote + n),
    local: key.slice(k.local, k.local + n),
    rport: kd.getUint16(k.rport, true),
    lport: kd.getUint16(k.lport, true),
    lastNs: vd.getBigUint64(v.last_ns, true),
    slot: vd.getUint32(v.slot, true),
    gen: vd.getUint32(v.gen, true),
    origin: value[v.origin],
    state: value[v.state],
    fin: value[v.fin],
  };
}
