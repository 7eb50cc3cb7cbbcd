/**
 * Apps page (hash management, an island) and the "approve new hash" confirmation that shows the
 * old and the new hash side by side before anything changes.
 *
 * @module
 */
import type { AppInfo } from "../../src/api/types.ts";
import { formatTime } from "../format.ts";
import { AppsTable } from "../islands/apps_table.tsx";
import { StatusBadge } from "../islands/status_badge.tsx";
import { Island, Layout, type PageContext } from "./layout.tsx";

/** The Apps page. */
export function AppsPage({ ctx, apps }: { ctx: PageContext; apps: AppInfo[] }) {
  return (
    <Layout title="Apps" active="apps" ctx={ctx}>
      <p class="lead">
        Every approved app with the SHA-256 it was approved at.{" "}
        <strong>valid</strong>: the file still hashes to it.{" "}
        <strong>hash mismatch</strong>: the file changed, so its network access is revoked until you
        approve the new hash.
      </p>
      <Island
        name="AppsTable"
        component={AppsTable}
        props={{ apps, csrf: ctx.csrf, canWrite: ctx.role === "admin" }}
      />
    </Layout>
  );
}

/** Old vs new hash of a mismatched app, with the approve button. */
export function ApproveHashPage({ ctx, app }: { ctx: PageContext; app: AppInfo }) {
  return (
    <Layout title={`Approve new hash of ${app.name}`} active="apps" ctx={ctx}>
      <section class="panel confirm">
        <p>
          <StatusBadge status={app.status} /> <span class="mono break">{app.path}</span>
        </p>
        <dl class="facts hashes">
          <dt>approved hash</dt>
          <dd class="mono break" data-test="old-hash">{app.sha256}</dd>
          <dt>file hashes now</dt>
          <dd class="mono break bad-text" data-test="new-hash">{app.actualSha256 ?? "—"}</dd>
          <dt>last verified</dt>
          <dd>{formatTime(app.lastVerified)}</dd>
        </dl>
        <p class="muted">
          Approve only if you changed this file yourself (an update you installed). If you did not,
          leave it red and find out who did.
        </p>
        {app.actualSha256 && (
          <form method="post" action="/apps/approve-hash" class="row">
            <input type="hidden" name="_csrf" value={ctx.csrf} />
            <input type="hidden" name="name" value={app.name} />
            <input type="hidden" name="sha256" value={app.actualSha256} />
            <button type="submit" class="btn btn-danger" data-test="approve-hash">
              Approve new hash
            </button>
            <a class="btn btn-ghost" href="/apps">Cancel</a>
          </form>
        )}
      </section>
    </Layout>
  );
}
