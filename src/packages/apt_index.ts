/**
 * The repository indexes apt verified: `/var/lib/apt/lists/*_InRelease` and the `Packages` files
 * they list. apt keeps an `InRelease` in its lists folder only after its signature checked out
 * (failed downloads stay in `partial/`), so hashwall does not check the OpenPGP signature again: it
 * re-checks the checksum chain below it — the `Packages` file's SHA-256 must be the one the
 * `InRelease` names — and answers which `.deb` (name, version, architecture → SHA-256) such a
 * verified index lists. A `Packages` file with no matching `InRelease` entry (edited, or from an
 * unsigned `Release`) counts for nothing.
 *
 * Compressed indexes (`Acquire::GzipIndexes`, lz4/xz/gz/zst) are read through
 * `/usr/lib/apt/apt-helper cat-file`, once per index file, not per package.
 *
 * @module
 */
import { createHash } from "node:crypto";

/** A `.deb` as a verified index lists it. */
export interface IndexedDeb {
  name: string;
  version: string;
  arch: string;
  /** SHA-256 of the `.deb` (the index's `SHA256:` field). */
  sha256: string;
  /** `Filename:` relative to the repository root. */
  filename: string;
  /** The lists file it came from. */
  index: string;
}

/** The `SHA256:` entries (`path → sha256`) of a Release/InRelease text. */
export function releaseSha256(text: string): Map<string, string> {
  const out = new Map<string, string>();
  let inSha = false;
  for (const line of text.split("\n")) {
    if (line.startsWith("-----BEGIN PGP SIGNATURE")) break;
    if (!line.startsWith(" ")) {
      inSha = line.startsWith("SHA256:");
      continue;
    }
    if (!inSha) continue;
    const m = /^\s+([0-9a-f]{64})\s+\d+\s+(\S+)\s*$/.exec(line);
    if (m) out.set(m[2], m[1]);
  }
  return out;
}

/**
 * Finds the stanzas of package `name` in a Packages text (by searching for its `Package:` line,
 * not parsing the whole file: Debian's main index is ~50 MB).
 */
export function findStanzas(text: string, name: string, index = ""): IndexedDeb[] {
  const out: IndexedDeb[] = [];
  const needle = `Package: ${name}\n`;
  let at = text.startsWith(needle) ? 0 : text.indexOf(`\n${needle}`);
  while (at !== -1) {
    const start = at === 0 && text.startsWith(needle) ? 0 : at + 1;
    let end = text.indexOf("\n\n", start);
    if (end === -1) end = text.length;
    const f: Record<string, string> = {};
    for (const line of text.slice(start, end).split("\n")) {
      const i = line.indexOf(":");
      if (i > 0 && !line.startsWith(" ")) f[line.slice(0, i)] = line.slice(i + 1).trim();
    }
    if (f.Package === name && f.Version && f.SHA256 && f.Filename) {
      out.push({
        name,
        version: f.Version,
        arch: f.Architecture ?? "",
        sha256: f.SHA256.toLowerCase(),
        filename: f.Filename,
        index,
      });
    }
    at = text.indexOf(`\n${needle}`, end);
  }
  return out;
}

/**
 * The stanzas of every package in `wanted` in a Packages text, in one pass (jumping from one
 * `Package:` line to the next, parsing only the stanzas asked for).
 */
export function findAll(
  text: string,
  wanted: ReadonlySet<string>,
  index = "",
): Map<string, IndexedDeb[]> {
  const out = new Map<string, IndexedDeb[]>();
  let at = text.startsWith("Package: ") ? 0 : text.indexOf("\nPackage: ");
  while (at !== -1) {
    const start = text[at] === "\n" ? at + 1 : at;
    let end = text.indexOf("\n\n", start);
    if (end === -1) end = text.length;
    let eol = text.indexOf("\n", start);
    if (eol === -1 || eol > end) eol = end;
    const name = text.slice(start + "Package: ".length, eol).trim();
    if (wanted.has(name)) {
      const found = findStanzas(text.slice(start, end), name, index);
      if (found.length) out.set(name, [...(out.get(name) ?? []), ...found]);
    }
    at = text.indexOf("\nPackage: ", end);
  }
  return out;
}

const COMPRESSED = /\.(lz4|gz|xz|zst|bz2|lzma)$/;

