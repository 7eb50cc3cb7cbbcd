/**
 * First write → FileWatcher `modify` callback latency over 1 000 trials (p50/p99), the path the
 * daemon uses to revoke an approved binary. Baseline measured in the same run: the bare wake-up of
 * an FFI `poll` on a pipe (the floor of this design), so the ratio shows what fanotify and the
 * decoding add. The lead extends this to the kernel-map deletion.
 *
 * Run: deno run -A bench/revoke_watch.ts [trials]
 *
 * @module
 */
import { printSummary } from "./lib/report.ts";
import { FileWatcher } from "../src/integrity/watch.ts";
import { libc, makePipe, POLLIN } from "../ffi/fanotify.ts";
import { closeFd } from "../ffi/libc.ts";

const TRIALS = Number(Deno.args[0] ?? 1000);

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p / 100 * s.length))];
}

async function pipeBaseline(): Promise<number[]> {
  const [r, w] = makePipe();
  const pfd = new Uint8Array(8);
  const v = new DataView(pfd.buffer);
  v.setInt32(0, r, true);
  v.setInt16(4, POLLIN, true);
  const lc = libc();
  const one = new Uint8Array(1);
  const sink = new Uint8Array(64);
  const out: number[] = [];
  try {
    for (let i = 0; i < TRIALS; i++) {
      const p = lc.poll_async(pfd, 1n, 1000);
      await new Promise((res) => setTimeout(res, 0)); // let the poll thread block first
      const t0 = performance.now();
      lc.write(w, one, 1n);
      await p;
      out.push(performance.now() - t0);
      lc.read(r, sink, 64n);
    }
  } finally {
    closeFd(r);
    closeFd(w);
  }
  return out;
}

async function watchLatency(): Promise<number[]> {
  const dir = await Deno.makeTempDir({ prefix: "hw-bench-watch-" });
  const file = `${dir}/approved-bin`;
  await Deno.copyFile("/bin/true", file);
  let onModify: (() => void) | undefined;
  let onClose: (() => void) | undefined;
  const w = new FileWatcher({
    ignorePids: [], // this process is the writer here
    onEvent: (e) => {
      if (e.kind === "modify") onModify?.();
      if (e.kind === "close_write") onClose?.();
    },
  });
  const out: number[] = [];
  try {
    w.addFile(file);
    w.start();
    const one = new Uint8Array([0]);
    for (let i = 0; i < TRIALS; i++) {
      const f = Deno.openSync(file, { write: true });
      await new Promise((res) => setTimeout(res, 0));
      let t1 = 0;
      const got = new Promise<void>((res) => {
        onModify = () => {
          t1 = performance.now();
          res();
        };
      });
      const t0 = performance.now();
      f.writeSync(one); // first write of this session
      await got;
      out.push(t1 - t0);
      const closed = new Promise<void>((res) => onClose = res);
      f.close();
      await closed; // re-arms the next "first modify"
    }
  } finally {
    await w.close();
    await Deno.remove(dir, { recursive: true });
  }
  return out;
}

const base = await pipeBaseline();
const watch = await watchLatency();
const fmt = (x: number) => `${(x * 1000).toFixed(0).padStart(6)} µs`;
console.log(`${TRIALS} trials, median / p99:`);
console.log(
  `  baseline: pipe write → FFI poll wake-up   ${fmt(pct(base, 50))} ${fmt(pct(base, 99))}`,
);
console.log(
  `  first write → watcher modify callback    ${fmt(pct(watch, 50))} ${fmt(pct(watch, 99))}`,
);
console.log(
  `  ratio to baseline: p50 ${(pct(watch, 50) / pct(base, 50)).toFixed(2)}x, p99 ${
    (pct(watch, 99) / pct(base, 99)).toFixed(2)
  }x; max ${fmt(Math.max(...watch))}; goal p99 ≤ 5 ms: ${pct(watch, 99) <= 5 ? "met" : "NOT met"}`,
);
printSummary({
  name: "revoke_watch",
  ratio: Math.round((pct(watch, 50) / pct(base, 50)) * 100) / 100,
  watchP50Ms: Math.round(pct(watch, 50) * 1000) / 1000,
  watchP99Ms: Math.round(pct(watch, 99) * 1000) / 1000,
  baselineP50Ms: Math.round(pct(base, 50) * 1000) / 1000,
  goal: "p99 <= 5 ms",
  met: pct(watch, 99) <= 5,
});
