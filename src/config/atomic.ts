/**
 * Crash-safe file replacement: readers see the old file or the new one, never a torn write.
 *
 * @module
 */

/** Splits a path into its folder and base name. */
function splitPath(path: string): { dir: string; base: string } {
  const i = path.lastIndexOf("/");
  if (i === -1) return { dir: ".", base: path };
  return { dir: i === 0 ? "/" : path.slice(0, i), base: path.slice(i + 1) };
}

function tempName(path: string): string {
  const { dir, base } = splitPath(path);
  const rand = crypto.getRandomValues(new Uint32Array(2)).join("");
  // A dot file not ending in .toml: the loader skips it if a crash leaves it behind.
  return `${dir === "/" ? "" : dir}/.${base}.${rand}.tmp`;
}

/**
 * Writes `data` to `path` atomically: a temp file in the same folder (created exclusively, with
 * `mode`), fsync, rename over `path`, then fsync the folder so the rename survives a crash.
 * On any failure the temp file is removed and `path` is untouched.
 *
 * @example
 * ```ts
 * await writeFileAtomic("/etc/hashwall/apps.d/learned.toml", text); // mode 0600
 * ```
 */
export async function writeFileAtomic(
  path: string,
  data: string | Uint8Array,
  mode = 0o600,
): Promise<void> {
  const tmp = await writeTemp(path, data, mode);
  try {
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw e;
  }
  await syncDir(splitPath(path).dir);
}

/**
 * Like `writeFileAtomic` but never replaces an existing file: returns `false` (and writes
 * nothing) when `path` exists. Used to install defaults without clobbering an admin's edits.
 *
 * @example
 * ```ts
 * if (await createFileAtomic("/etc/hashwall/rules.toml", text, 0o644)) console.log("written");
 * ```
 */
export async function createFileAtomic(
  path: string,
  data: string | Uint8Array,
  mode = 0o600,
): Promise<boolean> {
  const tmp = await writeTemp(path, data, mode);
  try {
    // link(2) fails with EEXIST instead of replacing, unlike rename(2).
    await Deno.link(tmp, path);
  } catch (e) {
    if (e instanceof Deno.errors.AlreadyExists) return false;
    throw e;
  } finally {
    await Deno.remove(tmp).catch(() => {});
  }
  await syncDir(splitPath(path).dir);
  return true;
}

async function writeTemp(path: string, data: string | Uint8Array, mode: number): Promise<string> {
  const tmp = tempName(path);
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  const f = await Deno.open(tmp, { write: true, createNew: true, mode });
  try {
    // The umask may have narrowed `mode`; the caller asked for exactly this.
    await Deno.chmod(tmp, mode);
    let off = 0;
    while (off < bytes.length) off += await f.write(bytes.subarray(off));
    await f.sync();
  } catch (e) {
    f.close();
    await Deno.remove(tmp).catch(() => {});
    throw e;
  }
  f.close();
  return tmp;
}

async function syncDir(dir: string): Promise<void> {
  try {
    const d = await Deno.open(dir, { read: true });
    try {
      await d.sync();
    } finally {
      d.close();
    }
  } catch {
    // Some file systems refuse fsync on a folder; the rename itself already happened.
  }
}
