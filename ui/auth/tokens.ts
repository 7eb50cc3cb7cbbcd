/**
 * The UI's two secrets: an admin token and a viewer token, generated at first start and kept in
 * `<state>/ui-tokens.json` (mode 0600). Whoever can read that file can log in, so it is the one
 * thing `hashwall ui url` needs (it runs as root or the daemon's user) and nothing else reads it.
 *
 * @module
 */

/** File name of the token file inside the state folder. */
export const TOKEN_FILE = "ui-tokens.json";

/** The stored tokens (hex, 256 bit each). */
export interface UiTokens {
  admin: string;
  viewer: string;
  /** Epoch ms. */
  createdAt: number;
}

/** Returns the tokens, creating the file (0600) and the state folder (0700) on first start. */
export async function loadOrCreateTokens(stateDir: string): Promise<UiTokens> {
  const path = `${stateDir}/${TOKEN_FILE}`;
  try {
    return await readTokens(stateDir);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  await Deno.mkdir(stateDir, { recursive: true, mode: 0o700 });
  const tokens: UiTokens = { admin: randomHex(32), viewer: randomHex(32), createdAt: Date.now() };
  // Write beside and rename, so a reader never sees a half-written file; `createNew` on the
  // temp name refuses to follow a planted symlink.
  const tmp = `${path}.${randomHex(6)}.tmp`;
  await Deno.writeTextFile(tmp, JSON.stringify(tokens, null, 2) + "\n", {
    mode: 0o600,
    createNew: true,
  });
  await Deno.chmod(tmp, 0o600); // the umask may have trimmed the create mode
  await Deno.rename(tmp, path);
  return tokens;
}

/**
 * Reads the token file. Throws `Deno.errors.NotFound` when absent, and an Error naming the file
 * when it is readable by group/others (a leaked token must not be silently trusted) or malformed.
 */
export async function readTokens(stateDir: string): Promise<UiTokens> {
  const path = `${stateDir}/${TOKEN_FILE}`;
  const st = await Deno.lstat(path);
  if (!st.isFile) throw new Error(`${path} is not a regular file`);
  const mode = (st.mode ?? 0) & 0o777;
  if (mode & 0o077) {
    throw new Error(
      `${path} is accessible by group/others (mode ${mode.toString(8)}); ` +
        `delete it to generate new tokens, or chmod 600 it`,
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(await Deno.readTextFile(path));
  } catch (e) {
    throw new Error(`${path}: not valid JSON (${e instanceof Error ? e.message : e})`);
  }
  const t = parsed as Partial<UiTokens>;
  const hex64 = /^[0-9a-f]{64}$/;
  if (typeof t.admin !== "string" || !hex64.test(t.admin)) {
    throw new Error(`${path}: "admin" must be 64 hex characters`);
  }
  if (typeof t.viewer !== "string" || !hex64.test(t.viewer)) {
    throw new Error(`${path}: "viewer" must be 64 hex characters`);
  }
  if (t.admin === t.viewer) throw new Error(`${path}: admin and viewer tokens must differ`);
  return { admin: t.admin, viewer: t.viewer, createdAt: Number(t.createdAt ?? 0) };
}

/** `bytes` random bytes as lower-case hex. */
export function randomHex(bytes: number): string {
  const b = crypto.getRandomValues(new Uint8Array(bytes));
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}
