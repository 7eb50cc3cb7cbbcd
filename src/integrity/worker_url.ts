/**
 * Where a worker module is, both when running from source and from the bundle.
 *
 * From source, `import.meta.url` of the module that starts the worker is a `.ts` file in
 * src/integrity/, and the worker is the `.ts` file beside it. In dist/hashwall every module is
 * bundled into one `app.js`, so `import.meta.url` is that file; build.sh bundles each worker into
 * its own `<name>.js` beside it (a worker needs its own module graph, which `deno bundle` of
 * main.ts does not emit).
 *
 * @module
 */

/**
 * The URL of worker `name` (without extension) next to `base` (the caller's `import.meta.url`).
 *
 * @example
 * ```ts
 * new Worker(siblingWorkerUrl("hash_worker", import.meta.url), { type: "module" });
 * ```
 */
export function siblingWorkerUrl(name: string, base: string): URL {
  const ext = new URL(base).pathname.endsWith(".ts") ? "ts" : "js";
  return new URL(`./${name}.${ext}`, base);
}
