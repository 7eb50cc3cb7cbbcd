/**
 * First write → kernel revocation latency, end to end through a real daemon: an approved binary
 * is opened for writing and modified (one appended byte), and this process polls the daemon's
 * pinned hw_approved map until the identity is gone. The clock starts before the open (the first
 * step of any write): the kernel revokes at the writable open itself (bpf/write_revoke.h), so
 * "revoked before open() returned" counts trials where the identity was gone when open() came
 * back. The time is taken at the first look that finds the identity gone (right after the open
 * when the kernel revoked in it, else polled every 20 µs after the write). 1 000 trials;
 * p50/p99/max, goal p99 ≤ 1 ms (issue 22). After each trial the bytes are restored and the daemon
 * re-approves the file (re-hash on close_write) before the next one.
 *
 * Baseline measured in the same run: the open() call alone (on a loaded machine its own tail is
 * the revocation's: the identity is gone when it returns). Also the backstop
 * (fanotify, the daemon): a write through an fd opened BEFORE the approval, which the open-time
 * revocation cannot see — `backstop` trials (default 200).
 *
 * Then, when trust ends its connections end (issue 20): (2) in enforcing mode, an approved binary
 * that holds an established TCP connection to this process is replaced by rename, 200 trials:
 * rename → this process (the peer) sees the reset the kernel's bpf_sock_destroy sent, p50/p99
 * (goal p99 ≤ 10 ms); (3) the closing iterators' own cost, ms per revocation run, with the host's
 * sockets alone and with 10 000 more established loopback sockets (5 000 connections, no
 * storage: every socket is visited, none closed) — a second copy of the object loaded here, not
 * attached anywhere.
 *
 * (4) Cold case: the first write after a (re)start — the daemon is restarted over its pins and
 * the write lands within 10 ms of it reporting ready (its "hashwall … <mode>" line), `cold` trials
 * (default 200). Goal p99 ≤ 1 ms, as warm (issue 22).
 *
 * A holder whose connection is reset before this process accepted it (seen under load: accept()
 * fails with ENOTCONN) or before the rename is not a measure: the trial is retried and counted.
 *
 * Run: deno run -A bench/revoke.ts [trials] [close-trials] [cold] [backstop]
 *
 * @module
 */
import { startTestDaemon } from "../tests/helpers/daemon.ts";
import { netclientCopy } from "../tests/helpers/netclient.ts";
import { sha256Of } from "../tests/helpers/daemon.ts";
import { mapLookup, objGet } from "../ffi/libbpf.ts";
import { close as closeFd } from "../ffi/libc.ts";
import { BpfObject } from "../ffi/libbpf.ts";
import { encodeExeKey, HW, LAYOUT } from "../ffi/structs.ts";
import { HASHWALL_OBJECT } from "../src/kernel/objects.ts";
import { SocketCloser } from "../src/kernel/sockets.ts";
import { sockholderCopy, spawnLines } from "../tests/helpers/sockholder.ts";
import { identityOf } from "../src/identity/running.ts";
import { instanceName, pinPaths } from "../src/kernel/pins.ts";
import { median, quantile, round } from "./lib/stats.ts";
import { markdownTable, printSummary } from "./lib/report.ts";

