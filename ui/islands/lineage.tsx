/**
 * A process lineage drawn as a small tree, oldest ancestor at the top, so "who started this" reads
 * top-down. Used by islands and server pages alike.
 *
 * @module
 */
import type { LineageEntry } from "../../src/api/types.ts";

/** Props of {@link LineageTree}. */
export interface LineageTreeProps {
  /** Nearest ancestor first (as events carry it). */
  lineage: LineageEntry[];
  /** The process itself, drawn as the last node. */
  self?: { comm: string; tgid: number; exe?: string };
}

/** Renders ancestors → self as nested list items. */
export function LineageTree({ lineage, self }: LineageTreeProps) {
  const nodes: { comm: string; tgid: number; exe?: string }[] = [...lineage].reverse().map((
    l,
  ) => ({ comm: l.comm, tgid: l.tgid, exe: l.exe }));
  if (self) nodes.push(self);
  if (nodes.length === 0) return <span class="muted">no lineage recorded</span>;
  return (
    <ol class="lineage" aria-label="process lineage, oldest first">
      {nodes.map((n, i) => (
        <li key={`${n.tgid}-${i}`} class={i === nodes.length - 1 ? "lineage-self" : undefined}>
          <span class="mono">{n.comm}</span> <span class="muted">pid {n.tgid}</span>
          {n.exe && n.exe !== n.comm ? <span class="muted mono small">{n.exe}</span> : null}
        </li>
      ))}
    </ol>
  );
}
