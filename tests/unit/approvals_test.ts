/**
 * The approval state machine (src/daemon/approvals.ts, revocation.ts) driven through its ports
 * with fakes: a kernel whose approval map is a Map, a socket closer that records its targets, an
 * exec gate, a watch whose events the test fires, a store, a config and the files' content as the
 * identity readout hashes it. The real kernel, fanotify and dpkg are covered by the e2e tests
 * (tests/e2e/daemon_test.ts, sockets_test.ts, packages_test.ts, once_pid_test.ts, …).
 */
import assert from "node:assert/strict";
import { Approvals, onceKey } from "../../src/daemon/approvals.ts";
import type {
  ApprovalCache,
  ApprovalConfig,
  ApprovalGate,
  ApprovalIdentity,
  ApprovalKernel,
  ApprovalPackages,
  ApprovalPorts,
  ApprovalStore,
  ApprovalWatcher,
  LiveSockets,
} from "../../src/daemon/approval_ports.ts";
import { AppIds, AppRegistry, type AppState } from "../../src/identity/registry.ts";
import type { Identified, KeyedHash, KeyedResult } from "../../src/identity/kernel_key.ts";
import { keyString } from "../../src/identity/running.ts";
import { RuntimeState } from "../../src/daemon/runtime_state.ts";
import { validateTexts } from "../../src/config/validate.ts";
import type { App, Policy } from "../../src/config/model.ts";
import type { LearnedApp } from "../../src/config/learned.ts";
import type { Approval, ScriptEntry } from "../../src/kernel/app_control.ts";
import type { CloseOptions, CloseTarget } from "../../src/kernel/sockets.ts";
import type { WatchEvent } from "../../src/integrity/watch.ts";
import type { GateIdentity } from "../../src/integrity/exec_gate.ts";
import type { AppHashRecord } from "../../src/store/store.ts";
import { type ExeKey, HW, type SockClosed } from "../../ffi/structs.ts";
import type { ConnEvent, LiveMessage } from "../../src/api/types.ts";
import type { Level } from "../../src/daemon/log.ts";

const sha = (c: string) => c.repeat(64);
const GOOD = sha("a");
const BAD = sha("b");
const NEW = sha("c");

/** One file as the fake identity readout sees it: content hash and inode. */
interface FakeFile {
  sha256: string;
  ino: bigint;
}

class FakeKernel implements ApprovalKernel {
  approved = new Map<string, Approval>();
  trusted = new Map<number, { key: ExeKey; appId: number; flags: number }>();
  scripts: ScriptEntry[] = [];
  appExec = new Map<number, { kind: number; envAllow: number }>();
  onlyVia = new Map<number, number[]>();
  approve(a: Approval): void {
    this.approved.set(keyString(a.key), a);
  }
  revoke(key: ExeKey): boolean {
    return this.approved.delete(keyString(key));
  }
  approvedAppId(key: ExeKey): number | undefined {
    return this.approved.get(keyString(key))?.appId;
  }
  approvedKeys(): ExeKey[] {
    return [...this.approved.values()].map((a) => a.key);
  }
  trustProcess(tgid: number, a: { key: ExeKey; appId: number; flags: number }): boolean {
    if (this.trusted.has(tgid)) return false;
    this.trusted.set(tgid, a);
    return true;
  }
  untrustProcess(tgid: number): void {
    this.trusted.delete(tgid);
  }
  untrustProcessIf(tgid: number, key: ExeKey): boolean {
    const t = this.trusted.get(tgid);
    if (!t || keyString(t.key) !== keyString(key)) return false;
    return this.trusted.delete(tgid);
  }
  tainted() {
    return undefined;
  }
  setScripts(scripts: ScriptEntry[]): void {
    this.scripts = scripts;
  }
  setAppExec(m: Map<number, { kind: number; envAllow: number }>): void {
    this.appExec = m;
  }
  setOnlyVia(m: Map<number, number[]>): void {
    this.onlyVia = m;
  }
}

class FakeSockets implements LiveSockets {
  calls: { targets: CloseTarget[]; opts: CloseOptions }[] = [];
  close(targets: CloseTarget[], opts: CloseOptions): SockClosed[] {
    this.calls.push({ targets, opts });
    return [];
  }
}

