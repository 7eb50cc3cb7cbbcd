/**
 * The daemon's life cycle: start the parts in a clear order, answer signals, keep systemd told,
 * and stop cleanly. A failed first start leaves the host as it found it; a failed restart leaves
 * the previous run's pinned policy in force (never half a policy).
 *
 * @module
 */
import { isBpffsMounted, mountBpffs } from "../../ffi/libbpf.ts";
import { disableInstance } from "../kernel/app_control.ts";
import { pinExists, pinPaths } from "../kernel/pins.ts";
import { createUiServer, type UiServer } from "../../ui/server.tsx";
import { DAEMON_CALLER, DaemonCore, type DaemonOptions } from "./core.ts";
import { createLogger, type LogFormat, type Logger } from "./log.ts";
import { sdNotify, watchdogIntervalMs } from "./systemd.ts";
import { controlSocket, optionalParts } from "./parts.ts";
import { takeEarlyHup } from "./early_hup.ts";
import { isBlockedHere, SIGHUP, unblockHere } from "../../ffi/signal_mask.ts";
import { selfCommand } from "./self_command.ts";
import { makeLoginUrl } from "../../ui/auth/login_link.ts";
import { readTokens } from "../../ui/auth/tokens.ts";

/** Lifetime of the login link printed on a terminal: time to read the output and click. */
export const TERMINAL_LINK_TTL_S = 900;

/**
 * In the foreground on a terminal (stderr is a TTY), prints a ready one-time admin link, as
 * Jupyter does, so the first visit is one click. Never into a pipe, a file or the journal: a
 * link in a log would be a credential (one-time and short-lived, but still).
 */
async function printFirstLink(stateDir: string, url: string, log: Logger): Promise<void> {
  if (!Deno.stderr.isTerminal()) return;
  try {
    const link = await makeLoginUrl(url, await readTokens(stateDir), "admin", TERMINAL_LINK_TTL_S);
    log.log(
      "notice",
      `open the web UI (one-time admin link, expires in ${TERMINAL_LINK_TTL_S / 60} min): ${link}`,
    );
  } catch (e) {
    log.log("warn", `no login link printed: ${(e as Error).message}`);
  }
}

/** Everything `hashwall run` decides from its flags. */
export interface RunOptions extends DaemonOptions {
  logFormat: LogFormat;
  /** Resolves when the daemon should stop (tests); signals do the same. */
  stopSignal?: AbortSignal;
  /** Called once the daemon is ready (tests). */
  onReady?: (core: DaemonCore) => void;
}

