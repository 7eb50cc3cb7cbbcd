/**
 * The compiler must keep first-match semantics: for random rule sets and random packets, the
 * compiled tables evaluated the kernel's way (lookupCompiled) pick the same rule as a plain
 * first-match scan in file order.
 */
import assert from "node:assert/strict";
import { cidrContains, parseCidr } from "../../src/config/cidr.ts";
import type { Policy, Protocol, Rule } from "../../src/config/model.ts";
import { CompileError, compilePolicy, ruleProtocols } from "../../src/policy/compile.ts";
import type { Packet } from "../../src/policy/packet.ts";
import {
  elementaryIntervals,
  intervalsWithin,
  rangeToPrefixes,
} from "../../src/policy/port_classes.ts";
import { lookupCompiled } from "../../src/policy/match.ts";
import { FLT } from "../../ffi/filter_structs.ts";

/**
 * The specification the compiled tables must meet: the first rule in file order whose direction,
 * protocol, remote, service port, app and via (an app among the caller's starters) all match.
 */
function firstMatch(rules: readonly Rule[], pkt: Packet, starters: readonly string[] = []): number {
  return rules.findIndex((rule) => {
    if (rule.direction !== pkt.direction) return false;
    const keyed = [6, 17, 1, 58].includes(pkt.proto) ? pkt.proto : 255;
    if (!ruleProtocols(rule).includes(keyed)) return false;
    if (rule.remote && !rule.remote.some((c) => cidrContains(c, pkt.remote))) return false;
    if (rule.ports) {
      if (pkt.port === undefined) return false;
      if (!rule.ports.some((r) => pkt.port! >= r.from && pkt.port! <= r.to)) return false;
    }
    if (rule.via !== undefined && !starters.includes(rule.via)) return false;
    return rule.app === undefined || rule.app === pkt.app;
  });
}

/** Seeded PRNG so a failure can be replayed. */
function rng(seed: number) {
  return () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed / 0x80000000;
  };
}

function policyOf(rules: Rule[]): Policy {
  return {
    defaults: {
      mode: "enforcing",
      allowLoopback: true,
      inbound: "deny",
      outbound: "allow",
      untracked: "allow",
      interfaces: [],
      execGate: false,
      closeOnRevoke: true,
    },
    ui: { host: null, port: 0 },
    rules,
    integrity: { watch: [] },
    apps: [],
    files: [],
  };
}

function rule(i: number, r: Partial<Rule>): Rule {
  return {
    id: `r${i}`,
    action: "allow",
    direction: "in",
    protocol: "any",
    index: i,
    loc: { file: "rules.toml", line: i + 1, col: 1 },
    ...r,
  };
}

Deno.test("rangeToPrefixes covers exactly the range", () => {
  for (const [a, b] of [[1, 1], [8000, 8003], [1, 65535], [1000, 2000], [65535, 65535]]) {
    const covered = new Set<number>();
    for (const p of rangeToPrefixes(a, b)) {
      const size = 2 ** (16 - p.bits);
      assert.equal(p.port % size, 0, "aligned");
      for (let x = p.port; x < p.port + size; x++) covered.add(x);
    }
    assert.equal(covered.size, b - a + 1);
    assert.ok([...covered].every((x) => x >= a && x <= b));
  }
  assert.deepEqual(rangeToPrefixes(8000, 8003), [{ port: 8000, bits: 14 }]);
});

Deno.test("elementaryIntervals splits overlapping ranges and drops gaps", () => {
  const iv = elementaryIntervals([{ from: 1, to: 100 }, { from: 50, to: 50 }, {
    from: 200,
    to: 300,
  }]);
  assert.deepEqual(iv, [
    { from: 1, to: 49 },
    { from: 50, to: 50 },
    { from: 51, to: 100 },
    { from: 200, to: 300 },
  ]);
  assert.deepEqual(intervalsWithin(iv, { from: 50, to: 100 }), [1, 2]);
  assert.deepEqual(intervalsWithin(iv, { from: 1, to: 100 }), [0, 1, 2]);
});

