/**
 * Browser side of the live stream and of island writes: one shared EventSource on `/api/live`
 * and a JSON POST helper that sends the session's CSRF token as a header.
 *
 * @module
 */
import type { LiveMessage } from "../../src/api/types.ts";

type Listener = (m: LiveMessage) => void;
const listeners = new Set<Listener>();
let source: EventSource | undefined;

/** Calls `listener` for every live message; returns the unsubscribe function. */
export function subscribeLive(listener: Listener): () => void {
  listeners.add(listener);
  if (!source) {
    source = new EventSource("/api/live");
    // A visible hook for "the live view is connected" (styles and tests read it).
    source.onopen = () => document.documentElement.setAttribute("data-live", "open");
    source.onerror = () => document.documentElement.setAttribute("data-live", "retrying");
    source.onmessage = (e) => {
      let m: LiveMessage;
      try {
        m = JSON.parse(e.data);
      } catch {
        return; // a malformed frame must not stop later ones
      }
      for (const l of listeners) l(m);
    };
  }
  return () => {
    listeners.delete(listener);
    if (listeners.size === 0 && source) {
      source.close();
      source = undefined;
    }
  };
}

/** POSTs JSON with the CSRF header; resolves to the parsed reply or throws its `error` text. */
export async function postJson<T>(url: string, body: unknown, csrf: string): Promise<T> {
  const res = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", "x-csrf-token": csrf },
    body: JSON.stringify(body),
    credentials: "same-origin",
  });
  const data = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(data.error ?? `${res.status} ${res.statusText}`);
  return data as T;
}
