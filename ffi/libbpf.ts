/**
 * Typed binding to libbpf 1.1 (`/usr/lib/x86_64-linux-gnu/libbpf.so.1`) through Deno FFI.
 *
 * Two layers:
 * - object API: {@linkcode BpfObject} → {@linkcode BpfMap} / {@linkcode BpfProgram} →
 *   {@linkcode BpfLink}, wrapping libbpf's `bpf_object__*`, `bpf_map__*`, `bpf_program__*` and
 *   `bpf_link__*` calls;
 * - raw fd API (`objGet`, `mapUpdate`, `linkUpdate`, ...) for pinned objects reopened without a
 *   `bpf_object`.
 *
 * Every failure throws {@linkcode BpfError} with the operation, errno and libbpf's own message
 * (for `load()`, the tail of the verifier log and libbpf's warnings). All calls are synchronous on
 * the calling thread: errno is per thread and libbpf's callbacks must run on the JS thread.
 *
 * @example
 * ```ts
 * import { BpfObject } from "./libbpf.ts";
 * const obj = BpfObject.openMem(Deno.readFileSync("build/fixtures/fixture.bpf.o"), "fixture");
 * try {
 *   obj.load();
 *   const map = obj.map("fx_hash");
 *   map.update(new Uint8Array(4), new Uint8Array(8));
 * } finally {
 *   obj.close();
 * }
 * ```
 *
 * @module
 */

import {
  bindLibc,
  close as closeFd,
  cString,
  decodeCString,
  errno,
  errnoName,
  formatVaList,
  mount,
  readCString,
  setErrno,
} from "./libc.ts";

/** Absolute path of libbpf 1.1 on Debian x86_64. */
export const LIBBPF_PATH = "/usr/lib/x86_64-linux-gnu/libbpf.so.1";

const SYMBOLS = {
  libbpf_strerror: { parameters: ["i32", "buffer", "usize"], result: "i32" },
  libbpf_set_print: { parameters: ["function"], result: "pointer" },
  libbpf_num_possible_cpus: { parameters: [], result: "i32" },

  bpf_object__open_mem: { parameters: ["buffer", "usize", "buffer"], result: "pointer" },
  bpf_object__load: { parameters: ["pointer"], result: "i32" },
  bpf_object__close: { parameters: ["pointer"], result: "void" },
  bpf_object__name: { parameters: ["pointer"], result: "pointer" },
  bpf_object__find_map_by_name: { parameters: ["pointer", "buffer"], result: "pointer" },
  bpf_object__find_program_by_name: { parameters: ["pointer", "buffer"], result: "pointer" },
  bpf_object__next_map: { parameters: ["pointer", "pointer"], result: "pointer" },
  bpf_object__next_program: { parameters: ["pointer", "pointer"], result: "pointer" },

  bpf_map__name: { parameters: ["pointer"], result: "pointer" },
  bpf_map__fd: { parameters: ["pointer"], result: "i32" },
  bpf_map__type: { parameters: ["pointer"], result: "u32" },
  bpf_map__key_size: { parameters: ["pointer"], result: "u32" },
  bpf_map__value_size: { parameters: ["pointer"], result: "u32" },
  bpf_map__max_entries: { parameters: ["pointer"], result: "u32" },
  bpf_map__set_max_entries: { parameters: ["pointer", "u32"], result: "i32" },
  bpf_map__set_initial_value: { parameters: ["pointer", "buffer", "usize"], result: "i32" },
  bpf_map__initial_value: { parameters: ["pointer", "buffer"], result: "pointer" },
  bpf_map__reuse_fd: { parameters: ["pointer", "i32"], result: "i32" },
  bpf_map__set_pin_path: { parameters: ["pointer", "buffer"], result: "i32" },
  bpf_map__pin: { parameters: ["pointer", "buffer"], result: "i32" },
  bpf_map__unpin: { parameters: ["pointer", "buffer"], result: "i32" },

  bpf_program__name: { parameters: ["pointer"], result: "pointer" },
  bpf_program__section_name: { parameters: ["pointer"], result: "pointer" },
  bpf_program__fd: { parameters: ["pointer"], result: "i32" },
  bpf_program__set_autoload: { parameters: ["pointer", "bool"], result: "i32" },
  bpf_program__autoload: { parameters: ["pointer"], result: "bool" },
  bpf_program__attach: { parameters: ["pointer"], result: "pointer" },
  bpf_program__attach_cgroup: { parameters: ["pointer", "i32"], result: "pointer" },
  bpf_program__attach_tracepoint: {
    parameters: ["pointer", "buffer", "buffer"],
    result: "pointer",
  },

  bpf_link__fd: { parameters: ["pointer"], result: "i32" },
  bpf_link__pin: { parameters: ["pointer", "buffer"], result: "i32" },
  bpf_link__unpin: { parameters: ["pointer"], result: "i32" },
  bpf_link__disconnect: { parameters: ["pointer"], result: "void" },
  bpf_link__destroy: { parameters: ["pointer"], result: "i32" },

  bpf_obj_get: { parameters: ["buffer"], result: "i32" },
  bpf_obj_pin: { parameters: ["i32", "buffer"], result: "i32" },
  bpf_obj_get_info_by_fd: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  bpf_map_update_elem: { parameters: ["i32", "buffer", "buffer", "u64"], result: "i32" },
  bpf_map_lookup_elem: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  bpf_map_delete_elem: { parameters: ["i32", "buffer"], result: "i32" },
  bpf_map_get_next_key: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  bpf_link_create: { parameters: ["i32", "i32", "u32", "pointer"], result: "i32" },
  bpf_link_update: { parameters: ["i32", "i32", "pointer"], result: "i32" },
  bpf_link_detach: { parameters: ["i32"], result: "i32" },
  bpf_raw_tracepoint_open: { parameters: ["pointer", "i32"], result: "i32" },
  bpf_iter_create: { parameters: ["i32"], result: "i32" },
  bpf_enable_stats: { parameters: ["i32"], result: "i32" },
} as const satisfies Deno.ForeignLibraryInterface;

type LibbpfSymbols = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

let lib: Deno.DynamicLibrary<typeof SYMBOLS> | null = null;

/** The libbpf symbol table; dlopen (and installing the capturing printer) happens once. */
function bpf(): LibbpfSymbols {
  if (lib === null) {
    lib = Deno.dlopen(LIBBPF_PATH, SYMBOLS);
    installPrinter();
  }
  return lib.symbols;
}

// ---------------------------------------------------------------------------------------------
// Errors

/** libbpf's description of an error code: errno values and libbpf's own 4000+ codes. */
function libbpfStrerror(err: number): string {
  const buf = new Uint8Array(256);
  bpf().libbpf_strerror(err, buf, BigInt(buf.length));
  return decodeCString(buf);
}

