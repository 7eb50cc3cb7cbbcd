/**
 * Live watch of files and folders with fanotify, built for the revocation path: the FIRST
 * modification of a watched file is delivered synchronously from the drain of the fanotify fd,
 * before anything slow (no hashing, no SQLite, no await) happens.
 *
 * Two fanotify groups:
 * - content: fd-mode inode marks on each watched file for `FAN_MODIFY | FAN_CLOSE_WRITE`;
 * - names: FID mode (`FAN_REPORT_DFID_NAME`) marks on the PARENT folders (and watched folders) for
 *   create / delete / move, which is how a rename over a path (new inode) or a deletion shows.
 *   FID mode cannot share a group with content-class events, hence two groups.
 * - ancestors: every folder above a watched file, up to `/`, is marked in the names group for
 *   moves and deletions of sub-folders: renaming any folder on the path (and putting other files
 *   at the same path) re-checks every watched file under it, which then reports `replaced` or
 *   `deleted` like a change of the file itself.
 *
 * The fds are non-blocking; one `poll(2)` on both (plus a wake-up pipe for `close()`) runs on an
 * FFI worker thread (`nonblocking: true`), so the event loop stays free and an event wakes it at
 * once — no timer quantum in the latency (bench/revoke_watch.ts measures write → callback).
 *
 * @module
 */
import {
  FAN_CLASS_NOTIF,
  FAN_CLOEXEC,
  FAN_CLOSE_WRITE,
  FAN_CREATE,
  FAN_DELETE,
  FAN_MARK_ADD,
  FAN_MARK_ONLYDIR,
  FAN_MODIFY,
  FAN_MOVED_FROM,
  FAN_MOVED_TO,
  FAN_NONBLOCK,
  FAN_ONDIR,
  FAN_Q_OVERFLOW,
  FAN_REPORT_DFID_NAME,
  fanotifyInit,
  fanotifyMarkFd,
  fileHandleKey,
  fstatFd,
  libc,
  makePipe,
  O_LARGEFILE,
  openRead,
  POLLIN,
  type RawStat,
  STAT_SIZE,
} from "../../ffi/fanotify.ts";
import { closeFd, ErrnoError, O_CLOEXEC, O_RDONLY } from "../../ffi/libc.ts";
import { decodeFanEvents, type RawFanEvent } from "./fanotify_events.ts";

/** Errors of a FID-mode mark or file handle on a filesystem that cannot report FIDs there. */
const NO_FID_ERRNOS = new Set([18, /* EXDEV */ 95 /* EOPNOTSUPP */]);

/** What happened to a watched path. */
export type WatchEventKind =
  | "modify" // first write since the last close_write (or since watched)
  | "close_write" // a writer closed the file: re-hash it now
  | "replaced" // a different inode now sits at the path (rename over it, or re-created)
  | "deleted" // the path no longer exists
  | "created" // a new entry in a watched folder (or a deleted watched file came back)
  | "overflow"; // the kernel queue overflowed: events were lost, continuity is broken

/** One watch event. */
export interface WatchEvent {
  kind: WatchEventKind;
  /** Absolute path of the watched file ("" for overflow). */
  path: string;
  /** Process that caused it, when the kernel said. */
  pid?: number;
  /** That process's executable (readlink /proc/PID/exe), when it still ran. */
  exe?: string;
  /** Identity of the file the event is about (for replaced/created: the NEW inode). */
  dev?: string;
  ino?: string;
  /** `performance.now()` when the event was decoded (for latency measurements). */
  at: number;
}

/** Options of {@link FileWatcher}. */
export interface FileWatcherOptions {
  /** Called synchronously from the drain, in kernel order. Must not throw; keep it quick. */
  onEvent: (e: WatchEvent) => void;
  /**
   * Pids whose actions are not reported (bookkeeping such as re-marking a replaced file still
   * happens). Default: this process, so the daemon's own writes never feed back.
   */
  ignorePids?: number[];
}

interface WatchedFile {
  path: string;
  /** Current identity, or null while the path does not exist. */
  key: string | null;
  /** The next FAN_MODIFY is reported (re-armed by close_write / replacement). */
  armed: boolean;
  /** Part of a watched folder rather than watched by name (dropped when deleted). */
  viaFolder: boolean;
}

