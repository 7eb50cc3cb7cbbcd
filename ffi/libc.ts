/**
 * The few libc symbols hashwall needs, loaded once (lazily) from the absolute glibc path.
 *
 * Wrappers that can fail throw {@linkcode ErrnoError}, which carries the operation, the errno
 * number and its symbolic name, so callers never have to read errno themselves. Other FFI modules
 * (libbpf.ts, fanotify.ts) read errno through {@linkcode errno} right after a failing call.
 *
 * @example
 * ```ts
 * import { close, O_CLOEXEC, O_DIRECTORY, O_RDONLY, openPath } from "./libc.ts";
 * const fd = openPath("/sys/fs/cgroup/unified", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
 * close(fd);
 * ```
 *
 * @module
 */

/** Absolute path of glibc on Debian x86_64 (scoped --allow-ffi needs absolute paths). */
export const LIBC_PATH = "/lib/x86_64-linux-gnu/libc.so.6";

const SYMBOLS = {
  __errno_location: { parameters: [], result: "pointer" },
  strerror: { parameters: ["i32"], result: "pointer" },
  close: { parameters: ["i32"], result: "i32" },
  read: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  // open(2) is variadic; on x86_64 SysV passing the mode as a third int is the same ABI.
  open: { parameters: ["buffer", "i32", "u32"], result: "i32" },
  getpid: { parameters: [], result: "i32" },
  mount: {
    parameters: ["buffer", "buffer", "buffer", "u64", "buffer"],
    result: "i32",
  },
  umount2: { parameters: ["buffer", "i32"], result: "i32" },
  vsnprintf: { parameters: ["buffer", "usize", "pointer", "pointer"], result: "i32" },
  mmap: { parameters: ["pointer", "usize", "i32", "i32", "i32", "i64"], result: "pointer" },
  munmap: { parameters: ["pointer", "usize"], result: "i32" },
  getpagesize: { parameters: [], result: "i32" },
  clock_gettime: { parameters: ["i32", "buffer"], result: "i32" },
} as const satisfies Deno.ForeignLibraryInterface;

type LibcSymbols = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

let lib: Deno.DynamicLibrary<typeof SYMBOLS> | null = null;
let errnoCell: Int32Array | null = null;

/** The libc symbol table; dlopen happens on first use, once per process. */
export function libc(): LibcSymbols {
  if (lib === null) {
    lib = Deno.dlopen(LIBC_PATH, SYMBOLS);
    // The errno location of the main thread never moves: resolve it once so reading errno after
    // a failing call is one memory read with no FFI call (and no chance to clobber it).
    const loc = lib.symbols.__errno_location();
    if (loc === null) throw new Error("libc __errno_location() returned NULL");
    errnoCell = new Int32Array(Deno.UnsafePointerView.getArrayBuffer(loc, 4));
  }
  return lib.symbols;
}

/**
 * Binds more libc symbols for one module (the socket, notify and fanotify calls), lazily and once:
 * the library path, errno and the error class stay here, each module adds only its own symbols.
 *
 * @example
 * ```ts
 * const sym = bindLibc({ getuid: { parameters: [], result: "u32" } });
 * console.log(sym().getuid());
 * ```
 */
export function bindLibc<S extends Deno.ForeignLibraryInterface>(
  symbols: S,
): () => Deno.DynamicLibrary<S>["symbols"] {
  let bound: Deno.DynamicLibrary<S>["symbols"] | undefined;
  return () => {
    if (bound === undefined) {
      libc(); // errno's cell is resolved with the main table
      bound = Deno.dlopen(LIBC_PATH, symbols).symbols;
    }
    return bound;
  };
}

/** close(2), errors ignored (nothing useful can be done about them at the places that use it). */
export function closeFd(fd: number): void {
  libc().close(fd);
}

/**
 * `"ENOENT (No such file or directory)"`: the symbolic name and libc's description of an errno
 * value (positive or negative).
 */
export function errnoText(e: number): string {
  const n = Math.abs(e);
  return `${errnoName(n)} (${strerror(n)})`;
}

/**
 * The calling (main) thread's current errno. Read it in the statement right after the failing
 * call: any allocation or Deno op in between may overwrite it.
 */
export function errno(): number {
  if (errnoCell === null) libc();
  return errnoCell![0];
}

/** Sets the main thread's errno (e.g. to 0 before a call whose NULL result is ambiguous). */
export function setErrno(value: number): void {
  if (errnoCell === null) libc();
  errnoCell![0] = value;
}

/** Encodes a JS string as a NUL-terminated C string. */
export function cString(s: string): Uint8Array<ArrayBuffer> {
  if (s.includes("\0")) throw new TypeError(`string contains a NUL byte: ${JSON.stringify(s)}`);
  const bytes = new TextEncoder().encode(s);
  const out = new Uint8Array(bytes.length + 1);
  out.set(bytes);
  return out;
}

/** Reads a NUL-terminated C string from native memory ("" for NULL). */
export function readCString(ptr: Deno.PointerValue): string {
  if (ptr === null) return "";
  return Deno.UnsafePointerView.getCString(ptr);
}

