/**
 * History page: filterable, paginated events (newest first) with the why of each verdict.
 * Filters are a GET form and pages are `before=<id>` links, so it works without JavaScript and
 * every view has a shareable URL.
 *
 * @module
 */
import type { ConnEvent } from "../../src/api/types.ts";
import { EventsTable } from "./events_table.tsx";
import { Layout, type PageContext } from "./layout.tsx";

/** Filters as given in the query. */
export interface HistoryFilter {
  verdict?: "allow" | "deny";
  app?: string;
  /** `YYYY-MM-DD` lower bound (local day). */
  since?: string;
  before?: number;
}

/** Rows per page. */
export const HISTORY_PAGE_SIZE = 50;

/** The History page. */
export function HistoryPage(
  { ctx, filter, events, hasMore }: {
    ctx: PageContext;
    filter: HistoryFilter;
    events: ConnEvent[];
    hasMore: boolean;
  },
) {
  const last = events[events.length - 1];
  const next = new URLSearchParams();
  if (filter.verdict) next.set("verdict", filter.verdict);
  if (filter.app) next.set("app", filter.app);
  if (filter.since) next.set("since", filter.since);
  const first = next.toString();
  if (last?.id !== undefined) next.set("before", String(last.id));
  return (
    <Layout title="History" active="history" ctx={ctx}>
      <form method="get" action="/history" class="filters">
        <label>
          verdict
          <select name="verdict">
            <option value="" selected={!filter.verdict}>any</option>
            <option value="allow" selected={filter.verdict === "allow"}>allow</option>
            <option value="deny" selected={filter.verdict === "deny"}>deny</option>
          </select>
        </label>
        <label>
          app
          <input name="app" value={filter.app ?? ""} placeholder="app name" />
        </label>
        <label>
          since
          <input name="since" type="date" value={filter.since ?? ""} />
        </label>
        <button type="submit" class="btn">Filter</button>
        <a class="btn btn-ghost" href="/history">Reset</a>
      </form>
      <EventsTable events={events} />
      <nav class="pager" aria-label="pages">
        {filter.before !== undefined && (
          <a class="btn btn-ghost" href={`/history?${first}`}>« Newest</a>
        )}
        {hasMore && last?.id !== undefined && (
          <a class="btn" href={`/history?${next}`} data-test="older">Older »</a>
        )}
      </nav>
    </Layout>
  );
}
