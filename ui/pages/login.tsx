/**
 * The page shown without a session: how to get a login link. Deliberately has no form: the only
 * way in is a one-time link from `hashwall ui url`.
 *
 * @module
 */
import type { Assets } from "../assets.ts";
import { BarePage } from "./layout.tsx";

/** Login help, optionally with why the last link was refused. */
export function LoginPage({ assets, problem }: { assets: Assets; problem?: string }) {
  return (
    <BarePage title="Sign in" assets={assets}>
      {problem && <p class="flash flash-error" data-test="login-problem">{problem}</p>}
      <p>This console opens only through a one-time link. On this machine, as root, run:</p>
      <pre class="code">hashwall ui url</pre>
      <p>
        and open the link it prints within a few minutes. Add <code>--viewer</code>{" "}
        for a read-only session. Each link works once.
      </p>
    </BarePage>
  );
}
