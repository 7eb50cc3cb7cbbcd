/* SPDX-License-Identifier: GPL-2.0 */
/*
 * hashwall.h — every struct and constant shared by the kernel programs and userspace.
 *
 * This is the one source of truth for the kernel/userspace boundary. ffi/structs.ts mirrors it
 * once (sizes and offsets), and tests/unit/structs_layout_test.ts compiles a probe against this
 * header and checks the mirror agrees. Change both together.
 *
 * Rules for this file: fixed-width types only, explicit padding, every struct size a multiple of
 * 8, and a _Static_assert on each size so an accidental layout change fails the build.
 */
#ifndef HASHWALL_H
#define HASHWALL_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define HW_MAX_APPS 65536
#define HW_MAX_PROCS 131072
#define HW_MAX_DEDUP 16384
#define HW_LINEAGE_DEPTH 8
#define HW_COMM_LEN 16
#define HW_PATH_LEN 256
#define HW_RINGBUF_BYTES (4 * 1024 * 1024)

/*
 * Identity of an executable file as the kernel sees it. `dev` uses the kernel's s_dev encoding
 * (major << 20 | minor), which differs from userspace st_dev (see src/identity/devno.ts).
 */
struct hw_exe_key {
	__u64 dev;
	__u64 ino;
};

/* hw_app_val.flags */
#define HW_APP_INHERIT 0x1     /* children (fork) of this app are trusted too */
#define HW_APP_INTERPRETER 0x2 /* never trusted by its own exe: the script decides */

/* Value of the approved-executables map: present only while the file's SHA-256 matched. */
struct hw_app_val {
	__u32 app_id; /* userspace registry id, never 0 */
	__u32 flags;  /* HW_APP_* */
};

/* hw_proc_val.source: how a process got its trust */
#define HW_TRUST_OWN 1       /* its own executable is approved (decided at exec) */
#define HW_TRUST_INHERITED 2 /* forked from a trusted process whose app has inherit */

/*
 * Per-process trust, keyed by tgid. Written at exec (own exe approved) and fork (inherited);
 * removed at exit and at an exec of an unapproved binary. A connect is allowed only while
 * approved[trust_key] still holds app_id, so revoking an app in the approved map revokes every
 * process that trusts through it at once.
 */
struct hw_proc_val {
	struct hw_exe_key trust_key; /* the approved identity this trust rests on */
	__u32 app_id;
	__u32 source;    /* HW_TRUST_* */
	__u32 from_tgid; /* inherited: the process that first held the trust; own: itself */
	__u32 flags;     /* HW_APP_* of the granting app (inherit is passed on) */
};

/* hw_settings.mode */
#define HW_MODE_LEARNING 0  /* unknown apps pass and are reported */
#define HW_MODE_ENFORCING 1 /* unknown apps are denied (EPERM) and reported */

/* Run-time switches: element 0 of an array map, so they change without a reload. */
struct hw_settings {
	__u32 mode;           /* HW_MODE_* */
	__u32 allow_loopback; /* 1: loopback destinations are exempt from app control */
	__u32 daemon_tgid;    /* the daemon's own traffic is never denied */
	__u32 dedup_ms;       /* an app+destination is reported at most once per this window */
	__u32 generation;     /* bumped by userspace on every policy write (diagnostics) */
	__u32 _pad;
};

/* Indexes of the per-CPU counters array. */
#define HW_CNT_ALLOW 0        /* connects/sends/sockets of trusted processes */
#define HW_CNT_DENY 1         /* denied (enforcing, unknown app) */
#define HW_CNT_UNKNOWN 2      /* unknown app seen (allowed in learning, denied in enforcing) */
#define HW_CNT_LOST 3         /* events dropped: ring buffer full */
#define HW_CNT_DEDUPED 4      /* events suppressed by the dedup LRU */
#define HW_CNT_LOOPBACK 5     /* exempt as loopback */
#define HW_CNT_INHERITED 6    /* forks that inherited trust */
#define HW_CNT_EXEC_TRUSTED 7 /* execs of an approved binary */
#define HW_CNT_EVENTS 8       /* events written to the ring buffer */
#define HW_CNT_MAX 16

/* hw_event.kind: which hook saw it */
#define HW_EV_CONNECT 1
#define HW_EV_SENDMSG 2
#define HW_EV_SOCK_CREATE 3

/* hw_event.verdict */
#define HW_VERDICT_ALLOW 0 /* allowed (learning mode: unknown app let through) */
#define HW_VERDICT_DENY 1  /* denied, the caller got EPERM */

/* hw_event.reason */
#define HW_REASON_UNKNOWN_APP 1   /* executable not approved */
#define HW_REASON_NOT_INHERITED 2 /* approved exe, but a fork child of an app without inherit */
#define HW_REASON_REVOKED 3       /* trust rested on an approval that was revoked */
#define HW_REASON_INTERPRETER 4   /* an interpreter, and no approved script decides */

struct hw_ancestor {
	struct hw_exe_key exe;
	__u32 tgid;
	__u32 _pad;
	char comm[HW_COMM_LEN];
};

/*
 * One report from a hook, written to the ring buffer. Addresses are in network byte order; IPv4
 * (including IPv4-mapped IPv6, which is reported as IPv4) uses daddr[0..3] with family = 4.
 */
struct hw_event {
	__u64 ts_ns; /* bpf_ktime_get_boot_ns() */
	struct hw_exe_key exe;
	__u32 tgid;
	__u32 uid;
	__u8 kind;    /* HW_EV_* */
	__u8 verdict; /* HW_VERDICT_* */
	__u8 family;  /* 4 or 6; 0 for sock_create without destination */
	__u8 proto;   /* IPPROTO_* (6 tcp, 17 udp, 1 icmp, 58 icmpv6, 255 raw) */
	__u16 dport;  /* host byte order */
	__u16 depth;  /* valid entries in lineage[] */
	__u32 reason; /* HW_REASON_* */
	__u32 _pad;
	__u8 daddr[16];
	char comm[HW_COMM_LEN];
	char exe_path[HW_PATH_LEN]; /* path given to execve (may be relative), "" if unknown */
	struct hw_ancestor lineage[HW_LINEAGE_DEPTH]; /* lineage[0] is the parent */
};

/* Key of the dedup LRU: one report per app + destination + hook per window. */
struct hw_dedup_key {
	struct hw_exe_key exe;
	__u8 daddr[16];
	__u16 dport;
	__u8 proto;
	__u8 kind;
	__u32 _pad;
};

_Static_assert(sizeof(struct hw_exe_key) == 16, "hw_exe_key layout");
_Static_assert(sizeof(struct hw_app_val) == 8, "hw_app_val layout");
_Static_assert(sizeof(struct hw_proc_val) == 32, "hw_proc_val layout");
_Static_assert(sizeof(struct hw_settings) == 24, "hw_settings layout");
_Static_assert(sizeof(struct hw_ancestor) == 40, "hw_ancestor layout");
_Static_assert(sizeof(struct hw_event) == 400 + HW_PATH_LEN, "hw_event layout");
_Static_assert(sizeof(struct hw_dedup_key) == 40, "hw_dedup_key layout");

#endif /* HASHWALL_H */