// libbpf's own error codes (enum libbpf_errno in libbpf.h), beyond the errno range.
const LIBBPF_ERRNO_NAMES: Record<number, string> = {
  4000: "LIBBPF_ERRNO__LIBELF",
  4001: "LIBBPF_ERRNO__FORMAT",
  4002: "LIBBPF_ERRNO__KVERSION",
  4003: "LIBBPF_ERRNO__ENDIAN",
  4004: "LIBBPF_ERRNO__INTERNAL",
  4005: "LIBBPF_ERRNO__RELOC",
  4006: "LIBBPF_ERRNO__LOAD",
  4007: "LIBBPF_ERRNO__VERIFY",
  4008: "LIBBPF_ERRNO__PROG2BIG",
  4009: "LIBBPF_ERRNO__KVER",
  4010: "LIBBPF_ERRNO__PROGTYPE",
  4011: "LIBBPF_ERRNO__WRNGPID",
  4012: "LIBBPF_ERRNO__INVSEQ",
  4013: "LIBBPF_ERRNO__NLPARSE",
};

/** Symbolic name of an errno or libbpf error code ("EPERM", "LIBBPF_ERRNO__FORMAT"). */
export function bpfErrorName(err: number): string {
  return LIBBPF_ERRNO_NAMES[err] ?? errnoName(err);
}

/** A failed libbpf or bpf(2) operation. */
export class BpfError extends Error {
  /** The positive error code (errno, or a libbpf code >= 4000 such as LIBBPF_ERRNO__FORMAT). */
  readonly errno: number;
  /** Symbolic name, e.g. "EPERM" (or "LIBBPF_ERRNO__FORMAT" for libbpf codes). */
  readonly code: string;
  /** The failing operation, e.g. `bpf_map_update_elem(fx_hash)`. */
  readonly op: string;
  /** Kernel verifier log tail and libbpf warnings gathered during the call ("" when none). */
  readonly log: string;

  /** Builds "<op>: <libbpf message> (<NAME>)" plus the log, if any, on following lines. */
  constructor(op: string, err: number, log = "") {
    const e = Math.abs(err);
    super(`${op}: ${libbpfStrerror(e)} (${bpfErrorName(e)})${log ? `\n${log}` : ""}`);
    this.name = "BpfError";
    this.errno = e;
    this.code = bpfErrorName(e);
    this.op = op;
    this.log = log;
  }
}

/** Throws for a libbpf int result that is -errno on failure; returns it otherwise. */
function check(rc: number, op: string): number {
  if (rc < 0) throw new BpfError(op, -rc, takeWarnings());
  // Warnings of a call that succeeded must not end up in a later, unrelated error.
  if (recentWarnings.length) recentWarnings.length = 0;
  return rc;
}

/**
 * Throws for a NULL pointer result. libbpf 1.x sets errno for these, so `err` must be read by the
 * caller in the statement right after the call (before anything else can clobber it).
 */
function checkPtr(ptr: Deno.PointerValue, err: number, op: string): Deno.PointerObject {
  if (ptr === null) throw new BpfError(op, err || 22, takeWarnings());
  if (recentWarnings.length) recentWarnings.length = 0;
  return ptr;
}

// ---------------------------------------------------------------------------------------------
// libbpf's print hook

/** libbpf print level: warnings. */
export const LIBBPF_WARN = 0;
/** libbpf print level: information. */
export const LIBBPF_INFO = 1;
/** libbpf print level: debug (very verbose). */
export const LIBBPF_DEBUG = 2;

type PrintHandler = (level: number, msg: string) => void;

let userPrint: PrintHandler | null = null;
let printer:
  | Deno.UnsafeCallback<{
    readonly parameters: readonly ["i32", "pointer", "pointer"];
    readonly result: "i32";
  }>
  | null = null;
// libbpf warnings since the last takeWarnings(): failing calls attach them to their BpfError,
// because libbpf often says which program/map/relocation failed only through the print hook.
const recentWarnings: string[] = [];
const MAX_WARNINGS = 40;

function installPrinter(): void {
  printer = new Deno.UnsafeCallback(
    { parameters: ["i32", "pointer", "pointer"], result: "i32" } as const,
    (level, fmt, args) => {
      // The va_list is only valid during this call: format it right away.
      const msg = formatVaList(fmt, args);
      if (level === LIBBPF_WARN) {
        recentWarnings.push(msg.trimEnd());
        if (recentWarnings.length > MAX_WARNINGS) recentWarnings.shift();
      }
      if (userPrint !== null) {
        try {
          userPrint(level, msg);
        } catch { /* a throwing handler must not unwind through libbpf's C frames */ }
      }
      return 0;
    },
  );
  lib!.symbols.libbpf_set_print(printer.pointer);
}

function takeWarnings(): string {
  const text = recentWarnings.join("\n");
  recentWarnings.length = 0;
  return text;
}

function clearWarnings(): void {
  recentWarnings.length = 0;
}

/**
 * Routes libbpf's messages (levels {@linkcode LIBBPF_WARN}, {@linkcode LIBBPF_INFO},
 * {@linkcode LIBBPF_DEBUG}) to `handler`; `null` silences them. By default they are silent:
 * warnings relevant to a failure are attached to the thrown {@linkcode BpfError} anyway.
 * The `va_list` is formatted with libc `vsnprintf`; messages end in "\n" as libbpf wrote them.
 */
export function setPrint(handler: PrintHandler | null): void {
  bpf();
  userPrint = handler;
}

// ---------------------------------------------------------------------------------------------
// Small helpers

/** Pointer to a buffer, as the bigint address the option structs need. */
function addr(buf: Uint8Array): bigint {
  return Deno.UnsafePointer.value(Deno.UnsafePointer.of(buf as Uint8Array<ArrayBuffer>));
}

function requireSize(what: string, bytes: Uint8Array, size: number, op: string): void {
  if (!(bytes instanceof Uint8Array)) {
    throw new TypeError(`${op}: ${what} must be a Uint8Array`);
  }
  if (bytes.length !== size) {
    throw new RangeError(`${op}: ${what} is ${bytes.length} bytes, the map expects ${size}`);
  }
}

function requireFd(fd: number, what: string): void {
  if (!Number.isInteger(fd) || fd < 0) throw new TypeError(`${what}: invalid fd ${fd}`);
}

function requirePath(path: string, what: string): void {
  if (typeof path !== "string" || path === "" || path.includes("\0")) {
    throw new TypeError(`${what}: invalid path ${JSON.stringify(path)}`);
  }
}

/** Map types whose values are per possible CPU (BPF_MAP_TYPE_* numbers). */
const PERCPU_MAP_TYPES = new Set([5, 6, 10, 21]);

/** BPF map type numbers used by hashwall (uapi `enum bpf_map_type`). */
export const MapType = {
  HASH: 1,
  ARRAY: 2,
  PERCPU_HASH: 5,
  PERCPU_ARRAY: 6,
  LRU_HASH: 9,
  LRU_PERCPU_HASH: 10,
  RINGBUF: 27,
} as const;

