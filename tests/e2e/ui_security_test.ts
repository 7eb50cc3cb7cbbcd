/**
 * Security of the web UI of a real daemon (`hashwall run --ui`), through a real chromium and raw
 * HTTP: one-time login links from `hashwall ui url`, no session → login page / 401,
 * DNS-rebinding Host → 421, CSRF → 403, viewers read only (no buttons, forged writes 403),
 * headers, token file mode, loopback-only listening, /metrics from the kernel's counters, and the
 * live stream. "Changed nothing" is checked on the daemon (status, apps, rules.toml) and in the
 * kernel (a real connect from the test cgroup).
 */
import assert from "node:assert/strict";
import type { AppInfo, StatusInfo } from "../../src/api/types.ts";
import { signClaim } from "../../ui/auth/login_link.ts";
import { readTokens } from "../../ui/auth/tokens.ts";
import { loopbackAddress } from "../../ui/server.tsx";
import { launchBrowser } from "../helpers/browser.ts";
import { createTestCgroup, removeTestParentIfEmpty } from "../helpers/cgroup.ts";
import { runHashwall, writeTestConfig } from "../helpers/daemon.ts";
import { startUiDaemon, type UiDaemon } from "../helpers/ui_fixture.ts";

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
  f: UiDaemon,
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

async function mode(f: UiDaemon): Promise<string> {
  return (await f.json<StatusInfo>(["status"])).mode;
}

