/**
 * Validation of config texts into the typed `Policy`: pure (no file system), all-or-nothing, and
 * reporting every error with its position. `loadPolicy` reads files and calls this; the UI
 * editor and reload call it directly.
 *
 * @module
 */
import { ENV_VAR_NAMES } from "../policy/interpreters.ts";
import type {
  App,
  Blocklist,
  Cidr,
  ConfigError,
  Defaults,
  Direction,
  Duration,
  HistoryConfig,
  IntegrityWatch,
  LoadResult,
  Mode,
  Policy,
  PortRange,
  Protocol,
  Rule,
  SourceLoc,
  Trust,
  UiConfig,
  Verdict,
} from "./model.ts";
import { ConfigDocument, type TomlTable } from "./document.ts";
import {
  checkKeys,
  describeValue,
  field,
  isTable,
  readAbsolutePath,
  readArray,
  readBool,
  readEnum,
  readString,
  readTableArray,
} from "./fields.ts";
import type { PathSegment } from "./position.ts";
import { parseAddress, parseCidr } from "./cidr.ts";
import { parsePortSpec } from "./ports.ts";
import { closest } from "./suggest.ts";
import { type HostPattern, parseHostPattern } from "./hostname.ts";

/** One config file's name (as shown in errors) and its text. */
export interface ConfigText {
  /** The file name as shown in errors. */
  file: string;
  /** Its content. */
  text: string;
}

/** Input of `validateTexts`: rules.toml and the app files (apps.toml, then apps.d/*.toml). */
export interface ValidateInput {
  /** Content of rules.toml. */
  rulesText: string;
  /** Name of rules.toml as shown in errors. */
  rulesFile: string;
  /** apps.toml then apps.d/*.toml, in merge order. */
  appsTexts: ConfigText[];
  /**
   * Set when some app file could not be read (the loader reported why): rules' `app` references
   * are then not judged against a partial app list, which would add false "unknown app" errors.
   */
  appsIncomplete?: boolean;
}

/** Every key each table accepts (also used to check that the default config shows them all). */
export const CONFIG_KEYS = {
  rulesTop: ["defaults", "ui", "rule", "blocklist", "integrity", "history"],
  blocklist: ["id", "source", "format", "refresh", "action", "comment"],
  defaults: [
    "mode",
    "allow_loopback",
    "inbound",
    "outbound",
    "untracked",
    "interfaces",
    "exec_gate",
    "close_on_revoke",
    "package_trust",
  ],
  ui: ["listen"],
  rule: [
    "id",
    "action",
    "direction",
    "protocol",
    "remote",
    "remote_host",
    "ports",
    "app",
    "via",
    "comment",
  ],
  integrity: ["watch"],
  watch: ["path", "recursive"],
  history: ["max_age_days", "max_rows"],
  appsTop: ["app"],
  app: [
    "name",
    "path",
    "sha256",
    "inherit",
    "interpreter",
    "duration",
    "allow_env",
    "only_via",
    "trust",
    "package",
    "package_version",
  ],
} as const;

/** Built-in values for keys left out of `[defaults]` and `[ui]`. */
export const DEFAULT_DEFAULTS: Readonly<Defaults> = {
  mode: "learning",
  allowLoopback: true,
  inbound: "deny",
  outbound: "allow",
  untracked: "allow",
  interfaces: [],
  execGate: false,
  closeOnRevoke: true,
};

/** Built-in values for keys left out of `[history]` (or the whole table). */
export const DEFAULT_HISTORY: Readonly<HistoryConfig> = { maxAgeDays: 30, maxRows: 1_000_000 };

/** Largest accepted `[history] max_age_days` (about a century). */
export const MAX_HISTORY_DAYS = 36_500;
/** Largest accepted `[history] max_rows`. */
export const MAX_HISTORY_ROWS = 1_000_000_000;

/** The UI address used when `[ui] listen` is absent. */
export const DEFAULT_UI_LISTEN = "127.0.0.1:7447";

