/**
 * Mirror of bpf/identity.h (the identity iterators' records). Checked against the header by
 * tests/unit/structs_layout_test.ts.
 *
 * @module
 */
import type { ExeKey } from "./structs.ts";

/** Sizes and offsets of bpf/identity.h. */
export const IDENTITY_LAYOUT = {
  hw_fd_ident: {
    size: 40,
    fields: { fd: 0, "file.dev": 8, "file.ino": 16, "dir.dev": 24, "dir.ino": 32 },
  },
  hw_task_exe: { size: 24, fields: { tgid: 0, "exe.dev": 8, "exe.ino": 16 } },
} as const;

/** One open fd and the kernel's keys of what it refers to. */
export interface FdIdent {
  fd: number;
  /** The key an exec hook computes for this file (`f_inode`). */
  file: ExeKey;
  /** The key the working-directory lookup computes (`f_path.dentry`). */
  dir: ExeKey;
}

/** One process and its executable's kernel key. */
export interface TaskExe {
  tgid: number;
  exe: ExeKey;
}

/** Decodes the records of the hw_fd_idents iterator. */
export function decodeFdIdents(b: Uint8Array): FdIdent[] {
  const L = IDENTITY_LAYOUT.hw_fd_ident;
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const out: FdIdent[] = [];
  for (let o = 0; o + L.size <= b.length; o += L.size) {
    out.push({
      fd: v.getUint32(o + L.fields.fd, true),
      file: {
        dev: v.getBigUint64(o + L.fields["file.dev"], true),
        ino: v.getBigUint64(o + L.fields["file.ino"], true),
      },
      dir: {
        dev: v.getBigUint64(o + L.fields["dir.dev"], true),
        ino: v.getBigUint64(o + L.fields["dir.ino"], true),
      },
    });
  }
  return out;
}

/** Decodes the records of the hw_task_exes iterator. */
export function decodeTaskExes(b: Uint8Array): TaskExe[] {
  const L = IDENTITY_LAYOUT.hw_task_exe;
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const out: TaskExe[] = [];
  for (let o = 0; o + L.size <= b.length; o += L.size) {
    out.push({
      tgid: v.getUint32(o + L.fields.tgid, true),
      exe: {
        dev: v.getBigUint64(o + L.fields["exe.dev"], true),
        ino: v.getBigUint64(o + L.fields["exe.ino"], true),
      },
    });
  }
  return out;
}
