/**
 * Helpers for tests of the one-file artifact `dist/hashwall` (made by `./build.sh build`, which
 * runs before the test suite).
 *
 * @module
 */

/** Absolute path of the built artifact. */
export const DIST_PATH: string = new URL("../../dist/hashwall", import.meta.url).pathname;

/** What one run of the artifact produced. */
export interface DistResult {
  /** Exit code of the process. */
  code: number;
  /** Everything written to stdout. */
  stdout: string;
  /** Everything written to stderr. */
  stderr: string;
}

/** Options for {@linkcode runDist}. */
export interface RunDistOptions {
  /** Working folder; defaults to `/` so nothing depends on the repository being the cwd. */
  cwd?: string;
  /** Extra environment variables. */
  env?: Record<string, string>;
  /** Run as this uid/gid (via `setpriv`), e.g. 65534 for nobody. */
  asUser?: { uid: number; gid: number };
  /** Bytes fed to stdin (stdin is closed after them); stdin is empty when absent. */
  stdin?: string;
  /** Binary to run instead of {@linkcode DIST_PATH} (e.g. a copy). */
  path?: string;
}

/**
 * Runs `dist/hashwall` with `args` and collects its output.
 *
 * @example
 * ```ts
 * const r = await runDist(["--version"]);
 * // r.code === 0, r.stdout === "hashwall 0.1.0\n"
 * ```
 */
export async function runDist(args: string[], opts: RunDistOptions = {}): Promise<DistResult> {
  const path = opts.path ?? DIST_PATH;
  const argv = opts.asUser
    ? [
      "setpriv",
      `--reuid=${opts.asUser.uid}`,
      `--regid=${opts.asUser.gid}`,
      "--clear-groups",
      path,
      ...args,
    ]
    : [path, ...args];
  const child = new Deno.Command(argv[0], {
    args: argv.slice(1),
    cwd: opts.cwd ?? "/",
    env: opts.env,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  if (opts.stdin !== undefined) await writer.write(new TextEncoder().encode(opts.stdin));
  await writer.close();
  const out = await child.output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** The build-time facts a self-extracting `dist/hashwall` records in its shell header. */
export interface LauncherHeader {
  /** SHA-256 of the compressed payload; names the unpacked folder. */
  payloadSha: string;
  /** SHA-256 of the unpacked Deno runtime. */
  denoSha: string;
  /** SHA-256 of the unpacked app entry (app.js). */
  appSha: string;
  /**
   * SHA-256 of every unpacked JavaScript file (app.js, its chunks and the workers at
   * src/integrity/), by path relative to the unpacked folder.
   */
  jsSha: Record<string, string>;
}

/**
 * Reads the header of a self-extracting artifact, or returns `null` when the artifact is a
 * `deno compile` binary (no shell header).
 */
export async function readLauncherHeader(path: string = DIST_PATH): Promise<LauncherHeader | null> {
  using file = await Deno.open(path);
  // The header lists every file of the code-split bundle with its sum: a few KiB.
  const buf = new Uint8Array(65536);
  const n = (await file.read(buf)) ?? 0;
  const text = new TextDecoder().decode(buf.subarray(0, n));
  if (!text.startsWith("#!/bin/sh\n")) return null;
  const field = (name: string): string => {
    const m = text.match(new RegExp(`^${name}=([0-9a-f]{64})$`, "m"));
    if (!m) throw new Error(`${path}: launcher header lacks ${name}`);
    return m[1];
  };
  const list = (name: string): string[] => {
    const m = text.match(new RegExp(`^${name}="([^"]*)"$`, "m"));
    if (!m) throw new Error(`${path}: launcher header lacks ${name}`);
    return m[1].split(" ");
  };
  const files = list("js_files");
  const sums = list("js_sha");
  if (files.length !== sums.length || !sums.every((h) => /^[0-9a-f]{64}$/.test(h))) {
    throw new Error(`${path}: js_files and js_sha do not match`);
  }
  const jsSha = Object.fromEntries(files.map((f, i) => [f, sums[i]]));
  if (!jsSha["app.js"]) throw new Error(`${path}: launcher header lists no app.js`);
  return {
    payloadSha: field("payload_sha"),
    denoSha: field("deno_sha"),
    appSha: jsSha["app.js"],
    jsSha,
  };
}
