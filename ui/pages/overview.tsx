/**
 * Overview: mode (with the switch for admins), today's verdict counts, lost events, recent
 * denials and integrity alarms.
 *
 * @module
 */
import type { ConnEvent, EventCounts, IntegrityChange, StatusInfo } from "../../src/api/types.ts";
import type { Mode } from "../../src/config/model.ts";
import { formatTime, shortHash } from "../format.ts";
import { EventsTable } from "./events_table.tsx";
import { Layout, type PageContext } from "./layout.tsx";

/** Data of the Overview page. */
export interface OverviewData {
  status: StatusInfo;
  today: EventCounts;
  denials: ConnEvent[];
  alarms: IntegrityChange[];
}

function other(mode: Mode): Mode {
  return mode === "learning" ? "enforcing" : "learning";
}

/** The Overview page. */
export function OverviewPage({ ctx, data }: { ctx: PageContext; data: OverviewData }) {
  const s = data.status;
  return (
    <Layout title="Overview" active="overview" ctx={ctx}>
      <section class={`mode-banner mode-${s.mode}`} data-test="mode">
        <div>
          <div class="label">Mode</div>
          <div class="mode-name">{s.mode}</div>
          <p class="muted">
            {s.mode === "enforcing"
              ? "Unknown apps are denied network access."
              : "Unknown apps are allowed and reported on the Learning page."}
          </p>
        </div>
        {ctx.role === "admin" && (
          <a class="btn" href={`/mode?to=${other(s.mode)}`} data-test="mode-switch">
            Switch to {other(s.mode)}…
          </a>
        )}
      </section>
      {s.warnings.length > 0 && (
        <ul class="warnings">
          {s.warnings.map((w) => <li key={w} class="flash flash-error">{w}</li>)}
        </ul>
      )}
      <section class="tiles" aria-label="today">
        <Tile label="allowed today" value={data.today.allow} tone="ok" />
        <Tile label="denied today" value={data.today.deny} tone="bad" />
        <Tile label="unknown apps today" value={data.today.unknown} tone="warn" />
        <Tile
          label="lost events"
          value={s.lostEvents}
          tone={s.lostEvents > 0 ? "bad" : "neutral"}
        />
        <Tile
          label="updated by packages today"
          value={s.packages?.updatedToday ?? 0}
          tone="neutral"
        />
        <Tile
          label="apps valid / total"
          value={`${s.apps.valid} / ${s.apps.total}`}
          tone={s.apps.invalid > 0 ? "bad" : "ok"}
        />
      </section>
      <div class="grid-2">
        <section class="panel">
          <h2>Recent denials</h2>
          <EventsTable events={data.denials} compact />
          <p>
            <a href="/history?verdict=deny">All denials →</a>
          </p>
        </section>
        <section class="panel">
          <h2>Integrity alarms</h2>
          {data.alarms.length === 0
            ? <p class="empty">No changes detected.</p>
            : (
              <ul class="alarms">
                {data.alarms.map((a, i) => (
                  <li key={i}>
                    <span class="badge badge-bad">{a.change}</span>{" "}
                    <span class="mono break">{a.path}</span>
                    <div class="small muted">
                      {formatTime(a.time)} · {shortHash(a.oldHash)} → {shortHash(a.newHash)}
                    </div>
                  </li>
                ))}
              </ul>
            )}
          <p>
            <a href="/integrity">Integrity →</a>
          </p>
        </section>
      </div>
      <section class="panel">
        <h2>Instance</h2>
        <dl class="facts">
          <dt>version</dt>
          <dd>{s.version}</dd>
          <dt>instance</dt>
          <dd>{s.instance}</dd>
          <dt>pid</dt>
          <dd>{s.pid}</dd>
          <dt>started</dt>
          <dd>{formatTime(s.startedAt)}</dd>
          <dt>config</dt>
          <dd class="mono break">{s.configDir}</dd>
          <dt>attach points</dt>
          {/* Real attach points carry long cgroup paths without spaces: let them wrap. */}
          <dd class="mono break">{s.attachPoints.join(", ") || "—"}</dd>
        </dl>
      </section>
    </Layout>
  );
}

function Tile(
  { label, value, tone }: { label: string; value: number | string; tone: string },
) {
  return (
    <div class={`tile tile-${tone}`}>
      <div class="tile-value">{value}</div>
      <div class="tile-label">{label}</div>
    </div>
  );
}

/** Confirmation before switching mode (works without JavaScript). */
export function ModeConfirmPage(
  { ctx, current, to }: { ctx: PageContext; current: Mode; to: Mode },
) {
  return (
    <Layout title="Switch mode" active="overview" ctx={ctx}>
      <section class="panel confirm">
        <p>
          Switch from <strong>{current}</strong> to <strong>{to}</strong>?
        </p>
        <p class="muted">
          {to === "enforcing"
            ? "Every app without an approval will lose network access immediately."
            : "Unknown apps will be allowed and only reported until you switch back."}
        </p>
        <form method="post" action="/mode" class="row">
          <input type="hidden" name="_csrf" value={ctx.csrf} />
          <input type="hidden" name="mode" value={to} />
          {to === "enforcing" && (
            <label class="check">
              <input
                type="checkbox"
                name="close_unapproved"
                value="1"
                data-test="close-unapproved"
              />{" "}
              Also close the live connections of apps that are not approved
            </label>
          )}
          <button
            type="submit"
            class={`btn ${to === "enforcing" ? "btn-danger" : "btn-primary"}`}
            data-test="mode-confirm"
          >
            Yes, switch to {to}
          </button>
          <a class="btn btn-ghost" href="/">Cancel</a>
        </form>
      </section>
    </Layout>
  );
}
