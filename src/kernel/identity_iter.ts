/**
 * The kernel's identity readout (bpf/identity.bpf.c): which (s_dev, i_ino) the hooks compute for
 * a file the daemon holds open, and for each process's executable. Loaded once per daemon; each
 * read runs an iterator narrowed to one process, so its cost is that process's fds or one task,
 * not the whole host.
 *
 * @module
 */
import identityObject from "../../build/bpf/identity.bpf.o" with { type: "bytes" };
import { BpfObject } from "../../ffi/libbpf.ts";
import { runIter } from "../../ffi/bpf_iter.ts";
import {
  decodeFdIdents,
  decodeTaskExes,
  type FdIdent,
  type TaskExe,
} from "../../ffi/identity_structs.ts";

/** Loaded identity iterators bound to this process (the daemon). */
export class IdentityIterators {
  #obj: BpfObject;
  #fdProg: number;
  #taskProg: number;
  readonly tgid: number;

  private constructor(obj: BpfObject, tgid: number) {
    this.#obj = obj;
    this.tgid = tgid;
    this.#fdProg = obj.program("hw_fd_idents").fd;
    this.#taskProg = obj.program("hw_task_exes").fd;
  }

  /** Loads the object with this process as the only one whose fds it reports. */
  static load(tgid = Deno.pid): IdentityIterators {
    const obj = BpfObject.openMem(identityObject, "hw_identity", { logSize: 64 << 10 });
    try {
      const ro = obj.map("hw_ident.rodata");
      const init = ro.initialValue();
      new DataView(init.buffer, init.byteOffset).setUint32(0, tgid, true);
      ro.setInitialValue(init);
      obj.load();
      return new IdentityIterators(obj, tgid);
    } catch (e) {
      obj.close();
      throw e;
    }
  }

  /** Every open fd of this process and the kernel's keys for it: one iterator pass. */
  openFiles(): FdIdent[] {
    return decodeFdIdents(runIter(this.#fdProg, { pid: this.tgid }));
  }

  /** Executable keys of every process, or of `pid` only. */
  taskExes(pid?: number): TaskExe[] {
    if (pid !== undefined && (!Number.isInteger(pid) || pid <= 0)) return [];
    return decodeTaskExes(runIter(this.#taskProg, pid === undefined ? {} : { pid }));
  }

  /** Unloads the programs. */
  close(): void {
    this.#obj.close();
  }
}
