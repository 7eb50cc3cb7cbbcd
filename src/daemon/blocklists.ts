/**
 * The daemon's blocklists: fetches each `[[blocklist]]` source (a file or an http(s) URL, at most
 * MAX_BLOCKLIST_BYTES, 20 s), parses it, and keeps the last good copy in
 * `<state>/blocklists/<id>.list` (written atomically). A fetch or parse that fails leaves the
 * list as it was — the last good copy, or nothing when there never was one — and says why.
 *
 * @module
 */
import type { Blocklist, Rule } from "../config/model.ts";
import type { BlocklistInfo } from "../api/types.ts";
import { writeFileAtomic } from "../config/atomic.ts";
import {
  BlocklistError,
  blocklistRule,
  MAX_BLOCKLIST_BYTES,
  parseBlocklist,
  type ParsedBlocklist,
} from "../policy/blocklist.ts";

const FETCH_TIMEOUT_MS = 20_000;

/** What is known about one list (the API's BlocklistInfo). */
export type BlocklistState = BlocklistInfo;

/** Reads a source with a size bound; throws with a readable reason. */
async function readSource(source: string): Promise<string> {
  if (source.startsWith("/")) {
    const st = await Deno.stat(source);
    if (st.size > MAX_BLOCKLIST_BYTES) {
      throw new BlocklistError(`${st.size} bytes, larger than ${MAX_BLOCKLIST_BYTES}`);
    }
    return await Deno.readTextFile(source);
  }
  const res = await fetch(source, {
    signal: AbortSignal.timeout(FETCH_TIMEOUT_MS),
    redirect: "follow",
  });
  if (!res.ok || !res.body) {
    await res.body?.cancel();
    throw new BlocklistError(`HTTP ${res.status} ${res.statusText}`.trim());
  }
  const chunks: Uint8Array[] = [];
  let total = 0;
  for await (const c of res.body) {
    total += c.length;
    if (total > MAX_BLOCKLIST_BYTES) {
      throw new BlocklistError(`larger than ${MAX_BLOCKLIST_BYTES} bytes`);
    }
    chunks.push(c);
  }
  const all = new Uint8Array(total);
  let off = 0;
  for (const c of chunks) {
    all.set(c, off);
    off += c.length;
  }
  return new TextDecoder("utf-8", { fatal: true }).decode(all);
}

/** The lists of one daemon and their copies in force. */
export class Blocklists {
  #dir: string;
  #parsed = new Map<string, ParsedBlocklist>();
  #state = new Map<string, BlocklistState>();

  /** Keeps last good copies in `<stateDir>/blocklists`. */
  constructor(stateDir: string) {
    this.#dir = `${stateDir}/blocklists`;
  }

  /**
   * Refreshes `lists` (all of them, in parallel) and forgets lists no longer configured. Never
   * throws: a list that fails keeps its previous copy (from memory or the state folder).
   */
  async refresh(lists: readonly Blocklist[]): Promise<void> {
    await Deno.mkdir(this.#dir, { recursive: true, mode: 0o700 });
    const ids = new Set(lists.map((l) => l.id));
    for (const id of [...this.#parsed.keys()]) if (!ids.has(id)) this.#parsed.delete(id);
    for (const id of [...this.#state.keys()]) if (!ids.has(id)) this.#state.delete(id);
    await Promise.all(lists.map((l) => this.#refreshOne(l)));
  }

  async #refreshOne(list: Blocklist): Promise<void> {
    const copy = `${this.#dir}/${list.id}.list`;
    const st: BlocklistState = this.#state.get(list.id) ??
      { id: list.id, source: list.source, format: list.format, entries: 0 };
    st.source = list.source;
    try {
      const text = await readSource(list.source);
      const parsed = parseBlocklist(text, list.format);
      await writeFileAtomic(copy, text, 0o600);
      this.#parsed.set(list.id, parsed);
      st.entries = parsed.nets.length + parsed.names.length;
      st.fetchedAt = Date.now();
      st.fromCache = false;
      delete st.error;
    } catch (e) {
      st.error = `${list.source}: ${(e as Error).message}`;
      // First failure since start: the last good copy from the state folder, if any.
      if (!this.#parsed.has(list.id) || st.format !== list.format) {
        try {
          const parsed = parseBlocklist(await Deno.readTextFile(copy), list.format);
          this.#parsed.set(list.id, parsed);
          st.entries = parsed.nets.length + parsed.names.length;
          st.fromCache = true;
          st.fetchedAt = (await Deno.stat(copy)).mtime?.getTime();
        } catch {
          this.#parsed.delete(list.id);
          st.entries = 0;
        }
      }
    }
    st.format = list.format;
    this.#state.set(list.id, st);
  }

  /** The deny rules of the lists in force, in `lists` order, for the start of the rule list. */
  rules(lists: readonly Blocklist[]): Rule[] {
    const out: Rule[] = [];
    for (const l of lists) {
      const p = this.#parsed.get(l.id);
      if (p) out.push(blocklistRule(l, p, out.length));
    }
    return out;
  }

  /** State of every configured list, for status and the Rules page. */
  states(): BlocklistState[] {
    return [...this.#state.values()];
  }
}
