/**
 * A closing iterator's record (struct hw_sock_closed, offsets from ffi/structs.ts, which the
 * layout test checks against bpf/hashwall.h) decodes and becomes one history event: kind, verdict,
 * reason, destination — as the CLI and the UI show it.
 */
import assert from "node:assert/strict";
import { decodeSockClosed, HW, LAYOUT } from "../../ffi/structs.ts";
import { closedToConnEvent } from "../../src/kernel/events.ts";
import { formatEvent } from "../../src/cli/events.ts";
import { explainReason } from "../../ui/pages/events_table.tsx";

function record(
  o: { family: number; daddr: number[]; result: number; reason: number; err?: number },
) {
  const L = LAYOUT.hw_sock_closed;
  const b = new Uint8Array(L.size + 8); // at an offset, as records follow each other
  const v = new DataView(b.buffer, 8);
  v.setBigUint64(L.fields["trust_key.dev"], 266338304n, true);
  v.setBigUint64(L.fields["trust_key.ino"], 4242n, true);
  v.setUint32(L.fields.app_id, 7, true);
  v.setUint32(L.fields.tgid, 1234, true);
  v.setUint32(L.fields.uid, 65534, true);
  v.setUint32(L.fields.reason, o.reason, true);
  v.setUint32(L.fields.flags, HW.SOCK_TRUSTED, true);
  v.setInt32(L.fields.err, o.err ?? 0, true);
  v.setUint8(L.fields.result, o.result);
  v.setUint8(L.fields.family, o.family);
  v.setUint8(L.fields.proto, 6);
  v.setUint8(L.fields.state, 1);
  v.setUint16(L.fields.dport, 443, true);
  v.setUint16(L.fields.sport, 50000, true);
  b.set(o.daddr, 8 + L.fields.daddr);
  return decodeSockClosed(b, 8);
}

Deno.test("a closed IPv4 socket: one deny event of kind close with its reason and peer", () => {
  const r = record({
    family: 4,
    daddr: [10, 0, 0, 9],
    result: HW.SOCK_RES_CLOSED,
    reason: HW.CLOSE_CHANGED,
  });
  assert.equal(r.trustKey.ino, 4242n);
  assert.equal(r.appId, 7);
  assert.equal(r.sport, 50000);
  const e = closedToConnEvent(r, { app: "curl", exe: "/usr/bin/curl" }, 1_700_000_000_000);
  assert.equal(e.kind, "close");
  assert.equal(e.verdict, "deny");
  assert.equal(e.reason, "file_changed");
  assert.equal(e.daddr, "10.0.0.9");
  assert.equal(e.dport, 443);
  assert.equal(e.app, "curl");
  assert.equal(e.uid, 65534);
  assert.match(formatEvent(e), /DENY .*curl .*-> 10\.0\.0\.9:443\/tcp {2}CLOSE file_changed$/);
  assert.equal(explainReason(e), "live connection closed: the app's file changed");
});

Deno.test("learning mode: would_close, verdict allow; a failed destroy is said so", () => {
  const v6 = [0x20, 0x01, 0x0d, 0xb8, ...new Array(11).fill(0), 1];
  const would = closedToConnEvent(
    record({ family: 6, daddr: v6, result: HW.SOCK_RES_WOULD_CLOSE, reason: HW.CLOSE_REVOKED }),
    { exe: "/opt/x" },
  );
  assert.equal(would.kind, "would_close");
  assert.equal(would.verdict, "allow");
  assert.equal(would.daddr, "2001:db8::1");
  assert.match(
    formatEvent(would),
    /ALLOW .*-> \[2001:db8::1\]:443\/tcp {2}WOULD CLOSE app_revoked$/,
  );
  assert.match(explainReason(would), /^would close live connection: the app was revoked/);
  const failed = closedToConnEvent(
    record({
      family: 4,
      daddr: [127, 0, 0, 1],
      result: HW.SOCK_RES_FAILED,
      reason: HW.CLOSE_ENDED,
      err: -95,
    }),
    { exe: "/opt/x" },
  );
  assert.equal(failed.reason, "approval_ended_failed_95");
  assert.match(explainReason(failed), /^closing the live connection failed: its once/);
});
