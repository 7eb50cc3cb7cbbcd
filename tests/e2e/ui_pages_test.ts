/**
 * The UI pages in a real chromium: live Learning (SSE) with approve/deny, Apps hash status with
 * rehash and "approve new hash", the rules editor (errors at their line, nothing changed), explain,
 * History filters and paging, the mode switch with confirmation, and a screenshot of every page
 * at 1280×800 and at a narrow width (build/test-artifacts/ui/).
 */
import assert from "node:assert/strict";
import type { Page } from "playwright-core";
import { launchBrowser, screenshot } from "../helpers/browser.ts";
import { startUiFixture, type UiFixture } from "../helpers/ui_fixture.ts";
import { sha256File } from "../helpers/ui_api.ts";

const INTERNAL = { role: "admin" as const, channel: "internal" as const, who: "test" };

/** Realistic content: two registered apps, a few events, an integrity change. */
async function seed(f: UiFixture): Promise<{ curl: string; backup: string; firefox: string }> {
  const firefox = await f.api.writeBinary("firefox", "browser v1");
  const backup = await f.api.writeBinary("backup-agent", "backup v1");
  const curl = await f.api.writeBinary("curl", "curl 8");
  await f.api.register("firefox", firefox, { inherit: true });
  await f.api.register("backup-agent", backup);
  const lineage = [
    { tgid: 2210, comm: "bash", exe: "/usr/bin/bash", dev: "1", ino: "11" },
    { tgid: 1800, comm: "sshd", exe: "/usr/sbin/sshd", dev: "1", ino: "12" },
    { tgid: 1, comm: "systemd", exe: "/usr/lib/systemd/systemd", dev: "1", ino: "13" },
  ];
  f.api.inject({
    exe: firefox,
    daddr: "198.51.100.20",
    dport: 443,
    app: "firefox",
    reason: "approved",
  });
  f.api.inject({ exe: curl, daddr: "203.0.113.5", dport: 80, lineage, tgid: 2301 });
  f.api.inject({ exe: curl, daddr: "203.0.113.5", dport: 80, lineage, tgid: 2302 });
  f.api.inject({ exe: curl, daddr: "2001:db8::7", dport: 443, family: 6, lineage, tgid: 2303 });
  f.api.inject({
    exe: "/usr/bin/telnet",
    daddr: "192.0.2.44",
    dport: 23,
    verdict: "deny",
    reason: "rule",
    ruleId: "block-telnet",
    lineage,
  });
  await Deno.writeTextFile(`${f.api.dir}/watched/sshd_config`, "PermitRootLogin yes\n");
  return { curl, backup, firefox };
}

async function loginAdmin(f: UiFixture, page: Page): Promise<void> {
  await page.goto(await f.loginUrl("admin"));
  assert.equal(await page.textContent("[data-test=role]"), "admin");
}

/** Waits until the page's island bundle hydrated (its live stream is open). */
async function hydrated(page: Page): Promise<void> {
  await page.waitForSelector("html[data-hydrated][data-live=open]", { timeout: 10_000 });
}

