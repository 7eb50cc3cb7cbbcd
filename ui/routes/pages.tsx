/**
 * The HTML pages and their form POSTs. Every POST ends in a 303 redirect with a flash message
 * (post/redirect/get), except a rejected rules.toml, which re-renders the editor with the errors.
 *
 * @module
 */
import type { Context, Hono } from "hono";
import type { VNode } from "preact";
import { renderToString } from "preact-render-to-string";
import { ForbiddenError } from "../../src/api/types.ts";
import type { ExplainRequest, ExplainResult } from "../../src/api/types.ts";
import type { Flash } from "../auth/sessions.ts";
import {
  InputError,
  parseDuration,
  parseExeList,
  parseExplain,
  parseMode,
  parseName,
  parseRulesText,
  parseSha256,
  parseTarget,
} from "../input.ts";
import { ApproveHashPage, AppsPage } from "../pages/apps.tsx";
import { ErrorPage } from "../pages/error.tsx";
import { HISTORY_PAGE_SIZE, type HistoryFilter, HistoryPage } from "../pages/history.tsx";
import { IntegrityPage } from "../pages/integrity.tsx";
import type { PageContext } from "../pages/layout.tsx";
import { LearningPage } from "../pages/learning.tsx";
import { ModeConfirmPage, OverviewPage } from "../pages/overview.tsx";
import { RulesPage } from "../pages/rules.tsx";
import type { UiDeps, UiEnv } from "../ui_env.ts";
import { approveFromLearning } from "./learning_actions.ts";

type C = Context<UiEnv>;

function pageCtx(c: C, deps: UiDeps): PageContext {
  const s = c.var.session;
  const flash = s.flash;
  s.flash = undefined; // shown once
  return { role: s.role, csrf: s.csrf, assets: deps.assets, flash };
}

function html(c: C, node: VNode, status: 200 | 400 | 403 | 404 | 422 = 200) {
  return c.html("<!doctype html>" + renderToString(node), status);
}

