/**
 * SHA-256 of files inside a `.deb`, bound to the archive's own SHA-256: the archive is read into
 * memory once, hashed, and only those same bytes are handed to `dpkg-deb --fsys-tarfile` (one
 * process per archive, not per file), whose tar stream is parsed here. So a `.deb` swapped in
 * apt's cache between the check and the extraction cannot be used.
 *
 * @module
 */
import { createHash } from "node:crypto";

/** Thrown when the archive is not the one the index names. */
export class DebMismatchError extends Error {
  override name = "DebMismatchError";
}

/** Normalises a tar member name (`./usr/bin/x`, `usr/bin/x`) to an absolute path. */
export function memberPath(name: string): string {
  let n = name;
  while (n.startsWith("./")) n = n.slice(2);
  if (n.startsWith("/")) n = n.slice(1);
  if (n.endsWith("/")) n = n.slice(0, -1);
  return "/" + n;
}

function cstr(b: Uint8Array, off: number, len: number): string {
  let end = off;
  while (end < off + len && b[end] !== 0) end++;
  return new TextDecoder().decode(b.subarray(off, end));
}

function octal(b: Uint8Array, off: number, len: number): number {
  if (b[off] & 0x80) {
    // GNU base-256 for large sizes.
    let v = 0;
    for (let i = off + 1; i < off + len; i++) v = v * 256 + b[i];
    return v;
  }
  const s = cstr(b, off, len).trim();
  return s ? parseInt(s, 8) : 0;
}

/**
 * Walks an in-memory tar (ustar, GNU long names, pax `path`) and hashes the regular files whose
 * absolute path is in `wanted`. Returns path → SHA-256 hex.
 *
 * @example
 * ```ts
 * const sums = hashTarMembers(tarBytes, new Set(["/usr/bin/tool"]));
 * ```
 */
export function hashTarMembers(tar: Uint8Array, wanted: ReadonlySet<string>): Map<string, string> {
  const out = new Map<string, string>();
  let off = 0;
  let longName: string | undefined;
  while (off + 512 <= tar.length) {
    const h = tar.subarray(off, off + 512);
    if (h.every((x) => x === 0)) break;
    const size = octal(h, 124, 12);
    const type = String.fromCharCode(h[156] || 0x30);
    const prefix = cstr(h, 345, 155);
    let name = cstr(h, 0, 100);
    if (prefix && h[257] === 0x75 /* "u"star */) name = `${prefix}/${name}`;
    const dataStart = off + 512;
    const data = tar.subarray(dataStart, dataStart + size);
    off = dataStart + Math.ceil(size / 512) * 512;
    if (type === "L") {
      longName = cstr(data, 0, data.length);
      continue;
    }
    if (type === "x") {
      const m = /(?:^|\n)\d+ path=([^\n]*)\n/.exec(new TextDecoder().decode(data));
      if (m) longName = m[1];
      continue;
    }
    if (longName !== undefined) {
      name = longName;
      longName = undefined;
    }
    if (type !== "0" && type !== "\0") continue;
    const p = memberPath(name);
    if (wanted.has(p)) out.set(p, createHash("sha256").update(data).digest("hex"));
  }
  return out;
}

/**
 * Reads the `.deb` at `debPath`, checks its SHA-256 is `expectedSha256`, and returns the SHA-256
 * of each of `paths` found inside (absolute paths; absent ones are left out).
 * Throws {@link DebMismatchError} when the archive's hash differs.
 */
export async function debFileHashes(
  debPath: string,
  expectedSha256: string,
  paths: readonly string[],
): Promise<Map<string, string>> {
  const bytes = await Deno.readFile(debPath);
  const sha = createHash("sha256").update(bytes).digest("hex");
  if (sha !== expectedSha256.toLowerCase()) {
    throw new DebMismatchError(`${debPath} hashes to ${sha}, the index says ${expectedSha256}`);
  }
  const child = new Deno.Command("dpkg-deb", {
    args: ["--fsys-tarfile", "/dev/stdin"],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  const write = writer.write(bytes).then(() => writer.close()).catch(() => {});
  const [out] = await Promise.all([child.output(), write]);
  if (out.code !== 0) {
    throw new Error(
      `dpkg-deb --fsys-tarfile ${debPath}: ${new TextDecoder().decode(out.stderr).trim()}`,
    );
  }
  return hashTarMembers(out.stdout, new Set(paths));
}

/** The file name apt gives a cached archive: `name_version_arch.deb`, `:` as `%3a`. */
export function cachedDebName(name: string, version: string, arch: string): string {
  return `${name}_${version.replaceAll(":", "%3a")}_${arch}.deb`;
}
