/**
 * The compiled BPF objects, embedded in the binary at build time (build.sh compiles bpf/*.bpf.c
 * into build/bpf/ before anything imports this module).
 *
 * @module
 */
import hashwallObject from "../../build/bpf/hashwall.bpf.o" with { type: "bytes" };

/** The app-control object: cgroup hooks, lineage tracepoints, ring buffer. */
export const HASHWALL_OBJECT: Uint8Array = hashwallObject;
