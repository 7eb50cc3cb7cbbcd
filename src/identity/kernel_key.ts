/**
 * THE place where a file becomes a kernel identity. Every approval path (apps.toml, learned and
 * session approvals, scripts by path, the folder key of scripts run by a bare name, `--pid`,
 * running processes) takes its key from here, and here the key comes from the kernel itself:
 * the file is hashed through an fd that stays open until one iterator pass
 * (src/kernel/identity_iter.ts) has read the key the hooks compute for that very open file
 * (`f_inode->i_ino` + `hw_inode_dev`, bpf/inode_key.h: `i_sb->s_dev`, or on btrfs the
 * subvolume's anonymous device, since inode numbers repeat across subvolumes of one superblock).
 * Nothing is derived from `stat`: the kernel computing the key through the hooks' own helper is
 * what makes them agree, on any filesystem that reports a device of its own.
 *
 * Batches share one pass (up to {@link KEY_BATCH} open fds at a time), so 1 000 apps at start
 * cost a handful of iterator runs, not 1 000.
 *
 * @module
 */
import type { ExeKey } from "../../ffi/structs.ts";
import { openRead } from "../../ffi/fanotify.ts";
import { closeFd, O_CLOEXEC, O_DIRECTORY } from "../../ffi/libc.ts";
import type { FdIdent } from "../../ffi/identity_structs.ts";
import {
  type FileHash,
  hashFile,
  identityOf as statFields,
  type OpenFileHash,
} from "../integrity/hash.ts";
import { fstatFd } from "../../ffi/fanotify.ts";
import { type HashPool, type HashResult, isHashError } from "../integrity/hash_pool.ts";

/** A hash together with the kernel key of the fd that was hashed. */
export interface KeyedHash extends FileHash {
  /** What the hooks compute for this file (kernel s_dev encoding + inode). */
  key: ExeKey;
}

/** The stat fields and kernel key of a file, without a hash. */
export type Identified = Omit<KeyedHash, "sha256" | "changedDuringHash">;

/** One result of {@link KernelIdentity.hashMany}. */
export type KeyedResult = KeyedHash | { path: string; error: string };

/** How the kernel is asked (src/kernel/identity_iter.ts implements it). */
export interface KeySource {
  /** Every open fd of this process with the kernel's keys. */
  openFiles(): FdIdent[];
  /** Executable keys of every process, or of `pid` only. */
  taskExes(pid?: number): { tgid: number; exe: ExeKey }[];
}

/** A running process and its executable's kernel identity. */
export interface RunningProcess {
  tgid: number;
  key: ExeKey;
}

/** Most hashed fds held open for one iterator pass. */
export const KEY_BATCH = 512;

/** Kernel identities of files and processes, read from the kernel. */
export class KernelIdentity {
  #src: KeySource;

  constructor(src: KeySource) {
    this.#src = src;
  }

  /** The keys of `fds` (all open now in this process), in one pass. Throws if one is absent. */
  #keysOf(fds: number[]): Map<number, FdIdent> {
    const want = new Set(fds);
    const out = new Map<number, FdIdent>();
    for (const r of this.#src.openFiles()) if (want.has(r.fd)) out.set(r.fd, r);
    for (const fd of fds) {
      if (!out.has(fd)) throw new Error(`kernel identity: fd ${fd} not reported by the iterator`);
    }
    return out;
  }

