/**
 * Apps island: every registered app with its hash status. Server-rendered with plain forms for
 * "Rehash" and "Rehash all"; in the browser it follows `/api/live` so a tampered binary turns red
 * and a rehash shows progress without a reload.
 *
 * @module
 */
import { useSignal } from "@preact/signals";
import { useEffect } from "preact/hooks";
import type { AppInfo } from "../../src/api/types.ts";
import { formatTime, shortHash } from "../format.ts";
import { postJson, subscribeLive } from "./live_client.ts";
import { StatusBadge } from "./status_badge.tsx";

/** Props of {@link AppsTable}. */
export interface AppsTableProps {
  apps: AppInfo[];
  csrf: string;
  canWrite: boolean;
}

/** What an approval rests on, as the Apps page says it. */
const LEVEL_LABEL = {
  admin: "approved by hand",
  deb: "approved by package (archive SHA-256)",
  md5sums: "approved by package (dpkg MD5, weaker)",
};
const LEVEL_HELP = {
  admin: "An admin approved this hash; signed updates of the package will be followed.",
  deb: "The file's SHA-256 in the package archive, whose hash a signed apt index lists.",
  md5sums: "dpkg's recorded MD5 of the file: weaker than the archive check (the .deb was not " +
    "in apt's cache).",
};

function upsert(apps: AppInfo[], a: AppInfo): AppInfo[] {
  const i = apps.findIndex((x) => x.name === a.name);
  if (i === -1) return [...apps, a];
  const next = [...apps];
  next[i] = a;
  return next;
}

/** The apps table with rehash controls and live status. */
export function AppsTable(props: AppsTableProps) {
  const apps = useSignal<AppInfo[]>(props.apps);
  const progress = useSignal<{ done: number; total: number; path?: string } | null>(null);
  const error = useSignal<string | null>(null);

  useEffect(() =>
    subscribeLive((m) => {
      if (m.type === "app") apps.value = upsert(apps.value, m.app);
      else if (m.type === "rehash-progress") progress.value = m;
    }), []);

  const rehash = async (ev: SubmitEvent) => {
    ev.preventDefault();
    const target = new FormData(ev.currentTarget as HTMLFormElement).get("target");
    error.value = null;
    try {
      const updated = await postJson<AppInfo[]>(
        "/api/apps/rehash",
        target ? { target } : {},
        props.csrf,
      );
      let next = apps.value;
      for (const a of updated) next = upsert(next, a);
      apps.value = next;
    } catch (e) {
      error.value = e instanceof Error ? e.message : String(e);
    }
  };

  const p = progress.value;
  const counts = { valid: 0, invalid: 0, other: 0 };
  for (const a of apps.value) {
    if (a.status === "valid") counts.valid++;
    else if (a.status === "invalid") counts.invalid++;
    else counts.other++;
  }
  return (
    <div class="apps">
      <div class="toolbar">
        <span class="count">
          {apps.value.length} apps · {counts.valid} valid · {counts.invalid} mismatched ·{" "}
          {counts.other} missing or not hashed
        </span>
        {props.canWrite && (
          <form method="post" action="/apps/rehash" onSubmit={rehash}>
            <input type="hidden" name="_csrf" value={props.csrf} />
            <button type="submit" class="btn" data-test="rehash-all">Rehash all</button>
          </form>
        )}
        {p && (
          <span class="progress" role="status" data-test="rehash-progress">
            <progress max={p.total} value={p.done} /> {p.done}/{p.total}
            {p.path && <span class="mono small muted">{p.path}</span>}
          </span>
        )}
      </div>
      {error.value && <p class="flash flash-error" role="alert">{error.value}</p>}
      {apps.value.length === 0
        ? <p class="empty">No app is registered yet. Approve one from the Learning page.</p>
        : (
          <div class="table-wrap">
            <table class="table stack" data-test="apps-table">
              <thead>
                <tr>
                  <th>Status</th>
                  <th>Name</th>
                  <th>Path</th>
                  <th>SHA-256</th>
                  <th>Package</th>
                  <th>Last verified</th>
                  <th>Flags</th>
                  {props.canWrite && <th class="right">Actions</th>}
                </tr>
              </thead>
              <tbody>
                {apps.value.map((a) => (
                  <tr key={a.name} data-app={a.name} class={`row-${a.status}`}>
                    <td data-label="status">
                      <StatusBadge status={a.status} />
                    </td>
                    <td class="strong" data-label="name">{a.name}</td>
                    <td class="mono break" data-label="path">{a.path}</td>
                    <td class="mono" title={a.sha256} data-label="sha-256">
                      {shortHash(a.sha256)}
                      {a.status === "invalid" && a.actualSha256 && (
                        <div class="small bad-text">now {shortHash(a.actualSha256)}</div>
                      )}
                    </td>
                    <td class="small" data-label="package" data-test="package">
                      {a.package
                        ? (
                          <>
                            {a.package.name} {a.package.version ?? ""}
                            <div class="muted" title={LEVEL_HELP[a.package.level]}>
                              {LEVEL_LABEL[a.package.level]}
                            </div>
                          </>
                        )
                        : "—"}
                      {a.packageRefusal && (
                        <div class="bad-text">not from the package: {a.packageRefusal.detail}</div>
                      )}
                    </td>
                    <td data-label="verified">{formatTime(a.lastVerified)}</td>
                    <td class="small" data-label="flags">
                      {[a.inherit && "inherit", a.interpreter && "interpreter", a.duration]
                        .filter(Boolean).join(", ") || (a.onlyVia?.length ? "" : "—")}
                      {a.onlyVia?.length
                        ? (
                          <div
                            data-test="only-via"
                            title="trusted only when started (at any depth) by one of these apps"
                          >
                            only via {a.onlyVia.join(", ")}
                          </div>
                        )
                        : null}
                    </td>
                    {props.canWrite && (
                      <td class="right actions" data-label="">
                        <form method="post" action="/apps/rehash" onSubmit={rehash}>
                          <input type="hidden" name="_csrf" value={props.csrf} />
                          <input type="hidden" name="target" value={a.name} />
                          <button type="submit" class="btn btn-small">Rehash</button>
                        </form>
                        {a.status === "invalid" && (
                          <a
                            class="btn btn-small btn-danger"
                            href={`/apps/approve-hash?name=${encodeURIComponent(a.name)}`}
                          >
                            Approve new hash…
                          </a>
                        )}
                      </td>
                    )}
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
    </div>
  );
}
