/**
 * The connect hooks' verdict cache (bpf/verdict_cache.h) never outlives what the verdict rested
 * on. Each case is one long-running process (run as nobody in the test cgroup, approved as app
 * "dnsapp") connecting twice to the same destination, with a change in between that must change
 * the second verdict: a policy switch (both ways), a DNS answer naming the address, a name's TTL
 * running out. A cache keyed only by process and destination would repeat the first verdict.
 */
import assert from "node:assert/strict";
import { setupNames, teardownNames } from "../helpers/names_fixture.ts";
import type { NamesFixture } from "../helpers/names_fixture.ts";
import { asNobody, buildFixture, readLine, releaseChild, secSetup } from "./harness.ts";
import { netclientCopy } from "../helpers/netclient.ts";
import { compilePolicy } from "../../src/policy/compile.ts";

/** The fixture's policy with one rule in front: dnsapp may reach 127.0.0.1 over TCP. */
function allowByAddress(f: NamesFixture) {
  const allow = {
    ...f.policy.rules[0],
    id: "cache-allow",
    action: "allow" as const,
    protocol: "tcp" as const,
    ports: undefined,
    remote: [{
      family: 4 as const,
      addr: new Uint8Array([127, 0, 0, 1]),
      prefix: 32,
      text: "127.0.0.1",
    }],
    remoteHost: undefined,
  };
  const policy = {
    ...f.policy,
    rules: [allow, ...f.policy.rules].map((r, index) => ({ ...r, index })),
  };
  return compilePolicy(policy, { appId: (n) => n === "dnsapp" ? 1 : undefined });
}

const original = (f: NamesFixture) =>
  compilePolicy(f.policy, { appId: (n) => n === "dnsapp" ? 1 : undefined });

/**
 * Runs the client with HW_AGAIN (tests/fixtures/dnsclient.c) as nobody; `between` runs after its
 * first connect and before its second. Returns every word it printed.
 */
async function twice(
  f: NamesFixture,
  argv: string[],
  between: () => Promise<void> | void,
  env: Record<string, string> = {},
): Promise<string[]> {
  const dir = await Deno.makeTempDir({ dir: f.dir, prefix: "again-" });
  await Deno.chmod(dir, 0o1777);
  const flag = `${dir}/go`;
  const child = f.cg.spawn([...asNobody({ ...env, HW_AGAIN: flag }), ...argv]);
  const out = child.output();
  try {
    for (let i = 0; i < 3000; i++) {
      try {
        await Deno.stat(`${flag}.1`);
        break;
      } catch {
        await new Promise((r) => setTimeout(r, 10));
      }
    }
    await between();
  } finally {
    await Deno.writeTextFile(flag, "");
  }
  const r = await out;
  return new TextDecoder().decode(r.stdout).trim().split("\n");
}

Deno.test("verdict cache: a policy switch decides the next connect of a running process", async () => {
  const f = await setupNames("vcache-policy");
  try {
    const connect = [f.app, "connect", "127.0.0.1", String(f.v4.port)];
    // Allowed by an address rule, then the policy without it: the same process is refused.
    f.filter.apply(allowByAddress(f));
    assert.deepEqual(
      await twice(f, connect, () => void f.filter.apply(original(f))),
      ["ok", "EPERM"],
      "allow, then a policy that denies: the cached allow must not survive the switch",
    );
    // And the other way round.
    assert.deepEqual(
      await twice(f, connect, () => void f.filter.apply(allowByAddress(f))),
      ["EPERM", "ok"],
      "deny, then a policy that allows",
    );
  } finally {
    await teardownNames(f);
  }
});

Deno.test("verdict cache: an answer naming the address decides the next connect", async () => {
  const f = await setupNames("vcache-answer");
  try {
    // One process: a connect before any lookup (no name: the app's catch-all deny), then the
    // lookup of a name a rule allows, then the connect again.
    const r = await f.cg.run([
      ...asNobody({ HW_PRE_CONNECT: "127.0.0.1" }),
      f.app,
      "raw",
      f.dns.addr,
      "allowed.hw",
      "A",
      String(f.v4.port),
    ]);
    assert.deepEqual(r.stdout.trim().split("\n"), ["EPERM", "ok"], r.stderr);
  } finally {
    await teardownNames(f);
  }
});

Deno.test("verdict cache: a name whose TTL ran out no longer allows a running process", async () => {
  const f = await setupNames("vcache-ttl");
  try {
    // TTL 1 s + 3 s grace (bpf/dns.h): 5 s after the answer the name no longer counts.
    const words = await twice(
      f,
      [f.app, "raw", f.dns.addr, "allowed.hw", "A", String(f.v4.port)],
      () => new Promise((r) => setTimeout(r, 5000)),
    );
    assert.deepEqual(words, ["ok", "EPERM"]);
  } finally {
    await teardownNames(f);
  }
});

Deno.test("attacker: a cached via verdict ends with the lineage a write into the process cleared", async () => {
  // "client may reach 127.0.0.1:PORT only when the launcher started it" (tests/security/
  // via_rule_test.ts). The victim, approved as the client too, is started by the launcher and
  // connects (allowed via the launcher: the verdict is cached); nobody then writes into it, which
  // takes its trust and its lineage (bpf/tamper.h); the "payload" execs the client, trusted again
  // by its own approval but no longer started by the launcher: its connect must be refused.
  const f = await secSetup("vcache-taint", { rules: true });
  try {
    const LAUNCHER = 130, CLIENT = 131;
    const launcher = await netclientCopy(f.dir, "launcher");
    const client = await netclientCopy(f.dir, "client");
    const victim = await buildFixture("victim", f.dir);
    const inject = await buildFixture("inject", f.dir);
    await f.approveBinary(launcher, LAUNCHER);
    await f.approveBinary(client, CLIENT);
    await f.approveBinary(victim, CLIENT);
    f.rules(
      `
[[rule]]
id = "client-via-launcher"
action = "allow"
direction = "out"
protocol = "tcp"
remote = ["127.0.0.1"]
ports = [${f.port}]
app = "client"
via = "launcher"

[[rule]]
id = "client-not-otherwise"
action = "deny"
direction = "out"
protocol = "tcp"
ports = [${f.port}]
app = "client"
`,
      { launcher: LAUNCHER, client: CLIENT },
    );
    const port = String(f.port);
    const tcp = ["tcp4", "127.0.0.1", port];
    const child = f.spawn([launcher, "fork", "exec", victim, port, "pre", "exec", client, ...tcp]);
    const reader = child.stdout.getReader();
    const state = { buf: "" };
    try {
      assert.equal(await readLine(reader, state), "ok", "started by the launcher: allowed");
      const [pid, addr] = (await readLine(reader, state)).split(" ");
      assert.deepEqual(await f.run([inject, "vm", pid, addr]), ["written"]);
      assert.equal(
        await readLine(reader, state),
        "EPERM",
        "the same process after the write: no longer started by the launcher",
      );
    } finally {
      await releaseChild(child, reader);
    }
  } finally {
    await f.close();
  }
});
