/**
 * Evaluates compiled tables exactly as the kernel does (port-class LPM, then up to four address
 * LPMs keeping the lowest rule index). Used by tests to prove the compiler preserves first-match
 * semantics, and by `rules explain --check` style diagnostics.
 *
 * @module
 */
import { anyBit, FLT } from "../../ffi/filter_structs.ts";
import type { CompiledAddrEntry, CompiledPolicy } from "./compile.ts";
import type { Packet } from "./packet.ts";

function prefixHas(addr: Uint8Array, prefix: Uint8Array, bits: number): boolean {
  for (let i = 0; i < bits; i++) {
    const m = 0x80 >> (i & 7);
    if ((addr[i >> 3] & m) !== (prefix[i >> 3] & m)) return false;
  }
  return true;
}

/** The kernel's rule index for `pkt` (appId 0 = tc path), or -1 when no rule matched. */
export function lookupCompiled(c: CompiledPolicy, pkt: Packet, appId = 0): number {
  const dir = pkt.direction === "in" ? FLT.DIR_IN : FLT.DIR_OUT;
  const proto = [6, 17, 1, 58].includes(pkt.proto) ? pkt.proto : FLT.PROTO_OTHER;
  let pclass: number = FLT.PCLASS_NONE;
  if ((proto === 6 || proto === 17) && pkt.port !== undefined) {
    let best = -1;
    for (const e of c.ports) {
      if (e.dir !== dir || e.proto !== proto || e.bits <= best) continue;
      const shift = 16 - e.bits;
      if ((pkt.port >>> shift) === (e.port >>> shift)) {
        best = e.bits;
        pclass = e.pclass;
      }
    }
  }
  const lpm = (cls: number, app: number): CompiledAddrEntry | undefined => {
    let hit: CompiledAddrEntry | undefined;
    for (const e of c.addrs) {
      if (e.family !== pkt.family || e.dir !== dir || e.proto !== proto) continue;
      if (e.pclass !== cls || e.appId !== app) continue;
      if (hit && hit.bits >= e.bits) continue;
      if (prefixHas(pkt.remote, e.addr, e.bits)) hit = e;
    }
    return hit;
  };
  let rule: number = FLT.NO_RULE;
  const any = (c.anyMask & anyBit(dir, proto)) !== 0;
  const keys: Array<[number, number]> = any ? [[FLT.PCLASS_ANY, 0]] : [];
  if (pclass !== FLT.PCLASS_NONE) keys.push([pclass, 0]);
  if (appId) {
    if (any) keys.push([FLT.PCLASS_ANY, appId]);
    if (pclass !== FLT.PCLASS_NONE) keys.push([pclass, appId]);
  }
  for (const [cls, app] of keys) {
    const m = lpm(cls, app);
    if (m && m.rule < rule) rule = m.rule;
  }
  return rule === FLT.NO_RULE ? -1 : rule;
}