const TRIALS = Number(Deno.args[0] ?? 1000);
const CLOSE_TRIALS = Number(Deno.args[1] ?? 200);
const COLD = Number(Deno.args[2] ?? 200);
const BACKSTOP = Number(Deno.args[3] ?? 200);
const GOAL_WRITE_MS = 1; // issue 22: warm and in the first second after start
const GOAL_CLOSE_MS = 10; // issue 20
const ITER_SOCKETS = 10_000;
// Poll the map with 20 µs sleeps: a busy loop would take one of this machine's two CPUs away
// from the daemon whose latency is being measured.
const libc = Deno.dlopen("/lib/x86_64-linux-gnu/libc.so.6", {
  usleep: { parameters: ["u32"], result: "i32" },
});
const dir = await Deno.makeTempDir({ prefix: "hw-bench-revoke-" });
const bin = await netclientCopy(`${dir}/app`);
const original = await Deno.readFile(bin);
const holder = await sockholderCopy(dir, "holder");
const holderBytes = await Deno.readFile(holder);
const d = await startTestDaemon({
  mode: "learning",
  apps: [
    { name: "app", path: bin, sha256: await sha256Of(bin) },
    { name: "holder", path: holder, sha256: await sha256Of(holder) },
  ],
});
const mapFd = objGet(`${pinPaths(instanceName(d.stateDir)).maps}/hw_approved`);
try {
  const key = encodeExeKey(identityOf(await Deno.stat(bin)));
  const present = () => mapLookup(mapFd, key, LAYOUT.hw_app_val.size) !== null;
  const waitFor = async (want: boolean, ms = 5000) => {
    const end = performance.now() + ms;
    while (present() !== want) {
      if (performance.now() > end) {
        throw new Error(`identity never became ${want ? "approved" : "revoked"}`);
      }
      await new Promise((r) => setTimeout(r, 1));
    }
  };
  /** Opens `bin` for writing and appends a byte: ms to revoked, whether gone at open's return. */
  const firstWrite = (): {
    t0: number;
    revoked: number;
    call: number;
    atOpen: boolean;
    f: Deno.FsFile;
  } => {
    const t0 = performance.now();
    const f = Deno.openSync(bin, { write: true });
    const t1 = performance.now();
    // Looked at right after the open, before the write: the kernel revokes at the open itself.
    const atOpen = !present();
    const seen = performance.now();
    f.seekSync(0, Deno.SeekMode.End);
    f.writeSync(new Uint8Array([0]));
    if (atOpen) return { t0, revoked: seen - t0, call: t1 - t0, atOpen, f };
    // Poll every 20 µs (usleep, not a timer: a timer's granularity would dominate).
    while (present()) {
      if (performance.now() - t0 > 5000) throw new Error("no revocation within 5 s");
      libc.symbols.usleep(20);
    }
    return { t0, revoked: performance.now() - t0, call: t1 - t0, atOpen, f };
  };
  const revoke: number[] = [];
  const writes: number[] = [];
  let beforeReturn = 0;
  await waitFor(true);
  for (let i = 0; i < TRIALS; i++) {
    const r = firstWrite();
    writes.push(r.call);
    revoke.push(r.revoked);
    if (r.atOpen) beforeReturn++;
    r.f.truncateSync(original.length);
    r.f.close();
    await waitFor(true);
  }
  const ms = (x: number) => round(x, 3);

  // (1b) Backstop: a write through an fd opened before the approval. Fd A is opened (the kernel
  // revokes), fd B opened and closed (its close re-hashes: approved again, A still open), then
  // the write through A — seen only by fanotify's FAN_MODIFY, revoked by the daemon.
  const backstop: number[] = [];
  for (let i = 0; i < BACKSTOP; i++) {
    const a = Deno.openSync(bin, { write: true });
    a.seekSync(0, Deno.SeekMode.End);
    Deno.openSync(bin, { write: true }).close();
    await waitFor(true);
    const t0 = performance.now();
    a.writeSync(new Uint8Array([0]));
    while (present()) {
      if (performance.now() - t0 > 5000) throw new Error("backstop: no revocation within 5 s");
      libc.symbols.usleep(20);
    }
    backstop.push(performance.now() - t0);
    a.truncateSync(original.length);
    a.close();
    await waitFor(true);
  }

  // (2) Replacement → the app's established connection is reset.
  const mode = await d.cli(["mode", "enforcing"]);
  if (mode.code !== 0) throw new Error(`mode enforcing: ${mode.stderr}`);
  const { out: close, retried: closeRetried } = await closeTrials(
    d,
    holder,
    holderBytes,
    mapFd,
    CLOSE_TRIALS,
  );
  // (3) The iterators' own cost per revocation run.
  const iter = await iteratorCost(ITER_SOCKETS);
  // (4) Cold: restart, then write at once after ready.
  const cold: number[] = [];
  const sinceReady: number[] = [];
  let coldAtOpen = 0;
  let failedStarts = 0;
  for (let i = 0; i < COLD; i++) {
    try {
      await d.restart(120_000);
    } catch (e) {
      // A start that never reported ready (a loaded machine): not a revocation measure; retry.
      if (++failedStarts > 5) throw e;
      i--;
      continue;
    }
    const tReady = performance.now();
    const r = firstWrite();
    sinceReady.push(r.t0 - tReady);
    if (r.atOpen) coldAtOpen++;
    cold.push(r.revoked);
    r.f.truncateSync(original.length);
    r.f.close();
    await waitFor(true, 30_000);
    if ((i + 1) % 20 === 0) {
      console.error(
        `cold ${i + 1}/${COLD}: p50 ${ms(median(cold))} ms, max ${ms(Math.max(...cold))} ms`,
      );
    }
  }

  const p99 = (xs: number[]) => (xs.length ? quantile(xs, 0.99) : NaN);
  const row = (what: string, xs: number[]) =>
    [what, ms(median(xs)), ms(p99(xs)), ms(Math.max(...xs))].map(String);
  const warmMet = p99(revoke) <= GOAL_WRITE_MS;
  const coldMet = COLD ? p99(cold) <= GOAL_WRITE_MS && Math.max(...sinceReady) <= 10 : null;
  const closeMet = p99(close) <= GOAL_CLOSE_MS;
  const summary = {
    name: "revoke",
    trials: TRIALS,
    revoke_p50_ms: ms(median(revoke)),
    revoke_p99_ms: ms(p99(revoke)),
    revoke_max_ms: ms(Math.max(...revoke)),
    open_call_p50_ms: ms(median(writes)),
    open_call_p99_ms: ms(p99(writes)),
    revoked_before_open_returned: beforeReturn,
    goal_p99_ms: GOAL_WRITE_MS,
    met: warmMet,
    backstop_trials: BACKSTOP,
    backstop_p50_ms: BACKSTOP ? ms(median(backstop)) : null,
    backstop_p99_ms: BACKSTOP ? ms(p99(backstop)) : null,
    close_trials: CLOSE_TRIALS,
    close_retried: closeRetried,
    close_p50_ms: ms(median(close)),
    close_p99_ms: ms(p99(close)),
    close_max_ms: ms(Math.max(...close)),
    close_goal_p99_ms: GOAL_CLOSE_MS,
    close_met: closeMet,
    iter_host_ms: ms(iter.base),
    iter_10k_ms: ms(iter.loaded),
    iter_per_1k_sockets_ms: ms((iter.loaded - iter.base) / (ITER_SOCKETS / 1000)),
    cold_trials: COLD,
    cold_write_after_ready_max_ms: COLD ? ms(Math.max(...sinceReady)) : null,
    cold_revoke_p50_ms: COLD ? ms(median(cold)) : null,
    cold_revoke_p99_ms: COLD ? ms(p99(cold)) : null,
    cold_revoke_max_ms: COLD ? ms(Math.max(...cold)) : null,
    cold_revoked_before_open_returned: coldAtOpen,
    cold_failed_starts: failedStarts,
    cold_goal_p99_ms: GOAL_WRITE_MS,
    cold_met: coldMet,
  };
  console.log(markdownTable(
    ["measure", "p50 ms", "p99 ms", "max ms"],
    [
      row(`warm: open for writing + first write → identity gone from hw_approved`, revoke),
      row("the open() call alone (baseline: revoked inside it)", writes),
      ...(BACKSTOP
        ? [row(`backstop: write through an fd opened before the approval → gone`, backstop)]
        : []),
      row(`replacement by rename → the app's TCP connection reset (${CLOSE_TRIALS} trials)`, close),
      ...(COLD
        ? [
          row(`cold: first write ≤ 10 ms after ready → gone (${COLD} restarts)`, cold),
          row("cold: ready → write", sinceReady),
        ]
        : []),
    ],
  ));
  const met = (b: boolean | null) => (b ? "met" : "NOT met");
  console.log(
    `revoked before open() returned: warm ${beforeReturn}/${TRIALS}, cold ${coldAtOpen}/${COLD}`,
  );
  console.log(`warm first write → revoked: goal p99 <= ${GOAL_WRITE_MS} ms: ${met(warmMet)}`);
  if (COLD) {
    console.log(`cold first write → revoked: goal p99 <= ${GOAL_WRITE_MS} ms: ${met(coldMet)}`);
  }
  console.log(
    `rename → peer reset: goal p99 <= ${GOAL_CLOSE_MS} ms: ${met(closeMet)}` +
      (closeRetried ? ` (${closeRetried} trial(s) retried: reset before accept/rename)` : ""),
  );
  console.log(
    `closing iterators (iter/tcp + iter/udp), median of ${iter.runs} runs: host sockets alone ` +
      `${ms(iter.base)} ms, with ${ITER_SOCKETS} more established loopback sockets ` +
      `${ms(iter.loaded)} ms per revocation (no goal: reported)`,
  );
  printSummary(summary);
} finally {
  closeFd(mapFd);
  libc.close();
  await Deno.writeFile(bin, original).catch(() => {});
  await d.stop();
  await Deno.remove(dir, { recursive: true });
}

