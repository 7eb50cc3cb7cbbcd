/**
 * A BPF ring-buffer consumer in TypeScript, reading the kernel's mapping directly.
 *
 * libbpf's `ring_buffer__consume` calls back into JavaScript once per record through an FFI
 * trampoline, and the record has to be copied out for every call. Here the consumer walks the
 * shared memory itself, the way libbpf does in C: no callback, no copy unless a record wraps
 * around the end of the ring. It also maps the data area once instead of twice. libbpf maps it
 * twice so that wrapping records look contiguous, and the resident set counts each mapping, so
 * its ring showed as 32 MB for 16 MiB in the daemon's RSS; one mapping counts once.
 *
 * Memory layout (kernel/bpf/ringbuf.c): page 0 holds consumer_pos (the only page user space may
 * write), page 1 holds producer_pos, and the data pages follow. Each record starts with an 8-byte
 * header `{ u32 len; u32 pg_off; }`; `len` carries BUSY (still being written) and DISCARD bits.
 * Positions are ever-growing byte counters; the offset in the data area is `pos & (size - 1)`.
 * Ordering follows libbpf: the producer position and each header are read with acquire
 * semantics, and the consumer position is published with release semantics. `Atomics` are
 * sequentially consistent, which is stronger than both.
 *
 * @module
 */
import { BpfError, mapInfo } from "./libbpf.ts";
import { mapFd, pageSize, PROT_READ, PROT_WRITE, unmap } from "./libc.ts";

/** `enum bpf_map_type`: BPF_MAP_TYPE_RINGBUF. */
const BPF_MAP_TYPE_RINGBUF = 27;
const BUSY_BIT = 0x80000000;
const DISCARD_BIT = 0x40000000;
const HDR_SIZE = 8;

/**
 * Receives one record. `data` is a view into the ring (or into a scratch buffer for a record
 * that wraps). It is valid only during the call: copy what must outlive it.
 */
export type RecordHandler = (data: Uint8Array) => void;

/**
 * Consumes a BPF_MAP_TYPE_RINGBUF map from this process, without epoll: call
 * {@link RingReader.consume} on a timer or when work is expected.
 *
 * @example
 * ```ts
 * const reader = new RingReader(map.fd, (rec) => handle(decodeEvent(rec)));
 * const n = reader.consume(1000);
 * reader.free();
 * ```
 */
export class RingReader {
  /** Bytes of the data area (the map's max_entries, a power of two). */
  readonly size: number;
  readonly #page: number;
  #consumerMap: Deno.PointerObject | null;
  #producerMap: Deno.PointerObject | null;
  /** consumer_pos, written by us. */
  readonly #consumerPos: BigUint64Array;
  /** producer_pos, written by the kernel. */
  readonly #producerPos: BigUint64Array;
  /** Record headers (u32 len at every 8-aligned offset). */
  readonly #headers: Uint32Array;
  readonly #data: Uint8Array;
  readonly #mask: number;
  readonly #onRecord: RecordHandler;
  #scratch = new Uint8Array(4096);

  /** Maps the ring buffer behind `fd` (the fd may be closed afterwards). */
  constructor(fd: number, onRecord: RecordHandler) {
    const info = mapInfo(fd);
    if (info.type !== BPF_MAP_TYPE_RINGBUF) {
      throw new BpfError(`RingReader(fd ${fd}): map type ${info.type} is not a ring buffer`, 22);
    }
    this.size = info.maxEntries;
    this.#mask = this.size - 1;
    this.#page = pageSize();
    this.#onRecord = onRecord;
    this.#consumerMap = mapFd(fd, this.#page, PROT_READ | PROT_WRITE, 0);
    try {
      // Producer page + ONE copy of the data area (see the module comment for why not two).
      this.#producerMap = mapFd(fd, this.#page + this.size, PROT_READ, this.#page);
    } catch (e) {
      unmap(this.#consumerMap, this.#page);
      this.#consumerMap = null;
      throw e;
    }
    const cons = Deno.UnsafePointerView.getArrayBuffer(this.#consumerMap, this.#page);
    const prod = Deno.UnsafePointerView.getArrayBuffer(this.#producerMap, this.#page + this.size);
    this.#consumerPos = new BigUint64Array(cons, 0, 1);
    this.#producerPos = new BigUint64Array(prod, 0, 1);
    this.#headers = new Uint32Array(prod, this.#page, this.size / 4);
    this.#data = new Uint8Array(prod, this.#page, this.size);
  }

  /** Bytes written by producers and not consumed yet. */
  pending(): number {
    this.#checkOpen("pending");
    return Number(Atomics.load(this.#producerPos, 0) - Atomics.load(this.#consumerPos, 0));
  }

  /**
   * Delivers pending records now without blocking, at most `limit` of them (default: until the
   * ring is empty); returns how many were delivered. Pass a limit when producers may be faster
   * than the handler, or this call may never return. A handler that throws stops the call with
   * its error; its record counts as consumed, the rest stays queued.
   */
  consume(limit = Infinity): number {
    this.#checkOpen("consume");
    let cons = Number(Atomics.load(this.#consumerPos, 0));
    let count = 0;
    for (;;) {
      const prod = Number(Atomics.load(this.#producerPos, 0));
      if (cons >= prod) break;
      while (cons < prod) {
        const off = cons & this.#mask;
        const hdr = Atomics.load(this.#headers, off >>> 2);
        if (hdr & BUSY_BIT) {
          // The producer reserved it but has not submitted yet: later records must wait.
          return count;
        }
        const len = hdr & ~(BUSY_BIT | DISCARD_BIT);
        cons += (len + HDR_SIZE + 7) & ~7;
        try {
          if (!(hdr & DISCARD_BIT)) {
            count++;
            this.#onRecord(this.#record(off + HDR_SIZE, len));
          }
        } finally {
          // Published per record, as libbpf does, so the kernel can reuse the space at once.
          Atomics.store(this.#consumerPos, 0, BigInt(cons));
        }
        if (count >= limit) return count;
      }
    }
    return count;
  }

  /** Unmaps the ring; idempotent. */
  free(): void {
    if (this.#consumerMap !== null) unmap(this.#consumerMap, this.#page);
    if (this.#producerMap !== null) unmap(this.#producerMap, this.#page + this.size);
    this.#consumerMap = null;
    this.#producerMap = null;
  }

  /** The record at data offset `start` (may be past the end: it wraps), `len` bytes. */
  #record(start: number, len: number): Uint8Array {
    const from = start & this.#mask;
    if (from + len <= this.size) return this.#data.subarray(from, from + len);
    if (this.#scratch.length < len) this.#scratch = new Uint8Array(len);
    const first = this.size - from;
    this.#scratch.set(this.#data.subarray(from, this.size), 0);
    this.#scratch.set(this.#data.subarray(0, len - first), first);
    return this.#scratch.subarray(0, len);
  }

  #checkOpen(op: string): void {
    if (this.#consumerMap === null) throw new Error(`RingReader.${op}: ring buffer already freed`);
  }
}
