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
#define HW_RINGBUF_BYTES (8 * 1024 * 1024)
#define HW_MAX_SCRIPTS 16384
#define HW_SCRIPT_NAME_LEN 128

/*
 * Identity of an executable file as the kernel sees it. `dev` is hw_inode_dev (bpf/inode_key.h:
 * s_dev, or a btrfs subvolume's anonymous device) in the kernel's dev_t encoding
 * (major << 20 | minor), which differs from userspace st_dev (see src/identity/devno.ts).
 */
struct hw_exe_key {
	__u64 dev;
	__u64 ino;
};

/* hw_app_val.flags */
#define HW_APP_INHERIT 0x1     /* children (fork) of this app are trusted too */
#define HW_APP_INTERPRETER 0x2 /* never trusted by its own exe: the script decides */

/*
 * Value of the approved-executables map: present only while the file's SHA-256 matched. The
 * times are the file's mtime/ctime from the same fstat of the fd that was hashed: a write the
 * watch cannot see (through a shared mapping) still moves them, so the exec hook and the script
 * open check compare them with the inode's and refuse trust on any difference (bpf/stale.h).
 */
struct hw_app_val {
	__u32 app_id; /* userspace registry id, never 0 */
	__u32 flags;  /* HW_APP_* */
	__s64 mtime_sec;
	__s64 ctime_sec;
	__u32 mtime_nsec;
	__u32 ctime_nsec;
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
	__u32 daemon_start;   /* the daemon's start time (clock ticks since boot, low 32 bits) */
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
#define HW_EV_EXEC 4 /* trust refused at exec or at the interpreter's open of its script */

/* hw_event.verdict */
#define HW_VERDICT_ALLOW 0 /* allowed (learning mode: unknown app let through) */
#define HW_VERDICT_DENY 1  /* denied, the caller got EPERM */

/* hw_event.reason */
#define HW_REASON_UNKNOWN_APP 1   /* executable not approved */
#define HW_REASON_NOT_INHERITED 2 /* approved exe, but a fork child of an app without inherit */
#define HW_REASON_REVOKED 3       /* trust rested on an approval that was revoked */
#define HW_REASON_INTERPRETER 4   /* an interpreter, and no approved script decides */
#define HW_REASON_SCRIPT_UNRESOLVED 5 /* an interpreter given a path the kernel cannot resolve */
#define HW_REASON_RULE 6              /* an outbound [[rule]] decided (hw_event.rule: its index) */
#define HW_REASON_SCRIPT_PENDING 32  /* the interpreter has not opened its approved script yet */
#define HW_REASON_SCRIPT_MISMATCH 33 /* the interpreter opened another file at the script's path */
#define HW_REASON_STALE 34 /* the file's mtime/ctime moved since it was hashed: re-hash it */

/* hw_event.flags */
#define HW_EVF_SCRIPT 0x1 /* exe_path is the script an interpreter runs (maybe relative) */

struct hw_ancestor {
	struct hw_exe_key exe;
	__u32 tgid;
	__u32 _pad;
	char comm[HW_COMM_LEN];
};

/*
 * One report from a hook, written to the ring buffer. Addresses are in network byte order; IPv4
 * (including IPv4-mapped IPv6, which is reported as IPv4) uses daddr[0..3] with family = 4.
 *
 * Records have variable length: this fixed head is followed by `depth` struct hw_ancestor
 * (lineage[0] is the parent), then `path_len` bytes of the path given to execve (no NUL). Only
 * what is used is written, so a typical record takes ~380 bytes of the ring instead of the 672
 * a fixed record with 8 lineage slots and a 256-byte path took. A record is at most
 * sizeof(struct hw_event_buf) - 8 bytes (HW_EVENT_MAX).
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
	__u16 depth;  /* hw_ancestor entries after the head */
	__u32 reason; /* HW_REASON_* */
	__u32 flags;  /* HW_EVF_* */
	__u8 daddr[16];
	char comm[HW_COMM_LEN];
	__u32 rule; /* with HW_REASON_RULE: index of the deciding rule in file order */
	__u32 via_app; /* with HW_EVF_VIA: app id of the inheriting app it is trusted via */
	__u16 path_len; /* bytes of the exe path after the lineage, "" (0) if unknown; < HW_PATH_LEN */
	__u16 _pad[3];
};

/*
 * Where the kernel builds a report before copying its used part into the ring (a per-CPU
 * scratch: the whole record does not fit the 512-byte BPF stack). The path is written right
 * after the `depth` filled ancestors, so `path_room` only makes room for the longest case.
 * `busy` (not copied) keeps a nested report on the same CPU from overwriting one being built.
 */
struct hw_event_buf {
	struct hw_event head;
	struct hw_ancestor lineage[HW_LINEAGE_DEPTH];
	char path_room[HW_PATH_LEN];
	__u32 busy;
	__u32 _pad;
};
#define HW_EVENT_MAX (96 + 40 * HW_LINEAGE_DEPTH + HW_PATH_LEN)