class FakeGate implements ApprovalGate {
  started = 0;
  stopped = 0;
  approved: { path: string; identity: GateIdentity | null; sha256: string }[] = [];
  tainted: string[] = [];
  fail?: Error;
  start() {
    this.started++;
    return Promise.resolve();
  }
  stop() {
    this.stopped++;
    return Promise.resolve();
  }
  setApproved(path: string, identity: GateIdentity | null, sha256: string) {
    if (this.fail) return Promise.reject(this.fail);
    this.approved.push({ path, identity, sha256 });
    return Promise.resolve(true);
  }
  taint(path: string) {
    this.tainted.push(path);
    return Promise.resolve(true);
  }
}

class FakeWatcher implements ApprovalWatcher {
  files = new Set<string>();
  constructor(readonly onEvent: (e: WatchEvent) => void) {}
  addFile(path: string) {
    this.files.add(path);
    return {};
  }
  watchedFiles() {
    return [...this.files];
  }
  start() {}
  close() {
    return Promise.resolve();
  }
}

class FakeStore implements ApprovalStore {
  rows: AppHashRecord[] = [];
  fail?: Error;
  recordAppHash(r: AppHashRecord): number {
    if (this.fail) throw this.fail;
    this.rows.push(r);
    return this.rows.length;
  }
}

/** The files as the kernel identity readout sees them; a missing path hashes to ENOENT. */
class FakeIdentity implements ApprovalIdentity {
  files = new Map<string, FakeFile>();
  exes = new Map<number, ExeKey>();
  #identified(path: string): Identified {
    const f = this.files.get(path);
    if (!f) throw new Deno.errors.NotFound(`No such file: ${path}`);
    return {
      path,
      size: 1,
      dev: "8",
      ino: String(f.ino),
      mtimeNs: "1",
      ctimeNs: "1",
      mode: 0o100755,
      uid: 0,
      gid: 0,
      key: { dev: 8n, ino: f.ino },
    };
  }
  hash(path: string): Promise<KeyedHash> {
    try {
      const id = this.#identified(path);
      return Promise.resolve({
        ...id,
        sha256: this.files.get(path)!.sha256,
        changedDuringHash: false,
      });
    } catch (e) {
      return Promise.reject(e);
    }
  }
  async hashMany(_pool: never, paths: string[]): Promise<KeyedResult[]> {
    const out: KeyedResult[] = [];
    for (const p of paths) {
      try {
        out.push(await this.hash(p));
      } catch (e) {
        out.push({ path: p, error: String(e) });
      }
    }
    return out;
  }
  identify(path: string): Identified {
    return this.#identified(path);
  }
  identifyMany(paths: string[]): (Identified | Error)[] {
    return paths.map((p) => {
      try {
        return this.#identified(p);
      } catch (e) {
        return e as Error;
      }
    });
  }
  dirKey(): ExeKey {
    return { dev: 8n, ino: 1n };
  }
  runningProcesses() {
    return [];
  }
  exeOf(tgid: number): ExeKey | undefined {
    return this.exes.get(tgid);
  }
}

function policyOf(apps: { name: string; path: string; sha256: string }[], defaults = ""): Policy {
  const text = apps.map((a) =>
    `[[app]]\nname = "${a.name}"\npath = "${a.path}"\nsha256 = "${a.sha256}"\n`
  ).join("\n");
  const r = validateTexts({
    rulesFile: "/cfg/rules.toml",
    rulesText: `[defaults]\nmode = "enforcing"\n${defaults}\n`,
    appsTexts: [{ file: "/cfg/apps.toml", text }],
  });
  if (!r.ok) throw new Error(r.errors.join("\n"));
  return r.policy;
}

/** A config: hand-written apps plus apps.d/learned.toml kept in memory. */
class FakeConfig implements ApprovalConfig {
  learned: LearnedApp[] = [];
  current: Policy;
  constructor(
    readonly base: { name: string; path: string; sha256: string }[],
    public defaults = "",
  ) {
    this.current = policyOf(base, defaults);
  }
  policy() {
    return this.current;
  }
  reload() {
    const p = policyOf(this.base, this.defaults);
    const learned: App[] = this.learned.map((a) => ({
      ...a,
      inherit: false,
      interpreter: false,
      loc: { file: "/cfg/apps.d/learned.toml", line: 1, col: 1 },
    }));
    this.current = { ...p, apps: [...p.apps, ...learned] };
    return Promise.resolve();
  }
  appendLearned(app: LearnedApp) {
    this.learned = [...this.learned.filter((a) => a.name !== app.name), app];
    return Promise.resolve();
  }
  removeLearned(name: string) {
    this.learned = this.learned.filter((a) => a.name !== name);
    return Promise.resolve();
  }
}

