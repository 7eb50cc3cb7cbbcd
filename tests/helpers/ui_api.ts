/**
 * TEMPORARY stand-in for the daemon behind the UI tests: a small but real {@link HashwallApi}
 * backed by real files in a temp folder — apps are real files hashed with SHA-256, rules.toml is a
 * real file written atomically, the integrity baseline hashes real files. Kernel events are
 * injected with `inject()` (what the ring buffer would report). The browser tests build their API
 * through `createTestApi()` only, so switching them to the real daemon (tests/helpers/daemon.ts)
 * is a one-function change.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { parse, TomlError } from "smol-toml";
import {
  type AllowRequest,
  type AppInfo,
  type Caller,
  type ConnEvent,
  type EventCounts,
  type EventQuery,
  type ExplainRequest,
  type ExplainResult,
  ForbiddenError,
  type HashwallApi,
  type IntegrityChange,
  type IntegrityInfo,
  type LearningEntry,
  type LiveMessage,
  type RuleInfo,
  type RulesProblem,
  type RulesView,
  type StatusInfo,
} from "../../src/daemon/api.ts";
import type { Mode } from "../../src/config/model.ts";
import { addLearningEvent, isLearningEvent } from "../../ui/learning_group.ts";

/** The file-backed API plus test hooks. */
export interface FileBackedApi extends HashwallApi {
  /** Temp folder holding bin/, watched/, rules.toml. */
  dir: string;
  rulesPath: string;
  /** Reports a connection attempt as the kernel would; returns the stored event. */
  inject(e: Partial<ConnEvent> & { exe: string }): ConnEvent;
  /** Writes a new executable file under bin/ and returns its path. */
  writeBinary(name: string, content: string): Promise<string>;
  /** Registers an app at its file's current hash (as apps.toml would). */
  register(name: string, path: string, opts?: { inherit?: boolean }): Promise<AppInfo>;
  /** Removes the temp folder. */
  close(): Promise<void>;
}

/** Lower-case hex SHA-256 of a file, or undefined when it does not exist. */
export async function sha256File(path: string): Promise<string | undefined> {
  try {
    return createHash("sha256").update(await Deno.readFile(path)).digest("hex");
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  }
}

const DEFAULT_RULES = `# hashwall rules (test instance)
[defaults]
mode = "learning"

[[rule]]
id = "dns"
action = "allow"
direction = "out"
protocol = "udp"
ports = [53]
comment = "name resolution"

[[rule]]
id = "https"
action = "allow"
direction = "out"
protocol = "tcp"
ports = [443]

[[rule]]
id = "block-telnet"
action = "deny"
direction = "out"
protocol = "tcp"
ports = [23]
`;

interface ParsedRule extends Omit<RuleInfo, "hits"> {
  portRanges?: [number, number][];
}

