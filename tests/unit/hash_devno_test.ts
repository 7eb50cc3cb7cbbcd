import assert from "node:assert/strict";
import { devMajor, devMinor, kernelDev, userDev } from "../../src/identity/devno.ts";

Deno.test("devno: 254:0 converts as PLATFORM-FACTS measured", () => {
  assert.equal(devMajor(65024n), 254n);
  assert.equal(devMinor(65024n), 0n);
  assert.equal(kernelDev(65024n), 266338304n);
  assert.equal(userDev(266338304n), 65024n);
});

Deno.test("devno: large minor numbers use glibc's split layout", () => {
  // 259:65537 — minor above 255 spreads into bits 20.. of st_dev.
  const st = (259n << 8n) | (65537n & 0xffn) | ((65537n & ~0xffn) << 12n);
  assert.equal(devMajor(st), 259n);
  assert.equal(devMinor(st), 65537n);
  assert.equal(kernelDev(st), (259n << 20n) | 65537n);
  assert.equal(userDev(kernelDev(st)), st);
});

Deno.test("devno: the root filesystem's st_dev round-trips and matches /proc/self/mountinfo", () => {
  const st = Deno.statSync("/");
  const dev = BigInt(st.dev);
  const majmin = Deno.readTextFileSync("/proc/self/mountinfo").split("\n")
    .map((l) => l.split(" ")).find((f) => f[4] === "/")?.[2];
  assert.ok(majmin, "root mount in mountinfo");
  const [maj, min] = majmin.split(":").map(BigInt);
  assert.equal(devMajor(dev), maj);
  assert.equal(devMinor(dev), min);
  assert.equal(userDev(kernelDev(dev)), dev);
});

Deno.test("devno: numbers beyond the kernel encoding are refused", () => {
  const st = (0x1000n << 8n) & 0xfff00n | ((0x1000n & ~0xfffn) << 32n);
  assert.throws(() => kernelDev(st), /does not fit/);
});
