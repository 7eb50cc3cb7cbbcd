/**
 * dpkg's database read directly (no `dpkg -S` / `dpkg-query` per file): `/var/lib/dpkg/status`
 * plus its journal `updates/NNNN` (dpkg records each state change there at once and folds the
 * journal into `status` only now and then, so a running dpkg's progress is only in the journal)
 * for installed versions, `info/<pkg>[:arch].list` for which package owns a path and
 * `info/<pkg>[:arch].md5sums` for the checksum dpkg recorded when it unpacked the file.
 *
 * Lazy and cheap: nothing is read until asked; the status file is parsed again only when its
 * (inode, mtime, size) changed; the path → owner index (every `.list`, a few thousand files) is
 * built on the first ownership question and rebuilt only when the info folder changed. Asking about
 * a package already known reads just that package's two files.
 *
 * @module
 */

/** One installed package instance, as dpkg's status file records it. */
export interface DpkgPackage {
  /** Package name (no architecture qualifier). */
  name: string;
  /** Architecture (`amd64`, `all`, …). */
  arch: string;
  /** Installed version (epoch included, e.g. `1:2.3-4`). */
  version: string;
  /** The status triple's last word: installed, unpacked, half-installed, config-files, … */
  state: string;
  /** `Multi-Arch: same`: the info files carry a `:arch` qualifier. */
  multiArchSame: boolean;
}

/**
 * States in which a package's files, `.list`, `.md5sums` and recorded version agree: dpkg moves a
 * package to `unpacked` (with the new Version) only after it renamed every new file into place
 * and wrote the new version's `.list` and `.md5sums` (dpkg's unpack.c, process_archive); configure
 * (`half-configured` → `installed`) changes no packaged file. `half-installed` (mid-unpack: some
 * files renamed, the old Version and file lists still recorded) is never one of them.
 */
export const SETTLED_STATES: readonly string[] = [
  "unpacked",
  "half-configured",
  "installed",
  "triggers-pending",
  "triggers-awaited",
];

interface FileKey {
  ino: number;
  mtime: number;
  size: number;
}

function keyOf(path: string): FileKey | undefined {
  try {
    const st = Deno.statSync(path);
    return { ino: st.ino ?? 0, mtime: st.mtime?.getTime() ?? 0, size: st.size };
  } catch {
    return undefined;
  }
}

function sameKey(a?: FileKey, b?: FileKey): boolean {
  return !!a && !!b && a.ino === b.ino && a.mtime === b.mtime && a.size === b.size;
}

/**
 * Paths a dpkg `.list` may name for `path` on a merged-/usr system: packages still list
 * `/bin/x` while the file is reached as `/usr/bin/x` (and the other way round).
 *
 * @example
 * ```ts
 * aliasesOf("/usr/bin/curl"); // ["/usr/bin/curl", "/bin/curl"]
 * ```
 */
export function aliasesOf(path: string): string[] {
  const out = [path];
  const m = /^\/usr\/(bin|sbin|lib|lib32|lib64|libx32)(\/.*)$/.exec(path);
  if (m) out.push(`/${m[1]}${m[2]}`);
  const n = /^\/(bin|sbin|lib|lib32|lib64|libx32)(\/.*)$/.exec(path);
  if (n) out.push(`/usr/${n[1]}${n[2]}`);
  return out;
}

/**
 * Parses the stanzas of dpkg's status file into installed packages (not-installed and
 * config-files-only entries are skipped).
 *
 * @example
 * ```ts
 * parseStatus("Package: a\nStatus: install ok installed\nArchitecture: all\nVersion: 1\n");
 * ```
 */
export function parseStatus(text: string): DpkgPackage[] {
  return parseStanzas(text).filter((p) =>
    p.state !== "not-installed" && p.state !== "config-files"
  );
}

