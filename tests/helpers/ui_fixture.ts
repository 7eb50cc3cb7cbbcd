/**
 * One running UI for a test: the island bundle is built, the API is created by
 * {@link createTestApi} (the single place to swap in the real daemon), and the server listens on
 * a free loopback port with a temp state folder. Everything is removed on `close()`.
 *
 * @module
 */
import type { Role } from "../../src/daemon/api.ts";
import { makeLoginUrl } from "../../ui/auth/login_link.ts";
import { readListenInfo } from "../../ui/auth/listen_info.ts";
import { readTokens } from "../../ui/auth/tokens.ts";
import { buildIslandBundle } from "./browser.ts";
import { createFileBackedApi, type FileBackedApi } from "./ui_api.ts";

/** Creates the API the UI tests run against. TEMPORARY: file-backed until the daemon lands. */
export function createTestApi(): Promise<FileBackedApi> {
  return createFileBackedApi();
}

/** A running UI with its API. */
export interface UiFixture extends AsyncDisposable {
  api: FileBackedApi;
  /** Base URL, `http://127.0.0.1:PORT`. */
  url: string;
  port: number;
  stateDir: string;
  /** A fresh one-time login link, made exactly as `hashwall ui url` makes it. */
  loginUrl(role?: Role): Promise<string>;
  close(): Promise<void>;
}

/** Starts the UI (see module doc). */
export async function startUiFixture(): Promise<UiFixture> {
  await buildIslandBundle();
  // Imported after the build: ui/assets.ts embeds build/ui/islands.js at module load.
  const { createUiServer } = await import("../../ui/server.tsx");
  const api = await createTestApi();
  const stateDir = await Deno.makeTempDir({ prefix: "hashwall-ui-state-" });
  let server;
  try {
    server = await createUiServer(api, { host: "127.0.0.1", port: 0, stateDir });
  } catch (e) {
    await api.close();
    await Deno.remove(stateDir, { recursive: true });
    throw e;
  }
  const ui = server;
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    try {
      await ui.close();
    } finally {
      await api.close();
      await Deno.remove(stateDir, { recursive: true });
    }
  };
  return {
    api,
    url: ui.url,
    port: Number(new URL(ui.url).port),
    stateDir,
    async loginUrl(role: Role = "admin") {
      const info = await readListenInfo(stateDir);
      return await makeLoginUrl(info.url, await readTokens(stateDir), role);
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}
