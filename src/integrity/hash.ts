/**
 * Streaming SHA-256 of one file, bound to the identity of exactly the bytes hashed: the file is
 * opened once, the SAME fd is fstat'ed before and after reading, and the result says whether the
 * file moved underneath (size, mtime or ctime changed while hashing).
 *
 * Reads run off the event loop (FFI `nonblocking` read) and overlap the hashing of the previous
 * chunk, so hashing a large file neither holds the whole file in memory nor freezes the event loop
 * for longer than one chunk's digest update.
 *
 * @module
 */
import { createHash } from "node:crypto";
import {
  closeFd,
  errno,
  fstatFd,
  libc,
  openRead,
  type RawStat,
  SysError,
} from "../../ffi/fanotify.ts";

/** The identity and content hash of one regular file. 64-bit numbers are decimal strings. */
export interface FileHash {
  path: string;
  /** Lower-case hex SHA-256 of the content. */
  sha256: string;
  size: number;
  /** Userspace `st_dev` (see src/identity/devno.ts `kernelDev` for the kernel encoding). */
  dev: string;
  ino: string;
  mtimeNs: string;
  ctimeNs: string;
  /** Full `st_mode` (type and permission bits). */
  mode: number;
  uid: number;
  gid: number;
  /** True when size, mtime or ctime differed between the fstat before and after hashing. */
  changedDuringHash: boolean;
}

/** Options of {@link hashFile}. */
export interface HashOptions {
  /** Bytes per read; 1 MiB or more (measured: bench/hash.ts). Default 4 MiB. */
  chunkSize?: number;
}

/** Default read size; bench/hash.ts measures the alternatives. */
export const DEFAULT_CHUNK_SIZE = 4 << 20;

const S_IFMT = 0o170000;
const S_IFREG = 0o100000;

/** Builds the identity part of a {@link FileHash} from a raw stat. */
export function identityOf(
  path: string,
  st: RawStat,
): Omit<FileHash, "sha256" | "changedDuringHash"> {
  return {
    path,
    size: Number(st.size),
    dev: st.dev.toString(),
    ino: st.ino.toString(),
    mtimeNs: st.mtimeNs.toString(),
    ctimeNs: st.ctimeNs.toString(),
    mode: st.mode,
    uid: st.uid,
    gid: st.gid,
  };
}

/**
 * Hashes `path` with SHA-256, streaming in large reads.
 *
 * Throws a {@link SysError} naming the path when it cannot be opened, and an Error when it is not
 * a regular file (a FIFO or device could block or never end).
 *
 * @example
 * ```ts
 * const h = await hashFile("/usr/bin/true");
 * console.log(h.sha256, h.dev, h.ino, h.changedDuringHash);
 * ```
 */
export async function hashFile(path: string, opts: HashOptions = {}): Promise<FileHash> {
  const chunk = opts.chunkSize ?? DEFAULT_CHUNK_SIZE;
  if (!Number.isInteger(chunk) || chunk < 4096) {
    throw new RangeError(`chunkSize must be an integer ≥ 4096, got ${chunk}`);
  }
  const fd = openRead(path);
  try {
    const before = fstatFd(fd);
    if ((before.mode & S_IFMT) !== S_IFREG) throw new Error(`${path}: not a regular file`);
    const sha = createHash("sha256");
    const lc = libc();
    // Two buffers: the kernel fills one on a worker thread while we digest the other.
    let cur = new Uint8Array(chunk);
    let next = new Uint8Array(chunk);
    let n = Number(await lc.read_async(fd, cur, BigInt(chunk)));
    while (n !== 0) {
      if (n < 0) throw new SysError("read", readErrno(), path);
      const pending = lc.read_async(fd, next, BigInt(chunk));
      sha.update(n === chunk ? cur : cur.subarray(0, n));
      n = Number(await pending);
      [cur, next] = [next, cur];
    }
    const after = fstatFd(fd);
    return {
      ...identityOf(path, before),
      sha256: sha.digest("hex"),
      changedDuringHash: after.size !== before.size || after.mtimeNs !== before.mtimeNs ||
        after.ctimeNs !== before.ctimeNs,
    };
  } finally {
    closeFd(fd);
  }
}

// errno of a nonblocking call lives on the thread that ran it; a synchronous re-read tells the
// real reason (it fails the same way for EIO/EISDIR, the only causes on an open regular file).
function readErrno(): number {
  return errno() || 5;
}

/**
 * The identity of `path` now (open + fstat, no hashing): what a hash-cache lookup compares.
 * Throws like {@link hashFile} for missing or non-regular files.
 */
export function statIdentity(path: string): Omit<FileHash, "sha256" | "changedDuringHash"> {
  const fd = openRead(path);
  try {
    const st = fstatFd(fd);
    if ((st.mode & S_IFMT) !== S_IFREG) throw new Error(`${path}: not a regular file`);
    return identityOf(path, st);
  } finally {
    closeFd(fd);
  }
}
