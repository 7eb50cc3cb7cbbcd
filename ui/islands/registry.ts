/**
 * The islands the browser bundle knows, by the name the server writes into `data-island`.
 *
 * @module
 */
import type { FunctionComponent } from "preact";
import { AppsTable } from "./apps_table.tsx";
import { LearningList } from "./learning_list.tsx";

/** Island name → component. */
// deno-lint-ignore no-explicit-any
export const ISLANDS: Record<string, FunctionComponent<any>> = {
  AppsTable,
  LearningList,
};