/* Key of the dedup LRU: one report per app + destination + hook per window. */
struct hw_dedup_key {
	struct hw_exe_key exe;
	__u8 daddr[16];
	__u16 dport;
	__u8 proto;
	__u8 kind;
	__u32 script_hash; /* FNV-1a of the script path for interpreters (0 otherwise) */
};

/*
 * Approved scripts, for processes whose executable is an interpreter (HW_APP_INTERPRETER). At
 * exec the kernel finds the script the interpreter was given — the #! path (bprm->filename) or
 * the first non-option argument — and looks it up by absolute path, or, for a bare relative
 * name, by the identity of the process's working directory plus the name. The value carries the
 * script file's identity, which must also be in hw_approved: revoking it revokes the script.
 */
struct hw_script_key {
	char path[HW_PATH_LEN]; /* absolute path, NUL-padded */
};

struct hw_script_rel_key {
	struct hw_exe_key dir;          /* identity of the script's folder (kernel dev encoding) */
	char name[HW_SCRIPT_NAME_LEN]; /* file name without '/', NUL-padded */
};

struct hw_script_val {
	struct hw_exe_key key; /* the script file's identity (its hw_approved key) */
	__u32 app_id;
	__u32 flags; /* HW_APP_* of the script's app (inherit) */
};

_Static_assert(sizeof(struct hw_exe_key) == 16, "hw_exe_key layout");
_Static_assert(sizeof(struct hw_script_key) == HW_PATH_LEN, "hw_script_key layout");
_Static_assert(sizeof(struct hw_script_rel_key) == 16 + HW_SCRIPT_NAME_LEN, "hw_script_rel_key");
_Static_assert(sizeof(struct hw_script_val) == 24, "hw_script_val layout");
_Static_assert(sizeof(struct hw_app_val) == 32, "hw_app_val layout");
_Static_assert(sizeof(struct hw_proc_val) == 32, "hw_proc_val layout");
_Static_assert(sizeof(struct hw_settings) == 24, "hw_settings layout");
_Static_assert(sizeof(struct hw_ancestor) == 40, "hw_ancestor layout");
_Static_assert(sizeof(struct hw_event) == 96, "hw_event layout");
_Static_assert(sizeof(struct hw_event_buf) == HW_EVENT_MAX + 8, "hw_event_buf layout");
_Static_assert(sizeof(struct hw_dedup_key) == 40, "hw_dedup_key layout");

/* ===================================================================================== */
/* borrowed trust (bpf/argv_grammar.h, bpf/exec_env.h, bpf/tamper.h, src/policy/interpreters.ts) */
/* ===================================================================================== */

/*
 * Reasons of the trust guards. hw_event.rule carries the detail: for HW_REASON_ENV the bit of
 * the variable (hw_env_val.bit, HW_ENV_TOO_LARGE when the environment could not be read whole);
 * for HW_REASON_INJECTED the HW_TAMPER_* vector.
 */
#define HW_REASON_ENV 16      /* exec'd with an injection variable (LD_PRELOAD, PYTHONPATH, ...) */
#define HW_REASON_TRACED 17   /* exec'd while being ptraced */
#define HW_REASON_INJECTED 18 /* lost its trust: another process wrote to it or changed its exe */
#define HW_REASON_ARGV 19     /* an interpreter command line the grammar does not understand */
#define HW_REASON_USERNS 20   /* exec'd in a mount namespace a user namespace owns (unshare -r -m) */

#define HW_ENV_TOO_LARGE 255 /* detail: too many or too long environment strings to check */
#define HW_ENV_MAX_VARS 256  /* environment strings checked at most (more: not trusted) */
#define HW_ENV_NAME_LEN 32   /* variable names compared (longer names are none of ours) */
#define HW_ENV_ALL_KINDS 0x80000000u /* hw_env_val.kinds: applies to every executable */

#define HW_TAMPER_PTRACE 1    /* ptrace attach/seize/traceme */
#define HW_TAMPER_VM_WRITE 2  /* process_vm_writev */
#define HW_TAMPER_PROC_MEM 3  /* /proc/PID/mem opened for writing */
#define HW_TAMPER_SET_MM 4    /* prctl(PR_SET_MM, ...): exe link or memory map rewritten */
#define HW_TAMPER_GETFD 5     /* pidfd_getfd: a file of the process taken from outside */

/* Interpreter kinds (hw_app_exec.kind), derived in userspace from the interpreter's file name. */
#define HW_KIND_OTHER 0 /* unknown interpreter: any option means "no script" */
#define HW_KIND_PYTHON 1
#define HW_KIND_SHELL 2 /* bash, sh, dash */
#define HW_KIND_PERL 3
#define HW_KIND_NODE 4
#define HW_KIND_RUBY 5
#define HW_KIND_JAVA 6
#define HW_KIND_MAX 8

