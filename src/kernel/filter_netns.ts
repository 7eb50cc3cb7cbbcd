/**
 * Runs a synchronous function with the calling thread inside another network namespace.
 *
 * A tcx link takes an ifindex of the caller's network namespace, so attaching to a device of a
 * namespace (tests attach only to veth devices inside namespaces they create) needs the thread
 * to enter it for the duration of `if_nametoindex` + `bpf_link_create`. setns(2) switches only
 * the calling thread, and synchronous FFI calls run on the JS thread, so nothing else observes
 * the switch; the thread always returns to its own namespace, failures included.
 *
 * @module
 */

const LIBC = "/lib/x86_64-linux-gnu/libc.so.6";
const CLONE_NEWNET = 0x40000000;
const O_RDONLY_CLOEXEC = 0o2000000;
const AF_INET = 2;
const SOCK_DGRAM_CLOEXEC = 2 | 0o2000000;
const SIOCGIFHWADDR = 0x8927n;
/** ARPHRD_LOOPBACK (linux/if_arp.h). */
export const ARPHRD_LOOPBACK = 772;
/** ARPHRD_ETHER: a device with an Ethernet header. */
export const ARPHRD_ETHER = 1;

const SYMBOLS = {
  setns: { parameters: ["i32", "i32"], result: "i32" },
  open: { parameters: ["buffer", "i32", "u32"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
  if_nametoindex: { parameters: ["buffer"], result: "u32" },
  if_nameindex: { parameters: [], result: "pointer" },
  if_freenameindex: { parameters: ["pointer"], result: "void" },
  socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
  ioctl: { parameters: ["i32", "u64", "buffer"], result: "i32" },
  readlink: { parameters: ["buffer", "buffer", "usize"], result: "isize" },
  __errno_location: { parameters: [], result: "pointer" },
} as const satisfies Deno.ForeignLibraryInterface;

let lib: Deno.DynamicLibrary<typeof SYMBOLS> | null = null;

function sym() {
  lib ??= Deno.dlopen(LIBC, SYMBOLS);
  return lib.symbols;
}

function cstr(s: string): Uint8Array<ArrayBuffer> {
  return new TextEncoder().encode(s + "\0") as Uint8Array<ArrayBuffer>;
}

function lastErrno(): number {
  const p = sym().__errno_location();
  return p === null ? 0 : new Deno.UnsafePointerView(p).getInt32();
}

function openNs(path: string): number {
  const fd = sym().open(cstr(path), O_RDONLY_CLOEXEC, 0);
  if (fd < 0) throw new Error(`cannot open network namespace ${path} (errno ${lastErrno()})`);
  return fd;
}

/**
 * Calls `fn` with this thread in the network namespace at `nsPath` (e.g. `/run/netns/hw-a`);
 * with `nsPath` undefined it simply calls `fn`.
 *
 * @example
 * ```ts
 * const idx = inNetns("/run/netns/hw-a", () => ifIndex("veth0"));
 * ```
 */
export function inNetns<T>(nsPath: string | undefined, fn: () => T): T {
  if (nsPath === undefined) return fn();
  const self = openNs("/proc/thread-self/ns/net");
  try {
    const target = openNs(nsPath);
    try {
      if (sym().setns(target, CLONE_NEWNET) !== 0) {
        throw new Error(`setns(${nsPath}) failed (errno ${lastErrno()})`);
      }
    } finally {
      sym().close(target);
    }
    let result: T;
    try {
      result = fn();
    } catch (e) {
      restore(self);
      throw e;
    }
    restore(self);
    return result;
  } finally {
    sym().close(self);
  }
}

// Staying in a test namespace would silently misdirect every later call: fail hard instead.
function restore(self: number): void {
  if (sym().setns(self, CLONE_NEWNET) !== 0) {
    throw new Error(`cannot return to the original network namespace (errno ${lastErrno()})`);
  }
}

/** ifindex of `ifname` in the thread's current network namespace; throws when absent. */
export function ifIndex(ifname: string): number {
  const idx = sym().if_nametoindex(cstr(ifname));
  if (idx === 0) throw new Error(`no network interface "${ifname}"`);
  return idx;
}

/**
 * Names of the network interfaces in the thread's current network namespace (if_nameindex(3):
 * one netlink dump), sorted. Wrap in {@link inNetns} for another namespace.
 */
export function interfaceNames(): string[] {
  const list = sym().if_nameindex();
  if (list === null) throw new Error(`if_nameindex failed (errno ${lastErrno()})`);
  try {
    const names: string[] = [];
    // struct if_nameindex { unsigned if_index; char *if_name; }: 16 bytes on x86_64, ended by
    // an entry of index 0 and a NULL name.
    const view = new Deno.UnsafePointerView(list);
    for (let off = 0;; off += 16) {
      if (view.getUint32(off) === 0) break;
      const name = view.getPointer(off + 8);
      if (name === null) break;
      names.push(Deno.UnsafePointerView.getCString(name));
    }
    return names.sort();
  } finally {
    sym().if_freenameindex(list);
  }
}

/** A network interface: its name and ARPHRD_* device type (1 Ethernet, 772 loopback, …). */
export interface NetInterface {
  name: string;
  type: number;
}

/**
 * The network interfaces of the thread's current network namespace with their device types:
 * names from if_nameindex(3) (netlink), types from SIOCGIFHWADDR on a socket made here, which
 * belongs to this namespace. Not `/sys/class/net`: that shows the namespace of whoever mounted
 * sysfs, not the caller's (under `nsenter --net=…` it still lists the host's devices). Wrap in
 * {@link inNetns} for another namespace.
 */
export function listInterfaces(): NetInterface[] {
  const names = interfaceNames();
  const fd = sym().socket(AF_INET, SOCK_DGRAM_CLOEXEC, 0);
  if (fd < 0) throw new Error(`socket(AF_INET) failed (errno ${lastErrno()})`);
  try {
    return names.map((name) => {
      // struct ifreq: ifr_name[16], then the hardware address: sa_family (the ARPHRD type).
      const req = new Uint8Array(40);
      req.set(new TextEncoder().encode(name).subarray(0, 15));
      const type = sym().ioctl(fd, SIOCGIFHWADDR, req) === 0
        ? req[16] | (req[17] << 8)
        : name === "lo"
        ? ARPHRD_LOOPBACK
        : ARPHRD_ETHER; // vanished in between: the caller's next look drops it
      return { name, type };
    });
  } finally {
    sym().close(fd);
  }
}

/**
 * How to name the network namespace the filter works in, for messages: the `--netns` path, or
 * the daemon's own (`net:[4026531840]`, as /proc shows it).
 */
export function netnsLabel(nsPath: string | undefined): string {
  if (nsPath !== undefined) return `network namespace ${nsPath}`;
  const buf = new Uint8Array(64);
  const n = Number(sym().readlink(cstr("/proc/thread-self/ns/net"), buf, BigInt(buf.length)));
  const id = n > 0 ? new TextDecoder().decode(buf.subarray(0, n)) : "unknown";
  return `the daemon's network namespace (${id})`;
}
