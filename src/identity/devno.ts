/**
 * Device numbers in the two encodings hashwall meets: userspace `st_dev` (glibc's
 * `makedev` layout, what `stat` and Deno report) and the kernel's internal `s_dev`
 * (`major << 20 | minor`, what BPF programs read from `inode->i_sb->s_dev`, or a btrfs
 * subvolume's anonymous device: bpf/inode_key.h). The kernel's
 * approved-executables map is keyed by the kernel encoding, so every identity crosses here.
 *
 * @module
 */

/** Major number of a userspace (glibc) `st_dev`. */
export function devMajor(stDev: bigint | number): bigint {
  const d = BigInt(stDev);
  return ((d >> 8n) & 0xfffn) | ((d >> 32n) & ~0xfffn);
}

/** Minor number of a userspace (glibc) `st_dev`. */
export function devMinor(stDev: bigint | number): bigint {
  const d = BigInt(stDev);
  return (d & 0xffn) | ((d >> 12n) & ~0xffn);
}

/**
 * Converts a userspace `st_dev` into the kernel's `s_dev` encoding (`major << 20 | minor`).
 *
 * @example
 * ```ts
 * kernelDev(65024n); // 254:0 → 266338304n
 * ```
 */
export function kernelDev(stDev: bigint | number): bigint {
  const major = devMajor(stDev);
  const minor = devMinor(stDev);
  // The kernel keeps 12 bits of major and 20 bits of minor; larger numbers cannot exist there.
  if (major > 0xfffn || minor > 0xfffffn) {
    throw new RangeError(`device ${major}:${minor} does not fit the kernel's s_dev encoding`);
  }
  return (major << 20n) | minor;
}

/** Converts the kernel's `s_dev` (`major << 20 | minor`) back into a userspace `st_dev`. */
export function userDev(kernelSDev: bigint | number): bigint {
  const k = BigInt(kernelSDev);
  const major = k >> 20n;
  const minor = k & 0xfffffn;
  return ((major & 0xfffn) << 8n) | ((major & ~0xfffn) << 32n) | (minor & 0xffn) |
    ((minor & ~0xffn) << 12n);
}
