/**
 * src/base/sha256.ts against node:crypto: every padding case (lengths around the 55/56/64-byte
 * block edges, several blocks), UTF-8 strings, random bytes, and the instance names derived from
 * it (src/kernel/pins.ts), which must stay what they were with node:crypto: pins and control
 * sockets of running instances are found by that name.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { sha256Hex } from "../../src/base/sha256.ts";
import { instanceName } from "../../src/kernel/pins.ts";

const nodeSha = (d: Uint8Array | string) => createHash("sha256").update(d).digest("hex");

Deno.test("sha256Hex matches node:crypto for every length 0..300 and across block edges", () => {
  const bytes = new Uint8Array(300);
  crypto.getRandomValues(bytes);
  for (let n = 0; n <= bytes.length; n++) {
    const d = bytes.subarray(0, n);
    assert.equal(sha256Hex(d), nodeSha(d), `length ${n}`);
  }
  // FIPS 180-2 examples.
  assert.equal(
    sha256Hex("abc"),
    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
  );
  assert.equal(
    sha256Hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
    "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
  );
  assert.equal(sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
});

Deno.test("sha256Hex hashes strings as UTF-8, and large inputs", () => {
  for (const s of ["/tmp/hw-daemon-1/state", "é/ü/日本/🦕", "x".repeat(100_000)]) {
    assert.equal(sha256Hex(s), nodeSha(s), s.slice(0, 20));
  }
});

Deno.test("instance names are unchanged: s- and the first 16 hex digits of the folder's SHA-256", () => {
  assert.equal(instanceName("/var/lib/hashwall"), "default");
  assert.equal(instanceName("/var/lib/hashwall/"), "default");
  for (const dir of ["/tmp/hw-daemon-8a4cb61204329254/state", "/srv/x/", "/"]) {
    const norm = dir.replace(/\/+$/, "") || "/";
    assert.equal(instanceName(dir), `s-${nodeSha(norm).slice(0, 16)}`, dir);
  }
  // Known value (a running test daemon's socket was found under it before the change).
  assert.equal(instanceName("/tmp/hw-daemon-8a4cb61204329254/state"), "s-91f668a79da76452");
});
