/**
 * Learning island: the live list of unapproved apps that tried to connect, grouped by
 * executable. Server-rendered as a plain form (works without JavaScript); in the browser it
 * follows `/api/live`, and approve/deny go through `/api/learning/*` without a page load.
 *
 * @module
 */
import { useSignal } from "@preact/signals";
import { useEffect } from "preact/hooks";
import type { AppInfo, LearningEntry } from "../../src/api/types.ts";
import type { Duration } from "../../src/config/model.ts";
import { addLearningEvent, isLearningEvent } from "../learning_group.ts";
import { formatDest, formatTime, protoName, shortHash } from "../format.ts";
import { LineageTree } from "./lineage.tsx";
import { postJson, subscribeLive } from "./live_client.ts";

/** Props of {@link LearningList}. */
export interface LearningListProps {
  entries: LearningEntry[];
  csrf: string;
  canWrite: boolean;
}

/** The Learning list with selection and approve/deny. */
export function LearningList(props: LearningListProps) {
  const entries = useSignal<LearningEntry[]>(props.entries);
  const selected = useSignal<string[]>([]);
  const message = useSignal<{ kind: "ok" | "error"; text: string } | null>(null);
  const busy = useSignal(false);

  useEffect(() =>
    subscribeLive((m) => {
      if (m.type === "event" && isLearningEvent(m.event)) {
        entries.value = addLearningEvent(entries.value, m.event);
      } else if (m.type === "app" && m.app.approvedInKernel) {
        entries.value = entries.value.filter((x) => x.exe !== m.app.path);
      }
    }), []);

  const toggle = (exe: string, on: boolean) => {
    const rest = selected.value.filter((x) => x !== exe);
    selected.value = on ? [...rest, exe] : rest;
  };

  const onSubmit = async (ev: SubmitEvent) => {
    ev.preventDefault();
    const form = ev.currentTarget as HTMLFormElement;
    const action = (ev.submitter as HTMLButtonElement | null)?.value ?? "approve";
    const exes = selected.value;
    if (exes.length === 0) {
      message.value = { kind: "error", text: "Select at least one app first." };
      return;
    }
    const data = new FormData(form);
    busy.value = true;
    try {
      if (action === "deny") {
        await postJson("/api/learning/deny", { exes }, props.csrf);
        message.value = { kind: "ok", text: `Denied ${exes.length} app(s).` };
      } else {
        const apps = await postJson<AppInfo[]>("/api/learning/approve", {
          exes,
          inherit: data.get("inherit") === "on",
          duration: data.get("duration") as Duration,
          hosts: data.get("hosts") === "on",
        }, props.csrf);
        message.value = { kind: "ok", text: `Approved ${apps.map((a) => a.name).join(", ")}.` };
      }
      entries.value = entries.value.filter((x) => !exes.includes(x.exe));
      selected.value = [];
    } catch (e) {
      message.value = { kind: "error", text: e instanceof Error ? e.message : String(e) };
    } finally {
      busy.value = false;
    }
  };

  const list = entries.value;
  return (
    <form method="post" action="/learning" class="learning" onSubmit={onSubmit}>
      <input type="hidden" name="_csrf" value={props.csrf} />
      {props.canWrite && (
        <div class="toolbar" role="group" aria-label="approve or deny selected apps">
          <span class="count" aria-live="polite">{selected.value.length} selected</span>
          <label
            class="check"
            title="Everything it starts runs with its trust, whatever that program is. Never tick this for a shell or an interpreter (bash, python3, node…): that would trust every program and script they run."
          >
            <input type="checkbox" name="inherit" /> trust its children (inherit)
            <span class="muted small" data-test="inherit-warning">
              — not for shells or interpreters: they would pass it to anything they run
            </span>
          </label>
          <label class="check">
            <input type="checkbox" name="hosts" /> allow its named destinations as rules
          </label>
          <label>
            duration{" "}
            <select name="duration">
              <option value="forever">forever</option>
              <option value="session">this session</option>
              <option value="once">once</option>
            </select>
          </label>
          <button
            type="submit"
            name="action"
            value="approve"
            class="btn btn-primary"
            disabled={busy.value}
            data-test="approve"
          >
            Approve
          </button>
          <button
            type="submit"
            name="action"
            value="deny"
            class="btn btn-danger"
            disabled={busy.value}
            data-test="deny"
          >
            Deny
          </button>
        </div>
      )}
      {message.value && (
        <p class={`flash flash-${message.value.kind}`} role="status">{message.value.text}</p>
      )}
      {list.length === 0
        ? (
          <p class="empty">
            No unapproved app has tried to connect. New attempts appear here live.
          </p>
        )
        : (
          <ul class="cards" data-test="learning-list">
            {list.map((e) => (
              <li class="card" key={e.exe} data-exe={e.exe}>
                <div class="card-head">
                  {props.canWrite && (
                    <input
                      type="checkbox"
                      name="exe"
                      value={e.exe}
                      aria-label={`select ${e.exe}`}
                      checked={selected.value.includes(e.exe)}
                      onChange={(ev) =>
                        toggle(e.exe, (ev.currentTarget as HTMLInputElement).checked)}
                    />
                  )}
                  <span class="mono strong">{e.exe}</span>
                  <span class="pill">{e.attempts} attempt{e.attempts === 1 ? "" : "s"}</span>
                  {e.newHash && (
                    <span class="pill pill-warn" data-test="new-hash">
                      new hash of {e.newHash.app}
                      {e.newHash.package &&
                        ` · package ${e.newHash.package} ${e.newHash.version ?? ""}`}
                      {e.newHash.reason === "unsigned" && " (not from a signed source)"}
                    </span>
                  )}
                </div>
                <dl class="facts">
                  <dt>sha-256</dt>
                  <dd class="mono" title={e.sha256}>{shortHash(e.sha256)}</dd>
                  <dt>first seen</dt>
                  <dd>{formatTime(e.firstSeen)}</dd>
                  <dt>last seen</dt>
                  <dd>{formatTime(e.lastSeen)}</dd>
                  <dt>pids</dt>
                  <dd class="mono">{e.tgids.join(", ")}</dd>
                </dl>
                <div class="card-cols">
                  <div>
                    <h4>Lineage</h4>
                    <LineageTree
                      lineage={e.lineage}
                      self={{ comm: e.exe.split("/").pop() ?? e.exe, tgid: e.tgids[0] ?? 0 }}
                    />
                  </div>
                  <div>
                    <h4>Destinations</h4>
                    <ul class="dests">
                      {e.destinations.map((d) => (
                        <li key={`${d.host ?? d.daddr}-${d.dport}-${d.proto}`}>
                          {d.host && <span class="mono strong">{d.host}:{d.dport}</span>}{" "}
                          <span class="mono">
                            {d.host ? `(${d.daddr})` : formatDest(d.daddr, d.dport)}
                          </span>{" "}
                          <span class="muted">{protoName(d.proto)} × {d.count}</span>
                        </li>
                      ))}
                    </ul>
                  </div>
                </div>
              </li>
            ))}
          </ul>
        )}
    </form>
  );
}
