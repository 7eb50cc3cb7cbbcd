/**
 * Worker side of the exec gate: owns a `FAN_CLASS_CONTENT` fanotify group with INODE marks on the
 * approved binaries only (`FAN_OPEN_EXEC_PERM | FAN_MODIFY`) and answers every permission event
 * from this thread's own event loop, so a busy daemon main thread never stalls an exec.
 *
 * The FAN_MODIFY mark lives in the same group on purpose: the kernel queues the modification
 * before any later exec's permission event, so a write followed at once by an exec is seen as a
 * taint first — no race with the main thread's watcher.
 *
 * @module
 */
/// <reference lib="deno.worker" />
import {
  FAN_ALLOW,
  FAN_CLASS_CONTENT,
  FAN_CLOEXEC,
  FAN_DENY,
  FAN_MARK_ADD,
  FAN_MODIFY,
  FAN_NONBLOCK,
  FAN_OPEN_EXEC_PERM,
  fanotifyInit,
  fanotifyMarkFd,
  fstatFd,
  libc,
  makePipe,
  O_LARGEFILE,
  openRead,
  POLLIN,
  type RawStat,
} from "../../ffi/fanotify.ts";
import { closeFd, ErrnoError, O_CLOEXEC, O_RDONLY } from "../../ffi/libc.ts";
import { decodeFanEvents } from "./fanotify_events.ts";
import type { GateIdentity, GateMessage, GateRequest } from "./exec_gate_protocol.ts";

interface Entry {
  path: string;
  approved: string;
  tainted: boolean;
  key: string;
}

const entries = new Map<string, Entry>(); // by dev:ino
const byPath = new Map<string, Entry>();
const post = (m: GateMessage) => self.postMessage(m);
const lc = libc();
const buf = new Uint8Array(16 * 1024);
const resp = new Uint8Array(8);
const respView = new DataView(resp.buffer);

let group = -1;
let wake: [number, number] = [-1, -1];
try {
  group = fanotifyInit(
    FAN_CLASS_CONTENT | FAN_CLOEXEC | FAN_NONBLOCK,
    O_RDONLY | O_CLOEXEC | O_LARGEFILE,
  );
  wake = makePipe();
  post({ type: "started", fd: group, wakeFd: wake[1], wakeReadFd: wake[0] });
  loop();
} catch (e) {
  post({ type: "fatal", error: e instanceof Error ? e.message : String(e) });
}

async function loop(): Promise<void> {
  const pfds = new Uint8Array(16);
  const v = new DataView(pfds.buffer);
  v.setInt32(0, group, true);
  v.setInt16(4, POLLIN, true);
  v.setInt32(8, wake[0], true);
  v.setInt16(12, POLLIN, true);
  for (;;) {
    const r = await lc.poll_async(pfds, 2n, -1);
    if (r < 0) continue; // EINTR
    drain();
  }
}

/** Reads and answers every queued event. Also run before an untaint decision (see there). */
function drain(): void {
  for (;;) {
    const n = Number(lc.read(group, buf, BigInt(buf.length)));
    if (n <= 0) return;
    for (const e of decodeFanEvents(buf, n)) {
      if (e.fd < 0) continue;
      let st: RawStat | null = null;
      try {
        st = fstatFd(e.fd);
      } catch { /* answered below: deny, since only approved binaries carry marks */ }
      const entry = st ? entries.get(keyOf(st)) : undefined;
      if (e.mask & FAN_MODIFY && entry) {
        if (!entry.tainted) post({ type: "tainted", path: entry.path, pid: e.pid });
        entry.tainted = true;
      }
      if (e.mask & FAN_OPEN_EXEC_PERM) {
        // Unknown inode (an old approval's replaced file): not approved, so not blocked.
        const allowed = st !== null && !(entry?.tainted ?? false);
        respView.setInt32(0, e.fd, true);
        respView.setUint32(4, allowed ? FAN_ALLOW : FAN_DENY, true);
        lc.write(group, resp, 8n);
        if (entry && st) {
          post({
            type: "decision",
            path: entry.path,
            pid: e.pid,
            allowed,
            dev: st.dev.toString(),
            ino: st.ino.toString(),
          });
        }
      }
      closeFd(e.fd);
    }
  }
}