const RULE_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/;
const APP_NAME = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$/;
const IFNAME = /^[^\s/:]{1,15}$/;

const readMode = readEnum<Mode>(["learning", "enforcing"]);
const readVerdict = readEnum<Verdict>(["allow", "deny"]);
const readDirection = readEnum<Direction>(["in", "out"]);
const readProtocol = readEnum<Protocol>(["tcp", "udp", "icmp", "icmpv6", "any"]);
const readDuration = readEnum<Duration>(["once", "session", "forever"]);
const readTrust = readEnum<Trust>(["hash", "package"]);
const PACKAGE_NAME = /^[a-z0-9][a-z0-9+.-]{0,99}(:[a-z0-9-]{1,32})?$/;
const PACKAGE_VERSION = /^[A-Za-z0-9.+~:-]{1,128}$/;

function readPackageName(doc: ConfigDocument, path: PathSegment[], v: unknown) {
  const s = readString(doc, path, v);
  if (s === undefined) return undefined;
  if (PACKAGE_NAME.test(s)) return s;
  doc.error(path, `"${s}" is not a Debian package name; expected e.g. "curl" or "libc6:amd64"`);
  return undefined;
}

function readPackageVersion(doc: ConfigDocument, path: PathSegment[], v: unknown) {
  const s = readString(doc, path, v);
  if (s === undefined) return undefined;
  if (PACKAGE_VERSION.test(s)) return s;
  doc.error(path, `"${s}" is not a Debian package version; expected e.g. "7.88.1-10+deb12u5"`);
  return undefined;
}

/**
 * Validates rules.toml and the app files together. Pure: the same texts always give the same
 * result. Either every file is valid and the policy is returned, or every error is.
 *
 * @example
 * ```ts
 * const r = validateTexts({
 *   rulesFile: "rules.toml",
 *   rulesText: '[defaults]\nmode = "enforcing"\n',
 *   appsTexts: [{ file: "apps.toml", text: "" }],
 * });
 * if (r.ok) console.log(r.policy.defaults.mode); // "enforcing"
 * else console.error(formatErrors(r.errors));
 * ```
 */
export function validateTexts(input: ValidateInput): LoadResult {
  const errors: ConfigError[] = [];
  const apps: App[] = [];
  const firstByName = new Map<string, App>();
  const seenNames = new Map<string, SourceLoc>();
  const starters: StarterRef[] = [];
  for (const { file, text } of input.appsTexts) {
    const doc = ConfigDocument.parse(file, text, errors);
    if (doc) validateAppsDoc(doc, apps, firstByName, seenNames, starters);
  }
  // only_via names apps that may be declared in a later file: checked once all are known.
  if (!input.appsIncomplete) {
    for (const ref of starters) {
      if (!firstByName.has(ref.name)) {
        const known = closest(ref.name, [...firstByName.keys()]);
        ref.doc.error(
          ref.path,
          `only_via names no app "${ref.name}"${known ? ` (did you mean "${known}"?)` : ""}`,
        );
      }
    }
  }
  const rulesDoc = ConfigDocument.parse(input.rulesFile, input.rulesText, errors);
  // App references are only checked when every app file parsed, to avoid false "unknown app"s.
  const appsComplete = errors.length === 0 && !input.appsIncomplete;
  const parts = rulesDoc ? validateRulesDoc(rulesDoc, appsComplete ? firstByName : null) : null;
  if (errors.length > 0 || !parts) {
    return { ok: false, errors: sortErrors(errors, input) };
  }
  return {
    ok: true,
    policy: {
      ...parts,
      apps,
      files: [input.rulesFile, ...input.appsTexts.map((t) => t.file)],
    },
  };
}

/** Errors in file order (rules first, then app files), then by position. */
function sortErrors(errors: ConfigError[], input: ValidateInput): ConfigError[] {
  const order = [input.rulesFile, ...input.appsTexts.map((t) => t.file)];
  const rank = (f: string) => {
    const i = order.indexOf(f);
    return i === -1 ? order.length : i;
  };
  return errors
    .map((e, i) => ({ e, i }))
    .sort((a, b) =>
      rank(a.e.file) - rank(b.e.file) || a.e.line - b.e.line || a.e.col - b.e.col || a.i - b.i
    )
    .map((x) => x.e);
}

