/**
 * The web UI in a real chromium against a real daemon whose verdicts come from the kernel
 * (test cgroup, allow_loopback = false): an unknown binary's connect appears live on Learning with
 * its lineage, approving it there lets its next connect through in enforcing mode, and a tampered
 * approved binary turns red on Apps without a reload and is denied until its bytes are restored
 * and rehashed (or its new hash approved).
 */
import assert from "node:assert/strict";
import type { Locator } from "playwright-core";
import type { AppInfo } from "../../src/api/types.ts";
import { launchBrowser, screenshot } from "../helpers/browser.ts";
import { sha256Of } from "../helpers/daemon.ts";
import { hydrated, startUiDaemon, until } from "../helpers/ui_fixture.ts";

/**
 * A Learning card's lineage, oldest first, one "comm pid N" per process; the test process shows
 * as "pid N" (its thread name varies) and the card's own process as "comm pid" (its pid varies).
 */
async function lineageOf(card: Locator): Promise<string[]> {
  const items = await card.locator("ol.lineage > li").evaluateAll((lis) =>
    lis.map((li) => [li.children[0]?.textContent ?? "", li.children[1]?.textContent ?? ""])
  );
  return items.map(([comm, pid], i) => {
    if (pid === `pid ${Deno.pid}`) return pid;
    return i === items.length - 1 ? `${comm} pid` : `${comm} ${pid}`;
  });
}

