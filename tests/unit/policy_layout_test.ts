/**
 * ffi/filter_structs.ts must agree with the packet-filter section of bpf/hashwall.h: every size,
 * offset, constant and any-bit it claims is compiled against the header and compared.
 */
import assert from "node:assert/strict";
import { anyBit, FLT, FLT_LAYOUT } from "../../ffi/filter_structs.ts";
import { probeLayout } from "../helpers/layout_probe.ts";

Deno.test("ffi/filter_structs.ts mirrors the packet-filter section of bpf/hashwall.h", async () => {
  const expressions: Record<string, [string, number]> = {};
  for (const dir of [0, 1]) {
    for (const proto of [1, 6, 17, 58, 255]) {
      expressions[`anybit.${dir}.${proto}`] = [
        `HW_FLT_ANY_BIT(${dir}, ${proto})`,
        anyBit(dir, proto),
      ];
    }
  }
  const r = await probeLayout({
    layouts: FLT_LAYOUT,
    constants: FLT,
    constPrefix: "HW_FLT_",
    expressions,
  });
  assert.deepEqual(r.mismatches, []);
  assert.ok(r.checked > 60, "the probe checks a meaningful number of facts");
});