function optionalTable(doc: ConfigDocument, root: TomlTable, key: string): TomlTable | undefined {
  if (!Object.hasOwn(root, key)) return undefined;
  const v = root[key];
  if (isTable(v)) return v;
  doc.error([key], `expected a table [${key}], got ${describeValue(v)}`);
  return undefined;
}

type RulesParts = Omit<Policy, "apps" | "files">;

function validateRulesDoc(
  doc: ConfigDocument,
  apps: Map<string, App> | null,
): RulesParts | null {
  const root = doc.root;
  checkKeys(doc, [], root, CONFIG_KEYS.rulesTop);
  const defaults = readDefaults(doc, optionalTable(doc, root, "defaults"));
  const ui = readUi(doc, optionalTable(doc, root, "ui"));
  const rules: Rule[] = [];
  const firstById = new Map<string, SourceLoc>();
  const entries = field(doc, [], root, "rule", readTableArray) ?? [];
  for (const { table, index } of entries) {
    const id = table.id;
    if (typeof id === "string") {
      const first = firstById.get(id);
      if (first) {
        const at = `${first.file}:${first.line}:${first.col}`;
        doc.error(["rule", index, "id"], `duplicate rule id "${id}" (first used at ${at})`);
      } else firstById.set(id, doc.where(["rule", index, "id"]));
    }
    const rule = readRule(doc, ["rule", index], table, apps);
    if (rule) rules.push({ ...rule, index: rules.length });
  }
  const watch: IntegrityWatch[] = [];
  const integrity = optionalTable(doc, root, "integrity");
  if (integrity) {
    checkKeys(doc, ["integrity"], integrity, CONFIG_KEYS.integrity);
    const items = field(doc, ["integrity"], integrity, "watch", readTableArray) ?? [];
    for (const { table, index } of items) {
      const path: PathSegment[] = ["integrity", "watch", index];
      checkKeys(doc, path, table, CONFIG_KEYS.watch);
      const p = field(doc, path, table, "path", readAbsolutePath, true);
      const recursive = field(doc, path, table, "recursive", readBool) ?? false;
      if (p !== undefined) watch.push({ path: p, recursive, loc: doc.where(path) });
    }
  }
  const history = readHistory(doc, optionalTable(doc, root, "history"));
  const blocklists: Blocklist[] = [];
  const blockIds = new Map<string, SourceLoc>();
  for (const { table, index } of field(doc, [], root, "blocklist", readTableArray) ?? []) {
    const b = readBlocklist(doc, ["blocklist", index], table);
    if (!b) continue;
    const at = blockIds.get(b.id);
    if (at) {
      doc.error(
        ["blocklist", index, "id"],
        `duplicate blocklist id "${b.id}" (first used at ${at.file}:${at.line}:${at.col})`,
      );
    } else blockIds.set(b.id, b.loc);
    blocklists.push(b);
  }
  if (!defaults || !ui || !history) return null;
  return { defaults, ui, rules, blocklists, integrity: { watch }, history };
}

/** A reader for a whole number in 1..`max`. */
function readCount(max: number) {
  return (doc: ConfigDocument, path: PathSegment[], v: unknown): number | undefined => {
    if (typeof v !== "bigint") {
      doc.error(path, `expected a whole number from 1 to ${max}, got ${describeValue(v)}`);
      return undefined;
    }
    if (v < 1n || v > BigInt(max)) {
      doc.error(path, `${v} is out of range; expected 1..${max}`);
      return undefined;
    }
    return Number(v);
  };
}