/**
 * Each trial: start the approved holder (a fresh process: the previous one's connection was
 * closed), accept its connection here, replace its binary by rename (same bytes, new inode, as
 * an updater would), time until the pending read on our end fails with the reset, then wait
 * until the daemon approved the new inode before the next trial.
 */
async function closeTrials(
  d: Awaited<ReturnType<typeof startTestDaemon>>,
  path: string,
  bytes: Uint8Array,
  approvedFd: number,
  trials: number,
): Promise<{ out: number[]; retried: number }> {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  const out: number[] = [];
  let retried = 0;
  const approved = async () => {
    const end = performance.now() + 10_000;
    for (;;) {
      const key = encodeExeKey(identityOf(await Deno.stat(path)));
      if (mapLookup(approvedFd, key, LAYOUT.hw_app_val.size) !== null) return;
      if (performance.now() > end) throw new Error("holder never re-approved");
      await new Promise((r) => setTimeout(r, 2));
    }
  };
  /** A trial that measured nothing (its connection reset before the rename): retried. */
  const retry = () => {
    if (++retried > trials) throw new Error(`close trials: ${retried} retries, giving up`);
  };
  try {
    for (let i = 0; i < trials; i++) {
      await approved();
      const p = spawnLines(d.cg, [path, "hold", "127.0.0.1", `${port}`, "0"]);
      let conn: Deno.Conn;
      try {
        conn = await l.accept();
      } catch {
        // The connection was reset while in the accept queue (ENOTCONN when Deno reads its
        // peer address): no trial; the holder goes and a fresh one is started.
        await p.kill();
        retry();
        i--;
        continue;
      }
      const buf = new Uint8Array(16);
      let t0 = 0;
      // The holder keeps its connection idle: our read ends only by the kernel's reset.
      const reset = conn.read(buf).then((n) => {
        throw new Error(`read returned ${n} instead of a reset`);
      }, () => performance.now());
      // Reset or closed before the rename: not a measure of it.
      const early = await Promise.race([
        reset.then(() => true, () => true),
        p.next(5000).then(() => false, () => true),
      ]);
      if (early) {
        try {
          conn.close();
        } catch { /* reset */ }
        await p.kill();
        retry();
        i--;
        continue;
      }
      await Deno.writeFile(`${path}.new`, bytes, { mode: 0o755 });
      t0 = performance.now();
      await Deno.rename(`${path}.new`, path);
      const t1 = await Promise.race([
        reset,
        new Promise<number>((_, rej) => setTimeout(() => rej(new Error("no reset in 5 s")), 5000)),
      ]);
      out.push(t1 - t0);
      try {
        conn.close();
      } catch { /* reset */ }
      await p.kill();
    }
  } finally {
    l.close();
  }
  return { out, retried };
}