/* Actions of an option in hw_argv_grammar. */
#define HW_ARG_FLAG 1   /* an option without value */
#define HW_ARG_VALUE 2  /* takes a value: attached (-Wx, --opt=x) or the next argument */
#define HW_ARG_CODE 3   /* the code comes from elsewhere (-c, -e, -m, -, ...): no script */
#define HW_ARG_END 4    /* end of options: the next argument is the script (--) */
#define HW_ARG_SCRIPT 5 /* the next argument is the script (java -jar) */
#define HW_ARG_PREFIX 6 /* any argument starting with this is a flag (java -Dk=v) */
#define HW_ARG_CHECKED 7 /* takes a value that must be listed (python -X dev, not pycache_prefix) */
#define HW_ARG_VALUES 0x100 /* kind | this: the listed values of HW_ARG_CHECKED options (FLAG) */

/* Per-kind switches: the entry with an empty option (opt all zero) of each kind. */
#define HW_ARGK_KNOWN 0x1       /* the kind has a grammar */
#define HW_ARGK_CLUSTER 0x2     /* single-letter flags combine (-Bu) */
#define HW_ARGK_ATTACHED 0x4    /* a short option's value may be attached (-Wignore) */
#define HW_ARGK_PLUS 0x8        /* options may start with '+' too (bash +x) */
#define HW_ARGK_SCRIPT_ONLY 0x10 /* only HW_ARG_SCRIPT names a script (java: else a class) */

#define HW_ARG_OPT_LEN 28 /* options compared (longer ones: by prefix only) */
#define HW_ARG_MAX 32     /* arguments examined at most; more options: no script */
#define HW_ARG_CLUSTER_MAX 16

struct hw_argv_key {
	__u32 kind;                /* HW_KIND_* */
	char opt[HW_ARG_OPT_LEN]; /* the option ("-W", "--rcfile"), NUL-padded; "" = kind switches */
};

struct hw_argv_val {
	__u32 action; /* HW_ARG_*, or HW_ARGK_* for the kind entry */
};

/* Per app id: the interpreter kind (interpreters) and the variables allow_env permits. */
struct hw_app_exec {
	__u32 kind;      /* HW_KIND_* */
	__u32 env_allow; /* bit hw_env_val.bit set: that variable does not cost the trust */
};

/* Injection variables by name: which executables they concern. */
struct hw_env_key {
	char name[HW_ENV_NAME_LEN]; /* NUL-padded */
};

struct hw_env_val {
	__u32 bit;   /* 0..30: its bit in hw_app_exec.env_allow and the event's detail */
	__u32 kinds; /* bit HW_KIND_*: interpreters it concerns; HW_ENV_ALL_KINDS: every executable */
};

/* Processes whose memory or exe link another process changed: never trusted again (until exec). */
struct hw_taint {
	__u32 vector;   /* HW_TAMPER_* */
	__u32 by_tgid;  /* who did it */
};

_Static_assert(sizeof(struct hw_argv_key) == 32, "hw_argv_key layout");
_Static_assert(sizeof(struct hw_argv_val) == 4, "hw_argv_val layout");
_Static_assert(sizeof(struct hw_app_exec) == 8, "hw_app_exec layout");
_Static_assert(sizeof(struct hw_env_key) == HW_ENV_NAME_LEN, "hw_env_key layout");
_Static_assert(sizeof(struct hw_env_val) == 8, "hw_env_val layout");
_Static_assert(sizeof(struct hw_taint) == 8, "hw_taint layout");

/* ===================================================================================== */
/* socket trust (bpf/sockets.h, src/kernel/sockets.ts)                                   */
/* ===================================================================================== */

/*
 * Every socket a trusted process connects, sends from or binds carries, in socket-local storage
 * (hw_sock_trust), the identity its trust rested on. Accepted TCP connections inherit the
 * listener's storage (the map is BPF_F_CLONE). When an identity leaves hw_approved the daemon puts
 * it in hw_sock_revoke and runs the iter/tcp and iter/udp programs, which destroy exactly the
 * sockets whose storage names it and write one struct hw_sock_closed each to the iterator.
 */
#define HW_SOCK_REVOKE_MAX 4096
/*
 * Records of connected/sending sockets by socket cookie (bpf/sockets.h hw_sock_cookie). Only the
 * buckets are allocated up front (16 bytes each: 1 MiB, small enough to stay warm in the caches);
 * a full map falls back to socket storage.
 */
#define HW_SOCK_COOKIE_MAX 65536

/* hw_sock_val.flags */
#define HW_SOCK_TRUSTED 0x1 /* trust_key/app_id: the approval the process's trust rests on */
#define HW_SOCK_UNKNOWN 0x2 /* learning mode, an unknown app: trust_key is its own executable */
#define HW_SOCK_BOUND 0x4   /* written at bind (a listener; accepted sockets inherit it) */

/* Value of the hw_sock_trust socket storage. */
struct hw_sock_val {
	struct hw_exe_key trust_key;
	__u32 app_id; /* 0 with HW_SOCK_UNKNOWN */
	__u32 tgid;   /* the process that connected, sent or bound */
	__u32 uid;
	__u32 flags; /* HW_SOCK_* */
};

