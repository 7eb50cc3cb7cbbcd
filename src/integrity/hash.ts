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
  fstatFd,
  libc,
  openRead,
  type RawStat,
  writeBack,
  writeBackSync,
} from "../../ffi/fanotify.ts";
import { closeFd, errno, ErrnoError } from "../../ffi/libc.ts";
import type { FileTimes } from "../../ffi/structs.ts";

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
  /**
   * Overlap the next read (on an FFI thread) with hashing the current chunk. Default true, which
   * also keeps the event loop responsive. Hash workers pass false: there the parallelism comes
   * from the workers, and plain reads leave one thread per worker on a 2-core machine.
   */
  overlap?: boolean;
  /**
   * Leave the hashed fd open and return it as `fd` (the caller closes it): the identity readout
   * (src/identity/kernel_key.ts) asks the kernel for the key of exactly this open file.
   */
  keepOpen?: boolean;
}

/** A {@link FileHash} whose fd was kept open ({@link HashOptions.keepOpen}). */
export interface OpenFileHash extends FileHash {
  /** The fd that was hashed, still open: close it. */
  fd: number;
}

/** Default read size; bench/hash.ts measures the alternatives. */
export const DEFAULT_CHUNK_SIZE = 4 << 20;

const S_IFMT = 0o170000;
const S_IFREG = 0o100000;

/**
 * The times an approval carries into the kernel (bpf/stale.h), from a hash result or a stat
 * identity: the kernel refuses trust once the inode's times differ.
 *
 * @example
 * ```ts
 * const h = await hashFile("/usr/bin/true");
 * const t = fileTimes(h); // { mtimeNs, ctimeNs } as bigints
 * ```
 */
export function fileTimes(h: { mtimeNs: string; ctimeNs: string }): FileTimes {
  return { mtimeNs: BigInt(h.mtimeNs), ctimeNs: BigInt(h.ctimeNs) };
}

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
 * Throws an {@link ErrnoError} naming the path when it cannot be opened, and an Error when it is not
 * a regular file (a FIFO or device could block or never end).
 *
 * @example
 * ```ts
 * const h = await hashFile("/usr/bin/true");
 * console.log(h.sha256, h.dev, h.ino, h.changedDuringHash);
 * ```
 */
export function hashFile(
  path: string,
  opts: HashOptions & { keepOpen: true },
): Promise<OpenFileHash>;
export function hashFile(path: string, opts?: HashOptions): Promise<FileHash>;
export async function hashFile(path: string, opts: HashOptions = {}): Promise<FileHash> {
  const chunk = opts.chunkSize ?? DEFAULT_CHUNK_SIZE;
  const overlap = opts.overlap ?? true;
  if (!Number.isInteger(chunk) || chunk < 4096) {
    throw new RangeError(`chunkSize must be an integer ≥ 4096, got ${chunk}`);
  }
  const fd = openRead(path);
  let keep = false;
  try {
    // Dirty pages written back first: a page dirtied through a shared mapping before this hash
    // becomes read-only in that mapping, so any later write faults and moves the times this
    // approval carries into the kernel (bpf/stale.h). Clean files cost a page-cache tag lookup.
    // (In a hash worker, overlap off, on the worker's own thread: no round trip per file.)
    if (overlap) await writeBack(fd);
    else writeBackSync(fd);
    const before = fstatFd(fd);
    if ((before.mode & S_IFMT) !== S_IFREG) throw new Error(`${path}: not a regular file`);
    const sha = createHash("sha256");
    const lc = libc();
    // Two buffers: the kernel fills one on a worker thread while we digest the other. Buffers
    // are recycled: allocating (and zeroing) fresh MiBs per file costs more than hashing small files.
    const [b1, b2] = [takeBuffer(chunk), takeBuffer(chunk)];
    let cur = b1, next = b2;
    try {
      const expected = Number(before.size);
      let done = 0;
      const size = BigInt(chunk);
      let n = Number(overlap ? await lc.read_async(fd, cur, size) : lc.read(fd, cur, size));
      while (n !== 0) {
        if (n < 0) throw new ErrnoError(`read(${JSON.stringify(path)})`, readErrno());
        done += n;
        // A short read that reaches the size fstat gave is EOF: skip the extra read call. (A file
        // that grew meanwhile shows in the second fstat as changedDuringHash.)
        const eof = n < chunk && done >= expected;
        const data = n === chunk ? cur : cur.subarray(0, n);
        if (!overlap) {
          sha.update(data);
          n = eof ? 0 : Number(lc.read(fd, cur, size));
          continue;
        }
        const pending = eof ? 0n : lc.read_async(fd, next, size);
        sha.update(data);
        n = Number(await pending);
        [cur, next] = [next, cur];
      }
    } finally {
      giveBuffer(b1);
      giveBuffer(b2);
    }
    const after = fstatFd(fd);
    const out: FileHash = {
      ...identityOf(path, before),
      sha256: sha.digest("hex"),
      changedDuringHash: after.size !== before.size || after.mtimeNs !== before.mtimeNs ||
        after.ctimeNs !== before.ctimeNs,
    };
    keep = opts.keepOpen === true;
    return keep ? { ...out, fd } as OpenFileHash : out;
  } finally {
    if (!keep) closeFd(fd);
  }
}

const spare = new Map<number, Uint8Array<ArrayBuffer>[]>();

function takeBuffer(size: number): Uint8Array<ArrayBuffer> {
  return spare.get(size)?.pop() ?? new Uint8Array(size);
}

function giveBuffer(b: Uint8Array<ArrayBuffer>): void {
  const list = spare.get(b.length) ?? [];
  // Keep a few per size: enough for the concurrent hashes one thread runs.
  if (list.length < 4) list.push(b);
  spare.set(b.length, list);
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