/** Every stanza with a name and version, whatever its state (journal entries may remove one). */
function parseStanzas(text: string): DpkgPackage[] {
  const out: DpkgPackage[] = [];
  for (const stanza of text.split(/\n\n+/)) {
    let name = "", arch = "", version = "", status = "", multi = "";
    for (const line of stanza.split("\n")) {
      if (line.startsWith(" ") || line.startsWith("\t")) continue;
      const i = line.indexOf(":");
      if (i < 0) continue;
      const k = line.slice(0, i);
      const v = line.slice(i + 1).trim();
      if (k === "Package") name = v;
      else if (k === "Architecture") arch = v;
      else if (k === "Version") version = v;
      else if (k === "Status") status = v;
      else if (k === "Multi-Arch") multi = v;
    }
    const state = status.split(/\s+/)[2] ?? "";
    if (!name || (!version && state !== "not-installed" && state !== "config-files")) continue;
    out.push({ name, arch, version, state, multiArchSame: multi === "same" });
  }
  return out;
}

/** Reads dpkg's database under `admindir` (default `/var/lib/dpkg`). */
export class DpkgDb {
  readonly admindir: string;
  #statusKey?: string;
  #baseCache?: { key: FileKey; list: DpkgPackage[] };
  #packages = new Map<string, DpkgPackage[]>();
  #ownersKey?: FileKey;
  #owners?: Map<string, string>;

  constructor(admindir = "/var/lib/dpkg") {
    this.admindir = admindir;
  }

  /** Whether a dpkg database is present (a Debian-family host). */
  present(): boolean {
    return keyOf(`${this.admindir}/status`) !== undefined;
  }

  /**
   * Whether dpkg runs now: its database lock (`<admindir>/lock`) is held, as `/proc/locks`
   * shows. While it runs, a package decision rests on that package's own recorded state (see
   * SETTLED_STATES) and is retried when that state moves on. apt's own `lock-frontend`, held
   * during its Pre/Post-Invoke hooks, does not count.
   */
  busy(): boolean {
    let st: Deno.FileInfo;
    let locks: string;
    try {
      st = Deno.statSync(`${this.admindir}/lock`);
      locks = Deno.readTextFileSync("/proc/locks");
    } catch {
      return false;
    }
    const major = (st.dev >> 8) & 0xfff;
    const minor = (st.dev & 0xff) | ((st.dev >> 12) & 0xfff00);
    const want = `${major.toString(16).padStart(2, "0")}:${
      minor.toString(16).padStart(2, "0")
    }:${st.ino}`;
    return locks.split("\n").some((l) => l.split(/\s+/).includes(want));
  }

  /**
   * A fingerprint of the status file and its journal: changes whenever dpkg records a state
   * change (a new `updates/NNNN` entry, or the journal folded into `status`).
   */
  statusStamp(): string {
    const k = keyOf(`${this.admindir}/status`);
    const j = this.#journal();
    return `${k ? `${k.ino}:${k.mtime}:${k.size}` : "none"}/${j.join(",")}`;
  }