/** `bpf_map_update_elem` flag: create or replace. */
export const BPF_ANY = 0;
/** `bpf_map_update_elem` flag: create only (EEXIST if present). */
export const BPF_NOEXIST = 1;
/** `bpf_map_update_elem` flag: replace only (ENOENT if absent). */
export const BPF_EXIST = 2;

/** Attach types for {@linkcode linkCreate} (uapi `enum bpf_attach_type`). */
export const AttachType = {
  CGROUP_INET_INGRESS: 0,
  CGROUP_INET_EGRESS: 1,
  CGROUP_INET_SOCK_CREATE: 2,
  CGROUP_INET4_CONNECT: 10,
  CGROUP_INET6_CONNECT: 11,
  CGROUP_UDP4_SENDMSG: 14,
  CGROUP_UDP6_SENDMSG: 15,
  TCX_INGRESS: 46,
  TCX_EGRESS: 47,
} as const;

let cpuCount = 0;

/** Number of possible CPUs (`libbpf_num_possible_cpus`): the slot count of per-CPU values. */
export function numPossibleCpus(): number {
  if (cpuCount === 0) {
    cpuCount = check(bpf().libbpf_num_possible_cpus(), "libbpf_num_possible_cpus");
  }
  return cpuCount;
}

/** Per-CPU values are stored one per possible CPU, each slot rounded up to 8 bytes. */
function perCpuStride(valueSize: number): number {
  return Math.ceil(valueSize / 8) * 8;
}

// ---------------------------------------------------------------------------------------------
// Object API

/**
 * Hand-built struct layouts (libbpf 1.1 headers, uapi linux/bpf.h of 6.x) that this binding
 * writes or reads by offset. tests/kernel/libbpf_test.ts compiles a C probe against the installed
 * headers and checks every number here.
 */
export const LIBBPF_LAYOUT = {
  /** `struct bpf_object_open_opts`. */
  openOpts: { size: 80, objectName: 8, kernelLogBuf: 56, kernelLogSize: 64 },
  /** `struct bpf_prog_info`. */
  progInfo: {
    size: 232,
    type: 0,
    id: 4,
    createdByUid: 48,
    nrMapIds: 52,
    mapIds: 56,
    name: 64,
    runTimeNs: 192,
    runCnt: 200,
  },
  /** `struct bpf_map_info`. */
  mapInfo: {
    size: 88,
    type: 0,
    id: 4,
    keySize: 8,
    valueSize: 12,
    maxEntries: 16,
    mapFlags: 20,
    name: 24,
  },
} as const;

const OPEN_OPTS_SIZE = LIBBPF_LAYOUT.openOpts.size;
const OPEN_OPTS_OBJECT_NAME = LIBBPF_LAYOUT.openOpts.objectName;
const OPEN_OPTS_KERNEL_LOG_BUF = LIBBPF_LAYOUT.openOpts.kernelLogBuf;
const OPEN_OPTS_KERNEL_LOG_SIZE = LIBBPF_LAYOUT.openOpts.kernelLogSize;

/** How much verifier log a failing load() quotes (the end is where the verifier says why). */
const LOG_TAIL_CHARS = 6000;

/** An opened BPF object file (`struct bpf_object *`). Close it with {@linkcode close}. */
export class BpfObject {
  #ptr: Deno.PointerObject | null;
  /** Kept alive because libbpf writes the verifier log into it during load(). */
  #logBuf: Uint8Array<ArrayBuffer>;
  /** The object name given to openMem (also the prefix of .rodata/.data map names). */
  readonly name: string;
  #loaded = false;
  // Handles are cached so hot paths (daemon map writes) skip the name lookups.
  #mapCache = new Map<string, BpfMap>();
  #progCache = new Map<string, BpfProgram>();

  private constructor(ptr: Deno.PointerObject, logBuf: Uint8Array<ArrayBuffer>, name: string) {
    this.#ptr = ptr;
    this.#logBuf = logBuf;
    this.name = name;
  }

  /**
   * Opens an ELF BPF object from memory (`bpf_object__open_mem`). libbpf copies `bytes`, so the
   * caller may drop them. `objectName` is required so internal maps get a stable name
   * ("<name>.rodata") instead of a random address-based one.
   */
  static openMem(
    bytes: Uint8Array,
    objectName: string,
    opts: { logSize?: number } = {},
  ): BpfObject {
    if (!(bytes instanceof Uint8Array) || bytes.length === 0) {
      throw new TypeError("BpfObject.openMem: bytes must be a non-empty Uint8Array");
    }
    if (!/^[A-Za-z0-9_.-]{1,64}$/.test(objectName)) {
      throw new TypeError(
        `BpfObject.openMem: invalid object name ${JSON.stringify(objectName)} ` +
          "(1-64 characters of A-Z a-z 0-9 _ . -)",
      );
    }
    const logSize = opts.logSize ?? 1 << 20;
    if (!Number.isInteger(logSize) || logSize < 1024 || logSize > (1 << 30)) {
      throw new RangeError(`BpfObject.openMem: logSize ${logSize} must be 1 KiB..1 GiB`);
    }
    const logBuf = new Uint8Array(logSize);
    const name = cString(objectName);
    const o = new Uint8Array(OPEN_OPTS_SIZE);
    const dv = new DataView(o.buffer);
    dv.setBigUint64(0, BigInt(OPEN_OPTS_SIZE), true);
    dv.setBigUint64(OPEN_OPTS_OBJECT_NAME, addr(name), true);
    dv.setBigUint64(OPEN_OPTS_KERNEL_LOG_BUF, addr(logBuf), true);
    dv.setBigUint64(OPEN_OPTS_KERNEL_LOG_SIZE, BigInt(logSize), true);
    const sym = bpf();
    clearWarnings();
    const ptr = sym.bpf_object__open_mem(bytes, BigInt(bytes.length), o);
    const err = errno();
    const obj = checkPtr(ptr, err, `bpf_object__open_mem(${objectName})`);
    return new BpfObject(obj, logBuf, objectName);
  }

  #live(op: string): Deno.PointerObject {
    if (this.#ptr === null) throw new Error(`${op}: BPF object ${this.name} is closed`);
    return this.#ptr;
  }

  /** The map called `name` (BTF name, or ".rodata"/".data"/".bss" for globals). Throws if absent. */
  map(name: string): BpfMap {
    const p = this.#live("map");
    const cached = this.#mapCache.get(name);
    if (cached) return cached;
    const m = bpf().bpf_object__find_map_by_name(p, cString(name));
    if (m === null) {
      const known = this.maps().map((x) => x.name).join(", ");
      throw new Error(
        `BPF object ${this.name} has no map ${JSON.stringify(name)} (maps: ${known})`,
      );
    }
    const map = new BpfMap(m, this);
    this.#mapCache.set(name, map);
    return map;
  }

