/**
 * fanotify(7) and the few libc calls the integrity engine needs around it (fstat, poll, pipes,
 * reads off the event loop). The library, errno, close and the error class are ffi/libc.ts's
 * (`bindLibc`, `errno`, `closeFd`, `ErrnoError`); this module adds only its own symbols. Nothing
 * here interprets events: decoding lives in src/integrity/fanotify_events.ts.
 *
 * Each thread (main or Worker) binds the symbols once, on first use (module state is per thread).
 *
 * @module
 */
import {
  bindLibc,
  closeFd,
  cString,
  errno,
  ErrnoError,
  libc as baseLibc,
  O_CLOEXEC,
  O_NONBLOCK,
  O_RDONLY,
} from "./libc.ts";

// fanotify_init flags (include/uapi/linux/fanotify.h)
/** Close the fanotify fd on exec. */
export const FAN_CLOEXEC = 0x1;
/** Non-blocking reads of the fanotify fd. */
export const FAN_NONBLOCK = 0x2;
/** Notification-only group. */
export const FAN_CLASS_NOTIF = 0x0;
/** Group that may receive permission events. */
export const FAN_CLASS_CONTENT = 0x4;
/** Report the directory's file handle and the entry name (FID mode). */
export const FAN_REPORT_DFID_NAME = 0x400 | 0x800;
/** Report the object's own file handle too (with DFID_NAME: child handle). */
export const FAN_REPORT_FID = 0x200;

// event masks
/** File content was written. */
export const FAN_MODIFY = 0x2;
/** A writable file descriptor was closed. */
export const FAN_CLOSE_WRITE = 0x8;
/** An entry was moved out of a marked directory. */
export const FAN_MOVED_FROM = 0x40;
/** An entry was moved into a marked directory. */
export const FAN_MOVED_TO = 0x80;
/** An entry was created in a marked directory. */
export const FAN_CREATE = 0x100;
/** An entry was deleted from a marked directory. */
export const FAN_DELETE = 0x200;
/** The marked object itself was deleted. */
export const FAN_DELETE_SELF = 0x400;
/** The event queue overflowed: events were lost. */
export const FAN_Q_OVERFLOW = 0x4000;
/** Permission to open a file for execution (the exec gate). */
export const FAN_OPEN_EXEC_PERM = 0x40000;
/** The event's subject is a directory. */
export const FAN_ONDIR = 0x40000000;

// fanotify_mark flags
/** Add a mark. */
export const FAN_MARK_ADD = 0x1;
/** Remove a mark. */
export const FAN_MARK_REMOVE = 0x2;
/** Fail unless the path is a directory. */
export const FAN_MARK_ONLYDIR = 0x8;

/** Permission response: allow. */
export const FAN_ALLOW = 0x1;
/** Permission response: deny. */
export const FAN_DENY = 0x2;
/** Event metadata version this code decodes. */
export const FANOTIFY_METADATA_VERSION = 3;
/** `struct fanotify_event_metadata` size. */
export const FAN_EVENT_METADATA_LEN = 24;
/** Info record: directory handle + name. */
export const FAN_EVENT_INFO_TYPE_DFID_NAME = 2;

// open(2) / misc (O_RDONLY, O_NONBLOCK, O_CLOEXEC: ffi/libc.ts)
/** open(2) large-file. */
export const O_LARGEFILE = 0o100000;
/** open(2) do not follow a final symlink. */
export const O_NOFOLLOW = 0o400000;
/** `dirfd` meaning "the current directory". */
export const AT_FDCWD = -100;
/** poll(2) readable. */
export const POLLIN = 0x1;
/** `struct stat` size on x86_64. */
export const STAT_SIZE = 144;
/** Maximum file-handle payload we ask name_to_handle_at for. */
export const MAX_HANDLE_SZ = 128;