Deno.test("UI security: `hashwall ui url` links log in once; tampered and expired links are refused", async (t) => {
  await using f = await startUiDaemon();
  await using b = await launchBrowser();

  await t.step("a link works once, sets a strict HttpOnly cookie and leaves the URL", async () => {
    const page = await b.newPage();
    const link = await f.loginUrl("admin");
    assert.ok(link.startsWith(`${f.url}/login?role=admin&`), link);
    const res = await page.goto(link);
    assert.equal(res?.status(), 200);
    assert.equal(page.url(), `${f.url}/`, "redirected to / so the link leaves the address bar");
    assert.equal(await page.textContent("[data-test=role]"), "admin");
    const [cookie] = await b.context.cookies(f.url);
    assert.equal(cookie.name, "hashwall_session");
    assert.equal(cookie.httpOnly, true);
    assert.equal(cookie.sameSite, "Strict");
    assert.equal(cookie.path, "/");
    assert.ok(!cookie.value.includes(link.split("sig=")[1]), "a session id, not the link");

    // The same link in a fresh profile: refused.
    await using b2 = await launchBrowser();
    const p2 = await b2.newPage();
    const again = await p2.goto(link);
    assert.equal(again?.status(), 401);
    assert.match(await p2.textContent("[data-test=login-problem]") ?? "", /already used/);
    assert.equal((await b2.context.cookies(f.url)).length, 0);
  });

  await t.step("tampered, expired and foreign-role links are refused", async () => {
    const good = new URL(await f.loginUrl("viewer"));
    assert.equal(good.searchParams.get("role"), "viewer", "--viewer makes a viewer link");
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
    // An expired link, correctly signed with the daemon's own token (a lifetime that ended).
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
});

Deno.test("UI security gates: no cookie 401, foreign Host 421, missing CSRF 403, headers, logout", async (t) => {
  await using f = await startUiDaemon({ mode: "learning", binaries: ["unknown"] });
  await using b = await launchBrowser();

  await t.step("no cookie: pages show the login page, /api and /metrics answer 401", async () => {
    const page = await b.newPage();
    for (const path of ["/", "/learning", "/apps", "/rules", "/history"]) {
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
    assert.equal(await mode(f), "learning");
    assert.equal((await f.connect(f.bin.unknown)).verdict, "ok", "the kernel still learns");
  });

  await t.step("a Host header other than the listen address gets 421 (DNS rebinding)", async () => {
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
      assert.match(r.text, /"mode":"learning"/, "the real daemon's status");
    }
  });

  await t.step("writes without the session's CSRF token get 403 and change nothing", async () => {
    const { cookie, csrf } = await login(f, "admin");
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
    assert.equal(await mode(f), "learning", "nothing changed in the daemon");
    assert.equal((await f.connect(f.bin.unknown, f.port)).verdict, "ok", "nor in the kernel");
    // With the token it works (so the 403s above were about the token), down to the kernel.
    const ok = await fetch(`${f.url}/api/mode`, {
      method: "POST",
      headers: { cookie, "content-type": "application/json", "x-csrf-token": csrf },
      body: JSON.stringify({ mode: "enforcing" }),
    });
    assert.equal(ok.status, 200);
    await ok.body?.cancel();
    assert.equal(await mode(f), "enforcing");
    assert.equal((await f.connect(f.bin.unknown)).verdict, "EPERM");
  });

  await t.step("every answer carries CSP and friends, no CORS, no CSP violation", async () => {
    const page = await b.newPage();
    const violations: string[] = [];
    page.on("console", (m) => {
      if (/Content Security Policy|Refused to/i.test(m.text())) violations.push(m.text());
    });
    page.on("pageerror", (e) => violations.push(`page error: ${e.message}`));
    const res = await page.goto(await f.loginUrl("admin"));
    const h = res!.headers();
    assert.match(h["content-security-policy"], /default-src 'self'; script-src 'self';/);
    assert.match(
      h["content-security-policy"],
      /object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'/,
    );
    assert.equal(h["x-content-type-options"], "nosniff");
    assert.equal(h["referrer-policy"], "no-referrer");
    for (const path of ["/", "/learning", "/apps", "/rules", "/integrity", "/history"]) {
      const r = await page.goto(`${f.url}${path}`);
      assert.equal(r?.status(), 200, path);
      for (const k of Object.keys(r!.headers())) assert.ok(!k.startsWith("access-control-"), k);
      // No inline script, no style attribute: CSP would block them.
      assert.equal(await page.locator("script:not([src])").count(), 0, path);
      assert.equal(await page.locator("[style]").count(), 0, path);
    }
    const pre = await fetch(`${f.url}/api/status`, {
      method: "OPTIONS",
      headers: { origin: "http://evil.example", "access-control-request-method": "GET" },
    });
    await pre.body?.cancel();
    assert.equal(pre.headers.get("access-control-allow-origin"), null);
    assert.deepEqual(violations, []);
  });

  await t.step("logout ends the session server-side: the old cookie no longer works", async () => {
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
});

Deno.test("UI security: a viewer sees Learning without approve buttons; forged writes get 403", async () => {
  await using f = await startUiDaemon({ mode: "learning", binaries: ["curlish"] });
  const exe = f.bin.curlish;
  assert.equal((await f.connect(exe)).verdict, "ok");
  const rulesBefore = await Deno.readTextFile(`${f.configDir}/rules.toml`);
  await using b = await launchBrowser();
  const page = await b.newPage();
  await f.login(page, "viewer");
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

  // Forge the writes from inside the viewer's own page, with its real CSRF token.
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
    const mode = await fetch("/api/mode", {
      method: "POST",
      headers: { "content-type": "application/json", "x-csrf-token": csrf },
      body: JSON.stringify({ mode: "enforcing" }),
    });
    return [json.status, form.status, save.status, mode.status];
  }, { exe, csrf });
  assert.deepEqual(statuses, [403, 403, 403, 403]);
  assert.equal((await f.json<AppInfo[]>(["apps", "list"])).length, 0, "nothing approved");
  assert.equal(await Deno.readTextFile(`${f.configDir}/rules.toml`), rulesBefore);
  assert.equal(await mode(f), "learning");
  // Still unapproved in the kernel: switching to enforcing (as admin, by CLI) denies it.
  assert.equal((await f.daemon.cli(["mode", "enforcing"])).code, 0);
  assert.equal((await f.connect(exe)).verdict, "EPERM");
});

Deno.test("UI security: token file is 0600, `hashwall ui url` checks its input, the UI stays on loopback", async (t) => {
  await using f = await startUiDaemon();
  const tokenFile = `${f.stateDir}/ui-tokens.json`;

  await t.step("token file mode and `hashwall ui url` errors", async () => {
    assert.equal((await Deno.stat(tokenFile)).mode! & 0o777, 0o600);
    const bad = await f.daemon.cli(["ui", "url", "--ttl", "99999"]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--ttl must be 1\.\.3600/);
    const missing = await runHashwall(["ui", "url", "--state", `${f.stateDir}/nope`]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /ui-listen\.json not found/);
    await Deno.chmod(tokenFile, 0o644);
    try {
      const loose = await f.daemon.cli(["ui", "url"]);
      assert.equal(loose.code, 1);
      assert.match(loose.stderr, /accessible by group\/others/);
      assert.equal(loose.stdout, "", "no link printed");
    } finally {
      await Deno.chmod(tokenFile, 0o600);
    }
    const ok = await fetch(await f.loginUrl("viewer"), { redirect: "manual" });
    await ok.body?.cancel();
    assert.equal(ok.status, 303);
  });

  await t.step("the UI refuses to listen beyond loopback (flag, config and server)", async () => {
    for (const host of ["0.0.0.0", "::", "192.168.1.1", "example.com"]) {
      assert.throws(() => loopbackAddress(host), /ui host must be 127\.0\.0\.1, ::1/, host);
    }
    const root = await Deno.makeTempDir({ prefix: "hw-ui-listen-" });
    const cg = await createTestCgroup("ui-listen");
    try {
      await writeTestConfig(`${root}/config`, {});
      const base = ["--config", `${root}/config`, "--state", `${root}/state`, "--cgroup", cg.path];
      const flag = await runHashwall(["run", ...base, "--ui", "0.0.0.0:7447"]);
      assert.equal(flag.code, 2, flag.stderr);
      assert.match(flag.stderr, /--ui must listen on a loopback address/);

      const rules = `${root}/config/rules.toml`;
      const text = await Deno.readTextFile(rules);
      await Deno.writeTextFile(rules, text.replace('"127.0.0.1:7447"', '"0.0.0.0:7447"'));
      const cfg = await runHashwall(["run", ...base, "--log-format", "json"]);
      assert.equal(cfg.code, 1, cfg.stderr);
      assert.match(cfg.stdout + cfg.stderr, /rules\.toml:\d+:\d+:.*not loopback/);
    } finally {
      await runHashwall(["disable", "--state", `${root}/state`]);
      await cg.remove();
      await removeTestParentIfEmpty();
      await Deno.remove(root, { recursive: true });
    }
  });
});

Deno.test("UI: /metrics shows the kernel's counters; the live stream carries real events and ends when the daemon stops", async (t) => {
  const f = await startUiDaemon({ mode: "learning", binaries: ["m"] });
  try {
    const { cookie } = await login(f, "viewer");
    const res = await fetch(`${f.url}/api/live`, { headers: { cookie } });
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type")!, /^text\/event-stream/);
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();

    await t.step("a real connect arrives on the live stream", async () => {
      assert.equal((await f.connect(f.bin.m)).verdict, "ok");
      let seen = "";
      const want = `"dport":${f.listenPort}`;
      while (!seen.includes(want)) {
        const { value, done } = await reader.read();
        if (done) break;
        seen += value;
      }
      const frame = seen.split("\n").find((l) => l.includes(want)) ?? "";
      assert.match(frame, /^data: \{"type":"event"/);
      const msg = JSON.parse(frame.slice("data: ".length));
      assert.equal(msg.event.exe, f.bin.m);
      assert.equal(msg.event.reason, "unknown_app");
      assert.equal(msg.event.verdict, "allow");
    });

    await t.step(
      "/metrics for a session and for a bearer token, from the daemon's counters",
      async () => {
        const r = await fetch(`${f.url}/metrics`, { headers: { cookie } });
        assert.equal(r.status, 200);
        assert.match(r.headers.get("content-type")!, /^text\/plain; version=0\.0\.4/);
        const text = await r.text();
        const st = await f.json<StatusInfo>(["status"]);
        const metric = (re: RegExp) => Number(re.exec(text)?.[1]);
        assert.ok(st.counters.unknown >= 1, "the kernel counted the unknown app");
        assert.equal(
          metric(/^hashwall_verdicts_total\{decision="unknown"\} (\d+)$/m),
          st.counters.unknown,
        );
        assert.equal(
          metric(/^hashwall_verdicts_total\{decision="allow"\} (\d+)$/m),
          st.counters.allow,
        );
        assert.equal(metric(/^hashwall_verdicts_total\{decision="deny"\} (\d+)$/m), 0);
        assert.equal(metric(/^hashwall_watches (\d+)$/m), st.counters.watched_files);
        assert.match(text, /^hashwall_lost_events_total 0$/m);
        assert.match(text, /^hashwall_enforcing 0$/m);
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
      },
    );

    await t.step("stopping the daemon ends open streams promptly", async () => {
      const t0 = Date.now();
      await f.daemon.stop();
      assert.ok(Date.now() - t0 < 5000, `daemon stop took ${Date.now() - t0} ms`);
      while (!(await reader.read()).done) { /* drain until the server ended the stream */ }
    });
  } finally {
    await f.close();
  }
});