/* Key of hw_sock_revoke (value: __u32 HW_CLOSE_* reason): an identity whose sockets close. */
struct hw_sock_rkey {
	struct hw_exe_key key;
	__u32 app_id;
	__u32 _pad;
};

/* Element 0 of hw_sock_ctl: how the next iterator run behaves, and whether hooks record. */
struct hw_sock_ctl {
	__u32 dry_run;           /* 1: report "would close", destroy nothing (learning mode) */
	__u32 unapproved;        /* 1: also every stored socket whose trust is not approved now */
	__u32 unapproved_reason; /* HW_CLOSE_* reported for those */
	__u32 no_record;         /* 1: hooks write no socket records (close_on_revoke = false) */
};

/* Why sockets were closed (hw_sock_revoke values, hw_sock_closed.reason). */
#define HW_CLOSE_CHANGED 1      /* the approved file was written, replaced or deleted */
#define HW_CLOSE_REVOKED 2      /* revoked by an admin (CLI or UI) */
#define HW_CLOSE_MISMATCH 3     /* a re-hash did not match the approved hash */
#define HW_CLOSE_ENDED 4        /* a once/session approval ended */
#define HW_CLOSE_NOT_APPROVED 5 /* switch to enforcing: the app is not approved */
#define HW_CLOSE_TAINTED 6      /* the process that opened it was written into (bpf/tamper.h) */

/* hw_sock_closed.result */
#define HW_SOCK_RES_CLOSED 1      /* bpf_sock_destroy succeeded */
#define HW_SOCK_RES_WOULD_CLOSE 2 /* dry run (learning mode) */
#define HW_SOCK_RES_FAILED 3      /* bpf_sock_destroy returned an error (err) */

/* One record per socket an iterator closed (or would close), read from the iterator's fd. */
struct hw_sock_closed {
	struct hw_exe_key trust_key;
	__u32 app_id;
	__u32 tgid; /* hw_sock_val.tgid */
	__u32 uid;
	__u32 reason; /* HW_CLOSE_* */
	__u32 flags;  /* hw_sock_val.flags */
	__s32 err;    /* bpf_sock_destroy's result */
	__u8 result;  /* HW_SOCK_RES_* */
	__u8 family;  /* 4 or 6 (v4-mapped v6 peers are reported as 4) */
	__u8 proto;   /* 6 tcp, 17 udp */
	__u8 state;   /* the socket's state before (TCP_* numbering) */
	__u16 dport;  /* host order */
	__u16 sport;
	__u8 daddr[16]; /* network order; IPv4 in the first 4 bytes */
	__u8 saddr[16];
};

_Static_assert(sizeof(struct hw_sock_val) == 32, "hw_sock_val layout");
_Static_assert(sizeof(struct hw_sock_rkey) == 24, "hw_sock_rkey layout");
_Static_assert(sizeof(struct hw_sock_ctl) == 16, "hw_sock_ctl layout");
_Static_assert(sizeof(struct hw_sock_closed) == 80, "hw_sock_closed layout");

/* ===================================================================================== */
/* revocation at the writable open (bpf/write_revoke.h, src/kernel/app_control.ts)       */
/* ===================================================================================== */

/*
 * An fd opened with FMODE_WRITE on an approved file takes the file's identity out of hw_approved
 * in the open's own syscall-exit tracepoint, before the open returns. hw_write_watch holds every
 * identity the daemon approved (written beside hw_approved, never deleted by the kernel); a
 * writable open of one records a fresh sequence number there (taken from hw_write_gen) BEFORE
 * deleting the approval, so a daemon that hashed the file since sequence S and then approves it
 * sees seq > S and takes the approval back (a writer opened the file while it was being hashed).
 */
#define HW_EV_WRITE_OPEN 5       /* hw_event.kind: an approved file was opened for writing */
#define HW_EV_TAINT 6            /* hw_event.kind: a trusted process was written into (tamper.h) */
#define HW_REASON_WRITE_OPEN 35  /* ... and its approval was revoked in the kernel */
#define HW_MAX_WRITE_WATCH (2 * HW_MAX_APPS)

/* Value of hw_write_watch (key: struct hw_exe_key). */
struct hw_write_watch {
	__u64 seq;   /* hw_write_gen at the newest writable open; 0: none since the daemon wrote it */
	__u32 tgid;  /* the process of that open */
	__u32 count; /* writable opens seen (diagnostics; wraps) */
};

_Static_assert(sizeof(struct hw_write_watch) == 16, "hw_write_watch layout");

/* ===================================================================================== */
/* packet filter (bpf/filter.bpf.c, bpf/rules_app.h, src/policy, ffi/filter_structs.ts)  */
/* ===================================================================================== */