const SYMBOLS = {
  fanotify_init: { parameters: ["u32", "u32"], result: "i32" },
  fanotify_mark: { parameters: ["i32", "u32", "u64", "i32", "buffer"], result: "i32" },
  /** The same read, run off the event loop (for overlapping I/O with hashing). */
  read_async: {
    name: "read",
    parameters: ["i32", "buffer", "usize"],
    result: "isize",
    nonblocking: true,
  },
  write: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  fstat: { parameters: ["i32", "buffer"], result: "i32" },
  /** sync_file_range(2) off the event loop: it may wait for a disk write. */
  sync_file_range_async: {
    name: "sync_file_range",
    parameters: ["i32", "i64", "i64", "u32"],
    result: "i32",
    nonblocking: true,
  },
  /** The same, on the calling thread: a hash worker has nothing else to do meanwhile. */
  sync_file_range: { parameters: ["i32", "i64", "i64", "u32"], result: "i32" },
  /** posix_fadvise(2) off the event loop: WILLNEED starts reads that may wait for the disk. */
  posix_fadvise_async: {
    name: "posix_fadvise",
    parameters: ["i32", "i64", "i64", "i32"],
    result: "i32",
    nonblocking: true,
  },
  /** poll(2) off the event loop: the thread waits, the event loop stays free. */
  poll_async: {
    name: "poll",
    parameters: ["buffer", "u64", "i32"],
    result: "i32",
    nonblocking: true,
  },
  pipe2: { parameters: ["buffer", "i32"], result: "i32" },
  name_to_handle_at: {
    parameters: ["i32", "buffer", "buffer", "buffer", "i32"],
    result: "i32",
  },
} as const satisfies Deno.ForeignLibraryInterface;

const own = bindLibc(SYMBOLS);

/** ffi/libc.ts's symbols plus this module's (see `SYMBOLS` above for the C signatures). */
export type Libc = ReturnType<typeof baseLibc> & ReturnType<typeof own>;

let merged: Libc | undefined;

/** sync_file_range(2) flags: wait for, start, and wait for the end of writeback. */
export const SYNC_FILE_RANGE_ALL = 1 | 2 | 4;

/**
 * Writes a file's dirty pages back (sync_file_range, the whole file), on an FFI thread: it may
 * wait for the disk. Writeback write-protects every shared mapping of those pages, so the next
 * write through a mapping faults and moves the file's mtime/ctime again; without it, a page
 * dirtied before a hash stays writable and later writes to it change no time. Best effort:
 * resolves to sync_file_range's result (0 on success; errno is another thread's, not read).
 */
export async function writeBack(fd: number): Promise<number> {
  return await libc().sync_file_range_async(fd, 0n, 0n, SYNC_FILE_RANGE_ALL);
}

/** {@link writeBack} on the calling thread (hash workers: blocking them costs nothing). */
export function writeBackSync(fd: number): number {
  return libc().sync_file_range(fd, 0n, 0n, SYNC_FILE_RANGE_ALL);
}

/** posix_fadvise advice: start reading the range into the page cache now. */
export const POSIX_FADV_WILLNEED = 3;

/**
 * Starts reading all of `path` into the page cache (posix_fadvise WILLNEED on an FFI thread) and
 * closes it when the reads are queued, so a later sequential read of a cold file finds it cached
 * and many files' reads are in flight at once. Best effort: a file that cannot be opened is left
 * to the hash that follows, which reports the error.
 */
export function prefetchFile(path: string): Promise<void> {
  let fd: number;
  try {
    fd = openRead(path);
  } catch {
    return Promise.resolve();
  }
  return libc().posix_fadvise_async(fd, 0n, 0n, POSIX_FADV_WILLNEED).then(
    () => closeFd(fd),
    () => closeFd(fd),
  );
}

/** The symbols of ffi/libc.ts and this module in one table, bound once per thread. */
export function libc(): Libc {
  merged ??= { ...baseLibc(), ...own() };
  return merged;
}

/** The fields of `struct stat` the integrity engine uses (64-bit values as bigint). */
export interface RawStat {
  dev: bigint;
  ino: bigint;
  mode: number;
  uid: number;
  gid: number;
  size: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
}

