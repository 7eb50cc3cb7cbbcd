/**
 * The typed configuration model: what `rules.toml`, `apps.toml` and `apps.d/*.toml` mean once
 * validated. Everything downstream (policy compiler, daemon, UI) works on these types only, never
 * on raw TOML.
 *
 * @module
 */

import type { HostPattern } from "./hostname.ts";

/** Where a value came from, for located errors and "why" answers. Line and column are 1-based. */
export interface SourceLoc {
  /** File name as given to the loader. */
  file: string;
  /** 1-based line. */
  line: number;
  /** 1-based column (UTF-16 code units). */
  col: number;
}

/** `learning`: report, deny nothing. `enforcing`: unknown apps are denied. */
export type Mode = "learning" | "enforcing";
/** A default verdict. */
export type Verdict = "allow" | "deny";
/** Rule direction. */
export type Direction = "in" | "out";
/** Rule protocol. */
export type Protocol = "tcp" | "udp" | "icmp" | "icmpv6" | "any";
/** How long an approval lasts (apps.toml `duration`). */
export type Duration = "once" | "session" | "forever";
/** What keeps an app approved: its hash only, or also updates of the package that owns it. */
export type Trust = "hash" | "package";

/** `[defaults]` of rules.toml. */
export interface Defaults {
  /** Learning or enforcing. */
  mode: Mode;
  /** Loopback destinations exempt from app control. */
  allowLoopback: boolean;
  /** Unsolicited inbound traffic not matched by a rule. */
  inbound: Verdict;
  /** Outbound traffic not matched by a rule (apps still need approval when enforcing). */
  outbound: Verdict;
  /** Traffic no process can be tied to. */
  untracked: Verdict;
  /** Packet filter on these interfaces; empty = every non-loopback interface. */
  interfaces: string[];
  /** Refuse to exec approved binaries whose hash changed. */
  execGate: boolean;
  /** When an approval ends, close the live sockets that rest on it (default true). */
  closeOnRevoke: boolean;
  /**
   * Apps approved from now on that a package owns get `trust = "package"` (their approval
   * follows signed package updates). Absent = true on hosts with a dpkg database.
   */
  packageTrust?: boolean;
}

/** An IPv4 or IPv6 network. `addr` holds 4 or 16 bytes, host bits cleared. */
export interface Cidr {
  /** IP version. */
  family: 4 | 6;
  /** Network address bytes (4 or 16), host bits cleared. */
  addr: Uint8Array;
  /** Prefix length (0..32 or 0..128). */
  prefix: number;
  /** As written in the file (normalised text is `formatCidr`). */
  text: string;
}

/** An inclusive port range; a single port has `from === to`. Ports are 1..65535. */
export interface PortRange {
  /** First port (1..65535). */
  from: number;
  /** Last port, inclusive (>= from). */
  to: number;
}

/** One `[[rule]]`. Omitted `remote`/`ports` mean "any". */
export interface Rule {
  /** Unique id (A-Z a-z 0-9 . _ : -), shown in events. */
  id: string;
  /** Verdict when the rule matches. */
  action: Verdict;
  /** Inbound or outbound. */
  direction: Direction;
  /** Protocol; omitted in the file means "any". */
  protocol: Protocol;
  /** Remote networks; omitted = any. */
  remote?: Cidr[];
  /**
   * Remote host names ("out" only): exact names and leading "*." wildcards, matched against the
   * name the app resolved the address from (DNS answers seen by the kernel). Never with `remote`.
   */
  remoteHost?: HostPattern[];
  /** Service port: local for "in", remote for "out". */
  ports?: PortRange[];
  /** App name from apps.toml; "out" rules only. */
  app?: string;
  /**
   * App name from apps.toml ("out" rules only): the rule matches only processes started, at any
   * depth, by a process trusted as that app (the kernel's lineage, fixed when the process was
   * created).
   */
  via?: string;
  /** Free text. */
  comment?: string;
  /** Position of the rule in file order (0-based); first match wins. */
  index: number;
  /** Where the `[[rule]]` starts. */
  loc: SourceLoc;
}

/** What a `[[blocklist]]` file holds. */
export type BlocklistFormat = "hosts" | "domains" | "cidr";

/**
 * One `[[blocklist]]`: a list of names or networks, fetched by the daemon, denied for every app
 * before the `[[rule]]`s (see src/policy/blocklist.ts).
 */
