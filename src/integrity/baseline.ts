/**
 * AIDE-like file integrity: a baseline of every file under the configured paths (hash, size,
 * mode, owner, inode, device, mtime) and a check that reports what was added, removed or changed,
 * with before/after for each changed attribute.
 *
 * @module
 */
import { HashPool, isHashError } from "./hash_pool.ts";

/** A path to cover: a file, or a folder (its files; with `recursive`, its subfolders' too). */
export interface IntegrityEntry {
  path: string;
  recursive: boolean;
}

/** What the baseline knows about one path. */
export interface BaselineRecord {
  path: string;
  type: "file" | "symlink";
  /** Lower-case hex SHA-256 (files only). */
  sha256?: string;
  /** Symlink target (symlinks only; links are recorded, never followed). */
  target?: string;
  size: number;
  mode: number;
  uid: number;
  gid: number;
  dev: string;
  ino: string;
  mtimeNs: string;
}

/** A stored baseline. */
export interface Baseline {
  version: 1;
  /** Epoch ms. */
  createdAt: number;
  entries: IntegrityEntry[];
  /** By path, sorted. */
  files: Record<string, BaselineRecord>;
}

/** One changed attribute. */
export interface AttributeChange {
  attribute:
    | "type"
    | "sha256"
    | "target"
    | "size"
    | "mode"
    | "uid"
    | "gid"
    | "dev"
    | "ino"
    | "mtime";
  before: string | number | undefined;
  after: string | number | undefined;
}

/** The result of {@link checkBaseline}. */
export interface IntegrityReport {
  baselineCreatedAt: number;
  checkedAt: number;
  /** Files looked at now. */
  scanned: number;
  added: BaselineRecord[];
  removed: BaselineRecord[];
  changed: {
    path: string;
    changes: AttributeChange[];
    before: BaselineRecord;
    after: BaselineRecord;
  }[];
  /** Paths that could not be read (the check is incomplete for them). */
  errors: { path: string; error: string }[];
}

/** Options for building and checking. */
export interface ScanOptions {
  /** Hash workers; default 2. */
  workers?: number;
}

interface Scan {
  records: Map<string, BaselineRecord>;
  errors: { path: string; error: string }[];
}

/** Checks entries: absolute, normalised paths; throws naming the first bad one. */
export function validateEntries(entries: IntegrityEntry[]): void {
  for (const e of entries) {
    if (typeof e.path !== "string" || !e.path.startsWith("/")) {
      throw new Error(`integrity path must be absolute: "${e.path}"`);
    }
    if (e.path.split("/").some((s) => s === "." || s === "..")) {
      throw new Error(`integrity path must not contain . or ..: "${e.path}"`);
    }
  }
}

function normalise(path: string): string {
  return path.length > 1 ? path.replace(/\/+$/, "") : path;
}

/** Lists what the entries cover now: regular files (to hash) and symlinks; reports unreadable. */
async function collect(entries: IntegrityEntry[]): Promise<{
  files: Set<string>;
  links: Map<string, Deno.FileInfo>;
  errors: { path: string; error: string }[];
}> {
  const files = new Set<string>();
  const links = new Map<string, Deno.FileInfo>();
  const errors: { path: string; error: string }[] = [];
  const visit = async (path: string, recursive: boolean, top: boolean) => {
    let info: Deno.FileInfo;
    try {
      info = await Deno.lstat(path);
    } catch (e) {
      // A configured path that is absent is simply empty now (its files show as removed).
      if (!(e instanceof Deno.errors.NotFound)) errors.push({ path, error: String(e) });
      return;
    }
    if (info.isSymlink) links.set(path, info);
    else if (info.isFile) files.add(path);
    else if (info.isDirectory && (top || recursive)) {
      try {
        for await (const d of Deno.readDir(path)) {
          await visit(path === "/" ? `/${d.name}` : `${path}/${d.name}`, recursive, false);
        }
      } catch (e) {
        errors.push({ path, error: String(e) });
      }
    }
  };
  for (const e of entries) await visit(normalise(e.path), e.recursive, true);
  return { files, links, errors };
}