/*
 * Rules compile into LPM tries keyed by (generation, direction, protocol, port class, app id,
 * remote address). Port classes are the elementary port intervals of one (direction, protocol):
 * a port maps to its class through a small LPM trie on the port. Each trie entry holds the
 * lowest-indexed (first in file order) rule that covers that prefix, so one packet costs a fixed
 * number of lookups whatever the number of rules.
 */
#define HW_FLT_MAX_RULES 16384        /* rules per policy */
#define HW_FLT_SLOTS (HW_FLT_MAX_RULES + 4)
#define HW_FLT_SLOT_DEFAULT_IN (HW_FLT_MAX_RULES + 0)  /* counter slot of [defaults] inbound */
#define HW_FLT_SLOT_DEFAULT_OUT (HW_FLT_MAX_RULES + 1) /* counter slot of [defaults] outbound */
#define HW_FLT_SLOT_UNTRACKED (HW_FLT_MAX_RULES + 2)   /* counter slot of [defaults] untracked */
#define HW_FLT_SLOT_SOCKET (HW_FLT_MAX_RULES + 3)      /* allowed by a connect hook verdict */
#define HW_FLT_LPM_MAX 262144                          /* address trie entries (both gens) */
#define HW_FLT_PORT_MAX 65536                          /* port trie entries (both gens) */
#define HW_FLT_FLOWS_MAX 65536                         /* flow table (LRU) */
#define HW_FLT_SOCK_MAX 65536                          /* connect-hook verdicts by socket cookie */

#define HW_FLT_NO_RULE 0xffffffffu      /* hw_flt_match.rule: nothing matched */
#define HW_FLT_PCLASS_ANY 0xffffffffu   /* port class of rules without ports (and non-port protos) */
#define HW_FLT_PCLASS_NONE 0xfffffffeu  /* a port no rule names */

#define HW_FLT_DIR_IN 0
#define HW_FLT_DIR_OUT 1

/* Protocols as the filter keys them; anything else is HW_FLT_PROTO_OTHER. */
#define HW_FLT_PROTO_ICMP 1
#define HW_FLT_PROTO_TCP 6
#define HW_FLT_PROTO_UDP 17
#define HW_FLT_PROTO_ICMPV6 58
#define HW_FLT_PROTO_OTHER 255

/* Actions and defaults */
#define HW_FLT_NONE 0 /* rules_app.h: no rule decided */
#define HW_FLT_ALLOW 1
#define HW_FLT_DENY 2

/* Meta bits before the address/port in the LPM keys below. */
#define HW_FLT_LPM_META_BITS 96
#define HW_FLT_PORT_META_BITS 32

/* Address trie key, IPv4. prefixlen = HW_FLT_LPM_META_BITS + address prefix length. */
struct hw_flt_lpm4_key {
	__u32 prefixlen;
	__u8 gen;   /* 0 or 1 */
	__u8 dir;   /* HW_FLT_DIR_* */
	__u8 proto; /* HW_FLT_PROTO_* */
	__u8 _zero;
	__u32 pclass; /* port class, HW_FLT_PCLASS_ANY for rules without ports */
	__u32 app_id; /* 0: rule without app */
	__u8 addr[4]; /* network order */
	__u8 _pad[4];
};

/* Address trie key, IPv6 (same layout, 16-byte address). */
struct hw_flt_lpm6_key {
	__u32 prefixlen;
	__u8 gen;
	__u8 dir;
	__u8 proto;
	__u8 _zero;
	__u32 pclass;
	__u32 app_id;
	__u8 addr[16];
};

/*
 * Host entries (/32, /128) and single ports live in hash maps beside the tries: a hit answers at
 * once (its value already carries the first match of every shorter prefix containing it), only a
 * miss walks the trie, which then holds just the shorter prefixes and the port ranges. So rule
 * sets of hosts and single ports cost the same at any size.
 */
#define HW_FLT_HOST_MAX 262144 /* host hash entries per family (both gens) */

/* Key of hw_flt_host4: the IPv4 address trie key's fields at full length, as a hash key. */
struct hw_flt_host4_key {
	__u8 gen;
	__u8 dir;
	__u8 proto;
	__u8 _zero;
	__u32 pclass;
	__u32 app_id;
	__u8 addr[4];
};

/* Key of hw_flt_host6. */
struct hw_flt_host6_key {
	__u8 gen;
	__u8 dir;
	__u8 proto;
	__u8 _zero;
	__u32 pclass;
	__u32 app_id;
	__u8 addr[16];
	__u8 _pad[4];
};

/* Key of hw_flt_portx: one port (host order) -> __u32 port class. */
struct hw_flt_portx_key {
	__u8 gen;
	__u8 dir;
	__u8 proto;
	__u8 _zero;
	__u16 port;
	__u16 _pad;
};

/* Value of both address tries: the first rule (file order) covering the key. */
struct hw_flt_match {
	__u32 rule;   /* rule index, HW_FLT_NO_RULE when none */
	__u32 action; /* HW_FLT_ALLOW / HW_FLT_DENY */
};

