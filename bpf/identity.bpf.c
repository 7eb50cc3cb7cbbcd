// SPDX-License-Identifier: GPL-2.0
/*
 * identity.bpf.c — the identity iterators (bpf/identity_iter.h) as an object of their own, for
 * tests and tools that run without the app-control object. The daemon uses the same programs
 * from hashwall.bpf.o (loaded anyway), so it parses the kernel's BTF once.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "identity_iter.h"

char LICENSE[] SEC("license") = "GPL";