const CONTENT_MASK = FAN_MODIFY | FAN_CLOSE_WRITE;
const NAME_MASK = FAN_CREATE | FAN_DELETE | FAN_MOVED_FROM | FAN_MOVED_TO;
/** Folders above a watched file: a sub-folder moved away, moved in, or removed. */
const ANCESTOR_MASK = FAN_DELETE | FAN_MOVED_FROM | FAN_MOVED_TO;

/**
 * Watches files and folders for modification, replacement, deletion and creation.
 *
 * @example
 * ```ts
 * const w = new FileWatcher({ onEvent: (e) => console.log(e.kind, e.path) });
 * w.addFile("/usr/local/bin/app");
 * w.addFolder("/etc/hashwall", { recursive: true });
 * w.start();
 * // …
 * await w.close();
 * ```
 */
export class FileWatcher {
  #onEvent: (e: WatchEvent) => void;
  #ignore: Set<number>;
  #contentFd: number;
  #nameFd: number;
  #wake: [number, number];
  #files = new Map<string, WatchedFile>();
  #byKey = new Map<string, WatchedFile>();
  #dirsByHandle = new Map<string, string>();
  /** Marked folders → the name events their mark has. */
  #markedDirs = new Map<string, number>();
  /** Every folder on the path of a watched file (parents included): a move of one re-checks. */
  #ancestors = new Set<string>();
  /** Watched folders → recursive? */
  #folders = new Map<string, boolean>();
  /** Paths that do not exist yet → called once something appears on the way to them. */
  #pending = new Map<string, () => void>();
  #loop?: Promise<void>;
  #closed = false;
  #buf = new Uint8Array(64 * 1024);
  #statBuf = new Uint8Array(STAT_SIZE);