/* Port trie key: prefixlen = HW_FLT_PORT_META_BITS + port prefix length. Value: __u32 class. */
struct hw_flt_port_key {
	__u32 prefixlen;
	__u8 gen;
	__u8 dir;
	__u8 proto;
	__u8 _zero;
	__u16 port; /* network order */
	__u16 _pad;
	__u32 _pad2;
};

/* Element 0 of hw_flt_ctl: the active generation (the one-update switch) and flow timeouts. */
struct hw_flt_ctl {
	__u32 active_gen;  /* 0 or 1 */
	__u32 tcp_idle_s;  /* established TCP idle timeout */
	__u32 udp_idle_s;  /* UDP flow idle timeout */
	__u32 icmp_idle_s; /* ICMP echo flow idle timeout */
	__u32 tcp_close_s; /* after FIN both ways: grace for the last ACKs */
	__u32 seq;         /* bumped by every switch, never reused: keys the connect verdict cache */
};

/* Bit of hw_flt_gen.any_mask; lets a packet skip the port-less lookup when no such rule exists. */
#define HW_FLT_ANY_BIT(dir, proto)                                                                 \
	(1u << ((dir) * 8 + ((proto) == HW_FLT_PROTO_TCP      ? 0                                 \
			     : (proto) == HW_FLT_PROTO_UDP    ? 1                                 \
			     : (proto) == HW_FLT_PROTO_ICMP   ? 2                                 \
			     : (proto) == HW_FLT_PROTO_ICMPV6 ? 3                                 \
							      : 4)))

/* Elements 0 and 1 of hw_flt_gen: the defaults belonging to each generation's rules. */
struct hw_flt_gen {
	__u32 mode;          /* HW_MODE_LEARNING: count would-drops, drop nothing */
	__u32 def_in;        /* HW_FLT_ALLOW / HW_FLT_DENY */
	__u32 def_out;
	__u32 def_untracked;
	__u32 nrules;
	__u32 any_mask; /* bit HW_FLT_ANY_BIT(dir, proto): some rule has no ports for it */
};

/* Flow table key, from this host's point of view. ICMP echo: lport = echo id, rport = 0. */
struct hw_flt_flow_key {
	__u8 remote[16]; /* IPv4 in the first 4 bytes */
	__u8 local[16];
	__u16 rport; /* host order */
	__u16 lport;
	__u8 proto;
	__u8 family; /* 4 or 6 */
	__u8 _pad[2];
};

/* hw_flt_flow.state */
#define HW_FLT_ST_OPEN 1
#define HW_FLT_ST_CLOSING 2 /* FIN seen both ways */

/* hw_flt_flow.fin */
#define HW_FLT_FIN_IN 1
#define HW_FLT_FIN_OUT 2

struct hw_flt_flow {
	__u64 last_ns; /* bpf_ktime_get_ns() of the last packet */
	__u32 slot;    /* counter slot (rule index or HW_FLT_SLOT_*) that allowed it */
	__u32 gen;     /* generation that allowed it; re-judged once after a switch */
	__u8 origin;   /* HW_FLT_DIR_* of the packet that opened it */
	__u8 state;    /* HW_FLT_ST_* */
	__u8 fin;      /* HW_FLT_FIN_* */
	__u8 _pad[5];
};

/* Per-CPU counters per (generation, slot): key = gen * HW_FLT_SLOTS + slot. */
struct hw_flt_counter {
	__u64 packets;    /* packets passed (allowed) */
	__u64 bytes;
	__u64 would_drop; /* learning mode: packets enforcing would drop */
	__u64 dropped;    /* enforcing: packets dropped */
};

/* Indexes of the per-CPU hw_flt_stats array. */
#define HW_FLT_CNT_PASS_STATE 0   /* passed by an existing flow */
#define HW_FLT_CNT_NEW_FLOW 1     /* flows inserted */
#define HW_FLT_CNT_FLOW_CLOSED 2  /* flows removed: RST, or expired after close */
#define HW_FLT_CNT_FLOW_EXPIRED 3 /* flows removed: idle timeout */
#define HW_FLT_CNT_DROP 4         /* packets dropped */
#define HW_FLT_CNT_WOULD_DROP 5   /* learning: packets that enforcing would drop */
#define HW_FLT_CNT_UNTRACKED 6    /* packets no flow can be tied to */
#define HW_FLT_CNT_LOOPBACK 7     /* loopback addresses, always passed */
#define HW_FLT_CNT_NON_IP 8       /* ARP and other non-IP, always passed */
#define HW_FLT_CNT_REJUDGED 9     /* flows re-judged after a generation switch */
#define HW_FLT_CNT_REJUDGE_DROP 10 /* ... and denied by the new rules */
#define HW_FLT_CNT_FLOW_FAIL 11   /* flow insert failed */
#define HW_FLT_CNT_RELATED 12     /* ICMP errors about a tracked flow, passed with it */
#define HW_FLT_CNT_MAX 16

