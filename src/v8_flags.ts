/**
 * The V8 flags hashwall runs with, in one place: dist/hashwall's launcher and `deno compile`
 * (build.sh reads {@link V8_FLAGS} from here), the test daemons (tests/helpers/daemon.ts) and the
 * benchmarks all use them, so what is measured and tested is what ships.
 *
 * Why: under an event flood V8's defaults let the heap run far ahead of the live data. Measured
 * with `deno run -A bench/ingest.ts` (which re-runs itself with these flags), the ring-buffer →
 * SQLite consumer's live heap stayed near 7 MB, yet its peak RSS was 196 MB with the defaults
 * (16 MB semi-spaces, the old generation growing to about 50 MB of garbage before a full GC, and
 * 25-30 MB of freed pages kept pooled). With these flags it was about 112 MB, at the same rate:
 * 1 MB semi-spaces and an old generation allowed to grow 10 % beyond the live data between
 * collections. The cost is more, shorter collections.
 *
 * @module
 */

/** V8 flags for every hashwall process. */
export const V8_FLAGS: readonly string[] = [
  "--max-semi-space-size=1",
  "--heap-growing-percent=10",
];

/** The `--v8-flags=...` argument for `deno run` / `deno compile`. */
export function v8FlagsArg(): string {
  return `--v8-flags=${V8_FLAGS.join(",")}`;
}
