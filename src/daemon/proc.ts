/**
 * What the approval machine reads about live processes and files outside the kernel: a
 * process's start time (is it still the same process?), its executable's path (naming a closed
 * socket's owner) and whether a file is an ELF binary (scripts go to the kernel's script maps).
 *
 * @module
 */
import type { ProcessFacts } from "./approval_ports.ts";

/** The executable of a live process, or undefined. */
export function procExe(tgid: number): string | undefined {
  try {
    return Deno.readLinkSync(`/proc/${tgid}/exe`);
  } catch {
    return undefined;
  }
}

/** The start time of process `tgid` (field 22 of /proc/PID/stat), or undefined when gone. */
export function procStart(tgid: number): string | undefined {
  try {
    const stat = Deno.readTextFileSync(`/proc/${tgid}/stat`);
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
  } catch {
    return undefined;
  }
}

/** Whether the file starts with the ELF magic (a binary, not a script). */
export function isElf(path: string): boolean {
  const f = Deno.openSync(path);
  try {
    const head = new Uint8Array(4);
    const n = f.readSync(head);
    return n === 4 && head[0] === 0x7f && head[1] === 0x45 && head[2] === 0x4c && head[3] === 0x46;
  } finally {
    f.close();
  }
}

/** The real /proc and file readers. */
export const PROC: ProcessFacts = { start: procStart, exe: procExe, isElf };