/** Decodes a NUL-terminated string stored inside a byte buffer (e.g. a fixed char[N] field). */
export function decodeCString(bytes: Uint8Array): string {
  const end = bytes.indexOf(0);
  return new TextDecoder().decode(end < 0 ? bytes : bytes.subarray(0, end));
}

/** strerror(3): the libc description of an errno value ("Operation not permitted"). */
export function strerror(n: number): string {
  return readCString(libc().strerror(n));
}

// x86_64 Linux errno numbers (asm-generic/errno-base.h + errno.h) that syscalls we make return.
const ERRNO_NAMES: Record<number, string> = {
  1: "EPERM",
  2: "ENOENT",
  3: "ESRCH",
  4: "EINTR",
  5: "EIO",
  6: "ENXIO",
  7: "E2BIG",
  8: "ENOEXEC",
  9: "EBADF",
  10: "ECHILD",
  11: "EAGAIN",
  12: "ENOMEM",
  13: "EACCES",
  14: "EFAULT",
  15: "ENOTBLK",
  16: "EBUSY",
  17: "EEXIST",
  18: "EXDEV",
  19: "ENODEV",
  20: "ENOTDIR",
  21: "EISDIR",
  22: "EINVAL",
  23: "ENFILE",
  24: "EMFILE",
  25: "ENOTTY",
  26: "ETXTBSY",
  27: "EFBIG",
  28: "ENOSPC",
  29: "ESPIPE",
  30: "EROFS",
  31: "EMLINK",
  32: "EPIPE",
  33: "EDOM",
  34: "ERANGE",
  35: "EDEADLK",
  36: "ENAMETOOLONG",
  37: "ENOLCK",
  38: "ENOSYS",
  39: "ENOTEMPTY",
  40: "ELOOP",
  42: "ENOMSG",
  61: "ENODATA",
  62: "ETIME",
  71: "EPROTO",
  74: "EBADMSG",
  75: "EOVERFLOW",
  77: "EBADFD",
  84: "EILSEQ",
  88: "ENOTSOCK",
  89: "EDESTADDRREQ",
  90: "EMSGSIZE",
  91: "EPROTOTYPE",
  92: "ENOPROTOOPT",
  93: "EPROTONOSUPPORT",
  95: "EOPNOTSUPP",
  97: "EAFNOSUPPORT",
  98: "EADDRINUSE",
  99: "EADDRNOTAVAIL",
  100: "ENETDOWN",
  101: "ENETUNREACH",
  103: "ECONNABORTED",
  104: "ECONNRESET",
  105: "ENOBUFS",
  106: "EISCONN",
  107: "ENOTCONN",
  110: "ETIMEDOUT",
  111: "ECONNREFUSED",
  113: "EHOSTUNREACH",
  114: "EALREADY",
  115: "EINPROGRESS",
  116: "ESTALE",
  122: "EDQUOT",
  125: "ECANCELED",
  // Kernel-internal values that leak out of bpf(2) and the BPF verifier.
  524: "ENOTSUPP",
};

/** Symbolic name of an errno value ("EPERM"), or "E<n>" when it is not in the table. */
export function errnoName(n: number): string {
  return ERRNO_NAMES[n] ?? `E${n}`;
}

/** A failed libc call: names the operation and carries errno and its symbolic name. */
export class ErrnoError extends Error {
  /** The errno value (positive). */
  readonly errno: number;
  /** Symbolic errno name, e.g. "ENOENT". */
  readonly code: string;
  /** The failing operation, e.g. `open("/x")`. */
  readonly op: string;

  /** Builds "<op>: <strerror> (<NAME>)". */
  constructor(op: string, errnoValue: number) {
    super(`${op}: ${strerror(errnoValue)} (${errnoName(errnoValue)})`);
    this.name = "ErrnoError";
    this.errno = errnoValue;
    this.code = errnoName(errnoValue);
    this.op = op;
  }
}

/** open(2) flag: read only. */
export const O_RDONLY = 0;
/** open(2) flag: write only. */
export const O_WRONLY = 0o1;
/** open(2) flag: read and write. */
export const O_RDWR = 0o2;
/** open(2) flag: non-blocking I/O. */
export const O_NONBLOCK = 0o4000;
/** open(2) flag: fail unless the path is a directory (cgroup fds). */
export const O_DIRECTORY = 0o200000;
/** open(2) flag: close on exec, so children never inherit kernel-object fds. */
export const O_CLOEXEC = 0o2000000;
/** open(2) flag: an fd that only names the path (no read/write). */
export const O_PATH = 0o10000000;

/** close(2). Throws {@linkcode ErrnoError} (e.g. EBADF) on failure. */
export function close(fd: number): void {
  if (!Number.isInteger(fd) || fd < 0) throw new TypeError(`close: invalid fd ${fd}`);
  const rc = libc().close(fd);
  if (rc < 0) throw new ErrnoError(`close(${fd})`, errno());
}