function redirectWith(c: C, to: string, flash: Flash) {
  c.var.session.flash = flash;
  return c.redirect(to, 303);
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Runs a form action; input and API errors become a flash on `back`, never a half change. */
async function formAction(c: C, back: string, run: () => Promise<string>) {
  try {
    return redirectWith(c, back, { kind: "ok", text: await run() });
  } catch (e) {
    if (e instanceof ForbiddenError) return c.json({ error: e.message }, 403);
    return redirectWith(c, back, { kind: "error", text: errorText(e) });
  }
}

function startOfToday(): number {
  const d = new Date();
  d.setHours(0, 0, 0, 0);
  return d.getTime();
}

/** Registers every page route. */
export function pageRoutes(app: Hono<UiEnv>, deps: UiDeps): void {
  const { api } = deps;

  app.get("/", async (c) => {
    const caller = c.var.caller;
    const [status, today, denials, integrity] = await Promise.all([
      api.status(caller),
      api.eventCounts(caller, startOfToday()),
      api.events(caller, { verdict: "deny", limit: 8 }),
      api.integrityStatus(caller),
    ]);
    const data = { status, today, denials, alarms: integrity.changes.slice(0, 8) };
    return html(c, <OverviewPage ctx={pageCtx(c, deps)} data={data} />);
  });

  app.get("/mode", async (c) => {
    const ctx = pageCtx(c, deps);
    try {
      const to = parseMode(c.req.query("to"));
      const { mode } = await api.status(c.var.caller);
      return html(c, <ModeConfirmPage ctx={ctx} current={mode} to={to} />);
    } catch (e) {
      return html(c, <ErrorPage ctx={ctx} title="Switch mode" message={errorText(e)} />, 400);
    }
  });

  app.post("/mode", async (c) => {
    const f = await c.req.parseBody();
    return await formAction(c, "/", async () => {
      const mode = parseMode(f.mode);
      const r = await api.setMode(c.var.caller, mode, {
        closeUnapproved: f.close_unapproved === "1",
      });
      return r
        ? `Mode is now ${mode}; ${r.closed} live connection(s) closed.`
        : `Mode is now ${mode}.`;
    });
  });

  app.get("/learning", async (c) => {
    const entries = await api.learningList(c.var.caller);
    return html(c, <LearningPage ctx={pageCtx(c, deps)} entries={entries} />);
  });

  app.post("/learning", async (c) => {
    const f = await c.req.parseBody({ all: true });
    return await formAction(c, "/learning", async () => {
      const exes = parseExeList(f.exe);
      if (f.action === "deny") {
        for (const exe of exes) await api.learningDeny(c.var.caller, exe);
        return `Denied ${exes.length} app(s).`;
      }
      const apps = await approveFromLearning(api, c.var.caller, exes, {
        inherit: f.inherit === "on",
        duration: parseDuration(f.duration),
      });
      return `Approved ${apps.map((a) => a.name).join(", ")}.`;
    });
  });

  app.get("/apps", async (c) => {
    const apps = await api.appsList(c.var.caller);
    return html(c, <AppsPage ctx={pageCtx(c, deps)} apps={apps} />);
  });

  app.post("/apps/rehash", async (c) => {
    const f = await c.req.parseBody();
    return await formAction(c, "/apps", async () => {
      const target = parseTarget(f.target);
      const apps = await api.appsRehash(c.var.caller, target);
      const bad = apps.filter((a) => a.status !== "valid").length;
      return `Rehashed ${apps.length} app(s); ${bad} not valid.`;
    });
  });

  app.get("/apps/approve-hash", async (c) => {
    const ctx = pageCtx(c, deps);
    const name = c.req.query("name") ?? "";
    const app = (await api.appsList(c.var.caller)).find((a) => a.name === name);
    if (!app) {
      return html(
        c,
        <ErrorPage ctx={ctx} title="Approve new hash" message={`No app named "${name}".`} />,
        404,
      );
    }
    return html(c, <ApproveHashPage ctx={ctx} app={app} />);
  });

  app.post("/apps/approve-hash", async (c) => {
    const f = await c.req.parseBody();
    return await formAction(c, "/apps", async () => {
      const name = parseName(f.name, "name");
      const sha256 = parseSha256(f.sha256);
      const app = (await api.appsList(c.var.caller)).find((a) => a.name === name);
      if (!app) throw new InputError(`no app named "${name}"`);
      await api.appsAllow(c.var.caller, {
        path: app.path,
        name: app.name,
        inherit: app.inherit,
        duration: app.duration,
        sha256,
      });
      return `Approved the new hash of ${name}.`;
    });
  });

  app.get("/rules", async (c) => {
    const ctx = pageCtx(c, deps);
    const view = await api.rulesGet(c.var.caller);
    const q = c.req.query();
    let explainReq: Partial<ExplainRequest> | undefined;
    let explain: ExplainResult | undefined;
    let explainError: string | undefined;
    if (q.explain) {
      explainReq = {
        direction: q.direction as ExplainRequest["direction"],
        protocol: q.protocol as ExplainRequest["protocol"],
        remote: q.remote,
        port: q.port === undefined ? undefined : Number(q.port),
        exe: q.exe,
        via: q.via,
      };
      try {
        explain = await api.rulesExplain(c.var.caller, parseExplain(q));
      } catch (e) {
        explainError = errorText(e);
      }
    }
    const data = { view, draft: view.text, problems: [], explainReq, explain, explainError };
    return html(c, <RulesPage ctx={ctx} data={data} />);
  });

  app.post("/rules", async (c) => {
    const f = await c.req.parseBody();
    let text: string;
    try {
      text = parseRulesText(f.text);
    } catch (e) {
      return redirectWith(c, "/rules", { kind: "error", text: errorText(e) });
    }
    const result = await api.rulesSave(c.var.caller, text);
    if (result.ok) return redirectWith(c, "/rules", { kind: "ok", text: "Saved and reloaded." });
    const view = await api.rulesGet(c.var.caller);
    const data = { view, draft: text, problems: result.errors };
    return html(c, <RulesPage ctx={pageCtx(c, deps)} data={data} />, 422);
  });

  app.get("/integrity", async (c) => {
    const info = await api.integrityStatus(c.var.caller);
    return html(c, <IntegrityPage ctx={pageCtx(c, deps)} info={info} />);
  });

  app.get("/history", async (c) => {
    const ctx = pageCtx(c, deps);
    const q = c.req.query();
    const filter: HistoryFilter = {};
    if (q.verdict === "allow" || q.verdict === "deny") filter.verdict = q.verdict;
    if (q.app) filter.app = q.app.slice(0, 256);
    let since: number | undefined;
    if (q.since && /^\d{4}-\d{2}-\d{2}$/.test(q.since)) {
      filter.since = q.since;
      since = new Date(`${q.since}T00:00:00`).getTime();
    }
    if (q.before && /^\d{1,15}$/.test(q.before)) filter.before = Number(q.before);
    const rows = await api.events(c.var.caller, {
      verdict: filter.verdict,
      app: filter.app,
      since,
      before: filter.before,
      limit: HISTORY_PAGE_SIZE + 1,
    });
    const hasMore = rows.length > HISTORY_PAGE_SIZE;
    return html(
      c,
      <HistoryPage
        ctx={ctx}
        filter={filter}
        events={rows.slice(0, HISTORY_PAGE_SIZE)}
        hasMore={hasMore}
      />,
    );
  });
}
