/**
 * The kernel's identity readout (bpf/identity_iter.h): which (s_dev, i_ino) the hooks compute for
 * a file the daemon holds open, and for each process's executable. The daemon takes the programs
 * from the app-control object it loads anyway ({@link IdentityIterators.fromPrograms}); tests
 * load the stand-alone bpf/identity.bpf.o. Each read runs an iterator narrowed to one process,
 * so its cost is that process's fds or one task, not the whole host.
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

/** Identity iterators bound to this process (the daemon). */
export class IdentityIterators {
  #obj?: BpfObject;
  #fdProg: number;
  #taskProg: number;
  readonly tgid: number;

  private constructor(fdProg: number, taskProg: number, tgid: number, obj?: BpfObject) {
    this.#obj = obj;
    this.tgid = tgid;
    this.#fdProg = fdProg;
    this.#taskProg = taskProg;
  }

  /** Loads the stand-alone object (bpf/identity.bpf.o); {@link close} unloads it. */
  static load(tgid = Deno.pid): IdentityIterators {
    const obj = BpfObject.openMem(identityObject, "hw_identity", { logSize: 64 << 10 });
    try {
      obj.load();
      return new IdentityIterators(
        obj.program("hw_fd_idents").fd,
        obj.program("hw_task_exes").fd,
        tgid,
        obj,
      );
    } catch (e) {
      obj.close();
      throw e;
    }
  }

  /**
   * Uses the programs `hw_fd_idents` and `hw_task_exes` of an object loaded elsewhere (the
   * app-control object includes them); that object's owner unloads them.
   */
  static fromPrograms(
    progFd: (name: "hw_fd_idents" | "hw_task_exes") => number,
    tgid = Deno.pid,
  ): IdentityIterators {
    return new IdentityIterators(progFd("hw_fd_idents"), progFd("hw_task_exes"), tgid);
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

  /** Unloads the programs when {@link load} loaded them. */
  close(): void {
    this.#obj?.close();
    this.#obj = undefined;
  }
}