Deno.test("an app that tries to connect appears live in Learning; approve removes it and registers it", async () => {
  await using f = await startUiFixture();
  const { curl } = await seed(f);
  await using b = await launchBrowser();
  const page = await b.newPage();
  await loginAdmin(f, page);
  await page.goto(`${f.url}/learning`);
  await hydrated(page);
  const card = page.locator(`[data-exe="${curl}"]`);
  assert.match(await card.textContent() ?? "", /3 attempts/);
  assert.match(await card.textContent() ?? "", /systemd.*sshd.*bash/s, "lineage oldest first");
  assert.match(await card.textContent() ?? "", /\[2001:db8::7\]:443/);

  // A new app connects while the page is open: it shows up without a reload.
  const wget = await f.api.writeBinary("wget", "wget 1.21");
  f.api.inject({ exe: wget, daddr: "203.0.113.9", dport: 443 });
  await page.waitForSelector(`[data-exe="${wget}"]`, { timeout: 5000 });
  // And another attempt of curl bumps its count live.
  f.api.inject({ exe: curl, daddr: "203.0.113.5", dport: 80 });
  await page.waitForFunction(
    (exe) => document.querySelector(`[data-exe="${exe}"]`)?.textContent?.includes("4 attempts"),
    curl,
  );
  await screenshot(page, "learning");

  await page.check(`input[name=exe][value="${curl}"]`);
  await page.check("input[name=inherit]");
  await page.selectOption("select[name=duration]", "session");
  await page.click("[data-test=approve]");
  await page.waitForSelector(`[data-exe="${curl}"]`, { state: "detached", timeout: 5000 });
  assert.match(await page.textContent(".flash-ok") ?? "", /Approved curl/);
  assert.equal(await page.locator(`[data-exe="${wget}"]`).count(), 1, "the other row stays");

  const app = (await f.api.appsList(INTERNAL)).find((a) => a.path === curl)!;
  assert.equal(app.status, "valid");
  assert.equal(app.inherit, true);
  assert.equal(app.duration, "session");
  assert.equal(app.sha256, await sha256File(curl));

  // Deny the other one: it leaves the list, and is not approved.
  await page.check(`input[name=exe][value="${wget}"]`);
  await page.click("[data-test=deny]");
  await page.waitForSelector(`[data-exe="${wget}"]`, { state: "detached", timeout: 5000 });
  assert.equal((await f.api.appsList(INTERNAL)).some((a) => a.path === wget), false);
  await page.reload();
  assert.equal(await page.locator("[data-test=learning-list] > li").count(), 0);
});

Deno.test("Learning and Apps work without the island script (plain forms)", async () => {
  await using f = await startUiFixture();
  const { curl } = await seed(f);
  await using b = await launchBrowser();
  const page = await b.newPage();
  // Refuse the island bundle: the page is what a browser without JavaScript gets.
  await page.route(/\/static\/islands\.[0-9a-f]+\.js$/, (r) => r.abort());
  await loginAdmin(f, page);
  await page.goto(`${f.url}/learning`);
  assert.equal(await page.locator("html[data-hydrated]").count(), 0, "no island ran");
  await page.check(`input[name=exe][value="${curl}"]`);
  await page.click("[data-test=approve]");
  await page.waitForURL(`${f.url}/learning`);
  assert.match(await page.textContent("[data-test=flash]") ?? "", /Approved curl/);
  assert.equal(await page.locator(`[data-exe="${curl}"]`).count(), 0);
  assert.equal((await f.api.appsList(INTERNAL)).find((a) => a.path === curl)?.status, "valid");

  await page.goto(`${f.url}/apps`);
  await Deno.writeTextFile(curl, "#!/bin/sh\n# changed\n");
  await page.click('[data-app="curl"] button:has-text("Rehash")');
  await page.waitForURL(`${f.url}/apps`);
  assert.match(
    await page.textContent("[data-test=flash]") ?? "",
    /Rehashed 1 app\(s\); 1 not valid/,
  );
  assert.equal(
    await page.getAttribute('[data-app="curl"] [data-status]', "data-status"),
    "invalid",
  );
});

Deno.test("Apps: tampering turns an app red after Rehash, live; approve new hash shows old vs new", async () => {
  await using f = await startUiFixture();
  const { backup } = await seed(f);
  const oldHash = (await sha256File(backup))!;
  await using b = await launchBrowser();
  const page = await b.newPage();
  await loginAdmin(f, page);
  await page.goto(`${f.url}/apps`);
  await hydrated(page);
  const row = page.locator('[data-app="backup-agent"]');
  assert.equal(await row.locator("[data-status]").getAttribute("data-status"), "valid");
  assert.equal(await row.locator("[data-status]").textContent(), "valid");

  await Deno.writeTextFile(backup, "#!/bin/sh\n# backdoored\n");
  const newHash = (await sha256File(backup))!;
  await page.click("[data-test=rehash-all]");
  await page.waitForFunction(() =>
    document.querySelector('[data-app="backup-agent"] [data-status]')?.getAttribute(
      "data-status",
    ) ===
      "invalid"
  );
  assert.equal(
    await row.locator("[data-status]").textContent(),
    "hash mismatch",
    "text, not colour alone",
  );
  assert.match(await page.textContent("[data-test=rehash-progress]") ?? "", /2\/2/);
  assert.equal(page.url(), `${f.url}/apps`, "no reload");
  await screenshot(page, "apps");

  // Rehash triggered elsewhere (another admin, the daemon's watch) also reaches this page live.
  await Deno.writeTextFile(backup, "#!/bin/sh\n# backup v1\n");
  await f.api.appsRehash(INTERNAL, "backup-agent");
  await page.waitForFunction(() =>
    document.querySelector('[data-app="backup-agent"] [data-status]')?.getAttribute(
      "data-status",
    ) ===
      "valid"
  );
  await Deno.writeTextFile(backup, "#!/bin/sh\n# backdoored\n");
  await f.api.appsRehash(INTERNAL, "backup-agent");
  await page.waitForFunction(() =>
    document.querySelector('[data-app="backup-agent"] [data-status]')?.getAttribute(
      "data-status",
    ) ===
      "invalid"
  );

  await row.locator("text=Approve new hash…").click();
  await page.waitForURL(/approve-hash/);
  assert.equal(await page.textContent("[data-test=old-hash]"), oldHash);
  assert.equal(await page.textContent("[data-test=new-hash]"), newHash);
  await screenshot(page, "apps-approve-hash");
  await page.click("[data-test=approve-hash]");
  await page.waitForURL(`${f.url}/apps`);
  assert.match(await page.textContent("[data-test=flash]") ?? "", /Approved the new hash/);
  const app = (await f.api.appsList(INTERNAL)).find((a) => a.name === "backup-agent")!;
  assert.equal(app.sha256, newHash);
  assert.equal(app.status, "valid");
});