function readHistory(doc: ConfigDocument, t: TomlTable | undefined): HistoryConfig | undefined {
  if (!t) return { ...DEFAULT_HISTORY };
  const p = ["history"];
  checkKeys(doc, p, t, CONFIG_KEYS.history);
  const before = doc.errors.length;
  const maxAgeDays = field(doc, p, t, "max_age_days", readCount(MAX_HISTORY_DAYS));
  const maxRows = field(doc, p, t, "max_rows", readCount(MAX_HISTORY_ROWS));
  if (doc.errors.length > before) return undefined;
  return {
    maxAgeDays: maxAgeDays ?? DEFAULT_HISTORY.maxAgeDays,
    maxRows: maxRows ?? DEFAULT_HISTORY.maxRows,
  };
}

function readDefaults(doc: ConfigDocument, t: TomlTable | undefined): Defaults | undefined {
  if (!t) return { ...DEFAULT_DEFAULTS, interfaces: [] };
  const p = ["defaults"];
  checkKeys(doc, p, t, CONFIG_KEYS.defaults);
  const d = DEFAULT_DEFAULTS;
  return {
    mode: field(doc, p, t, "mode", readMode) ?? d.mode,
    allowLoopback: field(doc, p, t, "allow_loopback", readBool) ?? d.allowLoopback,
    inbound: field(doc, p, t, "inbound", readVerdict) ?? d.inbound,
    outbound: field(doc, p, t, "outbound", readVerdict) ?? d.outbound,
    untracked: field(doc, p, t, "untracked", readVerdict) ?? d.untracked,
    interfaces: field(doc, p, t, "interfaces", readArray(readInterface, "interface names")) ?? [],
    execGate: field(doc, p, t, "exec_gate", readBool) ?? d.execGate,
    closeOnRevoke: field(doc, p, t, "close_on_revoke", readBool) ?? d.closeOnRevoke,
    ...withPackageTrust(field(doc, p, t, "package_trust", readBool)),
  };
}

/** `packageTrust` only when written: absent means "decide by the host" (see Defaults). */
function withPackageTrust(v: boolean | undefined): { packageTrust?: boolean } {
  return v === undefined ? {} : { packageTrust: v };
}

function readInterface(doc: ConfigDocument, path: PathSegment[], v: unknown) {
  const s = readString(doc, path, v);
  if (s === undefined) return undefined;
  if (!IFNAME.test(s) || s === "." || s === "..") {
    doc.error(path, `"${s}" is not an interface name; expected 1-15 characters, no / : or spaces`);
    return undefined;
  }
  return s;
}

function readUi(doc: ConfigDocument, t: TomlTable | undefined): UiConfig | undefined {
  if (!t) return parseListen(DEFAULT_UI_LISTEN) as UiConfig;
  checkKeys(doc, ["ui"], t, CONFIG_KEYS.ui);
  const listen = field(doc, ["ui"], t, "listen", readString);
  if (listen === undefined) return parseListen(DEFAULT_UI_LISTEN) as UiConfig;
  const ui = parseListen(listen);
  if (typeof ui === "string") {
    doc.error(["ui", "listen"], ui);
    return undefined;
  }
  return ui;
}

/** Parses `[ui] listen`; returns the config or an error message. */
function parseListen(s: string): UiConfig | string {
  if (s === "off") return { host: null, port: 0 };
  const expected =
    'expected "HOST:PORT" with HOST 127.0.0.1 (any 127.x.x.x), [::1] or localhost, or "off"';
  const m = /^(?:\[([^\]]*)\]|([^:[\]]*)):([0-9]+)$/.exec(s);
  if (!m) return `"${s}" is not a listen address; ${expected}`;
  const host = m[1] ?? m[2];
  const port = Number(m[3]);
  if (!/^(0|[1-9][0-9]*)$/.test(m[3]) || port < 1 || port > 65535) {
    return `port ${m[3]} is out of range; expected 1..65535`;
  }
  if (host === "localhost") return { host, port };
  let bytes: Uint8Array | undefined;
  try {
    bytes = parseAddress(host);
  } catch {
    return `"${host}" is not an address; ${expected}`;
  }
  if (m[1] !== undefined && bytes.length !== 16) {
    return `brackets are only for IPv6 addresses; write ${host}:${port}`;
  }
  if (m[1] === undefined && bytes.length === 16) return `write IPv6 hosts in brackets: [${host}]`;
  const loopback = bytes.length === 4
    ? bytes[0] === 127
    : bytes.every((b, i) => b === (i < 15 ? 0 : 1));
  if (!loopback) {
    return `host "${host}" is not loopback; the UI listens only on 127.0.0.1, [::1] or localhost`;
  }
  return { host: bytes.length === 16 ? "::1" : host, port };
}

