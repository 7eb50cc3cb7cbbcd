/**
 * Rules page: active rules with hit counters, the rules.toml editor (admins) with validation
 * errors drawn at their lines, and the "explain a packet" box.
 *
 * @module
 */
import type {
  BlocklistInfo,
  ExplainRequest,
  ExplainResult,
  RulesProblem,
  RulesView,
} from "../../src/api/types.ts";
import { Layout, type PageContext } from "./layout.tsx";

/** Data of the Rules page. */
export interface RulesPageData {
  view: RulesView;
  /** Text in the editor: the file, or the rejected submission. */
  draft: string;
  problems: RulesProblem[];
  explainReq?: Partial<ExplainRequest>;
  explain?: ExplainResult;
  explainError?: string;
}

/** The Rules page. */
export function RulesPage({ ctx, data }: { ctx: PageContext; data: RulesPageData }) {
  const { view } = data;
  return (
    <Layout title="Rules" active="rules" ctx={ctx}>
      <section class="panel">
        <h2>Active rules</h2>
        <p class="muted small">
          First match wins, top to bottom. From <span class="mono">{view.path}</span>.
        </p>
        {view.rules.length === 0
          ? <p class="empty">No rules: only the defaults apply.</p>
          : (
            <div class="table-wrap">
              <table class="table stack" data-test="rules-table">
                <thead>
                  <tr>
                    <th>#</th>
                    <th>Id</th>
                    <th>Action</th>
                    <th>Dir</th>
                    <th>Proto</th>
                    <th>Remote</th>
                    <th>Ports</th>
                    <th>App</th>
                    <th>Via</th>
                    <th class="right">Hits</th>
                  </tr>
                </thead>
                <tbody>
                  {view.rules.map((r, i) => (
                    <tr key={r.id} data-rule={r.id}>
                      <td class="muted" data-label="#">{i + 1}</td>
                      <td class="strong mono wrap-any" data-label="id">
                        {r.id}
                        {r.comment && <div class="small muted sans">{r.comment}</div>}
                      </td>
                      <td data-label="action">
                        <span class={`badge badge-${r.action === "allow" ? "ok" : "bad"}`}>
                          {r.action}
                        </span>
                      </td>
                      <td data-label="dir">{r.direction}</td>
                      <td data-label="proto">{r.protocol}</td>
                      <td class="mono small wrap-any" data-label="remote">
                        {r.remoteHost?.join(", ") ?? r.remote?.join(", ") ?? "any"}
                      </td>
                      <td class="mono small wrap-any" data-label="ports">
                        {r.ports?.join(", ") ?? "any"}
                      </td>
                      <td class="wrap-any" data-label="app">{r.app ?? "—"}</td>
                      <td class="wrap-any" data-label="via">{r.via ?? "—"}</td>
                      <td class="right mono" data-label="hits">{r.hits}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
      </section>
      {view.blocklists && view.blocklists.length > 0 && <Blocklists lists={view.blocklists} />}
      <ExplainBox data={data} />
      {ctx.role === "admin" && <Editor ctx={ctx} data={data} />}
    </Layout>
  );
}

/** The [[blocklist]]s: what is in force, since when, and why a refresh failed. */
function Blocklists({ lists }: { lists: BlocklistInfo[] }) {
  return (
    <section class="panel">
      <h2>Blocklists</h2>
      <p class="muted small">
        Denied before the rules above, for every app. A list that fails to refresh keeps its last
        good copy.
      </p>
      <div class="table-wrap">
        <table class="table" data-test="blocklists-table">
          <thead>
            <tr>
              <th>Id</th>
              <th>Format</th>
              <th>Source</th>
              <th class="right">Entries</th>
              <th class="right">Hits</th>
              <th>Fetched</th>
              <th>Problem</th>
            </tr>
          </thead>
          <tbody>
            {lists.map((b) => (
              <tr key={b.id} data-blocklist={b.id}>
                <td class="strong mono">{b.id}</td>
                <td>{b.format}</td>
                <td class="mono small break">{b.source}</td>
                <td class="right mono">{b.entries}</td>
                <td class="right mono">{b.hits ?? 0}</td>
                <td class="small nowrap">
                  {b.fetchedAt ? new Date(b.fetchedAt).toISOString().slice(0, 16) : "never"}
                  {b.fromCache && <div class="muted">last good copy</div>}
                </td>
                <td class="small">{b.error ?? "—"}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}

function ExplainBox({ data }: { data: RulesPageData }) {
  const q = data.explainReq ?? {};
  return (
    <section class="panel">
      <h2>Explain a packet</h2>
      <form method="get" action="/rules" class="explain-form">
        <label>
          direction
          <select name="direction">
            <option value="out" selected={q.direction !== "in"}>out</option>
            <option value="in" selected={q.direction === "in"}>in</option>
          </select>
        </label>
        <label>
          protocol
          <select name="protocol">
            {(["tcp", "udp", "icmp", "icmpv6"] as const).map((p) => (
              <option key={p} value={p} selected={q.protocol === p}>{p}</option>
            ))}
          </select>
        </label>
        <label>
          remote address
          <input name="remote" value={q.remote ?? ""} placeholder="203.0.113.7" required />
        </label>
        <label>
          port
          <input name="port" type="number" min={0} max={65535} value={q.port ?? ""} required />
        </label>
        <label class="grow">
          executable (optional)
          <input name="exe" value={q.exe ?? ""} placeholder="/usr/bin/curl" />
        </label>
        <label title="rules with via = NAME apply: the process was started, at any depth, by that app (out only)">
          started by app (optional)
          <input
            name="via"
            value={q.via ?? ""}
            placeholder="backup"
            list="explain-via-apps"
            data-test="explain-via"
          />
          <datalist id="explain-via-apps">
            {viaNames(data.view).map((n) => <option key={n} value={n} />)}
          </datalist>
        </label>
        <button type="submit" class="btn" name="explain" value="1">Explain</button>
      </form>
      {data.explainError && (
        <p class="flash flash-error" data-test="explain-error">{data.explainError}</p>
      )}
      {data.explain && (
        <p class={`explain-result explain-${data.explain.verdict}`} data-test="explain-result">
          <span class={`badge badge-${data.explain.verdict === "allow" ? "ok" : "bad"}`}>
            {data.explain.verdict}
          </span>{" "}
          {data.explain.why}
        </p>
      )}
    </section>
  );
}

/** The app names rules use in `via` (suggestions for the explain form's "started by"). */
function viaNames(view: RulesView): string[] {
  return [...new Set(view.rules.flatMap((r) => (r.via ? [r.via] : [])))].sort();
}

function Editor({ ctx, data }: { ctx: PageContext; data: RulesPageData }) {
  const lines = data.draft.split("\n");
  const byLine = new Map<number, RulesProblem[]>();
  for (const p of data.problems) byLine.set(p.line, [...(byLine.get(p.line) ?? []), p]);
  return (
    <section class="panel">
      <h2>Edit rules.toml</h2>
      {data.problems.length > 0 && (
        <div class="problems" data-test="rules-problems" role="alert">
          <p class="flash flash-error">
            Not saved: {data.problems.length}{" "}
            problem{data.problems.length === 1 ? "" : "s"}. The active rules are unchanged.
          </p>
          <ol class="annotated mono" aria-label="rules.toml with problems marked">
            {lines.map((text, i) => {
              const n = i + 1;
              const ps = byLine.get(n);
              if (!ps && !nearProblem(n, byLine)) return null;
              return (
                <li key={n} value={n} class={ps ? "line-bad" : undefined} data-line={n}>
                  <span class="code-line">{text || " "}</span>
                  {ps?.map((p, j) => (
                    <div key={j} class="problem" data-test="problem" data-line={p.line}>
                      line {p.line}, column {p.col}: {p.message}
                    </div>
                  ))}
                </li>
              );
            })}
          </ol>
        </div>
      )}
      <form method="post" action="/rules">
        <input type="hidden" name="_csrf" value={ctx.csrf} />
        <textarea
          name="text"
          class="editor mono"
          rows={Math.min(40, Math.max(12, lines.length + 2))}
          spellcheck={false}
          aria-label="rules.toml"
          data-test="rules-editor"
        >
          {data.draft}
        </textarea>
        <div class="row">
          <button type="submit" class="btn btn-primary" data-test="rules-save">
            Validate and save
          </button>
          <span class="muted small">
            Saved atomically, then the daemon reloads. Invalid text changes nothing.
          </span>
        </div>
      </form>
    </section>
  );
}

/** Shows two lines of context around each problem line. */
function nearProblem(n: number, byLine: Map<number, unknown>): boolean {
  for (const l of byLine.keys()) if (Math.abs(l - n) <= 2) return true;
  return false;
}