_Static_assert(sizeof(struct hw_flt_lpm4_key) == 24, "hw_flt_lpm4_key layout");
_Static_assert(sizeof(struct hw_flt_lpm6_key) == 32, "hw_flt_lpm6_key layout");
_Static_assert(sizeof(struct hw_flt_match) == 8, "hw_flt_match layout");
_Static_assert(sizeof(struct hw_flt_host4_key) == 16, "hw_flt_host4_key layout");
_Static_assert(sizeof(struct hw_flt_host6_key) == 32, "hw_flt_host6_key layout");
_Static_assert(sizeof(struct hw_flt_portx_key) == 8, "hw_flt_portx_key layout");
_Static_assert(sizeof(struct hw_flt_port_key) == 16, "hw_flt_port_key layout");
_Static_assert(sizeof(struct hw_flt_ctl) == 24, "hw_flt_ctl layout");
_Static_assert(sizeof(struct hw_flt_gen) == 24, "hw_flt_gen layout");
_Static_assert(sizeof(struct hw_flt_flow_key) == 40, "hw_flt_flow_key layout");
_Static_assert(sizeof(struct hw_flt_flow) == 24, "hw_flt_flow layout");
_Static_assert(sizeof(struct hw_flt_counter) == 32, "hw_flt_counter layout");

/* ===================================================================================== */
/* lineage through exec (bpf/lineage.h)                                                  */
/* ===================================================================================== */

/*
 * hw_proc_val.source: a descendant of an app with inherit = true that exec'd a binary which is
 * not itself an approved app keeps that app's trust "via" it (trust_key stays the app's identity,
 * so revoking the app revokes it too).
 */
#define HW_TRUST_VIA 3
/* hw_event.flags: the reporting process is trusted via an inheriting ancestor app. */
#define HW_EVF_VIA 0x100
/* An approved app with only_via, started by none of those apps. */
#define HW_REASON_NOT_VIA 24
/* How many ancestor apps a process remembers, and how many starters only_via may name. */
#define HW_VIA_MAX 8

/*
 * The apps trusted among a process's ancestors at the moment it was created, nearest first
 * (0 = unused). Written at fork from the parent and never taken from the current parent, so
 * re-parenting (double fork, a subreaper, setsid) neither grants nor removes anything.
 */
struct hw_lineage {
	__u32 apps[HW_VIA_MAX];
};

/* Value of hw_only_via (key: app id): the app is trusted only when one of these started it. */
struct hw_only_via {
	__u32 apps[HW_VIA_MAX];
};

_Static_assert(sizeof(struct hw_lineage) == 4 * HW_VIA_MAX, "hw_lineage layout");
_Static_assert(sizeof(struct hw_only_via) == 4 * HW_VIA_MAX, "hw_only_via layout");

/*
 * [[rule]] via = "NAME" (bpf/rules_via.h): the rule matches only processes whose lineage holds
 * that app. Such rules compile into the same address/name tables as app rules, under a key id of
 * their own per (rule app or 0, via app) group: ids from HW_FLT_VIA_ID_BASE up, never a real app
 * id, so the tc path (app 0) and the plain app lookups never see them. hw_flt_via maps
 * (gen, app or 0, via app) to that id; the connect hooks look it up for each app of the caller's
 * lineage, only while the generation's any_mask has HW_FLT_VIA_BIT (no via rule: no extra cost).
 */
#define HW_FLT_VIA_BIT 0x80000000u     /* hw_flt_gen.any_mask: some rule of this gen has via */
#define HW_FLT_VIA_ID_BASE 0x80000000u /* first key id of a (app, via) group */
#define HW_FLT_VIA_GROUPS_MAX 8192     /* hw_flt_via entries (both gens) */

/* Key of hw_flt_via (value: __u32 key id of the group's rules). */
struct hw_flt_via_key {
	__u8 gen;
	__u8 _pad[3];
	__u32 app_id;  /* the rule's app, 0 for via rules without app */
	__u32 via_app; /* the app that must be in the caller's lineage */
};

_Static_assert(sizeof(struct hw_flt_via_key) == 12, "hw_flt_via_key layout");

/* ===================================================================================== */
/* hostnames (bpf/dns.h, bpf/rules_app.h, ffi/dns_structs.ts, src/policy/names.ts)       */
/* ===================================================================================== */

/*
 * DNS answers are parsed in the kernel (cgroup_skb ingress) as they reach the socket that asked,
 * and kept as (asking process, address) -> name. A query is remembered at egress by (socket
 * cookie, DNS id) with the hash of its question; only an answer to a remembered query creates
 * anything. Names are hashed with FNV-1a 64 over the dotted lower-case name read BACKWARDS, so
 * while scanning a name from its end the running hash at each '.' is the hash of that suffix:
 * the pattern "*.example.com" hashes as the reversed bytes of "*.example.com", "github.com" as
 * those of "github.com" (src/policy/names.ts computes the same).
 */