/** Everything around one machine, with what it reported. */
async function setup(
  opts: { apps?: { name: string; path: string; sha256: string }[]; defaults?: string } = {},
) {
  const dir = await Deno.makeTempDir({ prefix: "hw-approvals-" });
  const kernel = new FakeKernel();
  const sockets = new FakeSockets();
  const identity = new FakeIdentity();
  const store = new FakeStore();
  const config = new FakeConfig(opts.apps ?? [], opts.defaults);
  const gate = new FakeGate();
  const logs: { level: Level; msg: string }[] = [];
  const warnings = new Map<string, string>();
  const published: LiveMessage[] = [];
  const approvedPaths: string[] = [];
  const history: ConnEvent[] = [];
  const packages = {
    reconsider: (_s: AppState) => Promise.resolve(),
    defaultTrust: () => false,
    owner: () => undefined,
  } as ApprovalPackages;
  const starts = new Map<number, string>();
  let watcher: FakeWatcher | undefined;
  let enforcing = true;
  let rehashAll = 0;
  const registry = new AppRegistry(new AppIds(dir), (p) => identity.hash(p));
  const runtime = new RuntimeState(dir);
  const ports: ApprovalPorts = {
    kernel,
    sockets,
    identity,
    store,
    cache: undefined as ApprovalCache | undefined,
    packages,
    config,
    report: {
      log: { log: (level, msg) => logs.push({ level, msg }) },
      warn: (key, msg) => warnings.set(key, msg),
      publish: (m) => published.push(m),
      count: () => {},
      logEvent: () => {},
      history: (ev) => history.push(ev),
      approved: (path) => approvedPaths.push(path),
    },
    proc: { start: (t) => starts.get(t), exe: () => undefined, isElf: () => true },
    pool: undefined,
    // The fake identity needs no kernel: the "early" hashes run when finished.
    earlyHash: (paths) => ({
      finish: () => identity.hashMany(undefined as never, paths),
      abandon: () => Promise.resolve(),
    }),
    newWatcher: (onEvent) => (watcher = new FakeWatcher(onEvent)),
    newGate: () => gate,
    rehashAll: () => {
      rehashAll++;
      return Promise.resolve();
    },
    enforcing: () => enforcing,
  };
  const machine = new Approvals(ports, registry, runtime);
  /** The daemon's start order: apps, watch, hashes begin, kernel load, guard, hash, gate, sync. */
  const start = async () => {
    machine.refreshApps();
    machine.startWatch();
    const hashing = machine.beginHashes();
    machine.kernelLoaded();
    machine.guardPinned();
    await machine.verifyAll(hashing);
    await machine.syncExecGate();
    machine.syncKernel();
    machine.endPinned();
  };
  /** The daemon's reload: config again, apps, pending hashes, kernel sync, watch, gate. */
  const reload = async () => {
    await config.reload();
    machine.refreshApps();
    await machine.verifyPending();
    machine.syncKernel();
    machine.watchAll();
    await machine.syncExecGate();
  };
  const fire = (e: Omit<WatchEvent, "at">) => watcher!.onEvent({ ...e, at: performance.now() });
  const inKernel = (name: string) => {
    const s = registry.get(name);
    return !!s?.key && kernel.approved.has(keyString(s.key));
  };
  return {
    dir,
    kernel,
    sockets,
    identity,
    store,
    config,
    gate,
    logs,
    warnings,
    published,
    approvedPaths,
    history,
    packages,
    starts,
    registry,
    runtime,
    machine,
    ports,
    start,
    reload,
    fire,
    inKernel,
    setEnforcing: (v: boolean) => (enforcing = v),
    rehashAllCalls: () => rehashAll,
    async [Symbol.asyncDispose]() {
      await machine.stop();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/** Lets queued re-hashes run. */
const settle = () => new Promise((r) => setTimeout(r, 0));

Deno.test("approvals: a configured app with the declared hash is approved at start", async () => {
  await using t = await setup({ apps: [{ name: "curl", path: "/bin/curl", sha256: GOOD }] });
  t.identity.files.set("/bin/curl", { sha256: GOOD, ino: 10n });
  await t.start();
  assert.equal(t.registry.get("curl")?.status, "valid");
  assert.ok(t.inKernel("curl"));
  assert.equal(t.kernel.approved.get("8:10")?.appId, t.registry.get("curl")?.id);
  assert.deepEqual(t.machine.watchedFiles(), ["/bin/curl"]);
  assert.ok(t.kernel.appExec.has(t.registry.get("curl")!.id), "exec hook told about the app");
});

Deno.test("approvals: a file that no longer hashes right is not approved at start", async () => {
  await using t = await setup({ apps: [{ name: "curl", path: "/bin/curl", sha256: GOOD }] });
  t.identity.files.set("/bin/curl", { sha256: BAD, ino: 10n });
  await t.start();
  assert.equal(t.registry.get("curl")?.status, "invalid");
  assert.equal(t.kernel.approved.size, 0);
});

Deno.test("approvals: allow forever writes learned.toml, approves, and records the hash", async () => {
  await using t = await setup();
  await t.start();
  t.identity.files.set("/opt/tool", { sha256: NEW, ino: 20n });
  const info = await t.machine.allow({ path: "/opt/tool", duration: "forever" });
  assert.equal(info.name, "tool");
  assert.equal(info.status, "valid");
  assert.deepEqual(t.config.learned.map((a) => [a.name, a.sha256]), [["tool", NEW]]);
  assert.ok(t.config.policy().apps.some((a) => a.name === "tool"), "config reloaded");
  assert.ok(t.inKernel("tool"));
  assert.deepEqual(t.store.rows.map((r) => [r.name, r.status, r.who]), [
    ["tool", "valid", "approval"],
  ]);
  assert.deepEqual(t.approvedPaths, ["/opt/tool"], "off the learning list");
  // A later reload keeps it (it is in the config now).
  await t.reload();
  assert.ok(t.inKernel("tool"));
});

Deno.test("approvals: allow refuses a hash other than the one shown, approving nothing", async () => {
  await using t = await setup();
  await t.start();
  t.identity.files.set("/opt/tool", { sha256: NEW, ino: 20n });
  await assert.rejects(
    t.machine.allow({ path: "/opt/tool", sha256: GOOD }),
    /now hashes to c+, not the a+ shown/,
  );
  await assert.rejects(t.machine.allow({ path: "opt/tool" }), /absolute PATH/);
  assert.equal(t.kernel.approved.size, 0);
  assert.equal(t.config.learned.length, 0);
});

Deno.test("approvals: a session approval survives a reload, not a revoke", async () => {
  await using t = await setup();
  await t.start();
  t.identity.files.set("/opt/tool", { sha256: NEW, ino: 20n });
  await t.machine.allow({ path: "/opt/tool", duration: "session" });
  assert.equal(t.config.learned.length, 0, "a session approval is not written");
  assert.ok(t.inKernel("tool"));
  await t.reload();
  assert.ok(t.inKernel("tool"), "still approved after a reload");
  assert.equal(t.machine.sessionApp("tool")?.sha256, NEW);
  const key = t.registry.get("tool")!.key!;
  const detail = await t.machine.revokeApp("tool");
  assert.deepEqual(detail, { name: "tool", path: "/opt/tool" });
  assert.equal(t.kernel.approved.size, 0);
  assert.equal(t.registry.get("tool"), undefined, "gone from the registry");
  assert.deepEqual(t.runtime.data.revoked, ["tool"]);
  assert.deepEqual(
    t.sockets.calls.map((c) => c.targets.map((x) => [keyString(x.key), x.reason])),
    [[[keyString(key), HW.CLOSE_REVOKED]]],
    "its sockets were closed as revoked",
  );
  assert.equal(await t.machine.revokeApp("tool"), undefined, "no such app any more");
});

Deno.test("approvals: allow once trusts that process only, and ends when it exits", async () => {
  await using t = await setup();
  await t.start();
  t.identity.files.set("/opt/tool", { sha256: NEW, ino: 20n });
  t.identity.exes.set(4242, { dev: 8n, ino: 20n });
  t.starts.set(4242, "1000");
  const info = await t.machine.allow({ path: "/opt/tool", duration: "once", tgid: 4242 });
  assert.equal(info.name, "tool");
  const key = keyString(onceKey(4242));
  assert.ok(t.kernel.approved.has(key), "the synthetic once identity is approved");
  assert.equal(keyString(t.kernel.trusted.get(4242)!.key), key, "the process trusts through it");
  assert.equal(t.kernel.approved.has("8:20"), false, "the file itself is not approved");
  assert.equal(t.registry.get("tool"), undefined, "no app registered");
  // A kernel sync keeps a live once approval.
  t.machine.syncKernel();
  assert.ok(t.kernel.approved.has(key));
  // Still the same process: stays.
  t.machine.endOnceApprovals();
  assert.ok(t.kernel.approved.has(key));
  // Its pid now names another process: the approval ends with its sockets.
  t.starts.set(4242, "2000");
  t.machine.endOnceApprovals();
  assert.equal(t.kernel.approved.has(key), false);
  assert.equal(t.sockets.calls.at(-1)?.targets[0].reason, HW.CLOSE_ENDED);
});

Deno.test("approvals: allow once refuses a pid that runs another file", async () => {
  await using t = await setup();
  await t.start();
  t.identity.files.set("/opt/tool", { sha256: NEW, ino: 20n });
  t.identity.exes.set(4242, { dev: 8n, ino: 99n });
  await assert.rejects(
    t.machine.allow({ path: "/opt/tool", duration: "once", tgid: 4242 }),
    /does not run \/opt\/tool/,
  );
  await assert.rejects(
    t.machine.allow({ path: "/opt/tool", duration: "once", tgid: 4343 }),
    /not running/,
  );
  assert.equal(t.kernel.approved.size, 0);
  assert.equal(t.kernel.trusted.size, 0);
});

Deno.test("approvals: a write revokes at once; the same content after close is re-approved", async () => {
  await using t = await setup({ apps: [{ name: "curl", path: "/bin/curl", sha256: GOOD }] });
  t.identity.files.set("/bin/curl", { sha256: GOOD, ino: 10n });
  await t.start();
  t.fire({ kind: "modify", path: "/bin/curl", pid: 77, exe: "/bin/dd" });
  // Synchronously, before any hash: out of the kernel, pending, sockets closed as changed.
  assert.equal(t.kernel.approved.size, 0);
  assert.equal(t.registry.get("curl")?.status, "pending");
  assert.equal(t.sockets.calls.at(-1)?.targets[0].reason, HW.CLOSE_CHANGED);
  assert.equal(t.sockets.calls.at(-1)?.opts.dryRun, false, "enforcing: destroyed");
  t.fire({ kind: "close_write", path: "/bin/curl", pid: 77, exe: "/bin/dd" });
  await t.machine.queueRecheck("curl"); // waits for the queued re-hash too
  assert.equal(t.registry.get("curl")?.status, "valid");
  assert.ok(t.inKernel("curl"), "re-approved");
  // One history row, naming the writer (the second re-hash saw nothing new).
  assert.deepEqual(t.store.rows.map((r) => [r.status, r.who]), [["valid", "pid 77 /bin/dd"]]);
});

Deno.test("approvals: other content after a write stays revoked (red)", async () => {
  await using t = await setup({ apps: [{ name: "curl", path: "/bin/curl", sha256: GOOD }] });
  t.identity.files.set("/bin/curl", { sha256: GOOD, ino: 10n });
  await t.start();
  t.fire({ kind: "modify", path: "/bin/curl" });
  t.identity.files.set("/bin/curl", { sha256: BAD, ino: 10n });
  t.fire({ kind: "close_write", path: "/bin/curl" });
  await t.machine.queueRecheck("curl");
  const s = t.registry.get("curl")!;
  assert.equal(s.status, "invalid");
  assert.equal(s.approvedInKernel, false);
  assert.equal(t.kernel.approved.size, 0);
  assert.equal(t.store.rows[0].status, "invalid");
  assert.equal(t.store.rows[0].oldSha256, GOOD);
  assert.equal(t.store.rows[0].newSha256, BAD);
  const last = t.published.at(-1);
  assert.ok(last?.type === "app" && last.app.status === "invalid", "the UI is told");
  // An admin's re-hash does not change that; a reload neither.
  await t.machine.recheck("curl", undefined, "admin", true);
  await t.reload();
  assert.equal(t.kernel.approved.size, 0);
});

Deno.test("approvals: a replaced file moves the approval to the new inode only if valid", async () => {
  await using t = await setup({ apps: [{ name: "curl", path: "/bin/curl", sha256: GOOD }] });
  t.identity.files.set("/bin/curl", { sha256: GOOD, ino: 10n });
  await t.start();
  t.identity.files.set("/bin/curl", { sha256: GOOD, ino: 11n });
  t.fire({ kind: "replaced", path: "/bin/curl" });
  assert.equal(t.kernel.approved.size, 0, "the old inode is out at once");
  await t.machine.queueRecheck("curl");
  assert.deepEqual([...t.kernel.approved.keys()], ["8:11"]);
});

Deno.test("approvals: the exec gate is fed, tainted on replace and re-fed after a good re-hash", async () => {
  await using t = await setup({
    apps: [{ name: "curl", path: "/bin/curl", sha256: GOOD }],
    defaults: "exec_gate = true",
  });
  t.identity.files.set("/bin/curl", { sha256: GOOD, ino: 10n });
  await t.start();
  assert.equal(t.gate.started, 1);
  assert.deepEqual(t.gate.approved.map((a) => [a.path, a.sha256, a.identity?.ino]), [
    ["/bin/curl", GOOD, "10"],
  ]);
  t.identity.files.set("/bin/curl", { sha256: GOOD, ino: 12n });
  t.fire({ kind: "replaced", path: "/bin/curl" });
  assert.deepEqual(t.gate.tainted, ["/bin/curl"]);
  await t.machine.queueRecheck("curl");
  assert.equal(t.gate.approved.at(-1)?.identity?.ino, "12", "the gate knows the new inode");
  // A gate that fails to take the approval: logged, the kernel approval stands.
  t.gate.fail = new Error("gate gone");
  t.fire({ kind: "close_write", path: "/bin/curl" });
  await t.machine.queueRecheck("curl");
  assert.ok(t.logs.some((l) => l.level === "error" && /could not approve \/bin\/curl/.test(l.msg)));
  assert.ok(t.inKernel("curl"));
  // The policy turns the gate off: stopped.
  t.config.defaults = "";
  await t.reload();
  assert.equal(t.gate.stopped, 1);
});

Deno.test("approvals: a package-approved update is approved again, and says so", async () => {
  await using t = await setup({ apps: [{ name: "curl", path: "/bin/curl", sha256: GOOD }] });
  t.identity.files.set("/bin/curl", { sha256: GOOD, ino: 10n });
  await t.start();
  // What PackageApprovals.reconsider does when the signed update ships the new content.
  const reconsidered: string[] = [];
  t.packages.reconsider = (s: AppState) => {
    reconsidered.push(s.app.name);
    if (s.actualSha256 === NEW) {
      s.app = {
        ...s.app,
        sha256: NEW,
        package: "curl",
        packageVersion: "8.1",
        packageLevel: "deb",
      };
      s.status = "valid";
    }
    return Promise.resolve();
  };
  t.identity.files.set("/bin/curl", { sha256: NEW, ino: 13n });
  t.fire({ kind: "replaced", path: "/bin/curl" });
  await t.machine.queueRecheck("curl");
  assert.deepEqual(reconsidered, ["curl"], "asked once; the second re-hash found it valid");
  assert.deepEqual([...t.kernel.approved.keys()], ["8:13"]);
  assert.match(t.store.rows[0].who ?? "", /^approved by package curl \? → 8\.1$/);
  // Content the package does not ship: asked, refused, stays revoked.
  t.identity.files.set("/bin/curl", { sha256: BAD, ino: 14n });
  t.fire({ kind: "replaced", path: "/bin/curl" });
  await t.machine.queueRecheck("curl");
  assert.ok(reconsidered.length > 1 && reconsidered.every((n) => n === "curl"));
  assert.equal(t.kernel.approved.size, 0);
  assert.equal(t.registry.get("curl")?.status, "invalid");
});

Deno.test("approvals: a store error during a re-hash is logged, and the kernel still decides", async () => {
  await using t = await setup({ apps: [{ name: "curl", path: "/bin/curl", sha256: GOOD }] });
  t.identity.files.set("/bin/curl", { sha256: GOOD, ino: 10n });
  await t.start();
  t.store.fail = new Error("database is locked");
  t.fire({ kind: "modify", path: "/bin/curl" });
  t.fire({ kind: "close_write", path: "/bin/curl" });
  await t.machine.queueRecheck("curl");
  assert.ok(
    t.logs.some((l) =>
      l.level === "error" && /re-hash of curl failed:.*database is locked/.test(l.msg)
    ),
    JSON.stringify(t.logs),
  );
  assert.ok(t.inKernel("curl"), "approved before the history write failed");
});

Deno.test("approvals: learning mode reports the sockets it would close", async () => {
  await using t = await setup({ apps: [{ name: "curl", path: "/bin/curl", sha256: GOOD }] });
  t.identity.files.set("/bin/curl", { sha256: GOOD, ino: 10n });
  await t.start();
  t.setEnforcing(false);
  t.fire({ kind: "deleted", path: "/bin/curl" });
  assert.equal(t.registry.get("curl")?.status, "missing");
  assert.equal(t.sockets.calls.at(-1)?.opts.dryRun, true);
});

Deno.test("approvals: a restart keeps a pinned approval only for the content last hashed", async () => {
  await using t = await setup({
    apps: [
      { name: "curl", path: "/bin/curl", sha256: GOOD },
      { name: "wget", path: "/bin/wget", sha256: GOOD },
    ],
  });
  t.identity.files.set("/bin/curl", { sha256: GOOD, ino: 10n });
  t.identity.files.set("/bin/wget", { sha256: GOOD, ino: 30n });
  // The previous run's approvals: curl and wget, plus one no app of this run holds.
  t.machine.refreshApps();
  const id = (n: string) => t.registry.idOf(n);
  const times = { mtimeNs: 0n, ctimeNs: 0n };
  t.kernel.approve({ key: { dev: 8n, ino: 10n }, appId: id("curl"), flags: 0, times });
  t.kernel.approve({ key: { dev: 8n, ino: 30n }, appId: id("wget"), flags: 0, times });
  t.kernel.approve({ key: { dev: 8n, ino: 99n }, appId: 999, flags: 0, times });
  // Only curl's content has a hash-cache row (wget changed while no daemon ran).
  const rows = new Map([["10", GOOD]]);
  const cache: ApprovalCache = {
    beginEpoch: () => 1,
    put: () => true,
    lookup: () => null,
    row: (k) => rows.has(k.ino) ? { sha256: rows.get(k.ino)! } as never : null,
    invalidate: () => {},
    invalidatePath: () => {},
  };
  (t.ports as { cache?: ApprovalCache }).cache = cache;
  t.machine.startWatch();
  t.machine.kernelLoaded();
  t.machine.guardPinned();
  assert.deepEqual([...t.kernel.approved.keys()].sort(), ["8:10"]);
  // A write before this run hashed: the pinned approval goes too.
  t.fire({ kind: "modify", path: "/bin/curl" });
  assert.equal(t.kernel.approved.size, 0);
});

Deno.test("approvals: a fanotify overflow re-hashes everything", async () => {
  await using t = await setup({ apps: [{ name: "curl", path: "/bin/curl", sha256: GOOD }] });
  t.identity.files.set("/bin/curl", { sha256: GOOD, ino: 10n });
  await t.start();
  t.fire({ kind: "overflow", path: "" });
  assert.equal(t.rehashAllCalls(), 1);
  assert.match(t.warnings.get("watch-overflow") ?? "", /overflowed/);
  await settle();
});

Deno.test("approvals: a write between the watch going live and the pinned check voids the pinned approval", async () => {
  // The start hashes while the kernel objects load; the watch is live before that, and a write
  // seen then (before guardPinned ran) must not leave the previous run's approval in force,
  // even though the file's stat key still matches its hash-cache row.
  await using t = await setup({ apps: [{ name: "curl", path: "/bin/curl", sha256: GOOD }] });
  t.identity.files.set("/bin/curl", { sha256: GOOD, ino: 10n });
  t.machine.refreshApps();
  const times = { mtimeNs: 0n, ctimeNs: 0n };
  t.kernel.approve({ key: { dev: 8n, ino: 10n }, appId: t.registry.idOf("curl"), flags: 0, times });
  const cache: ApprovalCache = {
    beginEpoch: () => 1,
    put: () => true,
    lookup: () => null,
    row: (k) => k.ino === "10" ? { sha256: GOOD } as never : null,
    invalidate: () => {},
    invalidatePath: () => {},
  };
  (t.ports as { cache?: ApprovalCache }).cache = cache;
  t.machine.startWatch();
  const hashing = t.machine.beginHashes();
  t.fire({ kind: "modify", path: "/bin/curl" });
  t.machine.kernelLoaded();
  t.machine.guardPinned();
  assert.equal(t.kernel.approved.size, 0, "the pinned approval of the written file is gone");
  await t.machine.verifyAll(hashing);
  assert.notEqual(t.registry.get("curl")?.status, "valid", "the hash that raced the write is void");
});
