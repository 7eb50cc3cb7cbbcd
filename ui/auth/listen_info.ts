/**
 * `<state>/ui-listen.json`: where the running UI listens, written at start so that
 * `hashwall ui url` can print a link without asking the daemon.
 *
 * @module
 */

/** File name inside the state folder. */
export const LISTEN_FILE = "ui-listen.json";

/** What the file holds. */
export interface ListenInfo {
  /** Base URL, e.g. `http://127.0.0.1:7480`. */
  url: string;
  pid: number;
  startedAt: number;
}

/** Writes the listen file atomically (0600, like the tokens beside it). */
export async function writeListenInfo(stateDir: string, info: ListenInfo): Promise<void> {
  const path = `${stateDir}/${LISTEN_FILE}`;
  const tmp = `${path}.${crypto.randomUUID()}.tmp`;
  await Deno.writeTextFile(tmp, JSON.stringify(info) + "\n", { mode: 0o600, createNew: true });
  await Deno.rename(tmp, path);
}

/** Reads the listen file; throws an Error naming the file when missing or malformed. */
export async function readListenInfo(stateDir: string): Promise<ListenInfo> {
  const path = `${stateDir}/${LISTEN_FILE}`;
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new Error(`${path} not found: is the daemon running with the UI enabled?`);
    }
    throw e;
  }
  const v = JSON.parse(text) as Partial<ListenInfo>;
  if (typeof v.url !== "string" || !/^http:\/\/(127\.0\.0\.1|\[::1\]):\d+$/.test(v.url)) {
    throw new Error(`${path}: "url" must be http://127.0.0.1:PORT or http://[::1]:PORT`);
  }
  return { url: v.url, pid: Number(v.pid ?? 0), startedAt: Number(v.startedAt ?? 0) };
}

/** Removes the listen file if it still names this process (a newer instance may own it). */
export async function removeListenInfo(stateDir: string, pid: number): Promise<void> {
  try {
    const info = await readListenInfo(stateDir);
    if (info.pid === pid) await Deno.remove(`${stateDir}/${LISTEN_FILE}`);
  } catch {
    // Absent or unreadable: nothing of ours to remove.
  }
}
