/**
 * The libc calls sd_notify needs: a SOCK_DGRAM Unix socket and sendto to an address that may be
 * abstract (`@name`). Loaded lazily, absolute library path.
 *
 * @module
 */
import { bindLibc, closeFd } from "./libc.ts";

const AF_UNIX = 1;
const SOCK_DGRAM = 2;
const SOCK_CLOEXEC = 0o2000000;

const lib = bindLibc(
  {
    socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
    sendto: { parameters: ["i32", "buffer", "usize", "i32", "buffer", "u32"], result: "isize" },
  } as const,
);

/** The notify helpers. */
export function libcSymbols(): { sendDatagram(path: string, msg: string): boolean } {
  const s = lib();
  return {
    sendDatagram(path, msg) {
      const name = new TextEncoder().encode(path.startsWith("@") ? "\0" + path.slice(1) : path);
      if (name.length > 107) return false;
      const addr = new Uint8Array(2 + name.length + (path.startsWith("@") ? 0 : 1));
      new DataView(addr.buffer).setUint16(0, AF_UNIX, true);
      addr.set(name, 2);
      const fd = s.socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
      if (fd < 0) return false;
      try {
        const body = new TextEncoder().encode(msg);
        return s.sendto(fd, body, BigInt(body.length), 0, addr, addr.length) >= 0n;
      } finally {
        closeFd(fd);
      }
    },
  };
}
