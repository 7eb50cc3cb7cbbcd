/**
 * First write → kernel revocation latency, end to end through a real daemon: an approved binary
 * is modified (one appended byte) and this process polls the daemon's pinned hw_approved map until
 * the identity is gone. 1 000 trials; p50/p99/max. After each trial the bytes are restored and the
 * daemon re-approves the file (re-hash on close_write) before the next trial starts.
 *
 * Baseline measured in the same run: the write() call itself (its own duration), so the ratio
 * says how many write-durations the revocation trails the write; "revoked before write()
 * returned" counts trials where the identity was already gone when write() came back.
 *
 * Run: deno run -A bench/revoke.ts [trials]
 *
 * @module
 */
import { startTestDaemon } from "../tests/helpers/daemon.ts";
import { netclientCopy } from "../tests/helpers/netclient.ts";
import { sha256Of } from "../tests/helpers/daemon.ts";
import { mapLookup, objGet } from "../ffi/libbpf.ts";
import { close as closeFd } from "../ffi/libc.ts";
import { encodeExeKey, LAYOUT } from "../ffi/structs.ts";
import { identityOf } from "../src/identity/running.ts";
import { instanceName, pinPaths } from "../src/kernel/pins.ts";
import { median, quantile, round } from "./lib/stats.ts";
import { markdownTable, printSummary } from "./lib/report.ts";

const TRIALS = Number(Deno.args[0] ?? 1000);
// Poll the map with 20 µs sleeps: a busy loop would take one of this machine's two CPUs away
// from the daemon whose latency is being measured.
const libc = Deno.dlopen("/lib/x86_64-linux-gnu/libc.so.6", {
  usleep: { parameters: ["u32"], result: "i32" },
});
const dir = await Deno.makeTempDir({ prefix: "hw-bench-revoke-" });
const bin = await netclientCopy(`${dir}/app`);
const original = await Deno.readFile(bin);
const d = await startTestDaemon({
  mode: "learning",
  apps: [{ name: "app", path: bin, sha256: await sha256Of(bin) }],
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
  const revoke: number[] = [];
  const writes: number[] = [];
  let beforeReturn = 0;
  await waitFor(true);
  for (let i = 0; i < TRIALS; i++) {
    const f = Deno.openSync(bin, { write: true });
    f.seekSync(0, Deno.SeekMode.End);
    const t0 = performance.now();
    f.writeSync(new Uint8Array([0]));
    const t1 = performance.now();
    if (!present()) beforeReturn++;
    // Poll every 20 µs (usleep, not a timer: a timer's granularity would dominate).
    while (present()) {
      if (performance.now() - t0 > 5000) throw new Error("no revocation within 5 s");
      libc.symbols.usleep(20);
    }
    const t2 = performance.now();
    writes.push(t1 - t0);
    revoke.push(t2 - t0);
    f.truncateSync(original.length);
    f.close();
    await waitFor(true);
  }
  const ms = (x: number) => round(x, 3);
  const summary = {
    name: "revoke",
    trials: TRIALS,
    revoke_p50_ms: ms(median(revoke)),
    revoke_p99_ms: ms(quantile(revoke, 0.99)),
    revoke_max_ms: ms(Math.max(...revoke)),
    write_p50_ms: ms(median(writes)),
    ratio_p50_revoke_to_write: round(median(revoke) / median(writes), 1),
    revoked_before_write_returned: beforeReturn,
    goal_p99_ms: 5,
    met: quantile(revoke, 0.99) <= 5,
  };
  console.log(markdownTable(
    ["measure", "p50 ms", "p99 ms", "max ms"],
    [
      [
        "first write → identity gone from hw_approved",
        ms(median(revoke)),
        ms(quantile(revoke, 0.99)),
        ms(Math.max(...revoke)),
      ].map(String),
      [
        "write() call (baseline)",
        ms(median(writes)),
        ms(quantile(writes, 0.99)),
        ms(Math.max(...writes)),
      ].map(String),
    ],
  ));
  console.log(`revoked before write() returned: ${beforeReturn}/${TRIALS}`);
  printSummary(summary);
} finally {
  closeFd(mapFd);
  libc.close();
  await Deno.writeFile(bin, original).catch(() => {});
  await d.stop();
  await Deno.remove(dir, { recursive: true });
}
