/**
 * What the UI's routes share: the Hono environment (per-request session and caller) and the
 * server-wide dependencies.
 *
 * @module
 */
import type { Caller, HashwallApi } from "../src/api/types.ts";
import type { Assets } from "./assets.ts";
import type { UsedNonces } from "./auth/nonces.ts";
import type { Session, SessionStore } from "./auth/sessions.ts";
import type { UiTokens } from "./auth/tokens.ts";

/** Hono environment of the UI app. */
export interface UiEnv {
  Variables: { session: Session; caller: Caller };
}

/** Server-wide state handed to every route module. */
export interface UiDeps {
  api: HashwallApi;
  tokens: UiTokens;
  sessions: SessionStore;
  nonces: UsedNonces;
  assets: Assets;
  /** Closers of open live streams, ended when the server closes. */
  liveStreams: Set<() => void>;
}

/** The API caller for a UI session. */
export function callerFor(s: Session): Caller {
  return { role: s.role, channel: "ui", who: `ui session ${s.id.slice(0, 8)} (${s.role})` };
}
