/**
 * Writes the watch does not see: an approved binary on an overlayfs mount is a file of the
 * overlay (its key is the overlay's device and inode), but its bytes live in the upper layer's
 * file, a different inode on another superblock. A user who may write that file (here: nobody
 * owns it, as with a user's own tool inside a container's root) can write it through the upper
 * folder's path, which never opens the overlay's inode: the kernel revocation (keyed by the
 * overlay's identity) and a watch on the overlay's inode both miss it. The exec check must then
 * refuse the changed file anyway.
 *
 * The overlay is mounted by the test (root) under its own temporary folder and unmounted on
 * every path.
 */
import assert from "node:assert/strict";
import { netclientCopy } from "../helpers/netclient.ts";
import { HW } from "../../ffi/structs.ts";
import { NOBODY, secSetup } from "./harness.ts";

async function sh(...argv: string[]) {
  const r = await new Deno.Command(argv[0], { args: argv.slice(1), stderr: "piped" }).output();
  if (r.code !== 0) throw new Error(`${argv.join(" ")}: ${new TextDecoder().decode(r.stderr)}`);
}

const APP = 90;

Deno.test({
  name: "attacker: a write to an approved overlay file through its upper layer is not trusted",
  async fn() {
    const f = await secSetup("ovl-upper");
    const root = `${f.dir}/ovl`;
    let mounted = false;
    try {
      for (const d of ["lower", "upper", "work", "merged"]) {
        await Deno.mkdir(`${root}/${d}`, { recursive: true, mode: 0o755 });
      }
      await sh(
        "mount",
        "-t",
        "overlay",
        `hw-ovl-${crypto.randomUUID().slice(0, 8)}`,
        "-o",
        `lowerdir=${root}/lower,upperdir=${root}/upper,workdir=${root}/work`,
        `${root}/merged`,
      );
      mounted = true;
      // The user's own tool, in the upper layer (e.g. installed inside a container): nobody's.
      const client = await netclientCopy(`${root}/upper`, "client");
      await Deno.chown(client, NOBODY, NOBODY);
      const merged = `${root}/merged/client`;
      await f.approveBinary(merged, APP);
      const P = String(f.port);
      assert.deepEqual(await f.run([merged, "tcp4", "127.0.0.1", P]), ["ok"], "approved");

      // nobody replaces the bytes in place (same upper inode) through the upper folder's path.
      await f.run(["/bin/cp", "/usr/bin/bash", client]);
      const evil = `exec 4<>/dev/tcp/127.0.0.1/${P} 2>/dev/null && echo evil:ok || echo evil:EPERM`;
      assert.deepEqual(
        await f.run([merged, "--norc", "-c", evil]),
        ["evil:EPERM"],
        "the changed file runs untrusted",
      );
      // Refused at exec because the inode's times moved (bpf/stale.h); nothing revoked it.
      assert.ok(f.events().some((e) => e.reason === HW.REASON_STALE), "reason: stale");
    } finally {
      if (mounted) {
        await sh("umount", `${root}/merged`).catch(() => sh("umount", "-l", `${root}/merged`));
      }
      await f.close();
    }
  },
});