const NETS4 = ["0.0.0.0/0", "10.0.0.0/8", "10.1.0.0/16", "10.1.2.0/24", "10.1.2.3", "192.0.2.0/24"];
const NETS6 = ["::/0", "2001:db8::/32", "2001:db8:1::/48", "2001:db8:1::5", "fd00::/8"];
const ADDRS4 = ["10.1.2.3", "10.1.2.4", "10.9.9.9", "192.0.2.7", "198.51.100.1"];
const ADDRS6 = ["2001:db8:1::5", "2001:db8:1::6", "2001:db8:2::1", "fd00::1", "2001:db9::1"];
const PROTOS: Protocol[] = ["tcp", "udp", "icmp", "icmpv6", "any"];

function bytes(a: string): Uint8Array {
  return parseCidr(a).addr;
}

function randomRules(next: () => number, n: number): Rule[] {
  const pick = <T>(xs: T[]) => xs[Math.floor(next() * xs.length)];
  const rules: Rule[] = [];
  for (let i = 0; i < n; i++) {
    const protocol = pick(PROTOS);
    const r: Partial<Rule> = {
      action: next() < 0.5 ? "allow" : "deny",
      direction: next() < 0.5 ? "in" : "out",
      protocol,
    };
    if (next() < 0.6) {
      const fam = protocol === "icmp" ? 4 : protocol === "icmpv6" ? 6 : next() < 0.5 ? 4 : 6;
      const count = 1 + Math.floor(next() * 2);
      r.remote = Array.from({ length: count }, () => parseCidr(pick(fam === 4 ? NETS4 : NETS6)));
    }
    if ((protocol === "tcp" || protocol === "udp" || protocol === "any") && next() < 0.6) {
      r.ports = Array.from({ length: 1 + Math.floor(next() * 2) }, () => {
        const from = 1 + Math.floor(next() * 40);
        return { from, to: next() < 0.5 ? from : from + Math.floor(next() * 20) };
      });
    }
    if (r.direction === "out" && next() < 0.2) r.app = pick(["curl", "git"]);
    if (r.direction === "out" && next() < 0.25) r.via = pick(["backup", "ci", "curl"]);
    rules.push(rule(i, r));
  }
  return rules;
}

Deno.test("compiled tables pick the same first rule as a file-order scan (random sets)", () => {
  const next = rng(42);
  const appIds: Record<string, number> = { curl: 7, git: 9, backup: 11, ci: 12 };
  const lineages = [[], ["backup"], ["ci", "backup"], ["curl", "curl", "ci"], ["git"]];
  let checked = 0;
  let viaDecided = 0;
  let matched = 0;
  for (let round = 0; round < 60; round++) {
    const rules = randomRules(next, 1 + Math.floor(next() * 25));
    const policy = policyOf(rules);
    const compiled = compilePolicy(policy, { appId: (n) => appIds[n] });
    for (let k = 0; k < 80; k++) {
      const v6 = next() < 0.5;
      const proto = v6
        ? [6, 17, 58, 47][Math.floor(next() * 4)]
        : [6, 17, 1, 47][Math.floor(next() * 4)];
      const pkt: Packet = {
        direction: next() < 0.5 ? "in" : "out",
        proto,
        family: v6 ? 6 : 4,
        remote: bytes((v6 ? ADDRS6 : ADDRS4)[Math.floor(next() * 5)]),
      };
      if (proto === 6 || proto === 17) pkt.port = 1 + Math.floor(next() * 70);
      const app = pkt.direction === "out" && next() < 0.4
        ? ["curl", "git"][Math.floor(next() * 2)]
        : undefined;
      if (app) pkt.app = app;
      // The connect hooks (an app) also see the caller's lineage; tc (no app) never does.
      const starters = app ? lineages[Math.floor(next() * lineages.length)] : [];
      const want = firstMatch(rules, pkt, starters);
      const got = lookupCompiled(
        compiled,
        pkt,
        app ? appIds[app] : 0,
        starters.map((n) => appIds[n]),
      );
      if (want >= 0 && rules[want].via) viaDecided++;
      assert.equal(
        got,
        want,
        `round ${round} packet ${JSON.stringify({ ...pkt, remote: [...pkt.remote] })}`,
      );
      checked++;
      if (want >= 0) matched++;
    }
  }
  assert.equal(checked, 4800);
  assert.ok(matched > 1000, `enough packets hit a rule (${matched})`);
  assert.ok(viaDecided > 30, `enough packets decided by a via rule (${viaDecided})`);
});

