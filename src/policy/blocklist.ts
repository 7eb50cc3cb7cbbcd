/**
 * Blocklists: the text formats a `[[blocklist]]` source may have, and the deny rule a parsed list
 * becomes. Each list compiles as one synthetic rule `blocklist:<id>` placed before the
 * `[[rule]]`s (so a listed destination is denied whatever a later rule allows) and its kernel hit
 * counter is the list's hit counter. CIDR lists go into the address tries like `remote`; name
 * lists into the name maps like `remote_host` (judged in the connect hooks, by the name the app
 * resolved).
 *
 * Formats, one entry a line, `#` comments and blank lines ignored:
 * - `hosts`: `0.0.0.0 name [name...]` / `127.0.0.1 name` / `:: name` (the hosts-file blocklists);
 *   the names are blocked exactly; "localhost"-style entries are skipped.
 * - `domains`: `name` — the name and every name below it.
 * - `cidr`: `192.0.2.0/24`, `2001:db8::/32` or a bare address.
 *
 * @module
 */
import type { Blocklist, Cidr, Rule } from "../config/model.ts";
import { type HostPattern, parseHostPattern } from "../config/hostname.ts";
import { parseCidr } from "../config/cidr.ts";

/** Largest source the daemon reads, in bytes. */
export const MAX_BLOCKLIST_BYTES = 8 * 1024 * 1024;
/** Most entries one list may hold (the kernel maps are shared with the rules). */
export const MAX_BLOCKLIST_ENTRIES = 20_000;

/** A parsed list. */
export interface ParsedBlocklist {
  nets: Cidr[];
  names: HostPattern[];
}

/** A list that cannot be used; the message names the line. */
export class BlocklistError extends Error {
  override name = "BlocklistError";
}

const SKIP_HOSTS = new Set([
  "localhost",
  "localhost.localdomain",
  "local",
  "broadcasthost",
  "ip6-localhost",
  "ip6-loopback",
  "ip6-localnet",
  "ip6-mcastprefix",
  "ip6-allnodes",
  "ip6-allrouters",
  "ip6-allhosts",
  "0.0.0.0",
]);

/**
 * Parses a list's text. Throws {@link BlocklistError} ("line N: …") on the first bad line, or
 * when it holds more than {@link MAX_BLOCKLIST_ENTRIES} entries or nothing at all.
 *
 * @example
 * ```ts
 * parseBlocklist("0.0.0.0 ads.example\n", "hosts").names[0].text; // "ads.example"
 * ```
 */
export function parseBlocklist(text: string, format: Blocklist["format"]): ParsedBlocklist {
  const nets: Cidr[] = [];
  const names = new Map<string, HostPattern>();
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].replace(/#.*/, "").trim();
    if (line === "") continue;
    const at = `line ${i + 1}`;
    try {
      if (format === "cidr") {
        if (line.includes(" ")) throw new Error(`expected one network, got "${line}"`);
        const t = line.includes("/") ? line : `${line}/${line.includes(":") ? 128 : 32}`;
        nets.push(parseCidr(t));
      } else if (format === "hosts") {
        const [addr, ...hosts] = line.split(/\s+/);
        if (
          !/^(0\.0\.0\.0|127\.0\.0\.1|::1?|0:0:0:0:0:0:0:[01])$/.test(addr) || hosts.length === 0
        ) {
          throw new Error(`expected "0.0.0.0 name", got "${line}"`);
        }
        for (const h of hosts) {
          const lower = h.toLowerCase();
          if (SKIP_HOSTS.has(lower)) continue;
          const p = parseHostPattern(lower);
          names.set(p.text, p);
        }
      } else {
        const lower = line.toLowerCase().replace(/^\*\./, "");
        const p = parseHostPattern(lower);
        names.set(p.text, p);
        if (p.name.includes(".")) {
          const w = parseHostPattern(`*.${p.name}`);
          names.set(w.text, w);
        }
      }
    } catch (e) {
      throw new BlocklistError(`${at}: ${(e as Error).message}`);
    }
    if (nets.length + names.size > MAX_BLOCKLIST_ENTRIES) {
      throw new BlocklistError(
        `${at}: more than ${MAX_BLOCKLIST_ENTRIES} entries; a list this long does not fit`,
      );
    }
  }
  if (nets.length + names.size === 0) throw new BlocklistError("the list has no entries");
  return { nets, names: [...names.values()] };
}

/** The rule id a list's hits are counted under. */
export function blocklistRuleId(id: string): string {
  return `blocklist:${id}`;
}

/** The synthetic deny rule of a parsed list (placed before the [[rule]]s by the caller). */
export function blocklistRule(list: Blocklist, parsed: ParsedBlocklist, index: number): Rule {
  const rule: Rule = {
    id: blocklistRuleId(list.id),
    action: "deny",
    direction: "out",
    protocol: "any",
    index,
    loc: list.loc,
    comment: `blocklist ${list.id} (${list.source})`,
  };
  if (list.format === "cidr") rule.remote = parsed.nets;
  else rule.remoteHost = parsed.names;
  return rule;
}
