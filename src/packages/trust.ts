/**
 * "Is this content what the now-installed version of the same package ships?" — the one question
 * package trust asks, answered from dpkg's database and apt's verified indexes, strongest level
 * first:
 *
 * 1. `deb`: the `.deb` of the installed version is in apt's cache, its SHA-256 is the one a
 *    verified `Packages` index lists (see apt_index.ts), and the file's SHA-256 inside it is the
 *    new content's.
 * 2. `md5sums`: otherwise dpkg's recorded MD5 of the file (written by dpkg, as root, from the
 *    archive it unpacked) matches — weaker (MD5, and the archive itself is not re-checked).
 *
 * Either level requires: the package that owned the file at approval is still installed, settled
 * (unpacked or configured, not mid-unpack: see SETTLED_STATES), still lists the path, and its installed name/version/architecture
 * appears in a verified apt index. A package installed with `dpkg -i` from a local file whose
 * version no verified index lists is "not from a signed source" and never trusted automatically.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { AptIndex, type IndexedDeb } from "./apt_index.ts";
import { cachedDebName, debFileHashes } from "./deb_archive.ts";
import { aliasesOf, DpkgDb, type DpkgPackage, SETTLED_STATES } from "./dpkg_db.ts";

/** What an approval rests on: an admin's hash, the package archive, or dpkg's MD5. */
export type TrustLevel = "admin" | "deb" | "md5sums";

/** The package (and version) an approval was recorded with. */
export interface PackageRef {
  name: string;
  arch?: string;
  version?: string;
}

/** The answer of {@link PackageTrust.ships}. */
export type ShipsVerdict =
  | {
    ok: true;
    package: string;
    arch: string;
    version: string;
    level: "deb" | "md5sums";
    /** The SHA-256 decided on (from the same read as the MD5). */
    sha256: string;
  }
  | {
    ok: false;
    /**
     * `not-installed`: the package is gone. `not-settled`: dpkg is still working on it (ask
     * again later). `not-listed`: the installed version does not ship this path. `unsigned`: the
     * installed version is in no verified apt index (e.g. `dpkg -i`). `differs`: the content is
     * not what the package ships. `changed`: the file changed while being checked.
     */
    reason: "not-installed" | "not-settled" | "not-listed" | "unsigned" | "differs" | "changed";
    package: string;
    version?: string;
    detail: string;
  };

/** SHA-256 and MD5 of one read of `path`, with the identity of the file read. */
export async function hashSha256Md5(
  path: string,
): Promise<{ sha256: string; md5: string; dev: number; ino: number }> {
  const f = await Deno.open(path, { read: true });
  try {
    const st = await f.stat();
    const sha = createHash("sha256");
    const md5 = createHash("md5");
    const buf = new Uint8Array(1 << 20);
    for (;;) {
      const n = await f.read(buf);
      if (n === null) break;
      const chunk = buf.subarray(0, n);
      sha.update(chunk);
      md5.update(chunk);
    }
    return { sha256: sha.digest("hex"), md5: md5.digest("hex"), dev: st.dev, ino: st.ino ?? 0 };
  } finally {
    f.close();
  }
}

/** Where dpkg and apt keep their state (tests may point elsewhere; production uses defaults). */
export interface PackageTrustOptions {
  dpkg?: DpkgDb;
  apt?: AptIndex;
  /** apt's archive cache (default `/var/cache/apt/archives`). */
  archives?: string;
}

/** Answers package-trust questions; caches index lookups until apt's lists change. */
export class PackageTrust {
  readonly dpkg: DpkgDb;
  readonly apt: AptIndex;
  readonly archives: string;
  #lookups = new Map<string, IndexedDeb[]>();
  #listsStamp = "";

  constructor(opts: PackageTrustOptions = {}) {
    this.dpkg = opts.dpkg ?? new DpkgDb();
    this.apt = opts.apt ?? new AptIndex();
    // Any installed package may be asked about later (a new approval): find them all in one read.
    this.apt.wanted = () => this.dpkg.names();
    this.archives = opts.archives ?? "/var/cache/apt/archives";
  }

  /** Whether this host has a dpkg database at all. */
  available(): boolean {
    return this.dpkg.present();
  }

  /** The installed package owning `path` (`dpkg -S`), if any. */
  owner(path: string): DpkgPackage | undefined {
    return this.dpkg.owner(path);
  }

