/**
 * What lets other code run inside an approved interpreter or binary, as data for the kernel:
 *
 * - the command-line grammar of each interpreter kind (which options take a value, which mean
 *   "the code comes from elsewhere"), walked by bpf/argv_grammar.h to find the script;
 * - the injection variables (LD_PRELOAD for every binary, PYTHONPATH for Python, ...), searched
 *   in the environment of a trusted exec by bpf/exec_env.h.
 *
 * Both fail closed in the kernel: an option missing here means "no script", so a form that is
 * not listed loses trust rather than lending it. The interpreter kind is derived from the
 * approved interpreter's file name (python3.11 → python).
 *
 * @example
 * ```ts
 * interpreterKind("/usr/bin/python3.11"); // HW.KIND_PYTHON
 * envAllowMask(["LD_LIBRARY_PATH"]);       // the bit of LD_LIBRARY_PATH
 * ```
 *
 * @module
 */
import { HW } from "../../ffi/structs.ts";

/** One grammar table: per-kind switches and the action of each option. */
export interface Grammar {
  kind: number;
  /** HW_ARGK_* (HW.ARGK_KNOWN is added). */
  flags: number;
  /** option → HW_ARG_* action. */
  options: Record<string, number>;
  /** Listed values of HW_ARG_CHECKED options (the part before '='). */
  values?: string[];
}

const { ARG_FLAG: F, ARG_VALUE: V, ARG_CODE: C, ARG_END: E, ARG_SCRIPT: S, ARG_PREFIX: P } = HW;
const X = HW.ARG_CHECKED;

/** Each letter of `letters` as `-l` (and `+l` when `plus`) with `action`. */
function letters(letters: string, action: number, plus = false): Record<string, number> {
  const out: Record<string, number> = {};
  for (const l of letters) {
    out[`-${l}`] = action;
    if (plus) out[`+${l}`] = action;
  }
  return out;
}

/** The grammars. Options are exact unless the action says prefix. */
export const GRAMMARS: readonly Grammar[] = [
  {
    kind: HW.KIND_PYTHON,
    flags: HW.ARGK_CLUSTER | HW.ARGK_ATTACHED,
    options: {
      ...letters("bBdEhIOPqsSuvVx?", F),
      "--help": F,
      "--version": F,
      "--help-env": F,
      "--help-xoptions": F,
      "--help-all": F,
      "-W": V,
      "--check-hash-based-pycs": V,
      // -X takes a value from a list: -X pycache_prefix=DIR would load bytecode from DIR.
      "-X": X,
      // The code comes from elsewhere: a command, a module, stdin, or stdin after the script.
      "-c": C,
      "-m": C,
      "-": C,
      "-i": C,
      "--": E,
    },
    values: [
      "dev",
      "utf8",
      "importtime",
      "frozen_modules",
      "tracemalloc",
      "showrefcount",
      "faulthandler",
      "warn_default_encoding",
      "no_debug_ranges",
      "int_max_str_digits",
      "perf",
      "cpu_count",
    ],
  },
  {
    kind: HW.KIND_SHELL,
    flags: HW.ARGK_CLUSTER | HW.ARGK_PLUS,
    options: {
      ...letters("abefhkmnptuvxBCEHPT", F, true),
      "-r": F,
      "-D": F,
      "--norc": F,
      "--noprofile": F,
      "--posix": F,
      "--restricted": F,
      "--verbose": F,
      "--noediting": F,
      "--version": F,
      "--help": F,
      "--dump-strings": F,
      "-o": V,
      "+o": V,
      "-O": V,
      "+O": V,
      "--rcfile": V,
      "--init-file": V,
      // Commands from a string, stdin, or the profile/rc files of a login/interactive shell.
      "-c": C,
      "-s": C,
      "-i": C,
      "-l": C,
      "--login": C,
      "--debugger": C,
      "--": E,
      "-": E,
    },
  },
  {
    kind: HW.KIND_PERL,
    flags: HW.ARGK_CLUSTER | HW.ARGK_ATTACHED,
    options: {
      ...letters("acfnpstTuUvwWXh", F),
      "-0": P,
      "-l": P,
      "-i": P,
      "-C": P,
      "-D": P,
      "-x": P,
      // Code from the command line, modules (from a chosen @INC), the debugger, PATH, stdin.
      "-e": C,
      "-E": C,
      "-M": C,
      "-m": C,
      "-I": C,
      "-d": C,
      "-S": C,
      "-V": C,
      "-": C,
      "--": E,
    },
  },
  {
    kind: HW.KIND_NODE,
    flags: 0,
    options: {
      "--no-warnings": F,
      "--no-deprecation": F,
      "--trace-warnings": F,
      "--trace-deprecation": F,
      "--throw-deprecation": F,
      "--pending-deprecation": F,
      "--enable-source-maps": F,
      "--expose-gc": F,
      "--preserve-symlinks": F,
      "--preserve-symlinks-main": F,
      "-c": F,
      "--check": F,
      "-v": F,
      "--version": F,
      "-h": F,
      "--help": F,
      "--max-old-space-size": V,
      "--stack-size": V,
      "--title": V,
      "--unhandled-rejections": V,
      // Code from the command line, preloaded modules, loaders, an inspector anyone local can
      // reach, an env file (NODE_OPTIONS), stdin.
      "-e": C,
      "--eval": C,
      "-p": C,
      "--print": C,
      "-i": C,
      "--interactive": C,
      "-r": C,
      "--require": C,
      "--import": C,
      "--loader": C,
      "--experimental-loader": C,
      "--inspect": C,
      "--inspect-brk": C,
      "--inspect-port": C,
      "--inspect-wait": C,
      "--env-file": C,
      "-": C,
      "--": E,
    },
  },
  {
    kind: HW.KIND_RUBY,
    flags: HW.ARGK_CLUSTER | HW.ARGK_ATTACHED,
    options: {
      ...letters("acdlnpsvwyh", F),
      "--verbose": F,
      "--version": F,
      "--help": F,
      "--copyright": F,
      "-W": P,
      "-0": P,
      "-x": P,
      "-K": P,
      "-E": V,
      "--encoding": V,
      "--external-encoding": V,
      "--internal-encoding": V,
      "--disable": V,
      "--enable": V,
      // Code from the command line, required libraries, a chosen load path, another working
      // folder (the script path would mean another file), PATH, stdin.
      "-e": C,
      "-r": C,
      "-I": C,
      "-C": C,
      "-S": C,
      "-": C,
      "--": E,
    },
  },
  {
    kind: HW.KIND_JAVA,
    flags: HW.ARGK_SCRIPT_ONLY,
    options: {
      "-jar": S,
      "-D": P,
      "-Xmx": P,
      "-Xms": P,
      "-Xss": P,
      "-ea": P,
      "-da": P,
      "-esa": F,
      "-dsa": F,
      "-server": F,
      "-client": F,
      "-showversion": F,
      "-version": F,
      "--version": F,
      "-cp": V,
      "-classpath": V,
      "--class-path": V,
      "--add-opens": V,
      "--add-exports": V,
    },
  },
];

