/**
 * The packet description used by `hashwall rules explain`, and its text syntax:
 *
 *     <in|out> <tcp|udp|icmp|icmpv6|PROTO-NUMBER> <remote-address>[:<port>]
 *     out <tcp|udp> <host-name>:<port>
 *
 * IPv6 addresses with a port go in brackets (`[2001:db8::1]:443`). The port is the service
 * port: the local port for `in`, the remote port for `out`; TCP and UDP need one, ICMP takes
 * none.
 *
 * @module
 */
import { formatAddress, parseAddress } from "../config/cidr.ts";
import type { Direction } from "../config/model.ts";
import { parseHostPattern } from "../config/hostname.ts";

/** One packet to judge. */
export interface Packet {
  direction: Direction;
  /** IP protocol number (6 tcp, 17 udp, 1 icmp, 58 icmpv6, ...). */
  proto: number;
  family: 4 | 6;
  /** Remote address, 4 or 16 bytes (all zero for a packet given by host name). */
  remote: Uint8Array;
  /**
   * Remote host name the app resolved the address from (`out tcp github.com:443`): judged by the
   * `remote_host` rules and by rules without `remote`; rules naming networks need an address.
   */
  host?: string;
  /** Service port (TCP/UDP only). */
  port?: number;
  /** App name of the local process (outbound only). */
  app?: string;
  /**
   * App that started the local process (outbound only): judged as if a process trusted as that
   * app were among its ancestors, so `[[rule]] via` rules naming it can match.
   */
  via?: string;
}

const PROTO_NAMES: Record<string, number> = { tcp: 6, udp: 17, icmp: 1, icmpv6: 58 };

/** Name of a protocol number ("tcp", "udp", "icmp", "icmpv6" or the number). */
export function protoName(proto: number): string {
  return Object.entries(PROTO_NAMES).find(([, n]) => n === proto)?.[0] ?? String(proto);
}

/** A malformed packet description; the message names the part that is wrong. */
export class PacketSyntaxError extends Error {
  override name = "PacketSyntaxError";
}

/**
 * Parses `direction proto address[:port]` (three words, or one string with spaces).
 *
 * @example
 * ```ts
 * parsePacket(["in", "tcp", "192.0.2.7:22"]);
 * // { direction: "in", proto: 6, family: 4, remote: Uint8Array [192,0,2,7], port: 22 }
 * parsePacket("out udp [2001:db8::53]:53");
 * ```
 */
export function parsePacket(words: string[] | string, app?: string, via?: string): Packet {
  const w = typeof words === "string" ? words.trim().split(/\s+/) : words;
  if (w.length !== 3) {
    throw new PacketSyntaxError(
      `expected "<in|out> <tcp|udp|icmp|icmpv6|number> <address>[:port]", got ${w.length} word(s)`,
    );
  }
  const [dirText, protoText, target] = w;
  if (dirText !== "in" && dirText !== "out") {
    throw new PacketSyntaxError(`direction must be "in" or "out", not "${dirText}"`);
  }
  let proto = PROTO_NAMES[protoText.toLowerCase()];
  if (proto === undefined) {
    if (!/^[0-9]{1,3}$/.test(protoText) || Number(protoText) > 255) {
      throw new PacketSyntaxError(
        `protocol must be tcp, udp, icmp, icmpv6 or a number 0..255, not "${protoText}"`,
      );
    }
    proto = Number(protoText);
  }
  const { addrText, portText } = splitTarget(target);
  let remote: Uint8Array;
  let host: string | undefined;
  try {
    remote = parseAddress(addrText);
  } catch (e) {
    if (!/^[A-Za-z0-9_.*-]+$/.test(addrText) || /^[0-9.]+$/.test(addrText)) {
      throw new PacketSyntaxError(`bad remote address: ${(e as Error).message}`);
    }
    if (dirText !== "out") {
      throw new PacketSyntaxError(
        `bad remote address: ${(e as Error).message} (a host name only goes with "out")`,
      );
    }
    try {
      const h = parseHostPattern(addrText.toLowerCase());
      if (h.wildcard) throw new Error(`give one name, not a pattern: "${addrText}"`);
      host = h.name;
    } catch (e2) {
      throw new PacketSyntaxError(`bad remote host: ${(e2 as Error).message}`);
    }
    remote = new Uint8Array(4);
  }
  const family: 4 | 6 = remote.length === 4 ? 4 : 6;
  const hasPorts = proto === 6 || proto === 17;
  let port: number | undefined;
  if (portText !== undefined) {
    if (!hasPorts) {
      throw new PacketSyntaxError(`protocol ${protoName(proto)} has no ports; drop ":${portText}"`);
    }
    if (!/^[0-9]{1,5}$/.test(portText) || Number(portText) < 1 || Number(portText) > 65535) {
      throw new PacketSyntaxError(`port must be 1..65535, not "${portText}"`);
    }
    port = Number(portText);
  } else if (hasPorts) {
    throw new PacketSyntaxError(`protocol ${protoName(proto)} needs a port: ${target}:PORT`);
  }
  if (proto === 1 && family !== 4) {
    throw new PacketSyntaxError(`icmp goes with an IPv4 address; use icmpv6 for ${addrText}`);
  }
  if (proto === 58 && family !== 6) {
    throw new PacketSyntaxError(`icmpv6 goes with an IPv6 address; use icmp for ${addrText}`);
  }
  if (app !== undefined && dirText !== "out") {
    throw new PacketSyntaxError("an app can only be given for outbound packets");
  }
  if (via !== undefined && dirText !== "out") {
    throw new PacketSyntaxError("a starting app (via) can only be given for outbound packets");
  }
  const pkt: Packet = { direction: dirText, proto, family, remote };
  if (host !== undefined) pkt.host = host;
  if (port !== undefined) pkt.port = port;
  if (app !== undefined) pkt.app = app;
  if (via !== undefined) pkt.via = via;
  return pkt;
}

function splitTarget(target: string): { addrText: string; portText?: string } {
  if (target.startsWith("[")) {
    const close = target.indexOf("]");
    if (close === -1) throw new PacketSyntaxError(`missing "]" in "${target}"`);
    const rest = target.slice(close + 1);
    if (rest !== "" && !rest.startsWith(":")) {
      throw new PacketSyntaxError(`expected ":PORT" after "]" in "${target}"`);
    }
    return { addrText: target.slice(1, close), portText: rest ? rest.slice(1) : undefined };
  }
  const colons = target.split(":").length - 1;
  if (colons === 1) {
    const i = target.indexOf(":");
    return { addrText: target.slice(0, i), portText: target.slice(i + 1) };
  }
  // No colon: IPv4 without port. Several: a bare IPv6 address (port needs brackets).
  return { addrText: target };
}

/** Formats a packet back into the explain syntax. */
export function formatPacket(p: Packet): string {
  const addr = p.host ?? formatAddress(p.remote);
  const target = p.port === undefined
    ? addr
    : p.family === 6 && p.host === undefined
    ? `[${addr}]:${p.port}`
    : `${addr}:${p.port}`;
  return `${p.direction} ${protoName(p.proto)} ${target}`;
}