Deno.test("Rules: an invalid edit shows each error at its line and changes nothing; a valid one saves", async () => {
  await using f = await startUiFixture();
  await seed(f);
  const before = await Deno.readTextFile(f.api.rulesPath);
  await using b = await launchBrowser();
  const page = await b.newPage();
  await loginAdmin(f, page);
  await page.goto(`${f.url}/rules`);
  assert.equal(await page.locator("[data-test=rules-table] tbody tr").count(), 3);
  assert.match(await page.textContent('[data-rule="block-telnet"]') ?? "", /1$/, "hit counter");

  const broken = before
    .replace('action = "deny"', 'action = "drop"')
    .replace("ports = [443]", "ports = [70000]");
  await page.fill("[data-test=rules-editor]", broken);
  await page.click("[data-test=rules-save]");
  const problems = page.locator("[data-test=problem]");
  assert.equal(await problems.count(), 2);
  const lines = broken.split("\n");
  const dropLine = lines.findIndex((l) => l.includes('"drop"')) + 1;
  const portLine = lines.findIndex((l) => l.includes("70000")) + 1;
  assert.deepEqual(
    await problems.evaluateAll((els) => els.map((e) => Number(e.getAttribute("data-line")))),
    [portLine, dropLine],
  );
  // Each message sits under its own source line, which is marked.
  const dropItem = page.locator(`li.line-bad[data-line="${dropLine}"]`);
  assert.match(
    await dropItem.textContent() ?? "",
    /action = "drop".*line \d+, column 1: action must be/s,
  );
  assert.equal(await page.inputValue("[data-test=rules-editor]"), broken, "draft kept for fixing");
  await screenshot(page, "rules-error");
  assert.equal(await Deno.readTextFile(f.api.rulesPath), before, "file unchanged");

  // A TOML syntax error is located too.
  await page.fill("[data-test=rules-editor]", before + "\n[[rule]\nid = 1\n");
  await page.click("[data-test=rules-save]");
  assert.equal(await problems.count(), 1);
  assert.equal(Number(await problems.getAttribute("data-line")), before.split("\n").length + 1);
  assert.equal(await Deno.readTextFile(f.api.rulesPath), before);

  const fixed = before +
    '\n[[rule]]\nid = "ssh-out"\naction = "allow"\ndirection = "out"\nprotocol = "tcp"\nports = [22]\n';
  await page.fill("[data-test=rules-editor]", fixed);
  await page.click("[data-test=rules-save]");
  await page.waitForURL(`${f.url}/rules`);
  assert.match(await page.textContent("[data-test=flash]") ?? "", /Saved and reloaded/);
  assert.equal(await Deno.readTextFile(f.api.rulesPath), fixed);
  assert.equal(await page.locator("[data-test=rules-table] tbody tr").count(), 4);

  // Explain a packet.
  await page.fill("input[name=remote]", "192.0.2.1");
  await page.fill("input[name=port]", "22");
  await page.click("button[name=explain]");
  assert.match(
    await page.textContent("[data-test=explain-result]") ?? "",
    /allow.*rule "ssh-out"/s,
  );
  await page.fill("input[name=remote]", "not-an-ip");
  await page.click("button[name=explain]");
  assert.match(
    await page.textContent("[data-test=explain-error]") ?? "",
    /remote must be an IP address/,
  );
  await page.fill("input[name=remote]", "192.0.2.1");
  await page.fill("input[name=port]", "23");
  await page.click("button[name=explain]");
  await screenshot(page, "rules");
});