async function scan(entries: IntegrityEntry[], opts: ScanOptions): Promise<Scan> {
  validateEntries(entries);
  const { files, links, errors } = await collect(entries);
  const records = new Map<string, BaselineRecord>();
  for (const [path, info] of links) {
    try {
      records.set(path, {
        path,
        type: "symlink",
        target: await Deno.readLink(path),
        size: info.size,
        mode: info.mode ?? 0,
        uid: info.uid ?? 0,
        gid: info.gid ?? 0,
        dev: String(info.dev),
        ino: String(info.ino),
        mtimeNs: String(BigInt(info.mtime?.getTime() ?? 0) * 1_000_000n),
      });
    } catch (e) {
      errors.push({ path, error: String(e) });
    }
  }
  const pool = new HashPool({ workers: opts.workers ?? 2 });
  try {
    const results = await pool.hashMany([...files]);
    for (const r of results) {
      if (isHashError(r)) {
        errors.push(r);
        continue;
      }
      records.set(r.path, {
        path: r.path,
        type: "file",
        sha256: r.sha256,
        size: r.size,
        mode: r.mode,
        uid: r.uid,
        gid: r.gid,
        dev: r.dev,
        ino: r.ino,
        mtimeNs: r.mtimeNs,
      });
    }
  } finally {
    pool.close();
  }
  return { records, errors };
}

/**
 * Records every file under `entries`. Throws for an invalid entry; files that cannot be read
 * throw too (a baseline with holes would later report them as "added").
 *
 * @example
 * ```ts
 * const b = await buildBaseline([{ path: "/etc/hashwall", recursive: true }]);
 * ```
 */
export async function buildBaseline(
  entries: IntegrityEntry[],
  opts: ScanOptions = {},
): Promise<Baseline> {
  const { records, errors } = await scan(entries, opts);
  if (errors.length) {
    throw new Error(
      `cannot build the baseline: ${errors.map((e) => `${e.path}: ${e.error}`).join("; ")}`,
    );
  }
  const files: Record<string, BaselineRecord> = {};
  for (const p of [...records.keys()].sort()) files[p] = records.get(p)!;
  return {
    version: 1,
    createdAt: Date.now(),
    entries: entries.map((e) => ({ path: normalise(e.path), recursive: e.recursive })),
    files,
  };
}

/** Compares what `entries` cover now with `baseline`. */
export async function checkBaseline(
  baseline: Baseline,
  entries: IntegrityEntry[],
  opts: ScanOptions = {},
): Promise<IntegrityReport> {
  const { records, errors } = await scan(entries, opts);
  const errored = new Set(errors.map((e) => e.path));
  const report: IntegrityReport = {
    baselineCreatedAt: baseline.createdAt,
    checkedAt: Date.now(),
    scanned: records.size,
    added: [],
    removed: [],
    changed: [],
    errors,
  };
  for (const [path, now] of [...records].sort(([a], [b]) => a < b ? -1 : 1)) {
    const before = baseline.files[path];
    if (!before) {
      report.added.push(now);
      continue;
    }
    const changes = diff(before, now);
    if (changes.length) report.changed.push({ path, changes, before, after: now });
  }
  for (const path of Object.keys(baseline.files).sort()) {
    // Unreadable now is an error, not a removal.
    if (!records.has(path) && !errored.has(path)) report.removed.push(baseline.files[path]);
  }
  return report;
}

/** True when the report holds any addition, removal or change. */
export function hasChanges(r: IntegrityReport): boolean {
  return r.added.length + r.removed.length + r.changed.length > 0;
}

function diff(a: BaselineRecord, b: BaselineRecord): AttributeChange[] {
  const out: AttributeChange[] = [];
  const cmp = (attribute: AttributeChange["attribute"], x: unknown, y: unknown) => {
    if (x !== y) {
      out.push({
        attribute,
        before: x as AttributeChange["before"],
        after: y as AttributeChange["after"],
      });
    }
  };
  cmp("type", a.type, b.type);
  cmp("sha256", a.sha256, b.sha256);
  cmp("target", a.target, b.target);
  cmp("size", a.size, b.size);
  cmp("mode", a.mode, b.mode);
  cmp("uid", a.uid, b.uid);
  cmp("gid", a.gid, b.gid);
  cmp("dev", a.dev, b.dev);
  cmp("ino", a.ino, b.ino);
  cmp("mtime", a.mtimeNs, b.mtimeNs);
  return out;
}
