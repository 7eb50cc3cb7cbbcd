/**
 * Security of the web UI, through a real chromium and real HTTP: one-time login links, no
 * session → login page / 401, DNS-rebinding Host → 421, CSRF → 403, viewers read only, headers,
 * token file mode, and `hashwall ui url`.
 */
import assert from "node:assert/strict";
import { launchBrowser } from "../helpers/browser.ts";
import { startUiFixture, type UiFixture } from "../helpers/ui_fixture.ts";

/** Sends one raw HTTP/1.1 request (so the Host header is exactly what we write). */
async function rawRequest(port: number, head: string): Promise<{ status: number; text: string }> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(new TextEncoder().encode(head));
    const chunks: Uint8Array[] = [];
    const buf = new Uint8Array(16384);
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline) {
      const n = await conn.read(buf);
      if (n === null) break;
      chunks.push(buf.slice(0, n));
    }
    const text = new TextDecoder().decode(new Uint8Array(chunks.flatMap((c) => [...c])));
    return { status: Number(text.split(" ")[1]), text };
  } finally {
    conn.close();
  }
}

/** Logs in over plain HTTP; returns the cookie header value and the CSRF token of the session. */
async function login(
  f: UiFixture,
  role: "admin" | "viewer",
): Promise<{ cookie: string; csrf: string }> {
  const r = await fetch(await f.loginUrl(role), { redirect: "manual" });
  await r.body?.cancel();
  assert.equal(r.status, 303);
  const cookie = r.headers.get("set-cookie")!.split(";")[0];
  const page = await (await fetch(`${f.url}/`, { headers: { cookie } })).text();
  const csrf = /name="_csrf" value="([0-9a-f]{64})"/.exec(page)![1];
  return { cookie, csrf };
}

Deno.test("login link works once, sets a strict HttpOnly cookie and leaves the URL", async () => {
  await using f = await startUiFixture();
  await using b = await launchBrowser();
  const page = await b.newPage();
  const link = await f.loginUrl("admin");
  const res = await page.goto(link);
  assert.equal(res?.status(), 200);
  assert.equal(page.url(), `${f.url}/`, "redirected to / so the link leaves the address bar");
  assert.equal(await page.textContent("[data-test=role]"), "admin");
  const [cookie] = await b.context.cookies(f.url);
  assert.equal(cookie.name, "hashwall_session");
  assert.equal(cookie.httpOnly, true);
  assert.equal(cookie.sameSite, "Strict");
  assert.equal(cookie.path, "/");
  assert.ok(!cookie.value.includes(link.split("sig=")[1]), "cookie is a session id, not the link");

  // The same link in a fresh profile: refused.
  await using b2 = await launchBrowser();
  const p2 = await b2.newPage();
  const again = await p2.goto(link);
  assert.equal(again?.status(), 401);
  assert.match(await p2.textContent("[data-test=login-problem]") ?? "", /already used/);
  assert.equal((await b2.context.cookies(f.url)).length, 0);
});

Deno.test("tampered, expired and foreign-role links are refused", async () => {
  await using f = await startUiFixture();
  const good = new URL(await f.loginUrl("viewer"));
  const cases: [string, (u: URL) => void, RegExp][] = [
    ["role swapped to admin", (u) => u.searchParams.set("role", "admin"), /invalid signature/],
    ["nonce changed", (u) => u.searchParams.set("nonce", "0".repeat(32)), /invalid signature/],
    [
      "expiry extended",
      (u) => u.searchParams.set("exp", String(Number(u.searchParams.get("exp")) + 60)),
      /invalid signature/,
    ],
    ["signature cut", (u) => u.searchParams.set("sig", "ab"), /malformed/],
  ];
  for (const [what, change, why] of cases) {
    const u = new URL(good);
    change(u);
    const r = await fetch(u, { redirect: "manual" });
    const text = await r.text();
    assert.equal(r.status, 401, what);
    assert.match(text, why, what);
    assert.equal(r.headers.get("set-cookie"), null, what);
  }
  // An expired link, correctly signed (made with a lifetime that ended).
  const { signClaim } = await import("../../ui/auth/login_link.ts");
  const { readTokens } = await import("../../ui/auth/tokens.ts");
  const tokens = await readTokens(f.stateDir);
  const exp = Math.floor(Date.now() / 1000) - 1;
  const nonce = "1".repeat(32);
  const sig = await signClaim(tokens.admin, { role: "admin", nonce, exp });
  const r = await fetch(`${f.url}/login?role=admin&nonce=${nonce}&exp=${exp}&sig=${sig}`, {
    redirect: "manual",
  });
  assert.equal(r.status, 401);
  assert.match(await r.text(), /expired/);
  // The untouched link still works afterwards: failed attempts did not burn it.
  const ok = await fetch(good, { redirect: "manual" });
  await ok.body?.cancel();
  assert.equal(ok.status, 303);
});

