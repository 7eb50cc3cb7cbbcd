/**
 * The request validators the control socket and the UI share (src/api/requests.ts): one meaning
 * per request whichever door it came through, and every refusal names the field.
 */
import assert from "node:assert/strict";
import {
  parseAllowRequest,
  parseEventQuery,
  parseExplainRequest,
  RequestError,
} from "../../src/api/requests.ts";
import { CONTROL_OPS } from "../../src/daemon/control_ops.ts";
import { parseExplain } from "../../ui/input.ts";
import type { HashwallApi } from "../../src/api/types.ts";

Deno.test("explain: a JSON request and the UI's form strings mean the same request", () => {
  const json = parseExplainRequest({ direction: "out", protocol: "udp", remote: "::1", port: 53 });
  const form = parseExplain({ direction: "out", protocol: "udp", remote: " ::1 ", port: "53" });
  assert.deepEqual(form, json);
  // The form's defaults; the socket requires both.
  assert.deepEqual(parseExplain({ remote: "192.0.2.1", port: "22" }), {
    direction: "out",
    protocol: "tcp",
    remote: "192.0.2.1",
    port: 22,
  });
  assert.throws(() => parseExplainRequest({ remote: "192.0.2.1", port: 22 }), /"direction"/);
});

Deno.test("bad requests are refused with the field named", () => {
  const cases: [() => unknown, RegExp][] = [
    [
      () => parseExplainRequest({ direction: "up", protocol: "tcp", remote: "::1", port: 1 }),
      /direction/,
    ],
    [
      () => parseExplainRequest({ direction: "in", protocol: "tcp", remote: "example", port: 1 }),
      /remote/,
    ],
    [
      () => parseExplainRequest({ direction: "in", protocol: "tcp", remote: "::1", port: 70000 }),
      /port/,
    ],
    [
      () =>
        parseExplainRequest({ direction: "in", protocol: "tcp", remote: "::1", port: 1, exe: "x" }),
      /exe/,
    ],
    [
      () =>
        parseExplainRequest({
          direction: "out",
          protocol: "tcp",
          remote: "::1",
          port: 1,
          via: "a b",
        }),
      /via must be an app name/,
    ],
    [
      () =>
        parseExplainRequest({ direction: "in", protocol: "tcp", remote: "::1", port: 1, via: "x" }),
      /via .* only goes with out/,
    ],
    [() => parseAllowRequest({ path: "relative/bin" }), /path/],
    [() => parseAllowRequest({ path: "/bin/x", sha256: "ABC" }), /sha256/],
    [() => parseAllowRequest({ path: "/bin/x", duration: "always" }), /duration/],
    [() => parseEventQuery({ limit: 0 }), /limit/],
    [() => parseEventQuery({ since: "yesterday" }), /since/],
  ];
  for (const [f, re] of cases) {
    assert.throws(f, (e: unknown) => e instanceof RequestError && re.test(e.message));
  }
});

Deno.test("the control socket's explain op validates through the shared parser", async () => {
  let seen: unknown;
  const api = { rulesExplain: (_c: unknown, req: unknown) => (seen = req, Promise.resolve({})) };
  const caller = { role: "admin", channel: "cli", who: "test" } as const;
  await CONTROL_OPS["rules.explain"].run(api as unknown as HashwallApi, caller, {
    direction: "in",
    protocol: "tcp",
    remote: "192.0.2.7",
    port: 22,
  });
  assert.deepEqual(seen, { direction: "in", protocol: "tcp", remote: "192.0.2.7", port: 22 });
  await assert.rejects(
    async () =>
      await CONTROL_OPS["rules.explain"].run(api as unknown as HashwallApi, caller, {
        direction: "in",
        protocol: "tcp",
        remote: "not-an-ip",
        port: 22,
      }),
    RequestError,
  );
});

Deno.test("explain requests carry via (the starting app) trimmed; empty means none", () => {
  const base = { direction: "out", protocol: "tcp", remote: "192.0.2.1", port: 443 };
  assert.equal(parseExplainRequest({ ...base, via: " backup " }).via, "backup");
  assert.equal(parseExplainRequest({ ...base, via: "" }).via, undefined);
  assert.equal("via" in parseExplainRequest(base), false);
});
