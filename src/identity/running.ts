/**
 * The processes running now and the kernel identity of their executables, read from /proc. Used
 * once at start (processes that exec'd before the lineage tracepoints were attached) and after an
 * approval (running instances of the newly approved file).
 *
 * @module
 */
import type { ExeKey } from "../../ffi/structs.ts";
import { kernelDev } from "./devno.ts";

/** A running process and its executable's kernel identity. */
export interface RunningProcess {
  tgid: number;
  key: ExeKey;
}

/** Kernel identity (kernel dev encoding + inode) of a file as `stat` reports it. */
export function identityOf(info: Deno.FileInfo): ExeKey {
  return { dev: kernelDev(BigInt(info.dev)), ino: BigInt(info.ino ?? 0) };
}

/** Every user process with a readable executable (kernel threads have none and are skipped). */
export function runningProcesses(): RunningProcess[] {
  const out: RunningProcess[] = [];
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      out.push({ tgid: Number(e.name), key: identityOf(Deno.statSync(`/proc/${e.name}/exe`)) });
    } catch { /* exited meanwhile, or a kernel thread */ }
  }
  return out;
}

/** A stable string form of an identity, for Map keys. */
export function keyString(k: ExeKey): string {
  return `${k.dev}:${k.ino}`;
}