  /** The program whose C function is called `name`. Throws if absent. */
  program(name: string): BpfProgram {
    const p = this.#live("program");
    const cached = this.#progCache.get(name);
    if (cached) return cached;
    const prog = bpf().bpf_object__find_program_by_name(p, cString(name));
    if (prog === null) {
      const known = this.programs().map((x) => x.name).join(", ");
      throw new Error(
        `BPF object ${this.name} has no program ${JSON.stringify(name)} (programs: ${known})`,
      );
    }
    const handle = new BpfProgram(prog, this);
    this.#progCache.set(name, handle);
    return handle;
  }

  /** Every program in the object, in ELF order. */
  programs(): BpfProgram[] {
    const p = this.#live("programs");
    const out: BpfProgram[] = [];
    for (let it = bpf().bpf_object__next_program(p, null); it !== null;) {
      out.push(new BpfProgram(it, this));
      it = bpf().bpf_object__next_program(p, it);
    }
    return out;
  }

  /** Every map in the object, including internal ones (.rodata, .data, .bss). */
  maps(): BpfMap[] {
    const p = this.#live("maps");
    const out: BpfMap[] = [];
    for (let it = bpf().bpf_object__next_map(p, null); it !== null;) {
      out.push(new BpfMap(it, this));
      it = bpf().bpf_object__next_map(p, it);
    }
    return out;
  }