/**
 * Median ms of one closing run (both iterators, one identity nobody's socket names), first with
 * the host's sockets alone, then with `n` more established loopback sockets.
 */
async function iteratorCost(n: number): Promise<{ base: number; loaded: number; runs: number }> {
  const obj = BpfObject.openMem(HASHWALL_OBJECT, "hwbench");
  obj.load();
  const closer = new SocketCloser({
    revoke: obj.map("hw_sock_revoke"),
    ctl: obj.map("hw_sock_ctl"),
    iterTcp: obj.program("hw_iter_tcp"),
    iterUdp: obj.program("hw_iter_udp"),
  });
  const runs = 30;
  const target = [{ key: { dev: 1n, ino: 1n }, appId: 1, reason: HW.CLOSE_REVOKED }];
  const timeRuns = () => {
    const xs: number[] = [];
    for (let i = 0; i < runs; i++) {
      const t0 = performance.now();
      closer.close(target, { dryRun: false });
      xs.push(performance.now() - t0);
    }
    return median(xs);
  };
  const conns: Deno.Conn[] = [];
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const base = timeRuns();
    const port = (l.addr as Deno.NetAddr).port;
    for (let i = 0; i < n / 2; i++) {
      const [c, s] = await Promise.all([Deno.connect({ hostname: "127.0.0.1", port }), l.accept()]);
      conns.push(c, s);
    }
    const loaded = timeRuns();
    return { base, loaded, runs };
  } finally {
    for (const c of conns) c.close();
    l.close();
    closer.dispose();
    obj.close();
  }
}
