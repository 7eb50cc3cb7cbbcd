/**
 * The typed configuration model: what `rules.toml`, `apps.toml` and `apps.d/*.toml` mean once
 * validated. Everything downstream (policy compiler, daemon, UI) works on these types only, never
 * on raw TOML.
 *
 * @module
 */

/** Where a value came from, for located errors and "why" answers. Line and column are 1-based. */
export interface SourceLoc {
  file: string;
  line: number;
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

/** `[defaults]` of rules.toml. */
export interface Defaults {
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
}

/** An IPv4 or IPv6 network. `addr` holds 4 or 16 bytes, host bits cleared. */
export interface Cidr {
  family: 4 | 6;
  addr: Uint8Array;
  prefix: number;
  /** As written in the file (normalised text is `formatCidr`). */
  text: string;
}

/** An inclusive port range; a single port has `from === to`. Ports are 1..65535. */
export interface PortRange {
  from: number;
  to: number;
}

/** One `[[rule]]`. Omitted `remote`/`ports` mean "any". */
export interface Rule {
  id: string;
  action: Verdict;
  direction: Direction;
  protocol: Protocol;
  remote?: Cidr[];
  /** Service port: local for "in", remote for "out". */
  ports?: PortRange[];
  /** App name from apps.toml; "out" rules only. */
  app?: string;
  comment?: string;
  /** Position of the rule in file order (0-based); first match wins. */
  index: number;
  loc: SourceLoc;
}

/** One `[[integrity.watch]]` entry. */
export interface IntegrityWatch {
  path: string;
  recursive: boolean;
  loc: SourceLoc;
}

/** `[ui]`: where the web UI listens, or `off`. */
export interface UiConfig {
  /** Host part (127.0.0.1, ::1 or localhost); `null` when the UI is off. */
  host: string | null;
  port: number;
}

/** One `[[app]]` from apps.toml or apps.d/*.toml. */
export interface App {
  name: string;
  /** Absolute path of the executable (or script, when an interpreter runs it). */
  path: string;
  /** Lower-case hex SHA-256 of the approved content. */
  sha256: string;
  /** Children (fork) of this app are trusted too. */
  inherit: boolean;
  /** An interpreter: never trusted by its own exe, only through an approved script. */
  interpreter: boolean;
  duration?: Duration;
  loc: SourceLoc;
}

/** The whole validated configuration. */
export interface Policy {
  defaults: Defaults;
  ui: UiConfig;
  rules: Rule[];
  integrity: { watch: IntegrityWatch[] };
  apps: App[];
  /** Every file that was read (rules.toml, apps.toml, apps.d/*.toml), for watching. */
  files: string[];
}

/** A located configuration error. `toString()` gives `FILE:LINE:COL: message`. */
export class ConfigError extends Error {
  override name = "ConfigError";
  constructor(
    readonly file: string,
    readonly line: number,
    readonly col: number,
    readonly detail: string,
  ) {
    super(`${file}:${line}:${col}: ${detail}`);
  }
  override toString(): string {
    return this.message;
  }
}

/** Result of loading: all or nothing. */
export type LoadResult = { ok: true; policy: Policy } | { ok: false; errors: ConfigError[] };