const REFRESH_UNITS_MS: Record<string, number> = { m: 60_000, h: 3_600_000, d: 86_400_000 };

function readBlocklist(
  doc: ConfigDocument,
  path: PathSegment[],
  t: TomlTable,
): Blocklist | undefined {
  checkKeys(doc, path, t, CONFIG_KEYS.blocklist);
  const before = doc.errors.length;
  const id = field(doc, path, t, "id", readRuleId, true);
  const source = field(doc, path, t, "source", readString, true);
  const format = field(
    doc,
    path,
    t,
    "format",
    readEnum(["hosts", "domains", "cidr"] as const),
    true,
  );
  const refresh = field(doc, path, t, "refresh", readString) ?? "24h";
  const action = field(doc, path, t, "action", readEnum(["deny"] as const)) ?? "deny";
  field(doc, path, t, "comment", readString);
  if (source !== undefined && !source.startsWith("/") && !/^https?:\/\/[^\s/]+/.test(source)) {
    doc.error(
      [...path, "source"],
      `"${source}" is neither an absolute path nor an http:// or https:// URL`,
    );
  }
  const m = /^([0-9]{1,4})([mhd])$/.exec(refresh);
  let refreshMs = 0;
  if (!m || Number(m[1]) === 0) {
    doc.error(
      [...path, Object.hasOwn(t, "refresh") ? "refresh" : "id"],
      `refresh "${refresh}" is not a duration like 30m, 24h or 7d`,
    );
  } else refreshMs = Number(m[1]) * REFRESH_UNITS_MS[m[2]];
  if (doc.errors.length > before || !id || !source || !format) return undefined;
  return { id, source, format, refreshMs, action, loc: doc.where(path) };
}

function readRuleId(doc: ConfigDocument, path: PathSegment[], v: unknown) {
  const s = readString(doc, path, v);
  if (s === undefined) return undefined;
  if (!RULE_ID.test(s)) {
    doc.error(
      path,
      `"${s}" is not a valid rule id; expected 1-64 of A-Z a-z 0-9 . _ : - (starting alphanumeric)`,
    );
    return undefined;
  }
  return s;
}

function readCidr(doc: ConfigDocument, path: PathSegment[], v: unknown): Cidr | undefined {
  const s = readString(doc, path, v);
  if (s === undefined) return undefined;
  try {
    return parseCidr(s);
  } catch (e) {
    doc.error(path, (e as Error).message);
    return undefined;
  }
}

function readHost(
  doc: ConfigDocument,
  path: PathSegment[],
  v: unknown,
): HostPattern | undefined {
  const s = readString(doc, path, v);
  if (s === undefined) return undefined;
  try {
    return parseHostPattern(s);
  } catch (e) {
    doc.error(path, (e as Error).message);
    return undefined;
  }
}

function readPort(doc: ConfigDocument, path: PathSegment[], v: unknown): PortRange | undefined {
  if (typeof v !== "string" && typeof v !== "bigint") {
    doc.error(path, `expected a port (integer) or "A-B" range, got ${describeValue(v)}`);
    return undefined;
  }
  try {
    return parsePortSpec(v);
  } catch (e) {
    doc.error(path, (e as Error).message);
    return undefined;
  }
}

