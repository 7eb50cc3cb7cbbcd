/**
 * A plain error page for signed-in users (bad input, unknown app, forbidden).
 *
 * @module
 */
import { Layout, type PageContext } from "./layout.tsx";

/** Error page with a way back. */
export function ErrorPage(
  { ctx, title, message }: { ctx: PageContext; title: string; message: string },
) {
  return (
    <Layout title={title} active="" ctx={ctx}>
      <p class="flash flash-error" data-test="error">{message}</p>
      <p>
        <a href="/">Back to the overview</a>
      </p>
    </Layout>
  );
}
