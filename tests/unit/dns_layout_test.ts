/**
 * ffi/dns_structs.ts must agree with the hostnames section of bpf/hashwall.h: every size, offset
 * and constant it claims is compiled against the header and compared.
 */
import assert from "node:assert/strict";
import { DNS, DNS_COUNTER_NAMES, DNS_LAYOUT } from "../../ffi/dns_structs.ts";
import { probeLayout } from "../helpers/layout_probe.ts";

Deno.test("ffi/dns_structs.ts mirrors the hostnames section of bpf/hashwall.h", async () => {
  const r = await probeLayout({ layouts: DNS_LAYOUT, constants: DNS, constPrefix: "HW_DNS_" });
  assert.deepEqual(r.mismatches, []);
  assert.ok(r.checked > 40, "the probe checks a meaningful number of facts");
  assert.equal(DNS_COUNTER_NAMES.length, DNS.CNT_MAX);
});
