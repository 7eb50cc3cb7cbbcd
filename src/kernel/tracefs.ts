/**
 * tracefs, which libbpf needs to attach classic syscall tracepoints (it reads each event's id
 * there). Most systems mount it at boot (systemd's sys-kernel-tracing.mount); where it is absent
 * the daemon mounts it at its standard place, as systemd would, and leaves it mounted: attached
 * tracepoints do not depend on the mount, and a later start finds it there.
 *
 * @module
 */
import { mount } from "../../ffi/libc.ts";

/** The standard tracefs mount point. */
export const TRACEFS = "/sys/kernel/tracing";

function hasEvents(dir: string): boolean {
  try {
    return Deno.statSync(`${dir}/events/syscalls`).isDirectory;
  } catch {
    return false;
  }
}

/** Makes sure libbpf finds tracefs; returns where (mounting it at {@link TRACEFS} if needed). */
export function ensureTracefs(): string {
  if (hasEvents(TRACEFS)) return TRACEFS;
  if (hasEvents("/sys/kernel/debug/tracing")) return "/sys/kernel/debug/tracing";
  try {
    mount("nodev", TRACEFS, "tracefs");
  } catch (e) {
    // Another process (a concurrent start) may have mounted it meanwhile.
    if (!hasEvents(TRACEFS)) throw e;
  }
  return TRACEFS;
}

/** The tracefs id of classic tracepoint `category/name` (what a perf event attaches by). */
export function tracepointId(category: string, name: string): number {
  const file = `${ensureTracefs()}/events/${category}/${name}/id`;
  const id = Number(Deno.readTextFileSync(file).trim());
  if (!Number.isInteger(id) || id <= 0) throw new Error(`${file}: not a tracepoint id`);
  return id;
}