  /**
   * Creates the maps and loads the programs into the kernel (`bpf_object__load`). On failure the
   * error quotes libbpf's warnings and the tail of the kernel verifier log.
   */
  load(): void {
    const p = this.#live("load");
    this.#logBuf[0] = 0;
    clearWarnings();
    const rc = bpf().bpf_object__load(p);
    if (rc < 0) {
      const warnings = takeWarnings();
      let log = decodeCString(this.#logBuf).trimEnd();
      if (log.length > LOG_TAIL_CHARS) log = "…" + log.slice(-LOG_TAIL_CHARS);
      const parts = [];
      if (warnings) parts.push(`libbpf:\n${warnings}`);
      if (log) parts.push(`verifier log (tail):\n${log}`);
      throw new BpfError(`bpf_object__load(${this.name})`, -rc, parts.join("\n"));
    }
    this.#loaded = true;
  }

  /** Whether load() succeeded (map fds and sizes are final from then on). */
  get loaded(): boolean {
    return this.#ptr !== null && this.#loaded;
  }

  /** Frees the object: unloads programs and closes map fds not held elsewhere. Idempotent. */
  close(): void {
    if (this.#ptr === null) return;
    bpf().bpf_object__close(this.#ptr);
    this.#ptr = null;
  }

  /** Internal: the object pointer, checked to be open. */
  ptr(op: string): Deno.PointerObject {
    return this.#live(op);
  }
}

/** A map of a {@linkcode BpfObject} (`struct bpf_map *`). Valid while its object is open. */
export class BpfMap {
  #ptr: Deno.PointerObject;
  #obj: BpfObject;
  /** The map's name (".rodata" style internal maps report libbpf's "<obj>.rodata" name). */
  readonly name: string;

  /** Internal: use {@linkcode BpfObject.map}. */
  constructor(ptr: Deno.PointerObject, obj: BpfObject) {
    this.#ptr = ptr;
    this.#obj = obj;
    this.name = readCString(bpf().bpf_map__name(ptr));
  }

  #p(op: string): Deno.PointerObject {
    this.#obj.ptr(`${op}(${this.name})`);
    return this.#ptr;
  }

  #meta: { fd: number; keySize: number; valueBytes: number } | null = null;

  /** fd and sizes for element operations; cached once the object is loaded (they are final). */
  #elem(op: string): { fd: number; keySize: number; valueBytes: number } {
    this.#obj.ptr(op);
    if (this.#meta !== null) return this.#meta;
    const meta = { fd: this.fd, keySize: this.keySize, valueBytes: this.valueBufferSize };
    if (this.#obj.loaded) this.#meta = meta;
    return meta;
  }

  /** The map's fd (after load or reuseFd). Throws before that. */
  get fd(): number {
    return check(bpf().bpf_map__fd(this.#p("bpf_map__fd")), `bpf_map__fd(${this.name})`);
  }
  /** Key size in bytes. */
  get keySize(): number {
    return bpf().bpf_map__key_size(this.#p("bpf_map__key_size"));
  }
  /** Value size in bytes (of one CPU's slot for per-CPU maps). */
  get valueSize(): number {
    return bpf().bpf_map__value_size(this.#p("bpf_map__value_size"));
  }
  /** Maximum entries. */
  get maxEntries(): number {
    return bpf().bpf_map__max_entries(this.#p("bpf_map__max_entries"));
  }
  /** `enum bpf_map_type` number (see {@linkcode MapType}). */
  get type(): number {
    return bpf().bpf_map__type(this.#p("bpf_map__type"));
  }
  /** True for per-CPU maps, whose lookups return one slot per possible CPU. */
  get perCpu(): boolean {
    return PERCPU_MAP_TYPES.has(this.type);
  }

  /** Size of a full value buffer: valueSize, or the 8-byte-rounded slot × possible CPUs. */
  get valueBufferSize(): number {
    return this.perCpu ? perCpuStride(this.valueSize) * numPossibleCpus() : this.valueSize;
  }

  /** Current initial contents of a global-data map (.rodata/.data/.bss), copied. */
  initialValue(): Uint8Array {
    const psize = new BigUint64Array(1);
    const ptr = bpf().bpf_map__initial_value(
      this.#p("bpf_map__initial_value"),
      new Uint8Array(psize.buffer),
    );
    if (ptr === null) {
      throw new Error(`bpf_map__initial_value(${this.name}): not a global-data map`);
    }
    const out = new Uint8Array(Number(psize[0]));
    Deno.UnsafePointerView.copyInto(ptr, out);
    return out;
  }

  /**
   * Replaces the initial contents of a global-data map before load (e.g. `const volatile`
   * settings in .rodata). `bytes` must be exactly the map's value size.
   */
  setInitialValue(bytes: Uint8Array): void {
    const op = `bpf_map__set_initial_value(${this.name})`;
    requireSize("initial value", bytes, this.valueSize, op);
    check(bpf().bpf_map__set_initial_value(this.#p(op), bytes, BigInt(bytes.length)), op);
  }

  /** Makes the object use an existing map (e.g. a pinned one from {@linkcode objGet}) at load. */
  reuseFd(fd: number): void {
    const op = `bpf_map__reuse_fd(${this.name}, ${fd})`;
    requireFd(fd, op);
    check(bpf().bpf_map__reuse_fd(this.#p(op), fd), op);
  }

  /** Where load() pins the map (and reuses an existing compatible pin). Before load. */
  setPinPath(path: string): void {
    const op = `bpf_map__set_pin_path(${this.name})`;
    requirePath(path, op);
    check(bpf().bpf_map__set_pin_path(this.#p(op), cString(path)), op);
  }

  /** Pins the loaded map at `path` in bpffs. */
  pin(path: string): void {
    const op = `bpf_map__pin(${this.name}, ${path})`;
    requirePath(path, op);
    check(bpf().bpf_map__pin(this.#p(op), cString(path)), op);
  }

  /** Removes the pin at `path`. */
  unpin(path: string): void {
    const op = `bpf_map__unpin(${this.name}, ${path})`;
    requirePath(path, op);
    check(bpf().bpf_map__unpin(this.#p(op), cString(path)), op);
  }

  /** Changes max entries before load (e.g. the ring buffer size, a power of 2 pages). */
  setMaxEntries(n: number): void {
    const op = `bpf_map__set_max_entries(${this.name}, ${n})`;
    if (!Number.isInteger(n) || n < 1 || n > 0xffffffff) {
      throw new RangeError(`${op}: invalid size`);
    }
    check(bpf().bpf_map__set_max_entries(this.#p(op), n), op);
  }

  /** Writes one element ({@linkcode BPF_ANY}, {@linkcode BPF_NOEXIST}, {@linkcode BPF_EXIST}). */
  update(key: Uint8Array, value: Uint8Array, flags = BPF_ANY): void {
    const op = `bpf_map_update_elem(${this.name})`;
    const m = this.#elem(op);
    requireSize("key", key, m.keySize, op);
    requireSize("value", value, m.valueBytes, op);
    check(bpf().bpf_map_update_elem(m.fd, key, value, BigInt(flags)), op);
  }

  /** Reads one element, or null when absent. Per-CPU maps: all CPUs' slots, concatenated. */
  lookup(key: Uint8Array): Uint8Array | null {
    const op = `bpf_map_lookup_elem(${this.name})`;
    const m = this.#elem(op);
    requireSize("key", key, m.keySize, op);
    const value = new Uint8Array(m.valueBytes);
    const rc = bpf().bpf_map_lookup_elem(m.fd, key, value);
    if (rc === -2) return null;
    check(rc, op);
    return value;
  }

  /**
   * Reads one element of a per-CPU map as one `valueSize`-byte copy per possible CPU (index =
   * CPU number); null when absent. Throws for maps that are not per-CPU.
   */
  lookupPerCpu(key: Uint8Array): Uint8Array[] | null {
    const op = `bpf_map_lookup_elem(${this.name})`;
    if (!this.perCpu) throw new TypeError(`${op}: map ${this.name} is not per-CPU`);
    const all = this.lookup(key);
    if (all === null) return null;
    const size = this.valueSize, stride = perCpuStride(size);
    const out: Uint8Array[] = [];
    for (let off = 0; off < all.length; off += stride) out.push(all.slice(off, off + size));
    return out;
  }

  /** Deletes one element: false when it was absent. */
  delete(key: Uint8Array): boolean {
    const op = `bpf_map_delete_elem(${this.name})`;
    const m = this.#elem(op);
    requireSize("key", key, m.keySize, op);
    const rc = bpf().bpf_map_delete_elem(m.fd, key);
    if (rc === -2) return false;
    check(rc, op);
    return true;
  }

  /** Iterates the keys (each a fresh copy). Deleting the current key while iterating is safe. */
  keys(): Generator<Uint8Array> {
    return mapKeys(this.fd, this.keySize);
  }
}

/**
 * What the daemon does with a map, whether it came from a loaded object ({@linkcode BpfMap}) or
 * from a pin alone ({@linkcode FdMap}).
 */
export type MapHandle = Pick<
  BpfMap,
  | "name"
  | "fd"
  | "keySize"
  | "valueSize"
  | "type"
  | "perCpu"
  | "valueBufferSize"
  | "update"
  | "lookup"
  | "lookupPerCpu"
  | "delete"
  | "keys"
>;

/**
 * A map known only by an fd this handle owns (e.g. from {@linkcode objGet} on a pin): the element
 * operations of {@linkcode BpfMap}, with sizes from the kernel's map info. {@linkcode close} it.
 */
export class FdMap implements MapHandle {
  readonly name: string;
  readonly fd: number;
  readonly keySize: number;
  readonly valueSize: number;
  readonly type: number;

  /** Takes ownership of `fd`. */
  constructor(fd: number, name?: string) {
    const i = mapInfo(fd);
    this.fd = fd;
    this.name = name ?? i.name;
    this.keySize = i.keySize;
    this.valueSize = i.valueSize;
    this.type = i.type;
  }

  /** True for per-CPU maps. */
  get perCpu(): boolean {
    return PERCPU_MAP_TYPES.has(this.type);
  }

  /** Size of a full value buffer (see {@linkcode BpfMap.valueBufferSize}). */
  get valueBufferSize(): number {
    return this.perCpu ? perCpuStride(this.valueSize) * numPossibleCpus() : this.valueSize;
  }

  /** Writes one element. */
  update(key: Uint8Array, value: Uint8Array, flags = BPF_ANY): void {
    const op = `bpf_map_update_elem(${this.name})`;
    requireSize("key", key, this.keySize, op);
    requireSize("value", value, this.valueBufferSize, op);
    check(bpf().bpf_map_update_elem(this.fd, key, value, BigInt(flags)), op);
  }

  /** Reads one element, or null when absent. */
  lookup(key: Uint8Array): Uint8Array | null {
    const op = `bpf_map_lookup_elem(${this.name})`;
    requireSize("key", key, this.keySize, op);
    const value = new Uint8Array(this.valueBufferSize);
    const rc = bpf().bpf_map_lookup_elem(this.fd, key, value);
    if (rc === -2) return null;
    check(rc, op);
    return value;
  }

  /** One copy per possible CPU (per-CPU maps only), or null when absent. */
  lookupPerCpu(key: Uint8Array): Uint8Array[] | null {
    if (!this.perCpu) throw new TypeError(`lookupPerCpu: map ${this.name} is not per-CPU`);
    return mapLookupPerCpu(this.fd, key, this.valueSize);
  }

  /** Deletes one element: false when it was absent. */
  delete(key: Uint8Array): boolean {
    const op = `bpf_map_delete_elem(${this.name})`;
    requireSize("key", key, this.keySize, op);
    const rc = bpf().bpf_map_delete_elem(this.fd, key);
    if (rc === -2) return false;
    check(rc, op);
    return true;
  }

  /** Iterates the keys. */
  keys(): Generator<Uint8Array> {
    return mapKeys(this.fd, this.keySize);
  }

  /** Closes the fd. */
  close(): void {
    closeFd(this.fd);
  }
}

/** A program of a {@linkcode BpfObject} (`struct bpf_program *`). */
export class BpfProgram {
  #ptr: Deno.PointerObject;
  #obj: BpfObject;
  /** The C function name of the program. */
  readonly name: string;

  /** Internal: use {@linkcode BpfObject.program}. */
  constructor(ptr: Deno.PointerObject, obj: BpfObject) {
    this.#ptr = ptr;
    this.#obj = obj;
    this.name = readCString(bpf().bpf_program__name(ptr));
  }

  #p(op: string): Deno.PointerObject {
    this.#obj.ptr(`${op}(${this.name})`);
    return this.#ptr;
  }

  /** The ELF section, e.g. "cgroup/connect4". */
  get section(): string {
    return readCString(bpf().bpf_program__section_name(this.#p("bpf_program__section_name")));
  }

  /** The loaded program's fd. Throws before load or when autoload was off. */
  get fd(): number {
    return check(
      bpf().bpf_program__fd(this.#p("bpf_program__fd")),
      `bpf_program__fd(${this.name})`,
    );
  }

  /** Whether load() will load this program. */
  get autoload(): boolean {
    return bpf().bpf_program__autoload(this.#p("bpf_program__autoload"));
  }

  /** Chooses whether load() loads this program (before load). */
  setAutoload(on: boolean): void {
    const op = `bpf_program__set_autoload(${this.name})`;
    check(bpf().bpf_program__set_autoload(this.#p(op), on), op);
  }

  /**
   * Attaches to a cgroup through a BPF link (`bpf_program__attach_cgroup`). The link detaches
   * when destroyed or when this process exits, unless pinned.
   */
  attachCgroup(cgroupFd: number): BpfLink {
    const op = `bpf_program__attach_cgroup(${this.name}, fd ${cgroupFd})`;
    requireFd(cgroupFd, op);
    const p = this.#p(op);
    clearWarnings();
    const link = bpf().bpf_program__attach_cgroup(p, cgroupFd);
    const err = errno();
    return new BpfLink(checkPtr(link, err, op));
  }

  /** Attaches by section type (`bpf_program__attach`): tp_btf, raw_tp, iter, ... */
  attach(): BpfLink {
    const op = `bpf_program__attach(${this.name})`;
    const p = this.#p(op);
    clearWarnings();
    setErrno(0);
    const link = bpf().bpf_program__attach(p);
    const err = errno();
    return new BpfLink(checkPtr(link, err, op));
  }

  /**
   * Attaches to a classic tracepoint by name (`bpf_program__attach_tracepoint`), so one program
   * can serve several tracepoints (needs tracefs, like `attach` of a `tracepoint/` section).
   */
  attachTracepoint(category: string, name: string): BpfLink {
    const op = `bpf_program__attach_tracepoint(${this.name}, ${category}/${name})`;
    const p = this.#p(op);
    clearWarnings();
    setErrno(0);
    const link = bpf().bpf_program__attach_tracepoint(p, cString(category), cString(name));
    const err = errno();
    return new BpfLink(checkPtr(link, err, op));
  }
}

/** A BPF link (`struct bpf_link *`): a program attached to a hook. */
export class BpfLink {
  #ptr: Deno.PointerObject | null;

  /** Internal: use {@linkcode BpfProgram.attachCgroup} or {@linkcode BpfProgram.attach}. */
  constructor(ptr: Deno.PointerObject) {
    this.#ptr = ptr;
  }

  #p(op: string): Deno.PointerObject {
    if (this.#ptr === null) throw new Error(`${op}: BPF link already destroyed`);
    return this.#ptr;
  }

  /** The link's fd. */
  get fd(): number {
    return check(bpf().bpf_link__fd(this.#p("bpf_link__fd")), "bpf_link__fd");
  }

  /** Pins the link at `path` in bpffs, so it outlives this process. */
  pin(path: string): void {
    const op = `bpf_link__pin(${path})`;
    requirePath(path, op);
    check(bpf().bpf_link__pin(this.#p(op), cString(path)), op);
  }

  /** Removes the pin made by {@linkcode pin}. */
  unpin(): void {
    check(bpf().bpf_link__unpin(this.#p("bpf_link__unpin")), "bpf_link__unpin");
  }

  /** Replaces the attached program atomically (`bpf_link_update`), with no gap in coverage. */
  update(newProgFd: number): void {
    linkUpdate(this.fd, newProgFd);
  }

  /**
   * After this, destroy() frees the handle but neither detaches nor closes the link's fd
   * (libbpf's bpf_link__destroy skips the detach op, which is what closes it): use
   * {@linkcode pinAndRelease} to hand a link over to its pin.
   */
  disconnect(): void {
    bpf().bpf_link__disconnect(this.#p("bpf_link__disconnect"));
  }

  /**
   * Pins the link at `path` and lets go of this process's handle without detaching: the pin is
   * then the link's only reference, so removing it detaches the program. (A disconnected
   * destroy alone leaves the fd open, and the open fd keeps the program attached until this
   * process exits — a daemon's `disable` or a test's close would not detach it.) For fd-based
   * links (cgroup, tp_btf, raw_tp, iter); a classic tracepoint's link also holds a perf event
   * fd that libbpf does not expose: attach those with {@linkcode attachTracepointPinned}.
   */
  pinAndRelease(path: string): void {
    this.pin(path);
    const fd = this.fd;
    this.disconnect();
    this.destroy();
    closeFd(fd);
  }

  /** Detaches (unless disconnected) and frees the link. Idempotent. */
  destroy(): void {
    if (this.#ptr === null) return;
    const p = this.#ptr;
    this.#ptr = null;
    check(bpf().bpf_link__destroy(p), "bpf_link__destroy");
  }
}

// ---------------------------------------------------------------------------------------------
// Raw fd API

/** Opens a pinned BPF object (map, program or link) from bpffs: a new fd, close it yourself. */
export function objGet(path: string): number {
  const op = `bpf_obj_get(${path})`;
  requirePath(path, op);
  return check(bpf().bpf_obj_get(cString(path)), op);
}

/** Pins a BPF object fd at `path` in bpffs. */
export function objPin(fd: number, path: string): void {
  const op = `bpf_obj_pin(${fd}, ${path})`;
  requireFd(fd, op);
  requirePath(path, op);
  check(bpf().bpf_obj_pin(fd, cString(path)), op);
}

/** What the kernel reports for a map fd (`struct bpf_map_info`). */
export interface MapInfo {
  /** Kernel id of the map. */
  id: number;
  /** `enum bpf_map_type`. */
  type: number;
  /** Key size in bytes. */
  keySize: number;
  /** Value size in bytes (one CPU's slot for per-CPU maps). */
  valueSize: number;
  /** Maximum entries. */
  maxEntries: number;
  /** BPF_F_* creation flags. */
  flags: number;
  /** Map name (at most 15 characters). */
  name: string;
}

/** `bpf_obj_get_info_by_fd` for a map fd: id, type, sizes and name. */
export function mapInfo(fd: number): MapInfo {
  const op = `bpf_obj_get_info_by_fd(map ${fd})`;
  requireFd(fd, op);
  const L = LIBBPF_LAYOUT.mapInfo;
  const info = new Uint8Array(L.size);
  const len = new Uint32Array([L.size]);
  check(bpf().bpf_obj_get_info_by_fd(fd, info, new Uint8Array(len.buffer)), op);
  const dv = new DataView(info.buffer);
  return {
    type: dv.getUint32(L.type, true),
    id: dv.getUint32(L.id, true),
    keySize: dv.getUint32(L.keySize, true),
    valueSize: dv.getUint32(L.valueSize, true),
    maxEntries: dv.getUint32(L.maxEntries, true),
    flags: dv.getUint32(L.mapFlags, true),
    name: decodeCString(info.subarray(L.name, L.name + 16)),
  };
}

/** Expected key length and full value-buffer length of the map behind `fd`. */
function rawSizes(fd: number): { keySize: number; valueBytes: number } {
  const i = mapInfo(fd);
  const valueBytes = PERCPU_MAP_TYPES.has(i.type)
    ? perCpuStride(i.valueSize) * numPossibleCpus()
    : i.valueSize;
  return { keySize: i.keySize, valueBytes };
}

/**
 * Writes one element through a map fd. Sizes are checked against the kernel's map info, so a
 * short buffer is rejected instead of letting the kernel read past it.
 */
export function mapUpdate(fd: number, key: Uint8Array, value: Uint8Array, flags = BPF_ANY): void {
  const op = `bpf_map_update_elem(fd ${fd})`;
  requireFd(fd, op);
  const s = rawSizes(fd);
  requireSize("key", key, s.keySize, op);
  requireSize("value", value, s.valueBytes, op);
  check(bpf().bpf_map_update_elem(fd, key, value, BigInt(flags)), op);
}

/**
 * Reads one element through a map fd; null when absent. `valueSize` is the full buffer size the
 * kernel writes (for per-CPU maps use {@linkcode mapLookupPerCpu}).
 */
export function mapLookup(fd: number, key: Uint8Array, valueSize: number): Uint8Array | null {
  const op = `bpf_map_lookup_elem(fd ${fd})`;
  requireFd(fd, op);
  const s = rawSizes(fd);
  requireSize("key", key, s.keySize, op);
  if (valueSize !== s.valueBytes) {
    throw new RangeError(`${op}: valueSize ${valueSize} does not match the map (${s.valueBytes})`);
  }
  const value = new Uint8Array(valueSize);
  const rc = bpf().bpf_map_lookup_elem(fd, key, value);
  if (rc === -2) return null;
  check(rc, op);
  return value;
}

/** Reads a per-CPU element: one `valueSize`-byte copy per possible CPU; null when absent. */
export function mapLookupPerCpu(
  fd: number,
  key: Uint8Array,
  valueSize: number,
): Uint8Array[] | null {
  const op = `bpf_map_lookup_elem(percpu fd ${fd})`;
  requireFd(fd, op);
  const i = mapInfo(fd);
  if (!PERCPU_MAP_TYPES.has(i.type)) throw new TypeError(`${op}: map ${i.name} is not per-CPU`);
  requireSize("key", key, i.keySize, op);
  if (valueSize !== i.valueSize) {
    throw new RangeError(`${op}: valueSize ${valueSize} does not match the map (${i.valueSize})`);
  }
  const stride = perCpuStride(valueSize);
  const n = numPossibleCpus();
  const all = new Uint8Array(stride * n);
  const rc = bpf().bpf_map_lookup_elem(fd, key, all);
  if (rc === -2) return null;
  check(rc, op);
  const out: Uint8Array[] = [];
  for (let c = 0; c < n; c++) out.push(all.slice(c * stride, c * stride + valueSize));
  return out;
}

/** Deletes one element through a map fd: false when it was absent. */
export function mapDelete(fd: number, key: Uint8Array): boolean {
  const op = `bpf_map_delete_elem(fd ${fd})`;
  requireFd(fd, op);
  requireSize("key", key, rawSizes(fd).keySize, op);
  const rc = bpf().bpf_map_delete_elem(fd, key);
  if (rc === -2) return false;
  check(rc, op);
  return true;
}

/** Iterates the keys of a map fd (`bpf_map_get_next_key`); each yielded key is a fresh copy. */
export function* mapKeys(fd: number, keySize: number): Generator<Uint8Array> {
  const op = `bpf_map_get_next_key(fd ${fd})`;
  requireFd(fd, op);
  const real = mapInfo(fd).keySize;
  if (keySize !== real) {
    throw new RangeError(`${op}: keySize ${keySize} does not match the map (${real})`);
  }
  let prev: Uint8Array | null = null;
  for (;;) {
    const next = new Uint8Array(keySize);
    const rc = bpf().bpf_map_get_next_key(fd, prev, next);
    if (rc === -2) return; // ENOENT: past the last key
    check(rc, op);
    yield next;
    prev = next;
  }
}

/** Swaps the program under a link (`bpf_link_update`, no old-program check). */
export function linkUpdate(linkFd: number, progFd: number): void {
  const op = `bpf_link_update(link ${linkFd}, prog ${progFd})`;
  requireFd(linkFd, op);
  requireFd(progFd, op);
  check(bpf().bpf_link_update(linkFd, progFd, null), op);
}

/**
 * Starts one run of an iterator program (`bpf_iter_create` on the fd of a link made by
 * {@linkcode BpfProgram.attach} on an `iter/*` program). Reading the returned fd to its end runs
 * the program over every object; close the fd yourself.
 */
export function iterCreate(linkFd: number): number {
  const op = `bpf_iter_create(link ${linkFd})`;
  requireFd(linkFd, op);
  return check(bpf().bpf_iter_create(linkFd), op);
}

/** Detaches a link's program from its hook (`bpf_link_detach`); the link fd becomes defunct. */
export function linkDetach(linkFd: number): void {
  const op = `bpf_link_detach(${linkFd})`;
  requireFd(linkFd, op);
  check(bpf().bpf_link_detach(linkFd), op);
}

/**
 * Creates a link (`bpf_link_create`) for `attachType` (see {@linkcode AttachType}), e.g. tcx with
 * `targetFd` = ifindex. Returns the link fd; closing it detaches unless pinned.
 */
export function linkCreate(progFd: number, targetFd: number, attachType: number): number {
  const op = `bpf_link_create(prog ${progFd}, target ${targetFd}, type ${attachType})`;
  requireFd(progFd, op);
  requireFd(targetFd, op);
  if (!Number.isInteger(attachType) || attachType < 0) throw new TypeError(`${op}: invalid type`);
  return check(bpf().bpf_link_create(progFd, targetFd, attachType, null), op);
}

/** What the kernel reports for a program fd (a subset of `struct bpf_prog_info`). */
export interface ProgInfo {
  /** Kernel id of the program. */
  id: number;
  /** Program name (at most 15 characters). */
  name: string;
  /** `enum bpf_prog_type` (18 = cgroup_sock_addr). */
  type: number;
  /** Total run time in ns while stats were enabled ({@linkcode enableStats}). */
  runTimeNs: bigint;
  /** Runs counted while stats were enabled. */
  runCnt: bigint;
}

const PI = LIBBPF_LAYOUT.progInfo;

/** `bpf_obj_get_info_by_fd` for a program fd: id, name, type and run statistics. */
export function progInfo(fd: number): ProgInfo {
  const op = `bpf_obj_get_info_by_fd(prog ${fd})`;
  requireFd(fd, op);
  const info = new Uint8Array(PI.size);
  const len = new Uint32Array([PI.size]);
  check(bpf().bpf_obj_get_info_by_fd(fd, info, new Uint8Array(len.buffer)), op);
  const dv = new DataView(info.buffer);
  return {
    type: dv.getUint32(PI.type, true),
    id: dv.getUint32(PI.id, true),
    name: decodeCString(info.subarray(PI.name, PI.name + 16)),
    runTimeNs: dv.getBigUint64(PI.runTimeNs, true),
    runCnt: dv.getBigUint64(PI.runCnt, true),
  };
}

/**
 * What a pinned program set is checked with before it is reused: the uid that loaded the program
 * and the ids of every map it uses (`bpf_prog_info.created_by_uid`, `map_ids`).
 */
export function progMaps(fd: number): { createdByUid: number; mapIds: number[] } {
  const op = `bpf_obj_get_info_by_fd(prog ${fd}, map_ids)`;
  requireFd(fd, op);
  const ids = new Uint32Array(256);
  const info = new Uint8Array(PI.size);
  const dv = new DataView(info.buffer);
  dv.setUint32(PI.nrMapIds, ids.length, true);
  dv.setBigUint64(PI.mapIds, addr(new Uint8Array(ids.buffer)), true);
  const len = new Uint32Array([PI.size]);
  check(bpf().bpf_obj_get_info_by_fd(fd, info, new Uint8Array(len.buffer)), op);
  const n = dv.getUint32(PI.nrMapIds, true);
  if (n > ids.length) throw new Error(`${op}: ${n} maps, more than ${ids.length}`);
  return { createdByUid: dv.getUint32(PI.createdByUid, true), mapIds: [...ids.subarray(0, n)] };
}

/** The id of the program a link runs (`bpf_link_info.prog_id`). */
export function linkProgId(linkFd: number): number {
  const op = `bpf_obj_get_info_by_fd(link ${linkFd})`;
  requireFd(linkFd, op);
  // struct bpf_link_info: type, id, prog_id (u32 each), then the per-type union.
  const info = new Uint8Array(64);
  const len = new Uint32Array([info.length]);
  check(bpf().bpf_obj_get_info_by_fd(linkFd, info, new Uint8Array(len.buffer)), op);
  return new DataView(info.buffer).getUint32(8, true);
}

/**
 * Attaches a `tp_btf` program by fd (`bpf_raw_tracepoint_open(NULL, fd)`: the tracepoint is the
 * one the program was loaded for). Returns the link fd; closing it detaches unless pinned.
 */
export function rawTracepointOpen(progFd: number): number {
  const op = `bpf_raw_tracepoint_open(prog ${progFd})`;
  requireFd(progFd, op);
  return check(bpf().bpf_raw_tracepoint_open(null, progFd), op);
}

/**
 * Turns on run-time statistics for all BPF programs (`BPF_STATS_RUN_TIME`) until the returned fd
 * is closed. It costs a little time per program run, so keep it on only while measuring.
 */
export function enableStats(): number {
  return check(bpf().bpf_enable_stats(0), "bpf_enable_stats(BPF_STATS_RUN_TIME)");
}

// The ring buffer is consumed by ffi/ringbuf.ts (RingReader), which reads the mapping directly:
// libbpf's ring_buffer__consume calls back into JavaScript once per record.

// ---------------------------------------------------------------------------------------------
// bpffs

/** Whether a bpf filesystem is mounted exactly at `path` (per /proc/mounts). */
export function isBpffsMounted(path = "/sys/fs/bpf"): boolean {
  const want = path.replace(/\/+$/, "") || "/";
  for (const line of Deno.readTextFileSync("/proc/mounts").split("\n")) {
    const f = line.split(" ");
    // /proc/mounts escapes spaces as \040; our paths never contain spaces, so plain compare.
    if (f[2] === "bpf" && f[1] === want) return true;
  }
  return false;
}

/** Mounts bpffs at `path` (creating the directory) unless it is already mounted there. */
export function mountBpffs(path = "/sys/fs/bpf"): void {
  requirePath(path, "mountBpffs");
  if (isBpffsMounted(path)) return;
  Deno.mkdirSync(path, { recursive: true });
  mount("bpf", path, "bpf", 0, "mode=0700");
}

/** x86_64 syscall number of perf_event_open(2). */
const SYS_PERF_EVENT_OPEN = 298;
const PERF_TYPE_TRACEPOINT = 2;
const PERF_FLAG_FD_CLOEXEC = 8;
/** perf_event_attr size the kernel accepts from any 5.x/6.x (PERF_ATTR_SIZE_VER7). */
const PERF_ATTR_SIZE = 128;
/** enum bpf_attach_type: BPF_PERF_EVENT. */
const BPF_PERF_EVENT = 41;

const perfSym = bindLibc({
  syscall: { parameters: ["i64", "buffer", "i32", "i32", "i32", "u64"], result: "i64" },
});

/**
 * Attaches program `progFd` to the classic tracepoint with tracefs id `tracepointId` through a
 * BPF perf link and pins that link at `path`; every fd this took is closed again, so the pin is
 * the only reference and removing it detaches. (libbpf's attach keeps the perf event fd inside
 * its link handle, where it stays open — and the program attached — until this process exits.)
 * Like libbpf, the perf event is opened for all processes on CPU 0 (a tracepoint event fires on
 * every CPU).
 */
export function attachTracepointPinned(progFd: number, tracepointId: number, path: string): void {
  const op = `perf_event_open(tracepoint ${tracepointId})`;
  requireFd(progFd, op);
  requirePath(path, op);
  const attr = new Uint8Array(PERF_ATTR_SIZE);
  const dv = new DataView(attr.buffer);
  dv.setUint32(0, PERF_TYPE_TRACEPOINT, true);
  dv.setUint32(4, PERF_ATTR_SIZE, true);
  dv.setBigUint64(8, BigInt(tracepointId), true);
  const pfd = Number(
    perfSym().syscall(BigInt(SYS_PERF_EVENT_OPEN), attr, -1, 0, -1, BigInt(PERF_FLAG_FD_CLOEXEC)),
  );
  if (pfd < 0) throw new BpfError(op, errno() || 22);
  try {
    const linkFd = linkCreate(progFd, pfd, BPF_PERF_EVENT);
    try {
      objPin(linkFd, path);
    } finally {
      closeFd(linkFd);
    }
  } finally {
    closeFd(pfd);
  }
}

/** Closes a BPF fd (map, program, link, stats) obtained from the raw API. */
export function closeBpfFd(fd: number): void {
  closeFd(fd);
}