function keyOf(st: RawStat): string {
  return `${st.dev}:${st.ino}`;
}

function sameIdentity(id: GateIdentity, st: RawStat): boolean {
  return id.dev === st.dev.toString() && id.ino === st.ino.toString() &&
    BigInt(id.size) === st.size && id.mtimeNs === st.mtimeNs.toString() &&
    id.ctimeNs === st.ctimeNs.toString() && !id.changedDuringHash;
}

/** Opens `path`, marks that exact inode, and returns its stat (mark and identity agree). */
function markPath(path: string): RawStat {
  const fd = openRead(path);
  try {
    const st = fstatFd(fd);
    if ((st.mode & 0o170000) !== 0o100000) throw new Error(`${path}: not a regular file`);
    const err = fanotifyMarkFd(group, FAN_MARK_ADD, FAN_OPEN_EXEC_PERM | FAN_MODIFY, fd);
    if (err) throw new ErrnoError(`fanotify_mark(${JSON.stringify(path)})`, err);
    return st;
  } finally {
    closeFd(fd);
  }
}

function setEntry(path: string, st: RawStat, approved: string, tainted: boolean): Entry {
  const old = byPath.get(path);
  if (old) entries.delete(old.key);
  const entry: Entry = { path, approved, tainted, key: keyOf(st) };
  entries.set(entry.key, entry);
  byPath.set(path, entry);
  return entry;
}

function handle(req: GateRequest): { tainted?: boolean } {
  switch (req.op) {
    case "ping":
      return {};
    case "approve": {
      const st = markPath(req.path);
      // Tainted unless the hash the caller brings is of exactly this inode, unchanged since.
      const ok = req.identity !== null && req.identity.sha256 === req.sha256 &&
        sameIdentity(req.identity, st);
      return { tainted: setEntry(req.path, st, req.sha256, !ok).tainted };
    }
    case "taint": {
      const entry = byPath.get(req.path);
      if (!entry) throw new Error(`${req.path}: not an approved binary of the gate`);
      let st: RawStat | null = null;
      try {
        st = markPath(req.path);
      } catch { /* gone: keep the old inode tainted */ }
      entry.tainted = true;
      // A new inode at the path (renamed over it) is marked and starts tainted.
      if (st && keyOf(st) !== entry.key) setEntry(req.path, st, entry.approved, true);
      return { tainted: true };
    }
    case "untaint": {
      const entry = byPath.get(req.path);
      if (!entry) throw new Error(`${req.path}: not an approved binary of the gate`);
      // Every write that happened before now is already queued (fsnotify runs inside write()):
      // handle those first so the identity check below sees the newest state.
      drain();
      const st = markPath(req.path);
      if (req.identity.sha256 !== entry.approved) {
        throw new Error(`${req.path}: hash ${req.identity.sha256} is not the approved hash`);
      }
      if (!sameIdentity(req.identity, st)) {
        throw new Error(`${req.path}: changed since it was hashed; hash it again`);
      }
      setEntry(req.path, st, entry.approved, false);
      return { tainted: false };
    }
    case "forget": {
      const entry = byPath.get(req.path);
      if (entry) {
        entries.delete(entry.key);
        byPath.delete(req.path);
      }
      return {};
    }
  }
}

self.onmessage = (e: MessageEvent<GateRequest>) => {
  const req = e.data;
  try {
    post({ type: "reply", id: req.id, ok: true, ...handle(req) });
  } catch (err) {
    post({
      type: "reply",
      id: req.id,
      ok: false,
      error: err instanceof Error ? err.message : String(err),
    });
  }
};
