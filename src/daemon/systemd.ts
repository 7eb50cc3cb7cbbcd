/**
 * sd_notify: READY=1, WATCHDOG=1 and STATUS= to systemd over $NOTIFY_SOCKET (a datagram Unix
 * socket), through libc because Deno has no stable Unix datagram API. A no-op outside systemd.
 *
 * @module
 */
import { libcSymbols } from "../../ffi/notify.ts";

/** Sends `state` (e.g. "READY=1\nSTATUS=enforcing") when running under systemd. */
export function sdNotify(state: string): boolean {
  const path = Deno.env.get("NOTIFY_SOCKET");
  if (!path) return false;
  return libcSymbols().sendDatagram(path, state);
}

/** The watchdog interval systemd asked for (half of WATCHDOG_USEC), or undefined. */
export function watchdogIntervalMs(): number | undefined {
  const usec = Number(Deno.env.get("WATCHDOG_USEC"));
  const pid = Deno.env.get("WATCHDOG_PID");
  if (!usec || (pid && Number(pid) !== Deno.pid)) return undefined;
  return Math.max(100, Math.floor(usec / 2000));
}