function readRule(
  doc: ConfigDocument,
  path: PathSegment[],
  t: TomlTable,
  apps: Map<string, App> | null,
): Rule | undefined {
  checkKeys(doc, path, t, CONFIG_KEYS.rule);
  const before = doc.errors.length;
  const id = field(doc, path, t, "id", readRuleId, true);
  const action = field(doc, path, t, "action", readVerdict, true);
  const direction = field(doc, path, t, "direction", readDirection, true);
  const protocol = field(doc, path, t, "protocol", readProtocol) ?? "any";
  const remote = field(doc, path, t, "remote", readArray(readCidr, "CIDR strings", false));
  const remoteHost = field(
    doc,
    path,
    t,
    "remote_host",
    readArray(readHost, "host names", false),
  );
  const ports = field(doc, path, t, "ports", readArray(readPort, "ports", false));
  const app = field(doc, path, t, "app", readString);
  const via = field(doc, path, t, "via", readString);
  if (remoteHost) {
    if (direction === "in") {
      doc.error(
        [...path, "remote_host"],
        'remote_host is only allowed with direction "out" (names are known for connections an app makes)',
      );
    } else if (remote) {
      doc.error(
        [...path, "remote_host"],
        "remote and remote_host cannot be combined in one rule; write one rule for each",
      );
    } else if (protocol === "icmp" || protocol === "icmpv6") {
      doc.error(
        [...path, "remote_host"],
        `remote_host needs protocol "tcp", "udp" or none (names are judged at connect), not "${protocol}"`,
      );
    }
  }
  const comment = field(doc, path, t, "comment", readString);
  if (ports && protocol !== "tcp" && protocol !== "udp") {
    doc.error(
      [...path, "ports"],
      `ports need protocol "tcp" or "udp", but protocol is "${protocol}"`,
    );
  }
  if (remote && (protocol === "icmp" || protocol === "icmpv6")) {
    const want = protocol === "icmp" ? 4 : 6;
    remote.forEach((c, i) => {
      if (c.family !== want) {
        const other = want === 4 ? "icmpv6" : "icmp";
        doc.error(
          [...path, "remote", i],
          `IPv${c.family} network with protocol "${protocol}"; use protocol "${other}"`,
        );
      }
    });
  }
  if (app !== undefined) {
    if (direction === "in") {
      doc.error(
        [...path, "app"],
        'app is only allowed with direction "out" (inbound traffic is not tied to an app)',
      );
    } else if (apps && !apps.has(app)) {
      const hint = closest(app, [...apps.keys()]);
      doc.error(
        [...path, "app"],
        `unknown app "${app}"; ${
          hint ? `did you mean "${hint}"?` : "define it with [[app]] in apps.toml or apps.d/"
        }`,
      );
    }
  }
  if (via !== undefined) {
    if (direction === "in") {
      doc.error(
        [...path, "via"],
        'via is only allowed with direction "out" (inbound traffic is not tied to a process)',
      );
    } else if (apps && !apps.has(via)) {
      const hint = closest(via, [...apps.keys()]);
      doc.error(
        [...path, "via"],
        `unknown app "${via}"; ${
          hint ? `did you mean "${hint}"?` : "define it with [[app]] in apps.toml or apps.d/"
        }`,
      );
    }
  }
  if (doc.errors.length > before) return undefined;
  if (id === undefined || action === undefined || direction === undefined) return undefined;
  const rule: Rule = { id, action, direction, protocol, index: 0, loc: doc.where(path) };
  if (remote) rule.remote = remote;
  if (remoteHost) rule.remoteHost = remoteHost;
  if (ports) rule.ports = ports;
  if (app !== undefined) rule.app = app;
  if (via !== undefined) rule.via = via;
  if (comment !== undefined) rule.comment = comment;
  return rule;
}

function readAppName(doc: ConfigDocument, path: PathSegment[], v: unknown) {
  const s = readString(doc, path, v);
  if (s === undefined) return undefined;
  if (!APP_NAME.test(s)) {
    doc.error(
      path,
      `"${s}" is not a valid app name; expected 1-64 of A-Z a-z 0-9 . _ + - (starting alphanumeric)`,
    );
    return undefined;
  }
  return s;
}