/** Interpreter file names (without version suffix) → kind. */
const KIND_BY_NAME: Record<string, number> = {
  python: HW.KIND_PYTHON,
  python2: HW.KIND_PYTHON,
  python3: HW.KIND_PYTHON,
  pypy: HW.KIND_PYTHON,
  pypy3: HW.KIND_PYTHON,
  bash: HW.KIND_SHELL,
  sh: HW.KIND_SHELL,
  dash: HW.KIND_SHELL,
  perl: HW.KIND_PERL,
  node: HW.KIND_NODE,
  nodejs: HW.KIND_NODE,
  ruby: HW.KIND_RUBY,
  java: HW.KIND_JAVA,
};

/**
 * The kind of an interpreter from its path's file name: a trailing version (python3.11,
 * perl5.36.0, ruby3.1) is ignored. Unknown names are HW.KIND_OTHER (no options allowed).
 */
export function interpreterKind(path: string): number {
  const base = path.slice(path.lastIndexOf("/") + 1);
  const name = base.replace(/[\d.]+$/, "");
  return KIND_BY_NAME[base] ?? KIND_BY_NAME[name] ?? KIND_BY_NAME[`${name}3`] ?? HW.KIND_OTHER;
}

/** One injection variable: its name and the kinds it concerns (all executables when `all`). */
export interface EnvVar {
  name: string;
  kinds: number[] | "all";
}

/**
 * The injection variables; a variable's bit is its index here (append only: pinned per-app
 * allow masks and stored events refer to the bits).
 */