  /** Verified index entries of `names`, cached while apt's lists folder is unchanged. */
  async indexed(names: readonly string[]): Promise<Map<string, IndexedDeb[]>> {
    let stamp = "";
    try {
      const st = Deno.statSync(this.apt.listsDir);
      stamp = `${st.ino}:${st.mtime?.getTime()}`;
    } catch { /* no lists: nothing verified */ }
    if (stamp !== this.#listsStamp) {
      this.#lookups.clear();
      this.#listsStamp = stamp;
    }
    const missing = names.filter((n) => !this.#lookups.has(n));
    if (missing.length) {
      for (const [n, v] of await this.apt.lookupMany(missing)) this.#lookups.set(n, v);
    }
    return new Map(names.map((n) => [n, this.#lookups.get(n) ?? []]));
  }

  /**
   * Whether the content now at `path` is what the installed version of `pkg` ships.
   * `expectSha256`, when given, must be the content decided on (the caller's own hash).
   */
  async ships(path: string, pkg: PackageRef, expectSha256?: string): Promise<ShipsVerdict> {
    // No wait for dpkg to finish: the decision rests on the package's own recorded state (status
    // plus journal), which dpkg advances to `unpacked` with the new Version only once that
    // package's new files, .list and .md5sums are all in place. A package still mid-unpack
    // (`half-installed`) is "not-settled", asked again when dpkg records its next step.
    return await this.#ships(path, pkg, expectSha256);
  }

  async #ships(path: string, pkg: PackageRef, expectSha256?: string): Promise<ShipsVerdict> {
    const name = pkg.name;
    const inst = this.dpkg.package(name, pkg.arch);
    if (!inst) {
      return {
        ok: false,
        reason: "not-installed",
        package: name,
        detail: `${name} is not installed`,
      };
    }
    const base = { package: name, version: inst.version };
    if (!SETTLED_STATES.includes(inst.state)) {
      return {
        ok: false,
        reason: "not-settled",
        ...base,
        detail: `${name} ${inst.version} is ${inst.state}`,
      };
    }
    if (!this.dpkg.lists(inst, path)) {
      return {
        ok: false,
        reason: "not-listed",
        ...base,
        detail: `${name} ${inst.version} does not ship ${path}`,
      };
    }
    const entries = ((await this.indexed([name])).get(name) ?? [])
      .filter((d) => d.version === inst.version && (d.arch === inst.arch || d.arch === ""));
    if (entries.length === 0) {
      return {
        ok: false,
        reason: "unsigned",
        ...base,
        detail: `${name} ${inst.version} (${inst.arch}) is in no verified apt index ` +
          `(installed from a local .deb?)`,
      };
    }
    let h;
    try {
      h = await hashSha256Md5(path);
    } catch (e) {
      return { ok: false, reason: "changed", ...base, detail: `${path}: ${(e as Error).message}` };
    }
    if (expectSha256 && h.sha256 !== expectSha256) {
      return { ok: false, reason: "changed", ...base, detail: `${path} changed while checked` };
    }
    const ok = (level: "deb" | "md5sums") => ({
      ok: true as const,
      package: name,
      arch: inst.arch,
      version: inst.version,
      level,
      sha256: h.sha256,
    });
    // Level 1: the archive itself, checked against the verified index.
    for (const d of entries) {
      const deb = `${this.archives}/${cachedDebName(name, inst.version, d.arch || inst.arch)}`;
      try {
        Deno.statSync(deb);
      } catch {
        continue;
      }
      try {
        const sums = await debFileHashes(deb, d.sha256, aliasesOf(path));
        const inDeb = aliasesOf(path).map((a) => sums.get(a)).find((s) => s !== undefined);
        if (inDeb === h.sha256) return ok("deb");
        if (inDeb !== undefined) {
          return {
            ok: false,
            reason: "differs",
            ...base,
            detail: `${path} is not the file ${name} ${inst.version} ships (${inDeb.slice(0, 16)})`,
          };
        }
      } catch { /* not the indexed archive, or unreadable: fall back to dpkg's record */ }
    }
    // Level 2: dpkg's recorded MD5 for the file of this installed version.
    const md5 = this.dpkg.md5Of(inst, path);
    if (md5 && md5 === h.md5) return ok("md5sums");
    return {
      ok: false,
      reason: "differs",
      ...base,
      detail: md5
        ? `${path} does not match dpkg's checksum for ${name} ${inst.version}`
        : `dpkg recorded no checksum for ${path}`,
    };
  }
}
