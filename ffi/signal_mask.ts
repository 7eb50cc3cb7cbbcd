/**
 * The calling thread's signal mask (pthread_sigmask(3)), for the one place that needs it: the
 * daemon starts with SIGHUP blocked (the dist launcher execs it through
 * `env --block-signal=HUP`; every thread the runtime starts inherits the mask) and unblocks it on
 * its JavaScript thread once started.
 *
 * Why a mask and not an ignored signal: Deno's signal layer, the first time any listener is
 * added, installs its handler for SIGHUP, SIGTERM and SIGINT together and starts a thread that
 * reads them; a SIGHUP read before the listener's entry is in Deno's table takes the default
 * action (the process dies with 129). An ignored signal is replaced by that handler; a blocked one
 * stays pending until the mask is lifted, so no window is left. Why until started: a signal
 * delivered to a thread in the BPF verifier aborts the program load (EAGAIN; libbpf retries a few
 * times, then the start fails), so SIGHUPs wait, and are answered with one reload after start.
 *
 * @module
 */
import { bindLibc, ErrnoError } from "./libc.ts";

const sym = bindLibc({
  pthread_sigmask: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
});

/** SIGHUP's number on Linux. */
export const SIGHUP = 1;
const SIG_BLOCK = 0;
const SIG_UNBLOCK = 1;
/** glibc's sigset_t: 1024 bits. */
const SIGSET_BYTES = 128;

function sigset(signos: number[]): Uint8Array<ArrayBuffer> {
  const set = new Uint8Array(SIGSET_BYTES);
  for (const s of signos) set[(s - 1) >> 3] |= 1 << ((s - 1) & 7);
  return set;
}

/** Whether `signo` is blocked in the calling thread. */
export function isBlockedHere(signo: number): boolean {
  const old = new Uint8Array(SIGSET_BYTES);
  // SIG_BLOCK of the empty set changes nothing and reports the current mask.
  const rc = sym().pthread_sigmask(SIG_BLOCK, sigset([]), old);
  if (rc !== 0) throw new ErrnoError("pthread_sigmask", rc);
  return (old[(signo - 1) >> 3] & (1 << ((signo - 1) & 7))) !== 0;
}

/**
 * Unblocks `signo` in the calling thread (the JavaScript main thread). Threads started before
 * keep it blocked, so a process-directed signal is delivered here (pending ones at once).
 */
export function unblockHere(signo: number): void {
  const rc = sym().pthread_sigmask(SIG_UNBLOCK, sigset([signo]), null);
  if (rc !== 0) throw new ErrnoError("pthread_sigmask", rc);
}
