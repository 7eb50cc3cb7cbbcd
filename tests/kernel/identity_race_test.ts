/**
 * Re-approval races in the registry, with the real hasher and the kernel identity readout: a
 * hash that a write raced never makes an app valid, even when the bytes it read still match.
 */
import assert from "node:assert/strict";
import { AppIds, AppRegistry } from "../../src/identity/registry.ts";
import { KernelIdentity } from "../../src/identity/kernel_key.ts";
import { IdentityIterators } from "../../src/kernel/identity_iter.ts";
import { hashFile } from "../../src/integrity/hash.ts";
import type { App } from "../../src/config/model.ts";

const SIZE = 384 << 20;

async function bigFile(path: string): Promise<void> {
  const f = await Deno.open(path, { create: true, write: true });
  const chunk = new Uint8Array(8 << 20).fill(7);
  for (let o = 0; o < SIZE; o += chunk.length) await f.write(chunk);
  f.close();
}

function app(path: string, sha256: string): App {
  return {
    name: "big",
    path,
    sha256,
    inherit: false,
    interpreter: false,
    loc: { file: "test", line: 1, col: 1 },
  };
}

Deno.test("registry: a re-hash that a write raced does not approve", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hw-race-" });
  const iters = IdentityIterators.load();
  try {
    const path = `${dir}/big`;
    await bigFile(path);
    const approved = (await hashFile(path)).sha256;
    const ident = new KernelIdentity(iters);
    const reg = new AppRegistry(new AppIds(dir), (p) => ident.hash(p));
    reg.setApps([app(path, approved)]);

    // The write lands at offset 0, which the hash has already read: the bytes hashed are the
    // approved ones, the file is not.
    const verifying = reg.verify("big");
    await new Promise((r) => setTimeout(r, 40));
    const f = await Deno.open(path, { write: true });
    await f.write(new Uint8Array([1]));
    f.close();
    const st = await verifying;
    assert.notEqual((await hashFile(path)).sha256, approved, "the file changed");
    assert.equal(st.actualSha256, approved, "the racing hash read the old first bytes");
    assert.notEqual(st.status, "valid");

    // A write event while a hash runs (noteChange) voids it too, even with no visible change.
    await Deno.writeFile(path, new Uint8Array(0));
    await bigFile(path);
    const v2 = reg.verify("big");
    reg.noteChange(reg.get("big")!);
    assert.notEqual((await v2).status, "valid");
    // A clean hash afterwards approves again.
    assert.equal((await reg.verify("big")).status, "valid");
  } finally {
    iters.close();
    await Deno.remove(dir, { recursive: true });
  }
});
