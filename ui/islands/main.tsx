/**
 * Browser entry of the island bundle: finds every server-rendered `[data-island]` element and
 * hydrates the named component with the JSON props the server put in `data-props`.
 *
 * @module
 */
import { hydrate } from "preact";
import { ISLANDS } from "./registry.ts";

for (const el of document.querySelectorAll<HTMLElement>("[data-island]")) {
  const name = el.dataset.island ?? "";
  const Component = ISLANDS[name];
  if (!Component) continue;
  const props = JSON.parse(el.dataset.props ?? "{}");
  hydrate(<Component {...props} />, el);
}
document.documentElement.setAttribute("data-hydrated", "");