Deno.test("via rules compile into one group per (app, via) with key ids no app has", () => {
  const rules = [
    rule(0, { direction: "out", via: "backup", ports: [{ from: 443, to: 443 }] }),
    rule(1, { direction: "out", app: "curl", via: "backup", action: "deny" }),
    rule(2, { direction: "out", app: "curl", via: "backup", protocol: "udp" }),
    rule(3, { direction: "out", app: "curl" }),
  ];
  const ids: Record<string, number> = { curl: 7, backup: 11 };
  const c = compilePolicy(policyOf(rules), { appId: (n) => ids[n] });
  assert.deepEqual(c.vias, [
    { appId: 0, viaApp: 11, keyId: FLT.VIA_ID_BASE },
    { appId: 7, viaApp: 11, keyId: FLT.VIA_ID_BASE + 1 },
  ]);
  assert.ok((c.anyMask & FLT.VIA_BIT) !== 0, "the generation says it has via rules");
  const keyed = new Set(c.addrs.map((e) => e.appId));
  assert.deepEqual([...keyed].sort(), [7, FLT.VIA_ID_BASE, FLT.VIA_ID_BASE + 1].sort());
  // No via rule: no via bit, no groups (the kernel then skips the lineage entirely).
  const plain = compilePolicy(policyOf([rules[3]]), { appId: (n) => ids[n] });
  assert.deepEqual(plain.vias, []);
  assert.equal(plain.anyMask & FLT.VIA_BIT, 0);
  // The model: curl started by backup is denied by rule 1; curl on its own falls to rule 3.
  const pkt: Packet = {
    direction: "out",
    proto: 6,
    family: 4,
    remote: bytes("192.0.2.1"),
    port: 80,
  };
  assert.equal(lookupCompiled(c, pkt, 7, [11]), 1);
  assert.equal(lookupCompiled(c, pkt, 7, []), 3);
  assert.equal(lookupCompiled(c, { ...pkt, port: 443 }, 9, [11]), 0);
  assert.equal(lookupCompiled(c, { ...pkt, port: 443 }, 0, []), -1);
});

Deno.test("via rules naming an app without a kernel identity are skipped and reported", () => {
  const rules = [rule(0, { direction: "out", via: "ghost", action: "deny" })];
  const c = compilePolicy(policyOf(rules), { appId: () => undefined });
  assert.deepEqual(c.skipped, [{
    id: "r0",
    reason: 'via app "ghost" has no approved kernel identity yet',
  }]);
  assert.equal(c.addrs.length, 0);
  assert.deepEqual(c.vias, []);
});

Deno.test("rules of apps without a kernel identity are skipped and reported", () => {
  const rules = [rule(0, { direction: "out", app: "ghost", action: "deny" })];
  const c = compilePolicy(policyOf(rules), { appId: () => undefined });
  assert.deepEqual(c.skipped, [{
    id: "r0",
    reason: 'app "ghost" has no approved kernel identity yet',
  }]);
  assert.equal(c.addrs.length, 0);
});

Deno.test("an oversized rule set is refused with a clear error", () => {
  const rules = Array.from({ length: 16385 }, (_, i) => rule(i, {}));
  assert.throws(
    () => compilePolicy(policyOf(rules)),
    (e: unknown) => e instanceof CompileError && /too many rules: 16385/.test(e.message),
  );
});

Deno.test("1000 rules on distinct ports compile to a bounded number of entries", () => {
  const rules = Array.from(
    { length: 1000 },
    (_, i) =>
      rule(i, {
        protocol: "tcp",
        ports: [{ from: 10000 + i, to: 10000 + i }],
        remote: [parseCidr(`10.${i >> 8}.${i & 255}.0/24`)],
      }),
  );
  const t0 = performance.now();
  const c = compilePolicy(policyOf(rules));
  const ms = performance.now() - t0;
  assert.equal(c.ports.length, 1000);
  assert.equal(c.addrs.length, 1000);
  assert.ok(ms < 2000, `compile took ${ms} ms`);
});
