/**
 * The README's "First ten minutes", walked for real in a real browser: a program shows up on the
 * Learning page, is approved there, the Overview switches to enforcing (after asking), the kernel
 * then lets the approved program through and denies a stranger, and `hashwall disable` undoes it
 * all. The pictures the README shows are taken on the way (docs/img/, tracked), so they always
 * show the UI as it is; tests/unit/readme_images_test.ts fails if one the README names is missing.
 */
import assert from "node:assert/strict";
import { docScreenshot, launchBrowser } from "../helpers/browser.ts";
import { hydrated, startUiDaemon, until } from "../helpers/ui_fixture.ts";
import type { AppInfo, StatusInfo } from "../../src/api/types.ts";

Deno.test("README tour: learn, approve from the Learning page, switch to enforcing, undo with disable", async () => {
  await using f = await startUiDaemon({ mode: "learning", binaries: ["sync-client", "stranger"] });
  // 1. In learning mode an unknown program is allowed and reported.
  assert.equal((await f.connect(f.bin["sync-client"])).verdict, "ok");
  assert.equal((await f.connect(f.bin["sync-client"], f.port)).verdict, "ok");
  await using b = await launchBrowser({ viewport: { width: 1280, height: 800 } });
  const page = await b.newPage();
  await f.login(page);
  await docScreenshot(page, "tour-overview-learning");

  // 2. The Learning page lists it; approve it there.
  await until("the program is on the Learning page", async () => {
    await page.goto(`${f.url}/learning`);
    return await page.locator(`[data-exe="${f.bin["sync-client"]}"]`).count() > 0;
  });
  await hydrated(page);
  await page.check(`input[name=exe][value="${f.bin["sync-client"]}"]`);
  await docScreenshot(page, "tour-learning");
  await page.click("[data-test=approve]");
  await until(
    "approved",
    async () =>
      (await f.json<AppInfo[]>(["apps", "list"])).find((a) => a.path === f.bin["sync-client"])
        ?.approvedInKernel === true,
  );

  // 3. Switch to enforcing from the Overview: it asks first.
  await page.goto(`${f.url}/`);
  await page.click("[data-test=mode-switch]");
  await docScreenshot(page, "tour-mode-confirm", { height: 320 });
  await page.click("[data-test=mode-confirm]");
  await page.waitForURL(`${f.url}/`);
  assert.equal((await f.json<StatusInfo>(["status"])).mode, "enforcing");
  assert.equal((await f.connect(f.bin["sync-client"])).verdict, "ok", "approved: allowed");
  assert.equal((await f.connect(f.bin.stranger)).verdict, "EPERM", "unknown: denied");
  await until("the denial is shown", async () => {
    await page.goto(`${f.url}/`);
    return (await page.textContent("main") ?? "").includes("stranger");
  });
  await docScreenshot(page, "tour-overview-enforcing");

  // 4. Undo: hashwall disable detaches and unpins; the kernel denies nothing any more.
  const off = await f.daemon.cli(["disable"]);
  assert.equal(off.code, 0, off.stderr);
  assert.match(off.stdout, /disabled instance/);
  assert.equal((await f.connect(f.bin.stranger)).verdict, "ok", "after disable: not filtered");
});