/** Runs the daemon until SIGTERM/SIGINT (or `stopSignal`); resolves to the exit code. */
export async function runDaemon(opts: RunOptions): Promise<number> {
  const log = createLogger(opts.logFormat);
  if (!isBpffsMounted()) mountBpffs();
  Deno.mkdirSync(opts.stateDir, { recursive: true, mode: 0o700 });
  Deno.chmodSync(opts.stateDir, 0o700);
  const pins = pinPaths(new DaemonCore(opts, log).instance);
  const hadPins = pinExists(`${pins.links}/hw_connect4`);
  const core = new DaemonCore(opts, log);
  const cleanups: (() => Promise<void> | void)[] = [];
  let ui: UiServer | undefined;

  // Signal handlers before anything else: a signal's default action (SIGHUP, SIGTERM, SIGINT all
  // terminate) must never hit a daemon that is already changing the kernel. A SIGHUP during start
  // is answered with one reload once started (the config may have changed after it was read); a
  // SIGTERM/SIGINT during start stops right after it.
  const { promise: stopped, resolve: stop } = Promise.withResolvers<void>();
  let started = false;
  let hupDuringStart = false;
  let stopping = false;
  const onHup = () => {
    if (stopping) return; // the listeners stay until the end: a SIGHUP must not cut a stop short
    if (!started) {
      hupDuringStart = true;
      return;
    }
    void core.reload(DAEMON_CALLER).then((r) => {
      if (!r.ok) log.log("error", "SIGHUP: configuration rejected, previous policy stays");
    }).catch((e) => log.log("error", `SIGHUP: reload failed: ${(e as Error).message}`));
  };
  Deno.addSignalListener("SIGHUP", onHup);
  if (takeEarlyHup()) hupDuringStart = true;
  Deno.addSignalListener("SIGTERM", stop);
  Deno.addSignalListener("SIGINT", stop);
  opts.stopSignal?.addEventListener("abort", () => stop());
  const removeSignals = () => {
    Deno.removeSignalListener("SIGHUP", onHup);
    Deno.removeSignalListener("SIGTERM", stop);
    Deno.removeSignalListener("SIGINT", stop);
  };

  const stopAll = async () => {
    for (const c of cleanups.reverse()) {
      try {
        await c();
      } catch (e) {
        log.log("warn", `while stopping: ${(e as Error).message}`);
      }
    }
    await core.stop();
  };

  try {
    // The control socket first: it refuses to start beside a live daemon before the kernel is
    // touched (see parts.ts controlSocket).
    cleanups.push(await controlSocket(core));
    await core.start();
    for (const part of optionalParts) cleanups.push(await part(core));
    const uiCfg = opts.ui ?? core.policy.ui;
    if (uiCfg.host !== null) {
      ui = await createUiServer(core, {
        host: uiCfg.host,
        port: uiCfg.port,
        stateDir: opts.stateDir,
      });
      core.uiUrl = ui.url;
      cleanups.push(() => ui!.close());
      const cmd = selfCommand(["ui", "url"], opts.stateDir);
      log.log("notice", `web UI on ${ui.url} — get a login link with: ${cmd}`);
      await printFirstLink(opts.stateDir, ui.url, log);
    }
  } catch (e) {
    log.log("error", `start failed: ${(e as Error).message}`);
    stopping = true;
    await stopAll();
    removeSignals();
    if (!hadPins) {
      // First start: leave the host as it was found.
      disableInstance(pins);
    } else {
      log.log("notice", "the previous run's pinned policy stays in force");
    }
    return 1;
  }
  // The control socket serves calls only now: an answered `status` means every part it reports
  // (the web UI included) is up, as the ready line below does.
  core.ready = true;
  started = true;
  // Started with SIGHUP blocked (the dist launcher; ffi/signal_mask.ts): one pending is delivered
  // now, to the listener above, and answered with a reload like any later one.
  if (isBlockedHere(SIGHUP)) unblockHere(SIGHUP);
  if (hupDuringStart) onHup();

  // Only now: the ready line must not come before the control socket and UI it announces.
  core.announceReady();
  const statusLine = () =>
    `STATUS=${core.effectiveMode()}, ${core.kernel.counters().deny ?? 0} denied, ` +
    `${core.kernel.counters().lost ?? 0} lost`;
  sdNotify(`READY=1\n${statusLine()}\nMAINPID=${Deno.pid}`);
  opts.onReady?.(core);

  // fapolicyd's rule: pet the watchdog only while the decision path (ring-buffer drain on the
  // event loop) makes progress.
  const wd = watchdogIntervalMs();
  const timers: ReturnType<typeof setInterval>[] = [];
  if (wd) {
    timers.push(setInterval(() => {
      if (core.healthy(wd * 2)) sdNotify(`WATCHDOG=1\n${statusLine()}`);
    }, wd));
  }

  await stopped;
  sdNotify("STOPPING=1");
  stopping = true;
  timers.forEach(clearInterval);
  await stopAll();
  // The listeners stay through the cleanup above: with none left, a SIGHUP (or a second SIGTERM)
  // takes the default action. A process exits right after this returns and keeps them to the end
  // (exit code 0, not 129); an embedder that stops through `stopSignal` gets them removed.
  if (opts.stopSignal) removeSignals();
  log.log("notice", "stopped; the pinned policy stays enforced (hashwall disable removes it)");
  return 0;
}
