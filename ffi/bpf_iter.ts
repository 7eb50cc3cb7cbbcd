/**
 * Running a BPF iterator program once and reading all it wrote: `bpf_link_create` (attach type
 * BPF_TRACE_ITER, optionally narrowed to one process by `bpf_iter_link_info.task.pid`), then
 * `bpf_iter_create` and `read(2)` until EOF. Nothing stays attached after {@link runIter}.
 *
 * Kept apart from ffi/libbpf.ts (its own dlopen of the same library: the loader refcounts it).
 *
 * @module
 */
import { errno, ErrnoError, libc } from "./libc.ts";
import { LIBBPF_PATH } from "./libbpf.ts";

const SYMBOLS = {
  bpf_link_create: { parameters: ["i32", "i32", "u32", "buffer"], result: "i32" },
  bpf_iter_create: { parameters: ["i32"], result: "i32" },
} as const satisfies Deno.ForeignLibraryInterface;

let lib: Deno.DynamicLibrary<typeof SYMBOLS> | undefined;

/** `enum bpf_attach_type` BPF_TRACE_ITER. */
export const BPF_TRACE_ITER = 28;

// struct bpf_link_create_opts (libbpf 1.1 bpf.h): sz@0, flags@8, iter_info@16, iter_info_len@24,
// target_btf_id@28, a 32-byte union@32 → 64 bytes.
const LINK_OPTS_SIZE = 64;
// union bpf_iter_link_info: 16 bytes (its cgroup member); task.pid at offset 4.
const ITER_INFO_SIZE = 16;
const ITER_INFO_TASK_PID = 4;

/** Options of {@link runIter}. */
export interface RunIterOptions {
  /** Visit only this process's tasks (task / task_file iterators; kernel ≥ 6.1). */
  pid?: number;
  /** Bytes per read(2). Default 64 KiB. */
  bufferSize?: number;
}

/**
 * Runs the loaded iterator program `progFd` once; returns every byte it wrote.
 *
 * @example
 * ```ts
 * const bytes = runIter(obj.program("hw_fd_idents").fd, { pid: Deno.pid });
 * ```
 */
export function runIter(progFd: number, opts: RunIterOptions = {}): Uint8Array {
  lib ??= Deno.dlopen(LIBBPF_PATH, SYMBOLS);
  const info = new Uint8Array(ITER_INFO_SIZE);
  const o = new Uint8Array(LINK_OPTS_SIZE);
  const ov = new DataView(o.buffer);
  ov.setBigUint64(0, BigInt(LINK_OPTS_SIZE), true);
  if (opts.pid !== undefined) {
    new DataView(info.buffer).setUint32(ITER_INFO_TASK_PID, opts.pid, true);
    ov.setBigUint64(16, BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(info))), true);
    ov.setUint32(24, ITER_INFO_SIZE, true);
  }
  const link = lib.symbols.bpf_link_create(progFd, 0, BPF_TRACE_ITER, o);
  if (link < 0) throw new ErrnoError("bpf_link_create(iter)", -link);
  const lc = libc();
  try {
    const it = lib.symbols.bpf_iter_create(link);
    if (it < 0) throw new ErrnoError("bpf_iter_create", -it);
    try {
      const chunk = new Uint8Array(opts.bufferSize ?? 64 << 10);
      const parts: Uint8Array[] = [];
      let len = 0;
      for (;;) {
        const n = Number(lc.read(it, chunk, BigInt(chunk.length)));
        if (n < 0) throw new ErrnoError("read(bpf iterator)", errno());
        if (n === 0) break;
        parts.push(chunk.slice(0, n));
        len += n;
      }
      const buf = new Uint8Array(len);
      let off = 0;
      for (const p of parts) {
        buf.set(p, off);
        off += p.length;
      }
      return buf;
    } finally {
      lc.close(it);
    }
  } finally {
    lc.close(link);
  }
}