Deno.test("no cookie: pages show the login page, /api and /metrics answer 401", async () => {
  await using f = await startUiFixture();
  await using b = await launchBrowser();
  const page = await b.newPage();
  for (const path of ["/", "/apps", "/rules", "/history"]) {
    const res = await page.goto(`${f.url}${path}`);
    assert.equal(res?.status(), 401, path);
    assert.equal(await page.textContent("h1"), "Sign in", path);
    assert.match(await page.textContent("pre") ?? "", /hashwall ui url/);
  }
  for (const path of ["/api/status", "/api/apps", "/api/live", "/metrics"]) {
    const r = await fetch(`${f.url}${path}`);
    assert.equal(r.status, 401, path);
    assert.match((await r.json()).error, /not logged in/);
  }
  const forged = await fetch(`${f.url}/api/mode`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ mode: "enforcing" }),
  });
  assert.equal(forged.status, 401);
  await forged.body?.cancel();
  assert.equal(
    (await f.api.status({ role: "admin", channel: "internal", who: "t" })).mode,
    "learning",
  );
});

Deno.test("a Host header other than the listen address gets 421 (DNS rebinding)", async () => {
  await using f = await startUiFixture();
  const { cookie } = await login(f, "admin");
  for (const host of ["evil.example", `evil.example:${f.port}`, `127.0.0.1:${f.port + 1}`, ""]) {
    const r = await rawRequest(
      f.port,
      `GET /api/status HTTP/1.1\r\nHost: ${host}\r\nCookie: ${cookie}\r\nConnection: close\r\n\r\n`,
    );
    assert.equal(r.status, 421, `Host "${host}"`);
    assert.ok(!r.text.includes('"mode"'), "no data leaks with a 421");
  }
  for (const host of [`127.0.0.1:${f.port}`, `localhost:${f.port}`]) {
    const r = await rawRequest(
      f.port,
      `GET /api/status HTTP/1.1\r\nHost: ${host}\r\nCookie: ${cookie}\r\nConnection: close\r\n\r\n`,
    );
    assert.equal(r.status, 200, `Host "${host}"`);
  }
});

Deno.test("state-changing requests without the session's CSRF token get 403 and change nothing", async () => {
  await using f = await startUiFixture();
  const { cookie, csrf } = await login(f, "admin");
  const caller = { role: "admin" as const, channel: "internal" as const, who: "test" };
  const attempts: [string, RequestInit][] = [
    ["form without token", {
      headers: { cookie, "content-type": "application/x-www-form-urlencoded" },
      body: "mode=enforcing",
    }],
    ["form with wrong token", {
      headers: { cookie, "content-type": "application/x-www-form-urlencoded" },
      body: `mode=enforcing&_csrf=${"0".repeat(64)}`,
    }],
    ["json without header", {
      headers: { cookie, "content-type": "application/json" },
      body: JSON.stringify({ mode: "enforcing" }),
    }],
    ["right token, foreign Origin", {
      headers: {
        cookie,
        "content-type": "application/x-www-form-urlencoded",
        origin: "http://evil.example",
      },
      body: `mode=enforcing&_csrf=${csrf}`,
    }],
  ];
  for (const [what, init] of attempts) {
    const path = String(init.body).startsWith("{") ? "/api/mode" : "/mode";
    const r = await fetch(`${f.url}${path}`, { method: "POST", redirect: "manual", ...init });
    assert.equal(r.status, 403, what);
    await r.body?.cancel();
  }
  assert.equal((await f.api.status(caller)).mode, "learning", "nothing changed");
  // With the token it works (so the 403s above were about the token).
  const ok = await fetch(`${f.url}/api/mode`, {
    method: "POST",
    headers: { cookie, "content-type": "application/json", "x-csrf-token": csrf },
    body: JSON.stringify({ mode: "enforcing" }),
  });
  assert.equal(ok.status, 200);
  await ok.body?.cancel();
  assert.equal((await f.api.status(caller)).mode, "enforcing");
});

