/**
 * Hostile DNS against the kernel's answer parser (bpf/dns.h). A name now grants trust through a
 * remote_host rule, so the attacker is an unprivileged user (uid nobody) inside the test cgroup:
 * in a user + network namespace of its own it may bind port 53 and answer its own queries with
 * anything. Forged answers (wrong id, wrong question), truncated, pointer loops, overlong names,
 * oversized messages and records outside the question's chain never create a name for an address
 * the asker did not get a real answer about, and are counted. In the host's namespace nobody
 * cannot answer from port 53 at all, and answers from any other port are not DNS to the kernel.
 */
import assert from "node:assert/strict";
import {
  lastLine,
  type NamesFixture,
  setupNames,
  teardownNames,
} from "../helpers/names_fixture.ts";
import { HW } from "../../ffi/structs.ts";

const NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"];

/** Runs the hostile server + one raw query as nobody in a private user+net namespace. */
function hostile(f: NamesFixture, kind: string, answer: string, qname: string) {
  return lastLine(f, [
    ...NOBODY,
    "unshare",
    "-rn",
    "sh",
    "-c",
    `ip link set lo up && { "$1" fake 127.0.0.1 53 "$2" "$3" & } && sleep 0.3 && ` +
    `"$1" raw 127.0.0.1 "$4" A 9; kill $! 2>/dev/null; true`,
    "sh",
    f.app,
    kind,
    answer,
    qname,
  ]);
}

function hasAddr(f: NamesFixture, addr: string): boolean {
  const want = addr.split(".").map(Number);
  return f.names.entries().some((e) => e.family === 4 && want.every((b, i) => e.addr[i] === b));
}

Deno.test("hostile DNS: forged, truncated, looping, oversized answers create no names and are counted", async () => {
  // Learning mode: the hostile server (the same approved binary) may answer; the parser is the
  // same in both modes.
  const f = await setupNames("names-hostile", { mode: HW.MODE_LEARNING });
  try {
    const cases: Array<[string, boolean, string]> = [
      // kind, entry expected, counter that must grow
      ["good", true, "answers"],
      ["wrongid", false, "unmatched"],
      ["wrongname", false, "unmatched"],
      ["truncated", false, "overflow"],
      ["loop", false, "malformed"],
      ["fwdloop", false, "malformed"],
      ["longname", false, "malformed"],
      ["offchain", false, "skipped_records"],
      ["oversized", true, "overflow"],
    ];
    const wrong: string[] = [];
    for (const [i, [kind, expected, counter]] of cases.entries()) {
      const answer = `127.77.${i + 1}.1`;
      const before = f.names.stats();
      const out = await hostile(f, kind, answer, `q${i}.hostile.hw`);
      const after = f.names.stats();
      if (hasAddr(f, answer) !== expected) {
        wrong.push(`${kind}: entry for ${answer} ${expected ? "missing" : "created"} (${out})`);
      }
      if (!(after[counter as keyof typeof after] > before[counter as keyof typeof before])) {
        wrong.push(`${kind}: counter ${counter} did not grow (${JSON.stringify(after)})`);
      }
    }
    assert.deepEqual(wrong, []);
    // Oversized: at most one entry per (process, address), whatever the record count.
    assert.ok(f.names.entries().length <= 2, "the maps hold no more than the two real answers");
  } finally {
    await teardownNames(f);
  }
});

Deno.test("hostile DNS: nobody in the host namespace cannot answer from port 53, and other ports are not DNS", async () => {
  const f = await setupNames("names-spoof", { mode: HW.MODE_LEARNING });
  const port = 20000 + (crypto.getRandomValues(new Uint16Array(1))[0] % 20000);
  const server = new Deno.Command(NOBODY[0], {
    args: [...NOBODY.slice(1), f.app, "fake", "127.0.0.1", String(port), "good", "127.77.9.1"],
    stdout: "piped",
    stderr: "null",
  }).spawn();
  try {
    const r = server.stdout.getReader();
    const first = new TextDecoder().decode((await r.read()).value);
    r.releaseLock();
    assert.match(first, /ready/);
    // Port 53 on the host is privileged: nobody cannot bind it.
    assert.match(
      await lastLine(f, [...NOBODY, f.app, "fake", "127.0.0.1", "53", "good", "127.77.9.2"]),
      /ERR:Permission denied/,
    );
    // A well-formed answer from another port, to a query the socket really sent: not DNS.
    const out = await lastLine(f, [
      ...NOBODY,
      f.app,
      "raw",
      "127.0.0.1",
      "spoof.hw",
      "A",
      "9",
      String(port),
    ]);
    assert.equal(out, "ERR:Connection refused", "the client got the answer and connected");
    assert.equal(hasAddr(f, "127.77.9.1"), false, "no name from a non-DNS port");
  } finally {
    server.kill("SIGKILL");
    await server.status;
    await server.stdout.cancel().catch(() => {});
    await teardownNames(f);
  }
});
