/**
 * The TS mirror ffi/structs.ts must agree with bpf/hashwall.h: every size, offset and constant it
 * claims is compiled against the header and compared (tests/helpers/layout_probe.ts).
 */
import assert from "node:assert/strict";
import { HW, LAYOUT } from "../../ffi/structs.ts";
import { probeLayout } from "../helpers/layout_probe.ts";

Deno.test("ffi/structs.ts mirrors every size, offset and constant of bpf/hashwall.h", async () => {
  const r = await probeLayout({
    layouts: LAYOUT,
    constants: HW,
    constPrefix: "HW_",
    otherPrefixes: ["HW_FLT_", "HW_DNS_"],
  });
  assert.deepEqual(r.mismatches, []);
  assert.ok(r.checked > 40, "the probe checks a meaningful number of facts");
});

Deno.test("the layout probe fails when the header defines a constant the mirror lacks", async () => {
  const { MAX_APPS: _, ...withoutOne } = HW;
  const r = await probeLayout({
    layouts: {},
    constants: withoutOne,
    constPrefix: "HW_",
    otherPrefixes: ["HW_FLT_", "HW_DNS_"],
  });
  assert.deepEqual(r.mismatches, [
    "const.HW_MAX_APPS: defined in the header, missing from the mirror",
  ]);
});