/** Reads an apt lists file, decompressing through apt's own helper when needed. */
async function readIndex(path: string): Promise<Uint8Array> {
  if (!COMPRESSED.test(path)) return await Deno.readFile(path);
  const out = await new Deno.Command("/usr/lib/apt/apt-helper", {
    args: ["cat-file", path],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (out.code !== 0) {
    throw new Error(`apt-helper cat-file ${path}: ${new TextDecoder().decode(out.stderr).trim()}`);
  }
  return out.stdout;
}

interface Verified {
  key: string;
  ok: boolean;
  /** Stanzas found in this file (of the bytes checked under `key`), per package name. */
  found: Map<string, IndexedDeb[]>;
  /** The names searched for when it was read (absent from `found`: not in this file). */
  searched: Set<string>;
}

/** Verified apt indexes under a lists folder (default `/var/lib/apt/lists`). */
export class AptIndex {
  readonly listsDir: string;
  /** lists file → (stat key, whether its hash matched its InRelease, what it lists). */
  #verified = new Map<string, Verified>();
  /** Every package name asked about: a file read again is searched for all of them at once. */
  #asked = new Set<string>();
  /**
   * More names to look up whenever a file is read (the host's installed packages): a later
   * question about one of them needs no new read of the distribution's big indexes.
   */
  wanted: () => Iterable<string> = () => [];

  constructor(listsDir = "/var/lib/apt/lists") {
    this.listsDir = listsDir;
  }

  /**
   * Every `Packages` lists file named by an `InRelease`, with its stat key and the checksum its
   * `InRelease` gives.
   */
  #indexFiles(): { path: string; key: string; sha: string }[] {
    let names: string[];
    try {
      names = [...Deno.readDirSync(this.listsDir)].filter((e) => e.isFile).map((e) => e.name);
    } catch {
      return [];
    }
    const out: { path: string; key: string; sha: string }[] = [];
    for (const rel of names.filter((n) => n.endsWith("_InRelease"))) {
      const prefix = rel.slice(0, -"InRelease".length);
      let entries: Map<string, string>;
      try {
        entries = releaseSha256(Deno.readTextFileSync(`${this.listsDir}/${rel}`));
      } catch {
        continue;
      }
      for (const [p, sha] of entries) {
        if (!/(^|\/)Packages$/.test(p)) continue;
        const stem = prefix + p.replaceAll("/", "_");
        const file = names.find((n) =>
          n === stem || (n.startsWith(`${stem}.`) && COMPRESSED.test(n))
        );
        if (!file) continue;
        const path = `${this.listsDir}/${file}`;
        try {
          const st = Deno.statSync(path);
          out.push({ path, key: `${st.ino}:${st.mtime?.getTime()}:${st.size}:${sha}`, sha });
        } catch {
          continue;
        }
      }
    }
    return out;
  }

  /**
   * Every `Packages` lists file whose SHA-256 matches the entry of its `InRelease`, with the text.
   * Hashed every time it is read: the bytes used are the bytes checked.
   */
  async *verifiedIndexes(): AsyncGenerator<{ path: string; text: string }> {
    for (const { path, key, sha } of this.#indexFiles()) {
      const v = await this.#check(path, key, sha);
      if (v) yield v;
    }
  }

  async #check(
    path: string,
    key: string,
    sha: string,
  ): Promise<{ path: string; text: string } | undefined> {
    let bytes: Uint8Array;
    try {
      bytes = await readIndex(path);
    } catch {
      return undefined;
    }
    const ok = createHash("sha256").update(bytes).digest("hex") === sha;
    this.#verified.set(path, { key, ok, found: new Map(), searched: new Set() });
    return ok ? { path, text: new TextDecoder().decode(bytes) } : undefined;
  }

  /**
   * The verified index entries of each package in `names`, in one pass over the indexes (an
   * upgrade asks about many packages at once). A lists file unchanged since it was checked
   * (same inode, mtime, size and InRelease checksum) is not read again for a name already looked
   * up in it: apt rewrites a file it updates, so a `apt-get update` of one small source does not
   * make the next decision re-read and re-hash the distribution's big indexes.
   */
  async lookupMany(names: readonly string[]): Promise<Map<string, IndexedDeb[]>> {
    const out = new Map<string, IndexedDeb[]>(names.map((n) => [n, []]));
    if (names.length === 0) return out;
    for (const n of names) this.#asked.add(n);
    const live = new Set<string>();
    for (const { path, key, sha } of this.#indexFiles()) {
      live.add(path);
      let known = this.#verified.get(path);
      if (known && known.key === key && !known.ok) continue; // failed before, unchanged since
      if (!known || known.key !== key || names.some((n) => !known!.searched.has(n))) {
        const v = await this.#check(path, key, sha);
        known = this.#verified.get(path);
        if (!v || !known) continue;
        const wanted = new Set(this.#asked);
        try {
          for (const n of this.wanted()) wanted.add(n);
        } catch { /* only the names asked */ }
        known.found = findAll(v.text, wanted, path);
        known.searched = wanted;
      }
      for (const n of names) out.get(n)!.push(...(known.found.get(n) ?? []));
    }
    for (const path of this.#verified.keys()) if (!live.has(path)) this.#verified.delete(path);
    return out;
  }
}