#define HW_DNS_PORT 53
#define HW_DNS_NAME_LEN 256     /* dotted lower-case name + NUL (a name is at most 253) */
#define HW_DNS_NAME_MAX 253
#define HW_DNS_PKT_MAX 1024     /* bytes of one DNS message the parser reads (power of 2) */
#define HW_DNS_MAX_ANSWERS 16   /* answer records parsed per message; more count as overflow */
#define HW_DNS_MAX_PTRS 8       /* compression pointers followed per name */
#define HW_DNS_MAX_CHAIN 8      /* names in one CNAME chain (the question + 7 targets) */
#define HW_DNS_PATS 4           /* rule patterns remembered per address */
#define HW_DNS_ADDR_MAX 131072  /* (process, address) -> name entries (LRU) */
#define HW_DNS_NAMES_MAX 16384  /* name hash -> name text (LRU, for events) */
#define HW_DNS_QUERY_MAX 16384  /* outstanding queries (LRU) */
#define HW_DNS_SOCK_MAX 16384   /* sockets that sent to port 53 -> owner (LRU) */
#define HW_DNS_PAT_MAX 131072   /* distinct name patterns of rules and blocklists (both gens) */
#define HW_DNS_RULE_MAX 262144  /* name-rule entries (both gens) */
#define HW_DNS_TTL_MAX_S 86400  /* TTLs are clamped to a day */
#define HW_DNS_TTL_GRACE_S 3    /* an answer stays usable TTL + this long (connect after lookup) */

/* Indexes of the per-CPU hw_dns_stats array. */
#define HW_DNS_CNT_QUERIES 0   /* queries remembered at egress */
#define HW_DNS_CNT_ANSWERS 1   /* answers accepted (matched a remembered query) */
#define HW_DNS_CNT_ADDRS 2     /* address -> name entries written */
#define HW_DNS_CNT_UNMATCHED 3 /* answers matching no query of that socket: ignored */
#define HW_DNS_CNT_MALFORMED 4 /* messages the parser refused (bad name, pointer loop, short) */
#define HW_DNS_CNT_OVERFLOW 5  /* messages longer than the parser reads or with too many records */
#define HW_DNS_CNT_SKIPPED 6   /* answer records outside the question's CNAME chain */
#define HW_DNS_CNT_NAME_HITS 7 /* connects decided by a name rule */
#define HW_DNS_CNT_MAX 8

/* Owner of a socket that sent to port 53, noted by the connect/sendmsg hooks. */
struct hw_dns_sock_val {
	__u64 start_ns; /* start_time of the owning process (a recycled tgid is someone else) */
	__u32 tgid;
	__u32 _pad;
};

/* An outstanding query: (socket cookie, DNS id) -> question. */
struct hw_dns_query_key {
	__u64 cookie;
	__u16 id; /* host order */
	__u16 _pad[3];
};

struct hw_dns_query_val {
	__u64 qhash; /* name hash (see above) of the question */
	__u64 start_ns;
	__u32 tgid;
	__u32 _pad;
};

/* (asking process, address) -> name. IPv4 uses addr[0..3], the rest zero. */
struct hw_dns_addr_key {
	__u32 tgid;
	__u8 family; /* 4 or 6 */
	__u8 _pad[3];
	__u8 addr[16];
};

struct hw_dns_addr_val {
	__u64 expires_ns; /* bpf_ktime_get_boot_ns() after which the entry no longer matches */
	__u64 start_ns;   /* start_time of the asking process */
	__u64 name;       /* hash of the question's name: key of hw_dns_names */
	__u64 pats[HW_DNS_PATS]; /* rule patterns the name matched when answered; 0 = unused */
};

/* Value of hw_dns_names (key: the name's hash). */
struct hw_dns_name {
	char name[HW_DNS_NAME_LEN]; /* dotted, lower-case, NUL-terminated */
};

/* Name-rule entries (bpf/rules_app.h hw_flt_names): the first rule naming a pattern. */
struct hw_dns_rule_key {
	__u8 gen;
	__u8 dir; /* HW_FLT_DIR_OUT */
	__u8 proto;
	__u8 _zero;
	__u32 pclass;
	__u32 app_id;
	__u32 _pad;
	__u64 pat; /* pattern hash */
};

_Static_assert(sizeof(struct hw_dns_sock_val) == 16, "hw_dns_sock_val layout");
_Static_assert(sizeof(struct hw_dns_query_key) == 16, "hw_dns_query_key layout");
_Static_assert(sizeof(struct hw_dns_query_val) == 24, "hw_dns_query_val layout");
_Static_assert(sizeof(struct hw_dns_addr_key) == 24, "hw_dns_addr_key layout");
_Static_assert(sizeof(struct hw_dns_addr_val) == 24 + 8 * HW_DNS_PATS, "hw_dns_addr_val layout");
_Static_assert(sizeof(struct hw_dns_name) == HW_DNS_NAME_LEN, "hw_dns_name layout");
_Static_assert(sizeof(struct hw_dns_rule_key) == 24, "hw_dns_rule_key layout");

#endif /* HASHWALL_H */
