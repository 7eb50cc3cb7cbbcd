/**
 * Integrity page: watched paths, baseline status and detected changes with before/after hashes.
 *
 * @module
 */
import type { IntegrityInfo } from "../../src/api/types.ts";
import { formatTime } from "../format.ts";
import { Layout, type PageContext } from "./layout.tsx";

const BASELINE_LABEL = { none: "no baseline", clean: "clean", changed: "changes detected" };
const BASELINE_TONE = { none: "neutral", clean: "ok", changed: "bad" };

/** The Integrity page. */
export function IntegrityPage({ ctx, info }: { ctx: PageContext; info: IntegrityInfo }) {
  const b = info.baseline;
  return (
    <Layout title="Integrity" active="integrity" ctx={ctx}>
      <section class="panel">
        <h2>Baseline</h2>
        <p data-test="baseline">
          <span class={`badge badge-${BASELINE_TONE[b.status]}`}>{BASELINE_LABEL[b.status]}</span>
          {" "}
          {b.files} files{b.createdAt ? `, taken ${formatTime(b.createdAt)}` : ""}
        </p>
      </section>
      <section class="panel">
        <h2>Watched paths</h2>
        {info.watches.length === 0
          ? <p class="empty">Nothing is watched. Add [[integrity.watch]] to rules.toml.</p>
          : (
            <div class="table-wrap">
              <table class="table stack">
                <thead>
                  <tr>
                    <th>Path</th>
                    <th>Recursive</th>
                    <th class="right">Files</th>
                  </tr>
                </thead>
                <tbody>
                  {info.watches.map((w) => (
                    <tr key={w.path} data-test="watch-row">
                      <td class="mono break" data-label="path">
                        {w.path}
                        {w.present === false && (
                          <>
                            {" "}
                            <span
                              class="badge badge-neutral"
                              data-test="not-present"
                              title="watched for its creation"
                            >
                              not present yet
                            </span>
                          </>
                        )}
                      </td>
                      <td data-label="recursive">{w.recursive ? "yes" : "no"}</td>
                      <td class="right mono" data-label="files">{w.files}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
      </section>
      <section class="panel">
        <h2>Changes</h2>
        {info.changes.length === 0
          ? <p class="empty">No change since the baseline.</p>
          : (
            <div class="table-wrap">
              <table class="table stack" data-test="integrity-changes">
                <thead>
                  <tr>
                    <th>Time</th>
                    <th>Change</th>
                    <th>Path</th>
                    <th>Before</th>
                    <th>After</th>
                  </tr>
                </thead>
                <tbody>
                  {info.changes.map((c, i) => (
                    <tr key={i}>
                      <td class="nowrap" data-label="time">{formatTime(c.time)}</td>
                      <td data-label="change">
                        {c.change === "package-update"
                          ? (
                            <span class="badge badge-ok" data-test="package-update">
                              package update {String(c.details?.oldVersion ?? "?")} →{" "}
                              {String(c.details?.newVersion ?? "?")} (approved by package)
                            </span>
                          )
                          : <span class="badge badge-bad">{c.change}</span>}
                      </td>
                      <td class="mono break" data-label="path">{c.path}</td>
                      <td class="mono small break" data-label="before" title={c.oldHash}>
                        {c.oldHash ?? "—"}
                      </td>
                      <td class="mono small break" data-label="after" title={c.newHash}>
                        {c.newHash ?? "—"}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
      </section>
    </Layout>
  );
}