  /** Hashes `path` and returns the hash with the kernel key of the hashed file. */
  async hash(path: string): Promise<KeyedHash> {
    const h = await hashFile(path, { keepOpen: true });
    try {
      return withKey(h, this.#keysOf([h.fd]).get(h.fd)!.file);
    } finally {
      closeFd(h.fd);
    }
  }

  /**
   * Hashes every path on `pool` (results in the order of `paths`), each with the key of its hashed
   * fd. File errors come back as `{ path, error }`.
   */
  async hashMany(
    pool: HashPool,
    paths: string[],
    onProgress?: (done: number, total: number, last: KeyedResult) => void,
  ): Promise<KeyedResult[]> {
    const out: KeyedResult[] = [];
    for (let i = 0; i < paths.length; i += KEY_BATCH) {
      const batch = paths.slice(i, i + KEY_BATCH);
      for (const k of this.keyHashed(await pool.hashAll(batch, { keepOpen: true }))) {
        out.push(k);
        onProgress?.(out.length, paths.length, k);
      }
    }
    return out;
  }

  /**
   * The kernel keys of hashes taken with `keepOpen` (at most {@link KEY_BATCH}, all still open),
   * in one iterator pass; closes every fd, also when the pass fails.
   */
  keyHashed(results: HashResult[]): KeyedResult[] {
    const fds = results.filter((r) => !isHashError(r)).map((r) => (r as OpenFileHash).fd);
    try {
      const keys = this.#keysOf(fds);
      return results.map((r) =>
        isHashError(r) ? r : withKey(r, keys.get((r as OpenFileHash).fd)!.file)
      );
    } finally {
      for (const fd of fds) closeFd(fd);
    }
  }

  /**
   * The stat fields and kernel key of `path` now, read through one open fd (no hashing): what a
   * hash-cache lookup compares, with the key the kernel would approve. Throws for a missing or
   * non-regular file.
   */
  identify(path: string): Identified {
    const r = this.identifyMany([path])[0];
    if (r instanceof Error) throw r;
    return r;
  }

  /**
   * {@link identify} for many paths, one iterator pass per {@link KEY_BATCH} files; a path that
   * cannot be opened (or is not a regular file) gives its Error in place.
   */
  identifyMany(paths: string[]): (Identified | Error)[] {
    const out: (Identified | Error)[] = [];
    for (let i = 0; i < paths.length; i += KEY_BATCH) {
      const open: { fd: number; at: number; st: ReturnType<typeof fstatFd> }[] = [];
      const batch = paths.slice(i, i + KEY_BATCH);
      try {
        batch.forEach((path, j) => {
          let fd = -1;
          try {
            fd = openRead(path);
            const st = fstatFd(fd);
            if ((st.mode & 0o170000) !== 0o100000) throw new Error(`${path}: not a regular file`);
            open.push({ fd, at: i + j, st });
          } catch (e) {
            if (fd >= 0) closeFd(fd);
            out[i + j] = e instanceof Error ? e : new Error(String(e));
          }
        });
        const keys = this.#keysOf(open.map((o) => o.fd));
        for (const o of open) {
          out[o.at] = { ...statFields(paths[o.at], o.st), key: { ...keys.get(o.fd)!.file } };
        }
      } finally {
        for (const o of open) closeFd(o.fd);
      }
    }
    return out;
  }

  /**
   * The key of the folder `path` as the working-directory lookup of a bare script name computes
   * it (`pwd.dentry`: `d_inode->i_ino`, `d_sb->s_dev`).
   */
  dirKey(path: string): ExeKey {
    const fd = openRead(path, O_DIRECTORY | O_CLOEXEC);
    try {
      return this.#keysOf([fd]).get(fd)!.dir;
    } finally {
      closeFd(fd);
    }
  }

  /** Every process with an executable, keyed as the exec hook keys it (one iterator pass). */
  runningProcesses(): RunningProcess[] {
    return this.#src.taskExes().map((t) => ({ tgid: t.tgid, key: t.exe }));
  }

  /** The executable key of process `tgid`, or undefined when it does not run (any more). */
  exeOf(tgid: number): ExeKey | undefined {
    return this.#src.taskExes(tgid).find((t) => t.tgid === tgid)?.exe;
  }
}

function withKey(h: FileHash, key: ExeKey): KeyedHash {
  const { fd: _fd, ...rest } = h as OpenFileHash;
  return { ...rest, key: { dev: key.dev, ino: key.ino } };
}