  /** The journal's entries (`updates/NNNN`, dpkg's own naming), in the order dpkg applies them. */
  #journal(): string[] {
    const out: string[] = [];
    try {
      for (const e of Deno.readDirSync(`${this.admindir}/updates`)) {
        // `tmp.i` is an entry being written (renamed to its number when complete).
        if (e.isFile && /^\d+$/.test(e.name)) out.push(e.name);
      }
    } catch { /* no journal folder */ }
    return out.sort((a, b) => Number(a) - Number(b));
  }

  /** Names of every installed package. */
  names(): string[] {
    this.#loadStatus();
    return [...this.#packages.keys()];
  }

  /** The installed instances of package `name` (several for Multi-Arch: same). */
  installed(name: string): DpkgPackage[] {
    this.#loadStatus();
    return this.#packages.get(name) ?? [];
  }

  /** The installed package `name`, for `arch` when given, else the only or first instance. */
  package(name: string, arch?: string): DpkgPackage | undefined {
    const all = this.installed(name);
    return arch ? all.find((p) => p.arch === arch) : all[0];
  }

  #loadStatus(): void {
    // Read status, then the journal over it, as dpkg does. dpkg may fold the journal into status
    // between the two reads (status replaced, entries deleted): read again until the stamp taken
    // before equals the one after, so no half of two database states is ever used.
    for (let tries = 0;; tries++) {
      const stamp = this.statusStamp();
      if (stamp === this.#statusKey) return;
      const m = new Map<string, DpkgPackage>();
      const apply = (list: DpkgPackage[]) => {
        for (const p of list) m.set(`${p.name}:${p.arch}`, p);
      };
      try {
        apply(this.#base());
        for (const n of this.#journal()) {
          apply(parseStanzas(Deno.readTextFileSync(`${this.admindir}/updates/${n}`)));
        }
      } catch (e) {
        if (tries < 5) continue; // an entry folded away while read
        if (!(e instanceof Deno.errors.NotFound)) throw e;
      }
      if (stamp !== this.statusStamp() && tries < 5) continue;
      const byName = new Map<string, DpkgPackage[]>();
      for (const p of m.values()) {
        if (p.state === "not-installed" || p.state === "config-files") continue;
        const list = byName.get(p.name) ?? [];
        list.push(p);
        byName.set(p.name, list);
      }
      this.#packages = byName;
      this.#statusKey = stamp;
      return;
    }
  }

  /**
   * The stanzas of the status file itself, parsed again only when it was replaced (while dpkg
   * runs it changes rarely; the journal, small, is read at every change).
   */
  #base(): DpkgPackage[] {
    const path = `${this.admindir}/status`;
    const k = keyOf(path);
    if (!k) return [];
    if (this.#baseCache && sameKey(k, this.#baseCache.key)) return this.#baseCache.list;
    const list = parseStanzas(Deno.readTextFileSync(path));
    if (sameKey(k, keyOf(path))) this.#baseCache = { key: k, list };
    return list;
  }

  /** The info-file stem of a package instance: `name` or `name:arch` (Multi-Arch: same). */
  infoStem(p: DpkgPackage): string {
    const q = `${this.admindir}/info/${p.name}:${p.arch}.list`;
    if (p.multiArchSame || keyOf(q)) return `${p.name}:${p.arch}`;
    return p.name;
  }

  /** Whether the package instance's `.list` names `path` (or a merged-/usr alias of it). */
  lists(p: DpkgPackage, path: string): boolean {
    const text = this.#read(`${this.infoStem(p)}.list`);
    if (text === undefined) return false;
    const lines = new Set(text.split("\n"));
    return aliasesOf(path).some((a) => lines.has(a));
  }

  /** dpkg's recorded MD5 of `path` in the package instance (lower-case hex), if any. */
  md5Of(p: DpkgPackage, path: string): string | undefined {
    const text = this.#read(`${this.infoStem(p)}.md5sums`);
    if (text === undefined) return undefined;
    const want = new Set(aliasesOf(path).map((a) => a.slice(1)));
    for (const line of text.split("\n")) {
      const m = /^([0-9a-f]{32}) {2}(.+)$/.exec(line);
      if (m && want.has(m[2])) return m[1];
    }
    return undefined;
  }

  /**
   * The package that owns `path` (`dpkg -S` semantics, merged-/usr aliases included), as
   * `{ name, arch }` of an installed instance. Builds the owner index on first use.
   */
  owner(path: string): DpkgPackage | undefined {
    const owners = this.#ownerIndex();
    for (const a of aliasesOf(path)) {
      const stem = owners.get(a);
      if (!stem) continue;
      const [name, arch] = stem.split(":");
      const p = this.package(name, arch);
      if (p) return p;
    }
    return undefined;
  }

  #ownerIndex(): Map<string, string> {
    const dir = `${this.admindir}/info`;
    const k = keyOf(dir);
    if (this.#owners && sameKey(k, this.#ownersKey)) return this.#owners;
    const m = new Map<string, string>();
    try {
      for (const e of Deno.readDirSync(dir)) {
        if (!e.name.endsWith(".list")) continue;
        const stem = e.name.slice(0, -5);
        const text = this.#read(e.name);
        if (!text) continue;
        for (const line of text.split("\n")) {
          // Folders are shared by many packages; only files matter here, and a later
          // package never hides the first owner (diversions aside, a path has one).
          if (line && !m.has(line)) m.set(line, stem);
        }
      }
    } catch { /* no dpkg database: nothing is package-owned */ }
    this.#owners = m;
    this.#ownersKey = k;
    return m;
  }

  #read(name: string): string | undefined {
    try {
      return Deno.readTextFileSync(`${this.admindir}/info/${name}`);
    } catch {
      return undefined;
    }
  }
}