/** Validates rules.toml text: syntax via smol-toml, then the `[[rule]]` fields, each located. */
export function validateRules(text: string): { rules: ParsedRule[]; errors: RulesProblem[] } {
  let doc: Record<string, unknown>;
  try {
    doc = parse(text) as Record<string, unknown>;
  } catch (e) {
    if (e instanceof TomlError) {
      const msg = e.message.replace(/^Invalid TOML document: /, "").split("\n")[0];
      return { rules: [], errors: [{ line: e.line, col: e.column, message: msg }] };
    }
    throw e;
  }
  const lines = text.split("\n");
  const headers: number[] = [];
  lines.forEach((l, i) => {
    if (/^\s*\[\[\s*rule\s*\]\]/.test(l)) headers.push(i + 1);
  });
  const locate = (ri: number, key?: string): { line: number; col: number } => {
    const start = headers[ri] ?? 1;
    if (key) {
      const end = headers[ri + 1] ?? lines.length + 1;
      for (let n = start + 1; n < end; n++) {
        const m = new RegExp(`^(\\s*)${key}\\s*=`).exec(lines[n - 1]);
        if (m) return { line: n, col: m[1].length + 1 };
      }
    }
    return { line: start, col: 1 };
  };
  const errors: RulesProblem[] = [];
  const rules: ParsedRule[] = [];
  const raw = doc.rule ?? [];
  if (!Array.isArray(raw)) {
    return { rules, errors: [{ line: 1, col: 1, message: "rule must be [[rule]] tables" }] };
  }
  const seen = new Set<string>();
  raw.forEach((r: Record<string, unknown>, i) => {
    const bad = (key: string, message: string) => errors.push({ ...locate(i, key), message });
    const known = ["id", "action", "direction", "protocol", "remote", "ports", "app", "comment"];
    for (const k of Object.keys(r)) {
      if (!known.includes(k)) bad(k, `unknown key "${k}" in [[rule]]`);
    }
    if (typeof r.id !== "string" || !/^[A-Za-z0-9_.-]{1,64}$/.test(r.id)) {
      bad("id", "id must be 1-64 letters, digits, _ . -");
    } else if (seen.has(r.id)) bad("id", `duplicate rule id "${r.id}"`);
    else seen.add(r.id);
    if (r.action !== "allow" && r.action !== "deny") {
      bad("action", 'action must be "allow" or "deny"');
    }
    const direction = r.direction ?? "out";
    if (direction !== "in" && direction !== "out") {
      bad("direction", 'direction must be "in" or "out"');
    }
    const protocol = r.protocol ?? "any";
    if (!["tcp", "udp", "icmp", "icmpv6", "any"].includes(String(protocol))) {
      bad("protocol", "protocol must be tcp, udp, icmp, icmpv6 or any");
    }
    const portRanges: [number, number][] = [];
    if (r.ports !== undefined) {
      if (!Array.isArray(r.ports)) bad("ports", "ports must be an array");
      else {
        for (const p of r.ports) {
          const m = typeof p === "string" ? /^(\d+)-(\d+)$/.exec(p) : null;
          const [from, to] = typeof p === "number"
            ? [p, p]
            : m
            ? [Number(m[1]), Number(m[2])]
            : [NaN, NaN];
          if (!Number.isInteger(from) || from < 1 || to > 65535 || from > to) {
            bad("ports", `port ${JSON.stringify(p)} must be 1..65535 or "FROM-TO"`);
          } else portRanges.push([from, to]);
        }
      }
    }
    if (r.remote !== undefined) {
      const ok = Array.isArray(r.remote) &&
        r.remote.every((c) => typeof c === "string" && /^[0-9a-fA-F:.]+(\/\d{1,3})?$/.test(c));
      if (!ok) bad("remote", "remote must be an array of CIDR strings");
    }
    rules.push({
      id: String(r.id),
      action: r.action as "allow" | "deny",
      direction: direction as "in" | "out",
      protocol: String(protocol),
      remote: r.remote as string[] | undefined,
      ports: Array.isArray(r.ports) ? r.ports.map(String) : undefined,
      portRanges: r.ports === undefined ? undefined : portRanges,
      app: r.app as string | undefined,
      comment: r.comment as string | undefined,
      line: headers[i] ?? 1,
    });
  });
  return { rules, errors: errors.sort((a, b) => a.line - b.line) };
}

function ipv4InCidr(addr: string, cidr: string): boolean {
  const [net, bitsText] = cidr.split("/");
  const toNum = (s: string) => s.split(".").reduce((a, p) => a * 256 + Number(p), 0);
  if (!/^\d+\.\d+\.\d+\.\d+$/.test(addr) || !/^\d+\.\d+\.\d+\.\d+$/.test(net)) return addr === net;
  const bits = bitsText === undefined ? 32 : Number(bitsText);
  const span = 2 ** (32 - bits);
  return Math.floor(toNum(addr) / span) === Math.floor(toNum(net) / span);
}