function readSha256(doc: ConfigDocument, path: PathSegment[], v: unknown) {
  const s = readString(doc, path, v);
  if (s === undefined) return undefined;
  if (/^[0-9A-Fa-f]{64}$/.test(s)) return s.toLowerCase();
  const bad = /[^0-9A-Fa-f]/.exec(s);
  doc.error(
    path,
    bad
      ? `not a SHA-256: ${JSON.stringify(bad[0])} is not a hex digit; expected 64 hex digits`
      : `not a SHA-256: ${s.length} hex digits; expected 64`,
  );
  return undefined;
}

/** A name in an app's `only_via`, checked against every app once all files are read. */
interface StarterRef {
  doc: ConfigDocument;
  path: PathSegment[];
  name: string;
}

/** How many starters `only_via` may name (HW_VIA_MAX in bpf/hashwall.h). */
export const MAX_ONLY_VIA = 8;

function validateAppsDoc(
  doc: ConfigDocument,
  apps: App[],
  firstByName: Map<string, App>,
  seenNames: Map<string, SourceLoc>,
  starters: StarterRef[],
): void {
  checkKeys(doc, [], doc.root, CONFIG_KEYS.appsTop);
  const entries = field(doc, [], doc.root, "app", readTableArray) ?? [];
  for (const { table, index } of entries) {
    const path: PathSegment[] = ["app", index];
    checkKeys(doc, path, table, CONFIG_KEYS.app);
    const before = doc.errors.length;
    const name = field(doc, path, table, "name", readAppName, true);
    const exe = field(doc, path, table, "path", readAbsolutePath, true);
    const sha256 = field(doc, path, table, "sha256", readSha256, true);
    const inherit = field(doc, path, table, "inherit", readBool) ?? false;
    const interpreter = field(doc, path, table, "interpreter", readBool) ?? false;
    const duration = field(doc, path, table, "duration", readDuration);
    const trust = field(doc, path, table, "trust", readTrust);
    const pkg = field(doc, path, table, "package", readPackageName);
    const pkgVersion = field(doc, path, table, "package_version", readPackageVersion);
    if (
      pkgVersion !== undefined && pkg === undefined && Object.hasOwn(table, "package") === false
    ) {
      doc.error([...path, "package_version"], `package_version needs package`);
    }
    const allowEnv = field(
      doc,
      path,
      table,
      "allow_env",
      readArray(readEnum(ENV_VAR_NAMES), "variable names"),
    );
    const onlyVia = field(doc, path, table, "only_via", readArray(readAppName, "app names", false));
    if (onlyVia && onlyVia.length > MAX_ONLY_VIA) {
      doc.error([...path, "only_via"], `only_via names at most ${MAX_ONLY_VIA} apps`);
    }
    if (name !== undefined) {
      const first = seenNames.get(name);
      if (first) {
        const at = `${first.file}:${first.line}:${first.col}`;
        doc.error([...path, "name"], `duplicate app name "${name}" (first defined at ${at})`);
      } else seenNames.set(name, doc.where([...path, "name"]));
    }
    if (doc.errors.length > before) continue;
    if (name === undefined || exe === undefined || sha256 === undefined) continue;
    const app: App = { name, path: exe, sha256, inherit, interpreter, loc: doc.where(path) };
    if (duration !== undefined) app.duration = duration;
    if (trust !== undefined) app.trust = trust;
    if (pkg !== undefined) app.package = pkg;
    if (pkgVersion !== undefined) app.packageVersion = pkgVersion;
    if (allowEnv?.length) app.allowEnv = [...new Set(allowEnv)];
    if (onlyVia?.length) {
      app.onlyVia = [...new Set(onlyVia)];
      onlyVia.forEach((n, i) => starters.push({ doc, path: [...path, "only_via", i], name: n }));
    }
    firstByName.set(name, app);
    apps.push(app);
  }
}
