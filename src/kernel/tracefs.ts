/**
 * tracefs for classic syscall tracepoints: libbpf reads a tracepoint's event id from
 * `/sys/kernel/tracing/events/...`, and on this platform nothing mounts tracefs at boot
 * (docs: /work/shared/PLATFORM-FACTS.md). The mount is the kernel's standard one and is left in
 * place: other tracers (and a restarted daemon) expect it there.
 *
 * @module
 */
import { mount } from "../../ffi/libc.ts";

/** Where libbpf 1.x looks for tracefs when debugfs is not mounted. */
export const TRACEFS = "/sys/kernel/tracing";

/**
 * Mounts tracefs at {@link TRACEFS} unless the syscall events are already visible there.
 * Throws with the mount error when it cannot (the open tracepoints then cannot attach).
 *
 * @example
 * ```ts
 * ensureTracefs();
 * ```
 */
export function ensureTracefs(): void {
  try {
    Deno.statSync(`${TRACEFS}/events/syscalls`);
    return;
  } catch { /* not mounted (or no syscall events): mount below */ }
  try {
    mount("nodev", TRACEFS, "tracefs");
  } catch (e) {
    // Another process may have mounted it meanwhile.
    try {
      Deno.statSync(`${TRACEFS}/events/syscalls`);
      return;
    } catch { /* still absent */ }
    throw e;
  }
}