export interface Blocklist {
  /** Unique id (rule id syntax); its hits are counted as rule `blocklist:<id>`. */
  id: string;
  /** An absolute path or an http(s) URL. */
  source: string;
  /** hosts ("0.0.0.0 name" lines), domains (one name a line, subdomains too) or cidr. */
  format: BlocklistFormat;
  /** Refresh interval in milliseconds. */
  refreshMs: number;
  /** Only "deny". */
  action: "deny";
  /** Where the `[[blocklist]]` starts. */
  loc: SourceLoc;
}

/** One `[[integrity.watch]]` entry. */
export interface IntegrityWatch {
  /** Absolute, normalised path. */
  path: string;
  /** Watch everything below a folder too. */
  recursive: boolean;
  /** Where the `[[integrity.watch]]` starts. */
  loc: SourceLoc;
}

/** `[ui]`: where the web UI listens, or `off`. */
export interface UiConfig {
  /** Host part (127.0.0.1, ::1 or localhost); `null` when the UI is off. */
  host: string | null;
  /** TCP port (0 when the UI is off). */
  port: number;
}

/** `[history]`: how much connection and integrity history the daemon keeps. */
export interface HistoryConfig {
  /** Delete connection events and integrity changes older than this many days (1..36500). */
  maxAgeDays: number;
  /** Keep at most this many connection events, and as many integrity changes (1..1e9). */
  maxRows: number;
}

/** One `[[app]]` from apps.toml or apps.d/*.toml. */
export interface App {
  /** Unique name across apps.toml and apps.d/. */
  name: string;
  /** Absolute path of the executable (or script, when an interpreter runs it). */
  path: string;
  /** Lower-case hex SHA-256 of the approved content. */
  sha256: string;
  /**
   * Descendants of this app are trusted too: forked ones, and exec'd ones that run a binary which
   * is not itself an approved app ("via" this app). An approved app exec'd below becomes itself.
   */
  inherit: boolean;
  /** An interpreter: never trusted by its own exe, only through an approved script. */
  interpreter: boolean;
  /**
   * Injection variables (LD_LIBRARY_PATH, PYTHONPATH, ...) this app may be started with and stay
   * trusted; omitted = none (any of them in the exec's environment costs the trust).
   */
  allowEnv?: string[];
  /**
   * Trusted only when a process trusted as one of these apps is among its ancestors (fixed when
   * the process was created; bpf/lineage.h); omitted = whoever starts it.
   */
  onlyVia?: string[];
  /** How long the approval lasts; omitted = forever. */
  duration?: Duration;
  /** `package`: a new hash the owning package's signed update ships is approved too. */
  trust?: Trust;
  /** The dpkg package that owned the file when approved (`trust = "package"`). */
  package?: string;
  /** That package's version at approval (or at its last update). */
  packageVersion?: string;
  /** What the current hash rests on, when not an admin's approval (set by the daemon). */
  packageLevel?: "deb" | "md5sums";
  /** Where the `[[app]]` starts. */
  loc: SourceLoc;
}

/** The whole validated configuration. */
export interface Policy {
  /** `[defaults]`, with built-in values for omitted keys. */
  defaults: Defaults;
  /** `[ui]`. */
  ui: UiConfig;
  /** `[[rule]]`s in file order. */
  rules: Rule[];
  /** `[[blocklist]]`s in file order (none unless configured). */
  blocklists?: Blocklist[];
  /** `[[integrity.watch]]` entries. */
  integrity: { watch: IntegrityWatch[] };
  /**
   * `[history]`, with built-in values for omitted keys. Always set by `validateTexts`; optional
   * only so hand-built policies (tests) need not spell it out (the defaults apply then).
   */
  history?: HistoryConfig;
  /** Apps from apps.toml then apps.d/*.toml (sorted). */
  apps: App[];
  /** Every file that was read (rules.toml, apps.toml, apps.d/*.toml), for watching. */
  files: string[];
}

/** A located configuration error. `toString()` gives `FILE:LINE:COL: message`. */
export class ConfigError extends Error {
  /** Always "ConfigError". */
  override name = "ConfigError";
  /** Builds `FILE:LINE:COL: detail` (line and column 1-based). */
  constructor(
    readonly file: string,
    readonly line: number,
    readonly col: number,
    readonly detail: string,
  ) {
    super(`${file}:${line}:${col}: ${detail}`);
  }
  /** `FILE:LINE:COL: detail`. */
  override toString(): string {
    return this.message;
  }
}

/** Result of loading: all or nothing. */
export type LoadResult = { ok: true; policy: Policy } | { ok: false; errors: ConfigError[] };