/** Creates the file-backed API in a fresh temp folder. */
export async function createFileBackedApi(): Promise<FileBackedApi> {
  const dir = await Deno.makeTempDir({ prefix: "hashwall-ui-api-" });
  await Deno.mkdir(`${dir}/bin`);
  await Deno.mkdir(`${dir}/watched`);
  const rulesPath = `${dir}/rules.toml`;
  await Deno.writeTextFile(rulesPath, DEFAULT_RULES);
  const watched = [`${dir}/watched/passwd`, `${dir}/watched/sshd_config`];
  await Deno.writeTextFile(watched[0], "root:x:0:0:root:/root:/bin/bash\n");
  await Deno.writeTextFile(watched[1], "PermitRootLogin no\n");
  const baseline = new Map<string, string>();
  for (const p of watched) baseline.set(p, (await sha256File(p))!);
  const baselineAt = Date.now();
  const changeLog = new Map<string, IntegrityChange>();

  let mode: Mode = "learning";
  const startedAt = Date.now();
  const apps = new Map<string, AppInfo>();
  const events: ConnEvent[] = [];
  const denied = new Set<string>();
  const listeners = new Set<(m: LiveMessage) => void>();
  const ruleHits = new Map<string, number>();
  let nextId = 1;

  const publish = (m: LiveMessage) => {
    for (const l of listeners) l(m);
  };
  const requireAdmin = (c: Caller) => {
    if (c.role !== "admin") throw new ForbiddenError("viewer cannot change anything");
  };
  const verify = async (a: AppInfo): Promise<AppInfo> => {
    const actual = await sha256File(a.path);
    const status = actual === undefined ? "missing" : actual === a.sha256 ? "valid" : "invalid";
    const next: AppInfo = {
      ...a,
      actualSha256: actual,
      status,
      lastVerified: actual === undefined ? a.lastVerified : Date.now(),
      approvedInKernel: status === "valid",
    };
    apps.set(a.name, next);
    return next;
  };
  const learning = (): LearningEntry[] => {
    const approved = new Set(
      [...apps.values()].filter((a) => a.approvedInKernel).map((a) => a.path),
    );
    let list: LearningEntry[] = [];
    for (const e of [...events].reverse()) {
      if (isLearningEvent(e) && !approved.has(e.exe) && !denied.has(e.exe)) {
        list = addLearningEvent(list, e);
      }
    }
    return list.sort((a, b) => b.lastSeen - a.lastSeen);
  };

  const api: FileBackedApi = {
    dir,
    rulesPath,
    inject(partial) {
      const e: ConnEvent = {
        id: nextId++,
        time: Date.now(),
        kind: "connect",
        verdict: mode === "enforcing" ? "deny" : "allow",
        reason: "unknown_app",
        tgid: 4000 + nextId,
        uid: 0,
        comm: partial.exe.split("/").pop()!.slice(0, 15),
        dev: "0",
        ino: "0",
        family: 4,
        daddr: "127.0.0.1",
        dport: 443,
        proto: 6,
        lineage: [],
        ...partial,
      };
      if (partial.exe && !partial.reason) {
        const app = [...apps.values()].find((a) => a.path === partial.exe && a.approvedInKernel);
        if (app) Object.assign(e, { reason: "approved", verdict: "allow", app: app.name });
      }
      if (e.ruleId) ruleHits.set(e.ruleId, (ruleHits.get(e.ruleId) ?? 0) + 1);
      events.push(e);
      denied.delete(e.exe); // a new attempt brings a dismissed app back
      publish({ type: "event", event: e });
      return e;
    },
    async writeBinary(name, content) {
      const path = `${dir}/bin/${name}`;
      await Deno.writeTextFile(path, `#!/bin/sh\n# ${content}\n`, { mode: 0o755 });
      return path;
    },
    async register(name, path, opts = {}) {
      const sha = await sha256File(path);
      if (!sha) throw new Error(`${path} does not exist`);
      return await verify({
        name,
        path,
        sha256: sha,
        status: "pending",
        inherit: opts.inherit ?? false,
        interpreter: false,
        source: `${dir}/apps.toml`,
        approvedInKernel: false,
      });
    },
    async close() {
      listeners.clear();
      await Deno.remove(dir, { recursive: true });
    },

    status(_c): Promise<StatusInfo> {
      const list = [...apps.values()];
      const count = (s: string) => list.filter((a) => a.status === s).length;
      return Promise.resolve({
        version: "0.1.0-test",
        mode,
        instance: "test",
        stateDir: dir,
        configDir: dir,
        cgroup: "/sys/fs/cgroup/unified",
        pid: Deno.pid,
        startedAt,
        counters: {
          verdict_allow: events.filter((e) => e.verdict === "allow").length,
          verdict_deny: events.filter((e) => e.verdict === "deny").length,
          verdict_unknown: events.filter((e) => e.reason === "unknown_app").length,
          hash_queue: 0,
          watch_count: watched.length,
        },
        lostEvents: 0,
        attachPoints: ["cgroup/connect4", "cgroup/connect6"],
        apps: {
          total: list.length,
          valid: count("valid"),
          invalid: count("invalid"),
          missing: count("missing"),
          pending: count("pending"),
        },
        ui: null,
        warnings: [],
      });
    },
    appsList: () =>
      Promise.resolve([...apps.values()].sort((a, b) => a.name.localeCompare(b.name))),
    async appsAllow(c, req: AllowRequest) {
      requireAdmin(c);
      const actual = await sha256File(req.path);
      if (!actual) throw new Error(`${req.path}: no such file`);
      if (req.sha256 && req.sha256 !== actual) {
        throw new Error(`${req.path} hashes to ${actual}, not the approved ${req.sha256}`);
      }
      const existing = [...apps.values()].find((a) => a.path === req.path);
      const name = req.name ?? existing?.name ?? req.path.split("/").pop()!;
      const app = await verify({
        name,
        path: req.path,
        sha256: actual,
        status: "pending",
        inherit: req.inherit ?? existing?.inherit ?? false,
        interpreter: false,
        duration: req.duration,
        source: `${dir}/apps.toml`,
        approvedInKernel: false,
      });
      publish({ type: "app", app });
      return app;
    },
    appsRevoke(c, name) {
      requireAdmin(c);
      if (!apps.delete(name)) return Promise.reject(new Error(`no app named "${name}"`));
      return Promise.resolve();
    },
    async appsRehash(c, target) {
      requireAdmin(c);
      const list = [...apps.values()].filter((a) =>
        target === undefined || a.name === target || a.path === target
      );
      if (target !== undefined && list.length === 0) throw new Error(`no app "${target}"`);
      const out: AppInfo[] = [];
      for (const [i, a] of list.entries()) {
        const v = await verify(a);
        out.push(v);
        publish({ type: "app", app: v });
        publish({ type: "rehash-progress", done: i + 1, total: list.length, path: a.path });
      }
      return out;
    },
    setMode(c, m) {
      requireAdmin(c);
      mode = m;
      publish({ type: "mode", mode });
      return Promise.resolve();
    },
    reload(c) {
      requireAdmin(c);
      return Promise.resolve({ ok: true, errors: [] });
    },
    events(_c, q: EventQuery) {
      let rows = [...events].reverse();
      if (q.since !== undefined) rows = rows.filter((e) => e.time >= q.since!);
      if (q.app) rows = rows.filter((e) => e.app === q.app || e.comm === q.app);
      if (q.verdict) rows = rows.filter((e) => e.verdict === q.verdict);
      if (q.before !== undefined) rows = rows.filter((e) => (e.id ?? 0) < q.before!);
      return Promise.resolve(rows.slice(0, q.limit ?? 100));
    },
    subscribe(_c, l) {
      listeners.add(l);
      return () => listeners.delete(l);
    },
    async rulesGet(_c): Promise<RulesView> {
      const text = await Deno.readTextFile(rulesPath);
      const { rules } = validateRules(text);
      return {
        path: rulesPath,
        text,
        rules: rules.map(({ portRanges: _p, ...r }) => ({ ...r, hits: ruleHits.get(r.id) ?? 0 })),
      };
    },
    async rulesSave(c, text) {
      requireAdmin(c);
      const { errors } = validateRules(text);
      if (errors.length > 0) return { ok: false, errors };
      const tmp = `${rulesPath}.${crypto.randomUUID()}.tmp`;
      await Deno.writeTextFile(tmp, text);
      await Deno.rename(tmp, rulesPath);
      return { ok: true, errors: [] };
    },
    async rulesExplain(_c, req: ExplainRequest): Promise<ExplainResult> {
      const { rules } = validateRules(await Deno.readTextFile(rulesPath));
      for (const r of rules) {
        if (r.direction !== req.direction) continue;
        if (r.protocol !== "any" && r.protocol !== req.protocol) continue;
        if (r.portRanges && !r.portRanges.some(([f, t]) => req.port >= f && req.port <= t)) {
          continue;
        }
        if (r.remote && !r.remote.some((cidr) => ipv4InCidr(req.remote, cidr))) continue;
        return { verdict: r.action, ruleId: r.id, why: `rule "${r.id}" (line ${r.line}) matched` };
      }
      return { verdict: "allow", why: "no rule matched: the outbound default (allow) applies" };
    },
    async integrityStatus(_c): Promise<IntegrityInfo> {
      for (const [p, before] of baseline) {
        const now = await sha256File(p);
        if (now !== before && changeLog.get(p)?.newHash !== now) {
          changeLog.set(p, {
            time: Date.now(),
            path: p,
            change: now === undefined ? "deleted" : "modified",
            oldHash: before,
            newHash: now,
          });
        } else if (now === before) changeLog.delete(p);
      }
      const changes = [...changeLog.values()].sort((a, b) => b.time - a.time);
      return {
        watches: [{ path: `${dir}/watched`, recursive: true, files: baseline.size }],
        baseline: {
          status: changes.length ? "changed" : "clean",
          createdAt: baselineAt,
          files: baseline.size,
        },
        changes,
      };
    },
    learningList: () => Promise.resolve(learning()),
    learningDeny(c, exe) {
      requireAdmin(c);
      denied.add(exe);
      return Promise.resolve();
    },
    eventCounts(_c, since): Promise<EventCounts> {
      const rows = events.filter((e) => e.time >= since);
      return Promise.resolve({
        allow: rows.filter((e) => e.verdict === "allow").length,
        deny: rows.filter((e) => e.verdict === "deny").length,
        unknown: rows.filter((e) => e.reason === "unknown_app").length,
      });
    },
  };
  return api;
}