Deno.test("History filters by verdict and pages with Older »; each row says why", async () => {
  await using f = await startUiFixture();
  await seed(f);
  const exe = await f.api.writeBinary("noisy", "noisy");
  for (let i = 0; i < 60; i++) f.api.inject({ exe, daddr: "198.51.100.1", dport: 1000 + i });
  await using b = await launchBrowser();
  const page = await b.newPage();
  await loginAdmin(f, page);
  await page.goto(`${f.url}/history`);
  const rows = page.locator("[data-test=events-table] tbody tr");
  assert.equal(await rows.count(), 50);
  await screenshot(page, "history");
  await page.click("[data-test=older]");
  assert.equal(await rows.count(), 15, "65 events: 50 + 15");
  assert.match(page.url(), /before=\d+/);
  await page.goto(`${f.url}/history`);
  await page.selectOption("select[name=verdict]", "deny");
  await page.click("form.filters button[type=submit]");
  assert.equal(await rows.count(), 1);
  assert.match(await rows.first().textContent() ?? "", /rule "block-telnet"/);
  assert.match(
    await rows.first().textContent() ?? "",
    /systemd\(1\) → sshd\(1800\) → bash\(2210\) → telnet/,
  );
});

Deno.test("Overview: counts, denials, alarms; mode switch asks for confirmation", async () => {
  await using f = await startUiFixture();
  await seed(f);
  await using b = await launchBrowser();
  const page = await b.newPage();
  await loginAdmin(f, page);
  assert.match(await page.textContent(".tiles") ?? "", /4\s*allowed today/);
  assert.match(await page.textContent(".tiles") ?? "", /1\s*denied today/);
  assert.match(await page.textContent(".tiles") ?? "", /3\s*unknown apps today/);
  assert.match(await page.textContent("main") ?? "", /sshd_config/, "integrity alarm listed");
  await screenshot(page, "overview");
  await page.click("[data-test=mode-switch]");
  assert.match(await page.textContent("main") ?? "", /lose network access/);
  assert.equal((await f.api.status(INTERNAL)).mode, "learning", "nothing yet");
  await screenshot(page, "mode-confirm");
  await page.click("[data-test=mode-confirm]");
  await page.waitForURL(`${f.url}/`);
  assert.equal((await f.api.status(INTERNAL)).mode, "enforcing");
  assert.match(await page.textContent("[data-test=mode]") ?? "", /enforcing/);
  await page.goto(`${f.url}/integrity`);
  assert.match(await page.textContent("[data-test=baseline]") ?? "", /changes detected/);
  assert.match(await page.textContent("[data-test=integrity-changes]") ?? "", /modified/);
  await screenshot(page, "integrity");
});

Deno.test("pages fit a narrow window (screenshots at 420×860)", async () => {
  await using f = await startUiFixture();
  await seed(f);
  await using b = await launchBrowser({ viewport: { width: 420, height: 860 } });
  const page = await b.newPage();
  await loginAdmin(f, page);
  for (const p of ["overview", "learning", "apps", "rules", "history"]) {
    await page.goto(`${f.url}/${p === "overview" ? "" : p}`);
    const overflow = await page.evaluate(() =>
      document.documentElement.scrollWidth - document.documentElement.clientWidth
    );
    assert.ok(overflow <= 0, `${p}: the page itself does not scroll sideways (${overflow}px)`);
    await screenshot(page, `narrow-${p}`);
  }
  const login = await (await launchBrowser({ viewport: { width: 420, height: 860 } }));
  try {
    const lp = await login.newPage();
    await lp.goto(`${f.url}/`);
    await screenshot(lp, "login");
  } finally {
    await login.close();
  }
});