export const ENV_VARS: readonly EnvVar[] = [
  // The dynamic loader (and glibc's iconv modules) load code chosen by these into any binary.
  { name: "LD_PRELOAD", kinds: "all" },
  { name: "LD_AUDIT", kinds: "all" },
  { name: "LD_LIBRARY_PATH", kinds: "all" },
  { name: "GCONV_PATH", kinds: "all" },
  { name: "PYTHONPATH", kinds: [HW.KIND_PYTHON] },
  { name: "PYTHONSTARTUP", kinds: [HW.KIND_PYTHON] },
  { name: "PYTHONHOME", kinds: [HW.KIND_PYTHON] },
  { name: "PYTHONUSERBASE", kinds: [HW.KIND_PYTHON] },
  { name: "PYTHONINSPECT", kinds: [HW.KIND_PYTHON] },
  { name: "PYTHONPYCACHEPREFIX", kinds: [HW.KIND_PYTHON] },
  { name: "PYTHONBREAKPOINT", kinds: [HW.KIND_PYTHON] },
  { name: "PYTHONPLATLIBDIR", kinds: [HW.KIND_PYTHON] },
  { name: "BASH_ENV", kinds: [HW.KIND_SHELL] },
  { name: "ENV", kinds: [HW.KIND_SHELL] },
  { name: "NODE_OPTIONS", kinds: [HW.KIND_NODE] },
  { name: "NODE_PATH", kinds: [HW.KIND_NODE] },
  { name: "PERL5OPT", kinds: [HW.KIND_PERL] },
  { name: "PERL5LIB", kinds: [HW.KIND_PERL] },
  { name: "PERLLIB", kinds: [HW.KIND_PERL] },
  { name: "PERL5DB", kinds: [HW.KIND_PERL] },
  { name: "RUBYOPT", kinds: [HW.KIND_RUBY] },
  { name: "RUBYLIB", kinds: [HW.KIND_RUBY] },
  { name: "JAVA_TOOL_OPTIONS", kinds: [HW.KIND_JAVA] },
  { name: "_JAVA_OPTIONS", kinds: [HW.KIND_JAVA] },
  { name: "JDK_JAVA_OPTIONS", kinds: [HW.KIND_JAVA] },
  { name: "CLASSPATH", kinds: [HW.KIND_JAVA] },
  // bash defines a function NAME from every BASH_FUNC_NAME%%=() {...} before the script runs; a
  // function shadows the builtin or command of its name inside the trusted shell. The kernel
  // matches this one entry as a prefix (bpf/exec_env.h), whatever the function's name.
  { name: "BASH_FUNC_", kinds: [HW.KIND_SHELL] },
  // xtrace from the environment expands PS4 ($(...) included) before every command.
  { name: "SHELLOPTS", kinds: [HW.KIND_SHELL] },
  { name: "PS4", kinds: [HW.KIND_SHELL] },
  // OpenSSL reads OPENSSL_CONF when a program initialises it (libcurl does at start): the file may
  // load a provider or engine module, a library of the caller's choice. The two folders choose
  // where modules named by the program itself are loaded from.
  // (Engines, deprecated in OpenSSL 3, are loaded through the configuration too.) This is bit 30,
  // the last one hw_app_exec.env_allow holds: a further variable needs deny-only bits.
  { name: "OPENSSL_CONF", kinds: "all" },
  { name: "OPENSSL_MODULES", kinds: "all" },
];

/** Names accepted by `allow_env` (every injection variable). */
export const ENV_VAR_NAMES: readonly string[] = ENV_VARS.map((v) => v.name);

/** The env_allow bit mask of `names` (unknown names are ignored: config validation rejects them). */
export function envAllowMask(names: readonly string[]): number {
  let m = 0;
  for (const n of names) {
    const i = ENV_VAR_NAMES.indexOf(n);
    if (i >= 0) m |= 1 << i;
  }
  return m >>> 0;
}

/** The event detail of an injection-variable report (its bit → its name). */
export function envVarName(bit: number): string {
  if (bit === HW.ENV_TOO_LARGE) return "(environment too large to check)";
  return ENV_VARS[bit]?.name ?? `(variable #${bit})`;
}

/** The event detail of a tampering report (its vector). */
export function tamperVectorName(vector: number): string {
  return {
    [HW.TAMPER_PTRACE]: "ptrace",
    [HW.TAMPER_VM_WRITE]: "process_vm_writev",
    [HW.TAMPER_PROC_MEM]: "/proc/PID/mem",
    [HW.TAMPER_SET_MM]: "prctl(PR_SET_MM)",
    [HW.TAMPER_GETFD]: "pidfd_getfd",
  }[vector] ?? `(vector ${vector})`;
}

/** A kernel grammar entry: kind (maybe | ARG_VALUES), option text, action. */
export interface GrammarEntry {
  kind: number;
  opt: string;
  action: number;
}

/** Every entry of hw_argv_grammar: per kind the switches ("" option), options, listed values. */
export function grammarEntries(): GrammarEntry[] {
  const out: GrammarEntry[] = [];
  for (const g of GRAMMARS) {
    out.push({ kind: g.kind, opt: "", action: g.flags | HW.ARGK_KNOWN });
    for (const [opt, action] of Object.entries(g.options)) out.push({ kind: g.kind, opt, action });
    for (const v of g.values ?? []) {
      out.push({ kind: g.kind | HW.ARG_VALUES, opt: v, action: HW.ARG_FLAG });
    }
  }
  return out;
}

/** Every entry of hw_env_vars: name, bit, kinds mask. */
export function envEntries(): { name: string; bit: number; kinds: number }[] {
  return ENV_VARS.map((v, bit) => ({
    name: v.name,
    bit,
    kinds: v.kinds === "all" ? HW.ENV_ALL_KINDS : v.kinds.reduce((m, k) => m | (1 << k), 0),
  }));
}
