/**
 * Real-browser helpers for UI tests: Debian's /usr/bin/chromium driven by playwright-core with a
 * fresh user-data-dir (removed on close), the island bundle build, and screenshots saved under
 * build/test-artifacts/ui/.
 *
 * @module
 */
import { type BrowserContext, chromium, type Page } from "playwright-core";

/** Where page screenshots go. */
export const ARTIFACT_DIR = new URL("../../build/test-artifacts/ui/", import.meta.url).pathname;

/** A launched browser with its own profile. */
export interface TestBrowser extends AsyncDisposable {
  context: BrowserContext;
  /** A new tab. */
  newPage(): Promise<Page>;
  /** Closes the browser and removes its profile folder. Safe to call twice. */
  close(): Promise<void>;
}

/** Launches headless chromium with a temp profile. */
export async function launchBrowser(
  opts: { viewport?: { width: number; height: number } } = {},
): Promise<TestBrowser> {
  const profile = await Deno.makeTempDir({ prefix: "hashwall-chromium-" });
  let context: BrowserContext;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: "/usr/bin/chromium",
      headless: true,
      viewport: opts.viewport ?? { width: 1280, height: 800 },
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-quic",
      ],
    });
  } catch (e) {
    await Deno.remove(profile, { recursive: true });
    throw e;
  }
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    try {
      await context.close();
    } finally {
      await Deno.remove(profile, { recursive: true }).catch(() => {});
    }
  };
  return {
    context,
    newPage: () => context.newPage(),
    close,
    [Symbol.asyncDispose]: close,
  };
}

/** Saves a full-page screenshot as `<ARTIFACT_DIR>/<name>.png`, prints and returns the path. */
export async function screenshot(page: Page, name: string): Promise<string> {
  await Deno.mkdir(ARTIFACT_DIR, { recursive: true });
  const path = `${ARTIFACT_DIR}${name}.png`;
  await page.screenshot({ path, fullPage: true });
  console.log(`screenshot: ${path}`);
  return path;
}

/** Tracked folder of the screenshots the README shows (written by tests/e2e/ui_tour_test.ts). */
export const DOC_IMG_DIR = new URL("../../docs/img/", import.meta.url).pathname;

/**
 * Saves what the window shows (not the full page: a README picture should read at a glance; its
 * top `height` pixels when given) as `docs/img/<name>.png`, and a copy among the test artifacts.
 * Returns the docs path.
 */
export async function docScreenshot(
  page: Page,
  name: string,
  opts: { height?: number } = {},
): Promise<string> {
  await Deno.mkdir(DOC_IMG_DIR, { recursive: true });
  await Deno.mkdir(ARTIFACT_DIR, { recursive: true });
  const path = `${DOC_IMG_DIR}${name}.png`;
  const size = page.viewportSize();
  const clip = opts.height && size
    ? { x: 0, y: 0, width: size.width, height: Math.min(opts.height, size.height) }
    : undefined;
  await page.screenshot({ path, clip });
  await Deno.copyFile(path, `${ARTIFACT_DIR}doc-${name}.png`);
  console.log(`screenshot: ${path}`);
  return path;
}

/**
 * Builds build/ui/islands.js from ui/islands/main.tsx (what build.sh does), writing beside and
 * renaming so a parallel reader never sees half a file.
 */
export async function buildIslandBundle(): Promise<void> {
  const root = new URL("../../", import.meta.url).pathname;
  await Deno.mkdir(`${root}build/ui`, { recursive: true });
  const tmp = `${root}build/ui/islands.${crypto.randomUUID()}.tmp.js`;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["bundle", "--platform=browser", "--minify", "-o", tmp, `${root}ui/islands/main.tsx`],
    cwd: root,
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) {
    await Deno.remove(tmp).catch(() => {});
    throw new Error(`deno bundle failed:\n${new TextDecoder().decode(out.stderr)}`);
  }
  await Deno.rename(tmp, `${root}build/ui/islands.js`);
}
