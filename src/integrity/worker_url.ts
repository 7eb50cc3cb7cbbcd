/**
 * Where a worker module is, both when running from source and from the bundle.
 *
 * From source, `import.meta.url` of the module that starts the worker is a `.ts` file in
 * src/integrity/, and the worker is the `.ts` file beside it. In dist/hashwall the app is one
 * code-split bundle (build.sh): every shared module is a chunk at the bundle's root, where
 * `import.meta.url` then points, and each worker is an extra entry point that the bundler keeps at
 * its source folder, `src/integrity/<name>.js` under that root.
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
  if (new URL(base).pathname.endsWith(".ts")) return new URL(`./${name}.ts`, base);
  return new URL(`./src/integrity/${name}.js`, base);
}
