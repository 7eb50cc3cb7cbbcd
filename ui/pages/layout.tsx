/**
 * The page frame: head with the hashed stylesheet and island bundle, the navigation bar, the
 * signed-in role, logout, and the one-shot flash message.
 *
 * @module
 */
import type { ComponentChildren, JSX } from "preact";
import type { Role } from "../../src/api/types.ts";
import type { Assets } from "../assets.ts";
import type { Flash } from "../auth/sessions.ts";

/** Navigation entries: key, path, label. */
export const NAV: { key: string; path: string; label: string }[] = [
  { key: "overview", path: "/", label: "Overview" },
  { key: "learning", path: "/learning", label: "Learning" },
  { key: "apps", path: "/apps", label: "Apps" },
  { key: "rules", path: "/rules", label: "Rules" },
  { key: "integrity", path: "/integrity", label: "Integrity" },
  { key: "history", path: "/history", label: "History" },
];

/** What every signed-in page knows about the viewer. */
export interface PageContext {
  role: Role;
  csrf: string;
  assets: Assets;
  flash?: Flash;
}

/** Props of {@link Layout}. */
export interface LayoutProps {
  title: string;
  active: string;
  ctx: PageContext;
  children: ComponentChildren;
}

/** A signed-in page. */
export function Layout({ title, active, ctx, children }: LayoutProps) {
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>{`${title} · hashwall`}</title>
        <link rel="stylesheet" href={ctx.assets.style.path} />
        <script type="module" src={ctx.assets.script.path} />
      </head>
      <body>
        <header class="topbar">
          <a class="brand" href="/">
            <span class="brand-mark" aria-hidden="true">#</span>hashwall
          </a>
          <nav class="nav" aria-label="main">
            {NAV.map((n) => (
              <a
                key={n.key}
                href={n.path}
                class={n.key === active ? "active" : undefined}
                aria-current={n.key === active ? "page" : undefined}
              >
                {n.label}
              </a>
            ))}
          </nav>
          <div class="who">
            <span class={`role role-${ctx.role}`} data-test="role">{ctx.role}</span>
            <form method="post" action="/logout">
              <input type="hidden" name="_csrf" value={ctx.csrf} />
              <button type="submit" class="btn btn-small btn-ghost">Log out</button>
            </form>
          </div>
        </header>
        <main class="main">
          <h1>{title}</h1>
          {ctx.flash && (
            <p class={`flash flash-${ctx.flash.kind}`} role="status" data-test="flash">
              {ctx.flash.text}
            </p>
          )}
          {children}
        </main>
      </body>
    </html>
  );
}

/** A page for people without a session (login help, errors). */
export function BarePage(
  { title, assets, children }: { title: string; assets: Assets; children: ComponentChildren },
) {
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>{`${title} · hashwall`}</title>
        <link rel="stylesheet" href={assets.style.path} />
      </head>
      <body class="bare">
        <main class="bare-box">
          <div class="brand brand-big">
            <span class="brand-mark" aria-hidden="true">#</span>hashwall
          </div>
          <h1>{title}</h1>
          {children}
        </main>
      </body>
    </html>
  );
}

/** Wraps an island: the server renders it, the bundle hydrates it with the same props. */
export function Island<P extends object>(
  { name, component: C, props }: {
    name: string;
    component: (p: P) => JSX.Element;
    props: P;
  },
) {
  return (
    <div data-island={name} data-props={JSON.stringify(props)}>
      <C {...props} />
    </div>
  );
}