Deno.test("viewer sees Learning without approve buttons, and a forged approve gets 403", async () => {
  await using f = await startUiFixture();
  const exe = await f.api.writeBinary("curl-like", "viewer test");
  f.api.inject({ exe, daddr: "192.0.2.10", dport: 443 });
  await using b = await launchBrowser();
  const page = await b.newPage();
  await page.goto(await f.loginUrl("viewer"));
  assert.equal(await page.textContent("[data-test=role]"), "viewer");
  await page.goto(`${f.url}/learning`);
  await page.waitForSelector(`[data-exe="${exe}"]`);
  assert.equal(await page.locator("[data-test=approve]").count(), 0, "no approve button");
  assert.equal(await page.locator("[data-test=deny]").count(), 0, "no deny button");
  assert.equal(await page.locator(`input[name=exe]`).count(), 0, "no selection boxes");
  await page.goto(`${f.url}/apps`);
  assert.equal(await page.locator("[data-test=rehash-all]").count(), 0);
  await page.goto(`${f.url}/`);
  assert.equal(await page.locator("[data-test=mode-switch]").count(), 0);
  await page.goto(`${f.url}/rules`);
  assert.equal(await page.locator("[data-test=rules-editor]").count(), 0);

  // Forge the write from inside the viewer's own page, with its real CSRF token.
  const csrf = await page.inputValue("input[name=_csrf]");
  const statuses = await page.evaluate(async ({ exe, csrf }) => {
    const json = await fetch("/api/learning/approve", {
      method: "POST",
      headers: { "content-type": "application/json", "x-csrf-token": csrf },
      body: JSON.stringify({ exes: [exe] }),
    });
    const form = await fetch("/learning", {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ _csrf: csrf, exe, action: "approve" }),
      redirect: "manual",
    });
    const save = await fetch("/rules", {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ _csrf: csrf, text: "" }),
      redirect: "manual",
    });
    return [json.status, form.status, save.status];
  }, { exe, csrf });
  assert.deepEqual(statuses, [403, 403, 403]);
  assert.equal((await f.api.appsList({ role: "viewer", channel: "internal", who: "t" })).length, 0);
  assert.match(await Deno.readTextFile(f.api.rulesPath), /\[\[rule\]\]/, "rules untouched");
});

Deno.test("every answer carries CSP and friends, no CORS, and pages trigger no CSP violation", async () => {
  await using f = await startUiFixture();
  await using b = await launchBrowser();
  const page = await b.newPage();
  const violations: string[] = [];
  page.on("console", (m) => {
    if (/Content Security Policy|Refused to/i.test(m.text())) violations.push(m.text());
  });
  page.on("pageerror", (e) => violations.push(`page error: ${e.message}`));
  const login = await page.goto(await f.loginUrl("admin"));
  const h = login!.headers();
  assert.match(h["content-security-policy"], /default-src 'self'; script-src 'self';/);
  assert.match(
    h["content-security-policy"],
    /object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'/,
  );
  assert.equal(h["x-content-type-options"], "nosniff");
  assert.equal(h["referrer-policy"], "no-referrer");
  for (const path of ["/", "/learning", "/apps", "/rules", "/integrity", "/history"]) {
    const res = await page.goto(`${f.url}${path}`);
    assert.equal(res?.status(), 200, path);
    for (const k of Object.keys(res!.headers())) assert.ok(!k.startsWith("access-control-"), k);
    // No inline script, no style attribute: CSP would block them.
    assert.equal(await page.locator("script:not([src])").count(), 0, path);
    assert.equal(await page.locator("[style]").count(), 0, path);
  }
  // A preflight from a foreign origin gets no CORS grant.
  const pre = await fetch(`${f.url}/api/status`, {
    method: "OPTIONS",
    headers: { origin: "http://evil.example", "access-control-request-method": "GET" },
  });
  await pre.body?.cancel();
  assert.equal(pre.headers.get("access-control-allow-origin"), null);
  assert.deepEqual(violations, []);
});

Deno.test("token file is 0600, and `hashwall ui url` prints a link that logs in once", async () => {
  await using f = await startUiFixture();
  const st = await Deno.stat(`${f.stateDir}/ui-tokens.json`);
  assert.equal(st.mode! & 0o777, 0o600);
  const main = new URL("../../main.ts", import.meta.url).pathname;
  const run = (args: string[]) =>
    new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", main, "ui", ...args],
      stdout: "piped",
      stderr: "piped",
    }).output();
  const out = await run(["url", "--state", f.stateDir, "--viewer"]);
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  const link = new TextDecoder().decode(out.stdout).trim();
  assert.ok(link.startsWith(`${f.url}/login?role=viewer&`), link);
  const first = await fetch(link, { redirect: "manual" });
  await first.body?.cancel();
  assert.equal(first.status, 303);
  const second = await fetch(link, { redirect: "manual" });
  await second.body?.cancel();
  assert.equal(second.status, 401);

  const bad = await run(["url", "--state", f.stateDir, "--ttl", "99999"]);
  assert.equal(bad.code, 2);
  assert.match(new TextDecoder().decode(bad.stderr), /--ttl must be 1\.\.3600/);
  const missing = await run(["url", "--state", `${f.stateDir}/nope`]);
  assert.equal(missing.code, 1);
  assert.match(new TextDecoder().decode(missing.stderr), /ui-listen\.json not found/);
  await Deno.chmod(`${f.stateDir}/ui-tokens.json`, 0o644);
  const loose = await run(["url", "--state", f.stateDir]);
  assert.equal(loose.code, 1);
  assert.match(new TextDecoder().decode(loose.stderr), /accessible by group\/others/);
});

