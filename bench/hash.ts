/**
 * SHA-256 throughput: `hashFile` (several read sizes) against `openssl dgst -sha256` and
 * `sha256sum` on one 512 MB file in the page cache, median of 3, printed as ratios to openssl;
 * then rehash-all of 200 files (≥ 500 MB) with a 1-worker vs a 2-worker HashPool.
 *
 * Run: deno run -A bench/hash.ts   (creates and removes its files under /tmp)
 *
 * @module
 */
import { DEFAULT_CHUNK_SIZE, hashFile } from "../src/integrity/hash.ts";
import { printSummary } from "./lib/report.ts";
import { HashPool, isHashError } from "../src/integrity/hash_pool.ts";

const MB = 1_000_000;
const MiB = 1 << 20;

async function median3(fn: () => Promise<unknown>): Promise<number> {
  const t: number[] = [];
  for (let i = 0; i < 3; i++) {
    const s = performance.now();
    await fn();
    t.push(performance.now() - s);
  }
  return t.sort((a, b) => a - b)[1];
}

async function tool(cmd: string, args: string[]): Promise<string> {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  if (out.code !== 0) throw new Error(`${cmd} failed: ${new TextDecoder().decode(out.stderr)}`);
  return new TextDecoder().decode(out.stdout);
}

async function writeFile(path: string, bytes: number, seed: number): Promise<void> {
  const f = await Deno.open(path, { write: true, create: true, truncate: true });
  try {
    const block = new Uint8Array(MiB);
    crypto.getRandomValues(block.subarray(0, 65536));
    for (let off = 0, i = 0; off < bytes; off += MiB, i++) {
      block[65536 + (i % 1000)] = (seed + i) & 0xff; // no two MiB alike
      await f.write(block.subarray(0, Math.min(MiB, bytes - off)));
    }
  } finally {
    f.close();
  }
}

const dir = await Deno.makeTempDir({ prefix: "hw-bench-hash-" });
try {
  const big = `${dir}/big.bin`;
  const size = 512 * MiB;
  await writeFile(big, size, 1);
  await tool("sh", ["-c", `cat "${big}" > /dev/null`]);
  const mbps = (ms: number, bytes = size) => bytes / MB / (ms / 1000);

  const want = (await tool("sha256sum", [big])).split(" ")[0];
  const openssl = await median3(() => tool("openssl", ["dgst", "-sha256", big]));
  const sha256sum = await median3(() => tool("sha256sum", [big]));
  console.log(`512 MiB file in page cache, median of 3 (MB/s, ratio to openssl):`);
  console.log(`  openssl dgst -sha256   ${mbps(openssl).toFixed(0).padStart(6)}  1.00`);
  console.log(
    `  sha256sum              ${mbps(sha256sum).toFixed(0).padStart(6)}  ${
      (openssl / sha256sum).toFixed(2)
    }`,
  );
  /** hashFile vs openssl at the read size the daemon uses. */
  let ratioDefault = 0;
  for (const chunk of [1 * MiB, 2 * MiB, 4 * MiB, 8 * MiB]) {
    let got = "";
    const ms = await median3(async () => {
      got = (await hashFile(big, { chunkSize: chunk })).sha256;
    });
    if (got !== want) throw new Error(`hashFile disagrees with sha256sum at chunk ${chunk}`);
    if (chunk === DEFAULT_CHUNK_SIZE) ratioDefault = openssl / ms;
    console.log(
      `  hashFile ${String(chunk / MiB).padStart(2)} MiB reads   ${
        mbps(ms).toFixed(0).padStart(6)
      }  ${(openssl / ms).toFixed(2)}`,
    );
  }
  await Deno.remove(big);

  const files: string[] = [];
  const each = Math.ceil(500 * MB / 200);
  for (let i = 0; i < 200; i++) {
    files.push(`${dir}/f${i}`);
    await writeFile(files[i], each, i);
  }
  await tool("sh", ["-c", `cat "${dir}"/f* > /dev/null`]);
  const total = each * 200;
  const times: Record<number, number> = {};
  for (const workers of [1, 2]) {
    const pool = new HashPool({ workers });
    try {
      await pool.hashMany(files.slice(0, 4)); // start-up out of the timing
      times[workers] = await median3(async () => {
        const r = await pool.hashMany(files);
        if (r.some(isHashError)) throw new Error("hash error");
      });
    } finally {
      pool.close();
    }
  }
  console.log(`rehash-all, 200 files, ${(total / MB).toFixed(0)} MB, median of 3:`);
  console.log(`  1 worker   ${times[1].toFixed(0)} ms  ${mbps(times[1], total).toFixed(0)} MB/s`);
  console.log(`  2 workers  ${times[2].toFixed(0)} ms  ${mbps(times[2], total).toFixed(0)} MB/s`);
  console.log(`  speed-up 2 vs 1 workers: ${(times[1] / times[2]).toFixed(2)}x`);
  printSummary({
    name: "hash",
    ratio: Math.round(ratioDefault * 1000) / 1000,
    workersSpeedup: Math.round((times[1] / times[2]) * 100) / 100,
    opensslMBps: Math.round(mbps(openssl)),
    goal: ">= 0.95 of openssl at the daemon's read size",
    met: ratioDefault >= 0.95,
  });
} finally {
  await Deno.remove(dir, { recursive: true });
}
