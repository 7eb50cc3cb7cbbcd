/**
 * hw_app_val carries the file's mtime/ctime split into seconds and nanoseconds as the kernel
 * keeps them (bpf/stale.h compares them field by field).
 */
import assert from "node:assert/strict";
import { decodeAppVal, encodeAppVal, LAYOUT } from "../../ffi/structs.ts";
import { fileTimes } from "../../src/integrity/hash.ts";

Deno.test("encodeAppVal: times split into sec + nsec, round trip, before 1970 too", () => {
  const times = { mtimeNs: 1_796_455_413_301_785_162n, ctimeNs: -1_500_000_000n };
  const b = encodeAppVal({ appId: 7, flags: 3, times });
  const v = new DataView(b.buffer);
  const f = LAYOUT.hw_app_val.fields;
  assert.equal(v.getBigInt64(f.mtime_sec, true), 1_796_455_413n);
  assert.equal(v.getUint32(f.mtime_nsec, true), 301_785_162);
  // -1.5 s is sec -2 + 500 000 000 ns, as the kernel's timespec64 holds it.
  assert.equal(v.getBigInt64(f.ctime_sec, true), -2n);
  assert.equal(v.getUint32(f.ctime_nsec, true), 500_000_000);
  assert.deepEqual(decodeAppVal(b), { appId: 7, flags: 3, times });
});

Deno.test("fileTimes: from the decimal strings of a hash result", () => {
  assert.deepEqual(fileTimes({ mtimeNs: "12", ctimeNs: "1000000001" }), {
    mtimeNs: 12n,
    ctimeNs: 1_000_000_001n,
  });
});
