/**
 * Learning page: the live list of unapproved apps (an island).
 *
 * @module
 */
import type { LearningEntry } from "../../src/api/types.ts";
import { LearningList } from "../islands/learning_list.tsx";
import { Island, Layout, type PageContext } from "./layout.tsx";

/** The Learning page. */
export function LearningPage({ ctx, entries }: { ctx: PageContext; entries: LearningEntry[] }) {
  return (
    <Layout title="Learning" active="learning" ctx={ctx}>
      <p class="lead">
        Apps without an approval that tried to open a connection, grouped by executable. Approving
        pins the app's current SHA-256: if the file changes, the approval stops working.
      </p>
      <Island
        name="LearningList"
        component={LearningList}
        props={{ entries, csrf: ctx.csrf, canWrite: ctx.role === "admin" }}
      />
    </Layout>
  );
}
