/**
 * Static assets embedded in the program: the island bundle (built by
 * `deno bundle --platform=browser --minify -o build/ui/islands.js ui/islands/main.tsx`) and the
 * stylesheet. Each is served under a content-hashed name with a one-year immutable cache, so a new
 * build is fetched at once and an old one never goes stale.
 *
 * @module
 */
import islandsJs from "../build/ui/islands.js" with { type: "text" };
import styleCss from "./static/style.css" with { type: "text" };

/** One embedded asset. */
export interface Asset {
  /** URL path, e.g. `/static/style.1a2b3c4d5e.css`. */
  path: string;
  contentType: string;
  body: string;
}

async function hashed(name: string, ext: string, type: string, body: string): Promise<Asset> {
  const digest = new Uint8Array(
    await crypto.subtle.digest("SHA-256", new TextEncoder().encode(body)),
  );
  const hex = Array.from(digest.slice(0, 6), (x) => x.toString(16).padStart(2, "0")).join("");
  return { path: `/static/${name}.${hex}.${ext}`, contentType: type, body };
}

/** The embedded assets, by role. */
export interface Assets {
  script: Asset;
  style: Asset;
}

/** Computes the hashed names of the embedded assets. */
export async function loadAssets(): Promise<Assets> {
  return {
    script: await hashed("islands", "js", "text/javascript; charset=utf-8", islandsJs),
    style: await hashed("style", "css", "text/css; charset=utf-8", styleCss),
  };
}