/**
 * read(2) into `buf`: the byte count (0 at the end). Retries EINTR; throws {@linkcode ErrnoError}
 * on other failures.
 */
export function readFd(fd: number, buf: Uint8Array<ArrayBuffer>): number {
  if (!Number.isInteger(fd) || fd < 0) throw new TypeError(`read: invalid fd ${fd}`);
  for (;;) {
    const n = Number(libc().read(fd, buf, BigInt(buf.length)));
    if (n >= 0) return n;
    const e = errno();
    if (e !== 4) throw new ErrnoError(`read(${fd})`, e); // 4 = EINTR
  }
}

/**
 * open(2): returns a new file descriptor. Add {@linkcode O_CLOEXEC} unless a child must inherit it.
 * Throws {@linkcode ErrnoError} naming the path on failure.
 */
export function openPath(path: string, flags: number, mode = 0): number {
  const fd = libc().open(cString(path), flags, mode);
  if (fd < 0) throw new ErrnoError(`open(${JSON.stringify(path)})`, errno());
  return fd;
}

/** mmap(2) protection: readable. */
export const PROT_READ = 0x1;
/** mmap(2) protection: writable. */
export const PROT_WRITE = 0x2;
/** mmap(2) flag: changes are shared with the object (for BPF maps: with the kernel). */
export const MAP_SHARED = 0x01;

/** The system page size. */
export function pageSize(): number {
  return libc().getpagesize();
}

/**
 * mmap(2) of `length` bytes of `fd` at `offset` (a multiple of the page size). Throws
 * {@linkcode ErrnoError} on failure; release with {@linkcode unmap}.
 */
export function mapFd(
  fd: number,
  length: number,
  prot: number,
  offset: number,
  flags = MAP_SHARED,
): Deno.PointerObject {
  const p = libc().mmap(null, BigInt(length), prot, flags, fd, BigInt(offset));
  const err = errno();
  // MAP_FAILED is (void *)-1.
  if (p === null || Deno.UnsafePointer.value(p) === 0xffffffffffffffffn) {
    throw new ErrnoError(`mmap(fd ${fd}, ${length} bytes at ${offset})`, err);
  }
  return p;
}

/** munmap(2); throws {@linkcode ErrnoError} on failure. */
export function unmap(p: Deno.PointerObject, length: number): void {
  if (libc().munmap(p, BigInt(length)) !== 0) throw new ErrnoError("munmap", errno());
}

/** getpid(2): the process id (tgid) of this Deno process. */
export function getpid(): number {
  return libc().getpid();
}

/**
 * mount(2). `data` is the filesystem-specific option string (null for none).
 * Throws {@linkcode ErrnoError} naming source, target and type on failure.
 */
export function mount(
  source: string,
  target: string,
  fstype: string,
  flags: number | bigint = 0,
  data: string | null = null,
): void {
  const rc = libc().mount(
    cString(source),
    cString(target),
    cString(fstype),
    BigInt(flags),
    data === null ? null : cString(data),
  );
  if (rc < 0) {
    throw new ErrnoError(
      `mount(${JSON.stringify(source)}, ${JSON.stringify(target)}, ${fstype})`,
      errno(),
    );
  }
}

/** umount2(2) flag: lazy unmount (detach now, clean up when no longer busy). */
export const MNT_DETACH = 2;

/** umount2(2). Throws {@linkcode ErrnoError} naming the target on failure. */
export function umount(target: string, flags = 0): void {
  const rc = libc().umount2(cString(target), flags);
  if (rc < 0) throw new ErrnoError(`umount2(${JSON.stringify(target)})`, errno());
}

/**
 * vsnprintf(3) for a printf-style callback from native code (libbpf's print hook hands us a
 * format pointer and a `va_list`, which on x86_64 arrives as a pointer). Returns the formatted
 * text, truncated to `max - 1` bytes.
 */
export function formatVaList(
  fmt: Deno.PointerValue,
  vaList: Deno.PointerValue,
  max = 4096,
): string {
  const buf = new Uint8Array(max);
  const n = libc().vsnprintf(buf, BigInt(max), fmt, vaList);
  if (n < 0) return "";
  return new TextDecoder().decode(buf.subarray(0, Math.min(n, max - 1)));
}

const CLOCK_BOOTTIME = 7;
const timespecBuf = new BigInt64Array(2);

/**
 * CLOCK_BOOTTIME in ns: the clock of the kernel's `bpf_ktime_get_boot_ns()` (event times, the
 * write-open marks of bpf/write_revoke.h), so the two compare directly.
 *
 * @example
 * ```ts
 * const before = bootNs();
 * ```
 */
export function bootNs(): bigint {
  const buf = new Uint8Array(timespecBuf.buffer);
  if (libc().clock_gettime(CLOCK_BOOTTIME, buf) !== 0) {
    throw new Error(`clock_gettime(CLOCK_BOOTTIME): ${strerror(errno())}`);
  }
  return timespecBuf[0] * 1_000_000_000n + timespecBuf[1];
}
