/**
 * Per-call run time of attached BPF programs: programs are found through their pinned links
 * (link → prog id → prog fd), and `kernel.bpf_stats_enabled` is on only inside
 * {@link withBpfStats}, because stats add a clock read per program run.
 *
 * @module
 */
import { closeBpfFd, enableStats, LIBBPF_PATH, objGet, progInfo } from "../../ffi/libbpf.ts";

// Two calls ffi/libbpf.ts does not wrap; a private handle keeps the shared module untouched.
const SYMBOLS = {
  bpf_obj_get_info_by_fd: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  bpf_prog_get_fd_by_id: { parameters: ["u32"], result: "i32" },
} as const;
let lib: Deno.DynamicLibrary<typeof SYMBOLS> | undefined;
const sym = () => (lib ??= Deno.dlopen(LIBBPF_PATH, SYMBOLS)).symbols;

/** `struct bpf_link_info` starts with type, id, prog_id (u32 each); the union follows. */
const LINK_INFO_BYTES = 64;
const LINK_INFO_PROG_ID = 8;

/**
 * Opens the program behind a pinned link; returns a new program fd (close it with closeBpfFd).
 *
 * @example
 * ```ts
 * const fd = progFdOfPinnedLink("/sys/fs/bpf/hashwall/x/links/hw_connect4");
 * ```
 */
export function progFdOfPinnedLink(pin: string): number {
  const linkFd = objGet(pin);
  try {
    const info = new Uint8Array(LINK_INFO_BYTES);
    const len = new Uint32Array([LINK_INFO_BYTES]);
    const rc = sym().bpf_obj_get_info_by_fd(linkFd, info, new Uint8Array(len.buffer));
    if (rc < 0) throw new Error(`bpf_obj_get_info_by_fd(link ${pin}) failed: ${rc}`);
    const progId = new DataView(info.buffer).getUint32(LINK_INFO_PROG_ID, true);
    if (progId === 0) throw new Error(`link ${pin} has no program`);
    const fd = sym().bpf_prog_get_fd_by_id(progId);
    if (fd < 0) throw new Error(`bpf_prog_get_fd_by_id(${progId}) for ${pin} failed: ${fd}`);
    return fd;
  } finally {
    closeBpfFd(linkFd);
  }
}

/** Run statistics of one program over a measured interval. */
export interface ProgCost {
  name: string;
  /** Program runs during the interval. */
  runs: number;
  /** Mean run time per call in ns. */
  nsPerRun: number;
}

/**
 * Runs `work` with BPF run-time stats on and returns, per program fd, the runs and the mean ns
 * per run that happened during `work` (deltas, so earlier runs do not count). Stats go off again
 * when this returns or throws (closing the stats fd restores the previous state).
 *
 * @example
 * ```ts
 * const costs = await withBpfStats(new Map([["connect4", fd]]), () => runClient());
 * ```
 */
export async function withBpfStats(
  progs: ReadonlyMap<string, number>,
  work: () => Promise<void>,
): Promise<ProgCost[]> {
  const statsFd = enableStats();
  try {
    const before = new Map([...progs].map(([n, fd]) => [n, progInfo(fd)]));
    await work();
    return [...progs].map(([name, fd]) => {
      const a = before.get(name)!;
      const b = progInfo(fd);
      const runs = Number(b.runCnt - a.runCnt);
      const ns = Number(b.runTimeNs - a.runTimeNs);
      return { name, runs, nsPerRun: runs > 0 ? ns / runs : 0 };
    });
  } finally {
    closeBpfFd(statsFd);
  }
}