/** fstat(2) on a raw fd; throws {@link ErrnoError}. `buf` may be passed to avoid an allocation. */
export function fstatFd(
  fd: number,
  buf: Uint8Array<ArrayBuffer> = new Uint8Array(STAT_SIZE),
): RawStat {
  if (libc().fstat(fd, buf) !== 0) throw new ErrnoError(`fstat(${fd})`, errno());
  const v = new DataView(buf.buffer, buf.byteOffset, STAT_SIZE);
  // x86_64 struct stat offsets: dev 0, ino 8, nlink 16, mode 24, uid 28, gid 32, rdev 40,
  // size 48, blksize 56, blocks 64, atim 72, mtim 88, ctim 104 (each timespec = sec, nsec).
  return {
    dev: v.getBigUint64(0, true),
    ino: v.getBigUint64(8, true),
    mode: v.getUint32(24, true),
    uid: v.getUint32(28, true),
    gid: v.getUint32(32, true),
    size: v.getBigInt64(48, true),
    mtimeNs: v.getBigInt64(88, true) * 1_000_000_000n + v.getBigInt64(96, true),
    ctimeNs: v.getBigInt64(104, true) * 1_000_000_000n + v.getBigInt64(112, true),
  };
}

/** open(2) read-only, close-on-exec, never blocking on FIFOs; throws {@link ErrnoError}. */
export function openRead(path: string, extraFlags = 0): number {
  const fd = libc().open(
    cString(path),
    O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_LARGEFILE | extraFlags,
    0,
  );
  if (fd < 0) throw new ErrnoError(`open(${JSON.stringify(path)})`, errno());
  return fd;
}

/** Creates a close-on-exec, non-blocking pipe; returns `[readFd, writeFd]`. */
export function makePipe(): [number, number] {
  const fds = new Int32Array(2);
  if (libc().pipe2(new Uint8Array(fds.buffer), O_CLOEXEC | O_NONBLOCK) !== 0) {
    throw new ErrnoError("pipe2", errno());
  }
  return [fds[0], fds[1]];
}

/** fanotify_init(2); throws {@link ErrnoError}. */
export function fanotifyInit(flags: number, eventFFlags: number): number {
  const fd = libc().fanotify_init(flags, eventFFlags);
  if (fd < 0) throw new ErrnoError("fanotify_init", errno());
  return fd;
}

/**
 * fanotify_mark(2) on the object behind an open fd (pathname NULL), so the mark lands on exactly
 * the inode that was opened and checked, never on whatever a racing rename put at the path.
 * Returns 0 or the errno.
 */
export function fanotifyMarkFd(group: number, flags: number, mask: number, fd: number): number {
  const r = libc().fanotify_mark(group, flags, BigInt(mask), fd, null);
  return r === 0 ? 0 : errno();
}

/** fanotify_mark(2) by path; returns 0 or the errno. */
export function fanotifyMarkPath(group: number, flags: number, mask: number, path: string): number {
  const r = libc().fanotify_mark(group, flags, BigInt(mask), AT_FDCWD, cString(path));
  return r === 0 ? 0 : errno();
}

/**
 * name_to_handle_at(2): the filesystem's handle for `path`, as the bytes fanotify reports in
 * FID records (`handle_type` u32 little-endian followed by `f_handle`), hex encoded.
 */
export function fileHandleKey(path: string): string {
  const fh = new Uint8Array(8 + MAX_HANDLE_SZ);
  const v = new DataView(fh.buffer);
  v.setUint32(0, MAX_HANDLE_SZ, true);
  const mountId = new Uint8Array(4);
  if (libc().name_to_handle_at(AT_FDCWD, cString(path), fh, mountId, 0) !== 0) {
    throw new ErrnoError(`name_to_handle_at(${JSON.stringify(path)})`, errno());
  }
  const bytes = v.getUint32(0, true);
  return handleKey(fh.subarray(4, 8), fh.subarray(8, 8 + bytes));
}

/** Key of a file handle from its `handle_type` bytes and payload (shared with event decoding). */
export function handleKey(typeBytes: Uint8Array, handle: Uint8Array): string {
  let s = "";
  for (const b of typeBytes) s += b.toString(16).padStart(2, "0");
  s += ":";
  for (const b of handle) s += b.toString(16).padStart(2, "0");
  return s;
}
