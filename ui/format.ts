/**
 * Display formatting shared by server pages and islands. Deterministic (no locale APIs), so the
 * server's HTML and the browser's hydrated render agree.
 *
 * @module
 */

function pad(n: number): string {
  return String(n).padStart(2, "0");
}

/** Epoch ms → `YYYY-MM-DD HH:MM:SS` (local time); "—" when absent. */
export function formatTime(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms) || ms <= 0) return "—";
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** First 12 hex digits of a SHA-256, the length people compare by eye; "—" when absent. */
export function shortHash(sha: string | undefined): string {
  return sha ? sha.slice(0, 12) : "—";
}

/** IP protocol number → name. */
export function protoName(proto: number): string {
  return proto === 6
    ? "tcp"
    : proto === 17
    ? "udp"
    : proto === 1
    ? "icmp"
    : proto === 58
    ? "icmpv6"
    : `proto ${proto}`;
}

/** `addr:port`, bracketing IPv6 literals. */
export function formatDest(addr: string, port: number): string {
  const a = addr.includes(":") ? `[${addr}]` : addr;
  return port ? `${a}:${port}` : a;
}
