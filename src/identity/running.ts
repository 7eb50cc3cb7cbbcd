/**
 * Identity helpers: the string form of a kernel identity (Map keys), and a stat-derived identity
 * for tests. Running processes and the keys the daemon writes come from src/identity/kernel_key.ts.
 *
 * @module
 */
import type { ExeKey } from "../../ffi/structs.ts";
import { kernelDev } from "./devno.ts";

/**
 * Kernel identity (kernel dev encoding + inode) of a file as `stat` reports it. Matches the
 * hooks' key on ext4, xfs, tmpfs and btrfs (where both are the subvolume's anonymous device),
 * not necessarily on overlayfs: for tests and benchmarks that set up maps by hand. The daemon
 * takes every key from the kernel (src/identity/kernel_key.ts).
 */
export function identityOf(info: Deno.FileInfo): ExeKey {
  return { dev: kernelDev(BigInt(info.dev)), ino: BigInt(info.ino ?? 0) };
}

/** A stable string form of an identity, for Map keys. */
export function keyString(k: ExeKey): string {
  return `${k.dev}:${k.ino}`;
}