Deno.test("UI + kernel: an unknown app appears live in Learning; approved in the page, it passes when enforcing", async (t) => {
  await using f = await startUiDaemon({ mode: "learning", binaries: ["fetcher", "stranger"] });
  await using b = await launchBrowser();
  const page = await b.newPage();
  await f.login(page);
  await page.goto(`${f.url}/learning`);
  await hydrated(page);
  assert.equal(await page.locator("[data-test=learning-list] > li").count(), 0);
  const fetcher = page.locator(`[data-exe="${f.bin.fetcher}"]`);

  await t.step("a connect in the test cgroup shows up live, with its lineage", async () => {
    const first = await f.connect(f.bin.fetcher);
    assert.equal(first.verdict, "ok", "learning mode lets an unknown app through");
    await fetcher.waitFor({ timeout: 5000 });
    assert.equal(await fetcher.locator(".pill").textContent(), "1 attempt");
    assert.match(await fetcher.textContent() ?? "", new RegExp(`127\\.0\\.0\\.1:${f.listenPort}`));
    // Oldest first: … → this test process → the launcher shell → the client itself.
    const lineage = await lineageOf(fetcher);
    assert.deepEqual(lineage.slice(-3), [
      `pid ${Deno.pid}`,
      `launch.sh pid ${first.launcherPid}`,
      "fetcher pid",
    ], lineage.join(" → "));
    // A second destination (the UI's own port) bumps the card live.
    assert.equal((await f.connect(f.bin.fetcher, f.port)).verdict, "ok");
    await page.waitForFunction(
      (exe) => document.querySelector(`[data-exe="${exe}"]`)?.textContent?.includes("2 attempts"),
      f.bin.fetcher,
    );
    assert.match(await fetcher.textContent() ?? "", new RegExp(`127\\.0\\.0\\.1:${f.port}`));
    assert.equal(page.url(), `${f.url}/learning`, "no reload");
    await screenshot(page, "learning");
  });

  await t.step("approve in the page registers it at its real hash", async () => {
    await page.check(`input[name=exe][value="${f.bin.fetcher}"]`);
    await page.click("[data-test=approve]");
    await fetcher.waitFor({ state: "detached", timeout: 5000 });
    assert.match(await page.textContent(".flash-ok") ?? "", /Approved fetcher/);
    const app = (await f.json<AppInfo[]>(["apps", "list"])).find((a) => a.path === f.bin.fetcher);
    assert.ok(app, "fetcher is registered");
    assert.equal(app.status, "valid");
    assert.equal(app.approvedInKernel, true);
    assert.equal(app.sha256, await sha256Of(f.bin.fetcher));
    assert.match(
      await Deno.readTextFile(`${f.configDir}/apps.d/learned.toml`),
      new RegExp(`path = "${f.bin.fetcher}"`),
      "a forever approval is written to apps.d/learned.toml",
    );
  });

  await t.step(
    "enforcing: the approved app passes, an unknown one is denied and listed live",
    async () => {
      const r = await f.daemon.cli(["mode", "enforcing"]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal((await f.connect(f.bin.fetcher)).verdict, "ok");
      const denied = await f.connect(f.bin.stranger);
      assert.equal(denied.verdict, "EPERM");
      const stranger = page.locator(`[data-exe="${f.bin.stranger}"]`);
      await stranger.waitFor({ timeout: 5000 });
      assert.equal(await stranger.locator(".pill").textContent(), "1 attempt");
      assert.deepEqual(
        (await lineageOf(stranger)).slice(-2),
        [`launch.sh pid ${denied.launcherPid}`, "stranger pid"],
      );
      assert.equal(await fetcher.count(), 0, "the approved app does not come back");
      await screenshot(page, "learning-enforcing");
    },
  );

  await t.step("deny in the page dismisses it; the kernel keeps denying it", async () => {
    await page.check(`input[name=exe][value="${f.bin.stranger}"]`);
    await page.click("[data-test=deny]");
    await page.locator(`[data-exe="${f.bin.stranger}"]`).waitFor({
      state: "detached",
      timeout: 5000,
    });
    assert.equal((await f.connect(f.bin.stranger)).verdict, "EPERM");
    await page.reload();
    assert.equal(await page.locator(`[data-exe="${f.bin.stranger}"]`).count(), 0);
    const apps = await f.json<AppInfo[]>(["apps", "list"]);
    assert.equal(apps.some((a) => a.path === f.bin.stranger), false, "denied is not approved");
  });
});

Deno.test("UI + kernel: tampering turns an app red live; restored bytes + Rehash turn it green; approve new hash", async (t) => {
  await using f = await startUiDaemon({
    mode: "enforcing",
    binaries: ["backup", "mailer"],
    approved: ["backup", "mailer"],
  });
  const original = await Deno.readFile(f.bin.backup);
  await using b = await launchBrowser();
  const page = await b.newPage();
  await f.login(page);
  await page.goto(`${f.url}/apps`);
  await hydrated(page);
  const row = page.locator('[data-app="backup"]');
  const badge = row.locator("[data-status]");
  const statusIs = (s: string) =>
    page.waitForFunction(
      (s) =>
        document.querySelector('[data-app="backup"] [data-status]')?.getAttribute(
          "data-status",
        ) === s,
      s,
      { timeout: 10_000 },
    );
  assert.equal(await badge.getAttribute("data-status"), "valid");
  assert.equal((await f.connect(f.bin.backup)).verdict, "ok");

  await t.step("one appended byte: red without a reload, and the kernel denies it", async () => {
    const file = await Deno.open(f.bin.backup, { append: true });
    await file.write(new Uint8Array([0]));
    file.close();
    await statusIs("invalid");
    assert.equal(await badge.textContent(), "hash mismatch", "text, not colour alone");
    assert.match(await badge.getAttribute("class") ?? "", /\bbadge-bad\b/, "red");
    assert.match(await row.getAttribute("class") ?? "", /\brow-invalid\b/);
    assert.equal(page.url(), `${f.url}/apps`, "no reload");
    assert.equal(await row.locator("text=Approve new hash…").count(), 1);
    assert.equal(
      await page.locator('[data-app="mailer"] [data-status]').getAttribute("data-status"),
      "valid",
      "the other app is untouched",
    );
    assert.equal((await f.connect(f.bin.backup)).verdict, "EPERM");
    assert.equal((await f.connect(f.bin.mailer)).verdict, "ok");
    await screenshot(page, "apps-tampered");
  });

  await t.step("restore the bytes and press Rehash: green, and the kernel allows it", async () => {
    await Deno.writeFile(f.bin.backup, original);
    await row.locator('button:has-text("Rehash")').click();
    await statusIs("valid");
    await until(
      "the rehash reported its progress",
      async () =>
        /1\/1/.test(await page.textContent("[data-test=rehash-progress]").catch(() => "") ?? ""),
    );
    assert.equal(await badge.textContent(), "valid");
    assert.match(await badge.getAttribute("class") ?? "", /\bbadge-ok\b/, "green");
    assert.equal(page.url(), `${f.url}/apps`, "no reload");
    assert.equal((await f.connect(f.bin.backup)).verdict, "ok");
    const app = (await f.json<AppInfo[]>(["apps", "list"])).find((a) => a.name === "backup")!;
    assert.equal(app.status, "valid");
    assert.equal(app.approvedInKernel, true);
    await screenshot(page, "apps");
  });

  await t.step(
    "approve new hash shows old vs new and lets the changed binary through",
    async () => {
      // Approved at run time (apps.d/learned.toml): the row appears live.
      const updater = await f.newBinary("updater");
      const allowed = await f.daemon.cli(["apps", "allow", updater, "--name", "updater"]);
      assert.equal(allowed.code, 0, allowed.stderr);
      const urow = page.locator('[data-app="updater"]');
      await urow.waitFor({ timeout: 5000 });
      const approvedHash = await sha256Of(updater);
      assert.equal((await f.connect(updater)).verdict, "ok");

      const file = await Deno.open(updater, { append: true });
      await file.write(new TextEncoder().encode("update"));
      file.close();
      const newHash = await sha256Of(updater);
      await page.waitForFunction(
        () =>
          document.querySelector('[data-app="updater"] [data-status]')?.getAttribute(
            "data-status",
          ) === "invalid",
        undefined,
        { timeout: 10_000 },
      );
      assert.equal((await f.connect(updater)).verdict, "EPERM");
      await urow.locator("text=Approve new hash…").click();
      await page.waitForURL(/\/apps\/approve-hash/);
      assert.equal(await page.textContent("[data-test=old-hash]"), approvedHash);
      assert.equal(await page.textContent("[data-test=new-hash]"), newHash);
      await screenshot(page, "apps-approve-hash");
      await page.click("[data-test=approve-hash]");
      await page.waitForURL(`${f.url}/apps`);
      assert.match(await page.textContent("[data-test=flash]") ?? "", /Approved the new hash/);
      assert.equal(await urow.locator("[data-status]").getAttribute("data-status"), "valid");
      const app = (await f.json<AppInfo[]>(["apps", "list"])).find((a) => a.name === "updater")!;
      assert.equal(app.sha256, newHash);
      assert.equal(app.status, "valid");
      assert.equal((await f.connect(updater)).verdict, "ok");
    },
  );
});

const PY = "/usr/bin/python3"; // Debian's (a symlink); PATH below keeps pyenv shims out
const CONNECT_PY = `import socket, sys
s = socket.socket()
try:
    s.connect(("127.0.0.1", int(sys.argv[1])))
    print("ok")
except PermissionError:
    print("EPERM")
`;

Deno.test("UI + kernel: a script run by an approved interpreter appears live in Learning as the script; approved there, it passes when enforcing", async (t) => {
  const python = await Deno.realPath(PY);
  await using f = await startUiDaemon({
    mode: "learning",
    apps: [{ name: "python3", path: python, sha256: await sha256Of(python), interpreter: true }],
    files: { "sync.py": CONNECT_PY, "other.py": CONNECT_PY + "# another script\n" },
  });
  const sync = `${f.dir}/sync.py`;
  const other = `${f.dir}/other.py`;
  const runPy = async (script: string) => {
    const r = await f.daemon.cg.run([PY, script, `${f.listenPort}`], {
      env: { PATH: "/usr/bin:/bin" },
    });
    return r.stdout.trim() || `stderr: ${r.stderr.trim()}`;
  };
  await using b = await launchBrowser();
  const page = await b.newPage();
  await f.login(page);
  await page.goto(`${f.url}/learning`);
  await hydrated(page);

  await t.step("the script, not the interpreter, shows up live", async () => {
    assert.equal(await runPy(sync), "ok", "learning mode lets it through");
    await page.locator(`[data-exe="${sync}"]`).waitFor({ timeout: 5000 });
    assert.equal(await page.locator(`[data-exe="${python}"]`).count(), 0);
    await screenshot(page, "learning-script");
  });

  await t.step(
    "approved in the page, the script passes when enforcing; another does not",
    async () => {
      await page.check(`input[name=exe][value="${sync}"]`);
      await page.click("[data-test=approve]");
      await page.locator(`[data-exe="${sync}"]`).waitFor({ state: "detached", timeout: 5000 });
      const app = (await f.json<AppInfo[]>(["apps", "list"])).find((a) => a.path === sync);
      assert.equal(app?.status, "valid");
      assert.equal((await f.daemon.cli(["mode", "enforcing"])).code, 0);
      assert.equal(await runPy(sync), "ok");
      assert.equal(await runPy(other), "EPERM");
      await page.locator(`[data-exe="${other}"]`).waitFor({ timeout: 5000 });
    },
  );
});