Deno.test("the UI refuses to listen beyond loopback", async () => {
  const { createUiServer } = await import("../../ui/server.tsx");
  const { createTestApi } = await import("../helpers/ui_fixture.ts");
  const api = await createTestApi();
  const stateDir = await Deno.makeTempDir();
  try {
    for (const host of ["0.0.0.0", "::", "192.168.1.1", "example.com"]) {
      await assert.rejects(
        () => createUiServer(api, { host, port: 0, stateDir }),
        /ui host must be 127\.0\.0\.1, ::1 or localhost/,
        host,
      );
    }
    await assert.rejects(
      () => createUiServer(api, { host: "127.0.0.1", port: 70000, stateDir }),
      /ui port/,
    );
  } finally {
    await api.close();
    await Deno.remove(stateDir, { recursive: true });
  }
});

Deno.test("/metrics renders Prometheus text for a session and for a bearer token", async () => {
  await using f = await startUiFixture();
  const exe = await f.api.writeBinary("m", "metrics");
  f.api.inject({ exe });
  f.api.inject({ exe, verdict: "deny", reason: "rule", ruleId: "block-telnet" });
  const { cookie } = await login(f, "viewer");
  const r = await fetch(`${f.url}/metrics`, { headers: { cookie } });
  assert.equal(r.status, 200);
  assert.match(r.headers.get("content-type")!, /^text\/plain; version=0\.0\.4/);
  const text = await r.text();
  assert.match(text, /^hashwall_verdicts_total\{decision="allow"\} 1$/m);
  assert.match(text, /^hashwall_verdicts_total\{decision="deny"\} 1$/m);
  assert.match(text, /^hashwall_verdicts_total\{decision="unknown"\} 1$/m);
  assert.match(text, /^hashwall_lost_events_total 0$/m);
  assert.match(text, /^hashwall_watches 2$/m);
  const { readTokens } = await import("../../ui/auth/tokens.ts");
  const tokens = await readTokens(f.stateDir);
  const bearer = await fetch(`${f.url}/metrics`, {
    headers: { authorization: `Bearer ${tokens.viewer}` },
  });
  assert.equal(bearer.status, 200);
  await bearer.body?.cancel();
  const wrong = await fetch(`${f.url}/metrics`, {
    headers: { authorization: `Bearer ${"a".repeat(64)}` },
  });
  assert.equal(wrong.status, 401);
  await wrong.body?.cancel();
});

Deno.test("logout ends the session server-side: the old cookie no longer works", async () => {
  await using f = await startUiFixture();
  const { cookie, csrf } = await login(f, "admin");
  const out = await fetch(`${f.url}/logout`, {
    method: "POST",
    redirect: "manual",
    headers: { cookie, "content-type": "application/x-www-form-urlencoded" },
    body: `_csrf=${csrf}`,
  });
  await out.body?.cancel();
  assert.equal(out.status, 303);
  assert.equal(out.headers.get("location"), "/login");
  const after = await fetch(`${f.url}/api/status`, { headers: { cookie } });
  assert.equal(after.status, 401);
  await after.body?.cancel();
});

Deno.test("the live stream delivers messages and close() ends open streams", async () => {
  const f = await startUiFixture();
  try {
    const { cookie } = await login(f, "viewer");
    const res = await fetch(`${f.url}/api/live`, { headers: { cookie } });
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type")!, /^text\/event-stream/);
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    let seen = "";
    const exe = await f.api.writeBinary("live", "live");
    f.api.inject({ exe, daddr: "192.0.2.77" });
    while (!seen.includes("192.0.2.77")) {
      const { value, done } = await reader.read();
      if (done) break;
      seen += value;
    }
    assert.match(seen, /^data: \{"type":"event".*"daddr":"192\.0\.2\.77"/m);
    const t0 = Date.now();
    await f.close();
    assert.ok(Date.now() - t0 < 3000, "close() did not wait for the client");
    while (!(await reader.read()).done) { /* drain until the server ended the stream */ }
  } finally {
    await f.close();
  }
});
