/**
 * The JSON API under `/api/` used by islands and scripts. Reads are open to every session;
 * writes pass the session gate (CSRF + admin) first. Bad input → 400 `{error}`, viewer → 403.
 *
 * @module
 */
import type { Context, Hono } from "hono";
import { ForbiddenError } from "../../src/api/types.ts";
import {
  InputError,
  parseDuration,
  parseExeList,
  parseMode,
  parseName,
  parseSha256,
  parseTarget,
} from "../input.ts";
import type { UiDeps, UiEnv } from "../ui_env.ts";
import { approveFromLearning } from "./learning_actions.ts";

type C = Context<UiEnv>;

async function jsonBody(c: C): Promise<Record<string, unknown>> {
  if (!(c.req.header("content-type") ?? "").startsWith("application/json")) {
    throw new InputError("send the body as application/json");
  }
  const v = await c.req.json().catch(() => {
    throw new InputError("body is not valid JSON");
  });
  if (typeof v !== "object" || v === null || Array.isArray(v)) {
    throw new InputError("body must be a JSON object");
  }
  return v as Record<string, unknown>;
}

async function answer(c: C, run: () => Promise<unknown>) {
  try {
    return c.json((await run()) ?? { ok: true });
  } catch (e) {
    if (e instanceof ForbiddenError) return c.json({ error: e.message }, 403);
    return c.json({ error: e instanceof Error ? e.message : String(e) }, 400);
  }
}

/** Registers the JSON routes. */
export function apiRoutes(app: Hono<UiEnv>, deps: UiDeps): void {
  const { api } = deps;
  app.get("/api/status", (c) => answer(c, () => api.status(c.var.caller)));
  app.get("/api/apps", (c) => answer(c, () => api.appsList(c.var.caller)));
  app.get("/api/learning", (c) => answer(c, () => api.learningList(c.var.caller)));
  app.get("/api/rules", (c) => answer(c, () => api.rulesGet(c.var.caller)));
  app.get("/api/integrity", (c) => answer(c, () => api.integrityStatus(c.var.caller)));
  app.get("/api/events", (c) =>
    answer(c, () => {
      const q = c.req.query();
      const num = (v: string | undefined) => (v && /^\d{1,15}$/.test(v) ? Number(v) : undefined);
      return api.events(c.var.caller, {
        verdict: q.verdict === "allow" || q.verdict === "deny" ? q.verdict : undefined,
        app: q.app || undefined,
        since: num(q.since),
        before: num(q.before),
        limit: Math.min(num(q.limit) ?? 100, 1000),
      });
    }));

  app.post("/api/mode", (c) =>
    answer(c, async () => {
      const b = await jsonBody(c);
      return await api.setMode(c.var.caller, parseMode(b.mode), {
        closeUnapproved: b.closeUnapproved === true,
      });
    }));
  app.post("/api/learning/approve", (c) =>
    answer(c, async () => {
      const b = await jsonBody(c);
      return await approveFromLearning(api, c.var.caller, parseExeList(b.exes), {
        inherit: b.inherit === true,
        duration: parseDuration(b.duration),
        hosts: b.hosts === true,
      });
    }));
  app.post("/api/learning/deny", (c) =>
    answer(c, async () => {
      const exes = parseExeList((await jsonBody(c)).exes);
      for (const exe of exes) await api.learningDeny(c.var.caller, exe);
    }));
  app.post(
    "/api/apps/rehash",
    (c) =>
      answer(
        c,
        async () => await api.appsRehash(c.var.caller, parseTarget((await jsonBody(c)).target)),
      ),
  );
  app.post("/api/apps/approve-hash", (c) =>
    answer(c, async () => {
      const b = await jsonBody(c);
      const name = parseName(b.name, "name");
      const sha256 = parseSha256(b.sha256);
      const app = (await api.appsList(c.var.caller)).find((a) => a.name === name);
      if (!app) throw new InputError(`no app named "${name}"`);
      return await api.appsAllow(c.var.caller, {
        path: app.path,
        name,
        inherit: app.inherit,
        duration: app.duration,
        sha256,
      });
    }));
}