  constructor(opts: FileWatcherOptions) {
    this.#onEvent = opts.onEvent;
    this.#ignore = new Set(opts.ignorePids ?? [Deno.pid]);
    this.#contentFd = fanotifyInit(
      FAN_CLASS_NOTIF | FAN_CLOEXEC | FAN_NONBLOCK,
      O_RDONLY | O_CLOEXEC | O_LARGEFILE,
    );
    try {
      this.#nameFd = fanotifyInit(
        FAN_CLASS_NOTIF | FAN_CLOEXEC | FAN_NONBLOCK | FAN_REPORT_DFID_NAME,
        O_RDONLY | O_CLOEXEC,
      );
    } catch (e) {
      closeFd(this.#contentFd);
      throw e;
    }
    this.#wake = makePipe();
  }

  /**
   * Watches one file by path: its content (inode mark) and its name (parent folder mark).
   * Throws, changing nothing, when the path is not absolute, missing, or not a regular file.
   * Returns the identity that is now watched.
   */
  addFile(path: string): { dev: string; ino: string } {
    this.#checkOpen();
    assertAbsolute(path);
    const st = this.#markContent(path, true);
    try {
      this.#markDir(parentOf(path));
    } catch (e) {
      // btrfs subvolumes (EXDEV: their fsid is not the filesystem's) and overlayfs without
      // nfs_export (EOPNOTSUPP: no file handles) cannot carry the FID-mode folder mark. The
      // content mark above still reports every write; only a rename over the path goes unseen,
      // and that brings a new inode, which no approval names (it fails closed).
      if (!(e instanceof ErrnoError) || !NO_FID_ERRNOS.has(e.errno)) throw e;
    }
    this.#markAncestors(path);
    const f: WatchedFile = { path, key: keyOf(st), armed: true, viaFolder: false };
    this.#track(f);
    return { dev: st.dev.toString(), ino: st.ino.toString() };
  }

  /**
   * Watches a folder: every regular file in it (and, with `recursive`, in its subfolders) gets a
   * content mark, and the folder itself reports new and removed entries.
   */
  addFolder(path: string, opts: { recursive?: boolean } = {}): void {
    this.#checkOpen();
    assertAbsolute(path);
    const info = Deno.statSync(path);
    if (!info.isDirectory) throw new Error(`${path}: not a folder`);
    this.#scanFolder(path, opts.recursive ?? false, false);
  }

  /**
   * Waits for a path that does not exist yet: marks its nearest existing ancestor folder for
   * names, and calls `onAppear` once (asynchronously) when an entry on the way to `path` is
   * created or renamed in, or when it turns out to exist already. The caller then adds the path,
   * or waits again one level deeper. Returns the folder now watched.
   */
  watchForCreation(path: string, onAppear: () => void): string {
    this.#checkOpen();
    assertAbsolute(path);
    let dir = parentOf(path);
    for (;;) {
      try {
        if (Deno.statSync(dir).isDirectory) break;
      } catch { /* missing: go up */ }
      dir = parentOf(dir);
    }
    this.#markDir(dir);
    this.#pending.set(path, onAppear);
    // It may have appeared between the failed stat and the mark: look once more.
    const slash = path.indexOf("/", dir.length + 1);
    const next = slash === -1 ? path : path.slice(0, slash); // the entry of `dir` on the way
    let now = false;
    try {
      Deno.lstatSync(next);
      now = true;
    } catch { /* still missing: the mark reports it */ }
    if (now) this.#appeared(path);
    return dir;
  }

  #appeared(path: string): void {
    const cb = this.#pending.get(path);
    if (!cb) return;
    this.#pending.delete(path);
    queueMicrotask(cb);
  }

  /** Stops reporting `path` (the kernel mark stays until close; events for it are dropped). */
  remove(path: string): void {
    const f = this.#files.get(path);
    if (!f) return;
    this.#files.delete(path);
    if (f.key) this.#byKey.delete(f.key);
  }

  /** Paths currently watched as files (by name or through a folder). */
  watchedFiles(): string[] {
    return [...this.#files.keys()];
  }

  /** Starts delivering events. */
  start(): void {
    this.#checkOpen();
    this.#loop ??= this.#run();
  }

  /** Stops the watch and releases the fanotify groups. Safe to call twice. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    libc().write(this.#wake[1], new Uint8Array([1]), 1n);
    await this.#loop;
    closeFd(this.#contentFd);
    closeFd(this.#nameFd);
    closeFd(this.#wake[0]);
    closeFd(this.#wake[1]);
  }

  #checkOpen(): void {
    if (this.#closed) throw new Error("FileWatcher is closed");
  }

  #track(f: WatchedFile): void {
    const old = this.#files.get(f.path);
    if (old?.key) this.#byKey.delete(old.key);
    this.#files.set(f.path, f);
    if (f.key) this.#byKey.set(f.key, f);
  }

  /** Marks the inode behind `path` (via its fd, so mark and identity agree); returns its stat. */
  #markContent(path: string, mustBeFile: boolean): RawStat {
    const fd = openRead(path);
    try {
      const st = fstatFd(fd, this.#statBuf);
      if ((st.mode & 0o170000) !== 0o100000) {
        if (mustBeFile) throw new Error(`${path}: not a regular file`);
        return st;
      }
      const err = fanotifyMarkFd(this.#contentFd, FAN_MARK_ADD, CONTENT_MASK, fd);
      if (err) throw new ErrnoError(`fanotify_mark(${JSON.stringify(path)})`, err);
      return st;
    } finally {
      closeFd(fd);
    }
  }

  #markDir(dir: string, mask = NAME_MASK): void {
    const have = this.#markedDirs.get(dir) ?? 0;
    if ((have & mask) === mask) return;
    const fd = openRead(dir);
    try {
      const err = fanotifyMarkFd(
        this.#nameFd,
        FAN_MARK_ADD | FAN_MARK_ONLYDIR,
        mask | FAN_ONDIR,
        fd,
      );
      if (err) throw new ErrnoError(`fanotify_mark(${JSON.stringify(dir)})`, err);
    } finally {
      closeFd(fd);
    }
    this.#dirsByHandle.set(fileHandleKey(dir), dir);
    this.#markedDirs.set(dir, have | mask);
  }

  /**
   * Marks every folder above `path`'s parent up to `/` for sub-folder moves, and remembers the
   * whole chain (parent included) as ancestors. A folder that cannot be marked now (missing,
   * unreadable) is skipped: its own parent still reports it being moved in.
   */
  #markAncestors(path: string): void {
    let dir = parentOf(path);
    for (;;) {
      this.#ancestors.add(dir);
      if (dir === "/") break;
      dir = parentOf(dir);
      try {
        this.#markDir(dir, ANCESTOR_MASK);
      } catch { /* gone or unreadable: nothing to mark */ }
    }
  }

  /**
   * A folder on the path of watched files was moved, replaced, removed or created: marks held by
   * path are stale (the old inodes moved with the name), so forget them, mark what is at those
   * paths now, then re-check every watched file under it (reports replaced/deleted/created).
   * Marks come first, so a file created meanwhile is either seen by the re-check or reported.
   */
  #onAncestor(dir: string, pid: number): void {
    const under = (p: string) => p === dir || p.startsWith(`${dir}/`);
    for (const d of [...this.#markedDirs.keys()]) if (under(d)) this.#markedDirs.delete(d);
    for (const [h, d] of [...this.#dirsByHandle]) if (under(d)) this.#dirsByHandle.delete(h);
    for (const f of [...this.#files.values()]) {
      if (!f.path.startsWith(`${dir}/`)) continue;
      try {
        this.#markDir(parentOf(f.path));
      } catch {
        this.#markDeepestExisting(f.path);
      }
      this.#markAncestors(f.path);
      this.#recheck(f, pid);
    }
  }

  /**
   * The folder of `path` is missing: the deepest folder above it that exists also reports
   * creations, so rebuilding the path is followed folder by folder down to the file.
   */
  #markDeepestExisting(path: string): void {
    for (let d = parentOf(parentOf(path));; d = parentOf(d)) {
      try {
        this.#markDir(d, ANCESTOR_MASK | FAN_CREATE);
        return;
      } catch {
        if (d === "/") return;
      }
    }
  }

  /** Marks a folder and its files; `report` emits `created` for each file found (new subfolder). */
  #scanFolder(dir: string, recursive: boolean, report: boolean, pid?: number): void {
    this.#markDir(dir);
    this.#folders.set(dir, recursive);
    for (const e of Deno.readDirSync(dir)) {
      const p = `${dir}/${e.name}`;
      if (e.isFile) {
        if (this.#files.has(p)) continue;
        this.#addFolderFile(p, report, pid);
      } else if (e.isDirectory && recursive) {
        this.#scanFolder(p, true, report, pid);
      }
    }
  }

  #addFolderFile(path: string, report: boolean, pid?: number): void {
    let st: RawStat;
    try {
      st = this.#markContent(path, false);
    } catch {
      return; // gone again already, or unreadable: nothing to watch
    }
    if ((st.mode & 0o170000) !== 0o100000) return;
    this.#track({ path, key: keyOf(st), armed: true, viaFolder: true });
    if (report) this.#emit("created", path, pid, st);
  }

  async #run(): Promise<void> {
    const pfds = new Uint8Array(8 * 3);
    const v = new DataView(pfds.buffer);
    [this.#contentFd, this.#nameFd, this.#wake[0]].forEach((fd, i) => {
      v.setInt32(i * 8, fd, true);
      v.setInt16(i * 8 + 4, POLLIN, true);
    });
    const lc = libc();
    while (!this.#closed) {
      await lc.poll_async(pfds, 3n, -1);
      if (this.#closed) break;
      this.#drain(this.#contentFd, (e) => this.#onContent(e));
      this.#drain(this.#nameFd, (e) => this.#onName(e));
    }
  }

  #drain(fd: number, handle: (e: RawFanEvent) => void): void {
    const lc = libc();
    for (;;) {
      const n = Number(lc.read(fd, this.#buf, BigInt(this.#buf.length)));
      if (n <= 0) return; // EAGAIN: drained
      for (const e of decodeFanEvents(this.#buf, n)) {
        try {
          handle(e);
        } finally {
          if (e.fd >= 0) closeFd(e.fd);
        }
      }
    }
  }

  #onContent(e: RawFanEvent): void {
    if (e.mask & FAN_Q_OVERFLOW) return this.#emit("overflow", "", undefined);
    if (e.fd < 0) return;
    let st: RawStat;
    try {
      st = fstatFd(e.fd, this.#statBuf);
    } catch {
      return;
    }
    const f = this.#byKey.get(keyOf(st));
    if (!f) return; // an inode we no longer watch (replaced, removed)
    if (e.mask & FAN_MODIFY && f.armed) {
      f.armed = false;
      this.#emit("modify", f.path, e.pid, st);
    }
    if (e.mask & FAN_CLOSE_WRITE) {
      f.armed = true;
      this.#emit("close_write", f.path, e.pid, st);
    }
  }

  #onName(e: RawFanEvent): void {
    if (e.mask & FAN_Q_OVERFLOW) return this.#emit("overflow", "", undefined);
    if (e.dirHandle === undefined || e.name === undefined) return;
    const dir = this.#dirsByHandle.get(e.dirHandle);
    if (dir === undefined) return;
    const path = dir === "/" ? `/${e.name}` : `${dir}/${e.name}`;
    if (this.#ancestors.has(path) && e.mask & (ANCESTOR_MASK | FAN_CREATE)) {
      this.#onAncestor(path, e.pid);
    }
    const f = this.#files.get(path);
    if (e.mask & (FAN_CREATE | FAN_MOVED_TO) && this.#pending.size) {
      for (const p of [...this.#pending.keys()]) {
        if (p === path || p.startsWith(path + "/")) this.#appeared(p);
      }
    }
    if (e.mask & (FAN_CREATE | FAN_MOVED_TO)) {
      if (f) this.#recheck(f, e.pid);
      else if (this.#folders.has(dir)) this.#newInFolder(path, this.#folders.get(dir)!, e.pid);
    }
    if (e.mask & (FAN_DELETE | FAN_MOVED_FROM) && f) this.#recheck(f, e.pid);
  }

  /** Something happened to a watched name: compare what is there now with what we watched. */
  #recheck(f: WatchedFile, pid: number): void {
    let st: RawStat | null = null;
    try {
      st = this.#markContent(f.path, false);
    } catch {
      st = null;
    }
    if (st === null || (st.mode & 0o170000) !== 0o100000) {
      if (f.key === null) return;
      this.#byKey.delete(f.key);
      f.key = null;
      if (f.viaFolder) this.#files.delete(f.path);
      this.#emit("deleted", f.path, pid, undefined);
      return;
    }
    const key = keyOf(st);
    if (key === f.key) return; // same inode: a rename elsewhere that did not touch it
    const wasMissing = f.key === null;
    if (f.key) this.#byKey.delete(f.key);
    f.key = key;
    f.armed = true;
    this.#byKey.set(key, f);
    this.#emit(wasMissing ? "created" : "replaced", f.path, pid, st);
  }

  #newInFolder(path: string, recursive: boolean, pid: number): void {
    let info: Deno.FileInfo;
    try {
      info = Deno.lstatSync(path);
    } catch {
      return;
    }
    if (info.isFile) this.#addFolderFile(path, true, pid);
    else if (info.isDirectory && recursive) this.#scanFolder(path, true, true, pid);
  }

  #emit(kind: WatchEventKind, path: string, pid: number | undefined, st?: RawStat) {
    if (pid !== undefined && this.#ignore.has(pid)) return;
    const ev: WatchEvent = { kind, path, at: performance.now() };
    if (pid !== undefined && pid > 0) {
      ev.pid = pid;
      try {
        ev.exe = Deno.readLinkSync(`/proc/${pid}/exe`);
      } catch { /* the process is gone already */ }
    }
    if (st) {
      ev.dev = st.dev.toString();
      ev.ino = st.ino.toString();
    }
    try {
      this.#onEvent(ev);
    } catch (err) {
      console.error(`FileWatcher: onEvent threw for ${kind} ${path}:`, err);
    }
  }
}

function keyOf(st: RawStat): string {
  return `${st.dev}:${st.ino}`;
}

function parentOf(path: string): string {
  const i = path.lastIndexOf("/");
  return i <= 0 ? "/" : path.slice(0, i);
}

function assertAbsolute(path: string): void {
  if (!path.startsWith("/") || path.split("/").some((s) => s === ".." || s === ".")) {
    throw new Error(`watch path must be absolute and normalised, got "${path}"`);
  }
  if (path.length > 1 && path.endsWith("/")) {
    throw new Error(`watch path must not end with "/", got "${path}"`);
  }
}
