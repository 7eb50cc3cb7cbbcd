/**
 * A SIGHUP listener installed while `main.ts` is still evaluating its imports, for `hashwall run`
 * only: the daemon's real handler (src/daemon/lifecycle.ts) comes after every module has loaded,
 * and until some listener exists a SIGHUP's default action kills the process. Imported first by
 * main.ts (and by lifecycle.ts, for the bundle's `run` chunk).
 *
 * The dist launcher execs `run` with SIGHUP blocked (`env --block-signal=HUP`), which closes the
 * window this listener cannot: Deno's signal layer installs its handler before it records the
 * first listener, and a SIGHUP read in between takes the default action (ffi/signal_mask.ts). The
 * daemon lifts the mask once started (src/daemon/lifecycle.ts).
 *
 * @module
 */
let seen = false;
const early = () => {
  seen = true;
};
let installed = false;
if (Deno.args[0] === "run") {
  try {
    Deno.addSignalListener("SIGHUP", early);
    installed = true;
  } catch { /* no signals here (tests in a worker): nothing to guard */ }
}

/** Removes the early listener; true when a SIGHUP arrived while it was the only one. */
export function takeEarlyHup(): boolean {
  if (installed) {
    Deno.removeSignalListener("SIGHUP", early);
    installed = false;
  }
  const s = seen;
  seen = false;
  return s;
}
