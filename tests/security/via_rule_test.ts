/**
 * `[[rule]] via = "NAME"` (issue 21) on the real kernel programs, enforcing, allow_loopback =
 * false, every process run as nobody in the test cgroup: the rule matches only processes started
 * (at any depth) by a process trusted as that app — the kernel's lineage recorded at fork
 * (bpf/lineage.h, bpf/rules_via.h), never the current parent.
 *
 * The launcher and clients are copies of tests/fixtures/netclient.c: `L fork exec B MODE…` forks
 * and the child execs B; `L exec B MODE…` execs B in the same process.
 */
import assert from "node:assert/strict";
import { netclientCopy } from "../helpers/netclient.ts";
import { HW } from "../../ffi/structs.ts";
import { buildFixture, type SecFixture, secSetup } from "./harness.ts";
import { explainPacket } from "../../src/policy/explain.ts";
import { parsePacket } from "../../src/policy/packet.ts";
import { lastLine, setupNames, teardownNames } from "../helpers/names_fixture.ts";
import { identityOf } from "../../src/identity/running.ts";
import { fileTimes, statIdentity } from "../../src/integrity/hash.ts";
import { validateTexts } from "../../src/config/validate.ts";
import { compilePolicy } from "../../src/policy/compile.ts";

const LAUNCHER = 80, CLIENT = 81, OTHER = 82;
const IDS = { launcher: LAUNCHER, client: CLIENT, other: OTHER };

/** "client may reach 127.0.0.1:PORT only when the launcher started it". */
function onlyWhenLaunched(port: number): string {
  return `
[[rule]]
id = "client-via-launcher"
action = "allow"
direction = "out"
protocol = "tcp"
remote = ["127.0.0.1"]
ports = [${port}]
app = "client"
via = "launcher"

[[rule]]
id = "client-not-otherwise"
action = "deny"
direction = "out"
protocol = "tcp"
ports = [${port}]
app = "client"
`;
}

async function world(name: string) {
  const f = await secSetup(name, { rules: true });
  const launcher = await netclientCopy(f.dir, "launcher");
  const client = await netclientCopy(f.dir, "client");
  const other = await netclientCopy(f.dir, "other-app");
  await f.approveBinary(launcher, LAUNCHER);
  await f.approveBinary(client, CLIENT);
  await f.approveBinary(other, OTHER, { flags: HW.APP_INHERIT });
  return { f, launcher, client, other, tcp: ["tcp4", "127.0.0.1", String(f.port)] };
}

function ruleDenials(f: SecFixture): number {
  return f.events().filter((e) => e.reason === HW.REASON_RULE).length;
}

Deno.test("via allow rule: the client connects when the launcher started it, at any depth, and not from a shell", async () => {
  const { f, launcher, client, other, tcp } = await world("via-allow");
  try {
    f.rules(onlyWhenLaunched(f.port), IDS);
    assert.deepEqual(await f.run([launcher, "fork", "exec", client, ...tcp]), ["ok"]);
    assert.deepEqual(
      await f.run([launcher, "fork", "exec", "/bin/sh", "-c", `${client} ${tcp.join(" ")}; true`]),
      ["ok"],
      "launcher → sh -c → client",
    );
    assert.deepEqual(await f.run([client, ...tcp]), ["EPERM"], "started from a shell");
    assert.deepEqual(
      await f.run([other, "fork", "exec", client, ...tcp]),
      ["EPERM"],
      "started by another app (with inherit)",
    );
    assert.deepEqual(
      await f.run([launcher, "exec", client, ...tcp]),
      ["EPERM"],
      "the launcher's own process exec'ing the client: the launcher is not its ancestor",
    );
    assert.ok(ruleDenials(f) >= 3, "the denials name the deciding rule");
  } finally {
    await f.close();
  }
});

Deno.test("via deny rule: denies only under that launcher; processes trusted via an inheriting launcher too", async () => {
  const { f, launcher, client, other, tcp } = await world("via-deny");
  try {
    const heir = await netclientCopy(f.dir, "heir-launcher");
    const stranger = await netclientCopy(f.dir, "stranger");
    await f.approveBinary(heir, 83, { flags: HW.APP_INHERIT });
    f.rules(
      `
[[rule]]
id = "nothing-under-launcher"
action = "deny"
direction = "out"
protocol = "tcp"
ports = [${f.port}]
via = "launcher"

[[rule]]
id = "nothing-under-heir"
action = "deny"
direction = "out"
protocol = "tcp"
ports = [${f.port}]
via = "heir"
`,
      { ...IDS, heir: 83 },
    );
    assert.deepEqual(await f.run([client, ...tcp]), ["ok"], "on its own");
    assert.deepEqual(await f.run([other, "fork", "exec", client, ...tcp]), ["ok"], "other app");
    assert.deepEqual(await f.run([launcher, ...tcp]), ["ok"], "the launcher itself");
    assert.deepEqual(await f.run([launcher, "fork", "exec", client, ...tcp]), ["EPERM"]);
    assert.deepEqual(
      await f.run([launcher, "fork", "exec", "/bin/sh", "-c", `${client} ${tcp.join(" ")}; true`]),
      ["EPERM"],
      "two levels down",
    );
    // Trusted via the inheriting heir (not an app itself): its rules still see the lineage.
    assert.deepEqual(await f.run([heir, "fork", "exec", stranger, ...tcp]), ["EPERM"]);
    assert.deepEqual(await f.run([heir, "exec", stranger, ...tcp]), ["ok"], "heir's own process");
  } finally {
    await f.close();
  }
});

Deno.test("attacker: a via rule is not satisfied without the approved launcher among the ancestors", async () => {
  const { f, launcher, client, tcp } = await world("via-attack");
  try {
    f.rules(onlyWhenLaunched(f.port), IDS);
    const line = tcp.join(" ");
    // Sanity: the grant exists for the real launcher.
    assert.deepEqual(await f.run([launcher, "fork", "exec", client, ...tcp]), ["ok"]);

    assert.deepEqual(await f.run([client, ...tcp]), ["EPERM"], "starting the client oneself");
    assert.deepEqual(await f.run(["/usr/bin/setsid", "-w", client, ...tcp]), ["EPERM"], "setsid");
    const out = `${f.dir}/orphan.out`;
    await Deno.writeTextFile(out, "");
    await Deno.chmod(out, 0o666);
    await f.run(["/bin/sh", "-c", `(sleep 0.3; ${client} ${line} >> ${out}) & exit 0`]);
    await new Promise((r) => setTimeout(r, 1200));
    assert.equal((await Deno.readTextFile(out)).trim(), "EPERM", "double-fork orphan");
    const reaper = await buildFixture("subreaper", f.dir);
    assert.deepEqual(await f.run([reaper, client, ...tcp]), ["EPERM"], "a subreaper");
    // argv[0] is only a name: the launcher's name or path on the client changes nothing.
    for (const name of ["launcher", launcher]) {
      assert.deepEqual(
        await f.run(["/bin/bash", "-c", `exec -a ${name} ${client} ${line}`]),
        ["EPERM"],
        `argv[0] = ${name}`,
      );
    }
    // A copy of the launcher (same bytes, not the approved file), made by the attacker.
    const drop = `${f.dir}/drop`;
    await Deno.mkdir(drop);
    await Deno.chmod(drop, 0o1777);
    assert.deepEqual(
      await f.run([
        "/bin/sh",
        "-c",
        `cp ${launcher} ${drop}/launcher && ${drop}/launcher fork exec ${client} ${line}`,
      ]),
      ["EPERM"],
      "a copy of the launcher binary",
    );
    // The approved launcher run so that it is not trusted (an injection variable, a tracer):
    // it is then no app, so it is in no child's lineage.
    const so = await buildFixture("evil_preload", f.dir, ["-shared", "-fPIC"]);
    // (env -u drops the variable again before the client, so only the launcher carried it.)
    const clean = ["/usr/bin/env", "-u", "LD_PRELOAD", client, ...tcp];
    assert.deepEqual(await f.run([launcher, "fork", "exec", ...clean]), ["ok"], "clean: ok");
    assert.deepEqual(
      await f.run(["/usr/bin/env", `LD_PRELOAD=${so}`, launcher, "fork", "exec", ...clean]),
      ["EPERM"],
      "the launcher started with LD_PRELOAD",
    );
    const inject = await buildFixture("inject", f.dir);
    assert.deepEqual(
      await f.run([inject, "traced", launcher, "fork", "exec", client, ...tcp]),
      ["EPERM"],
      "the launcher started under the attacker's tracer",
    );
  } finally {
    await f.close();
  }
});

Deno.test("rules explain --via agrees with the kernel for each starter and port", async () => {
  const { f, launcher, client, other } = await world("via-explain");
  try {
    // Ports with no listener: allowed shows as a refused connection, denied as EPERM.
    const [a, b, c] = [f.port, 1 + (f.port % 60000) + 1000, 1 + (f.port % 60000) + 2000];
    const policy = f.rules(
      `
[[rule]]
id = "a-via-launcher"
action = "allow"
direction = "out"
protocol = "tcp"
ports = [${a}]
app = "client"
via = "launcher"

[[rule]]
id = "a-no"
action = "deny"
direction = "out"
protocol = "tcp"
ports = [${a}]
app = "client"

[[rule]]
id = "b-not-under-launcher"
action = "deny"
direction = "out"
protocol = "tcp"
ports = [${b}]
via = "launcher"

[[rule]]
id = "c-via-other"
action = "allow"
direction = "out"
protocol = "tcp"
remote = ["127.0.0.0/8"]
ports = [${c}]
via = "other"

[[rule]]
id = "c-no"
action = "deny"
direction = "out"
protocol = "tcp"
ports = [${c}]
`,
      IDS,
    );
    const starters: Record<string, string[]> = {
      none: [],
      launcher: [launcher, "fork", "exec"],
      other: [other, "fork", "exec"],
    };
    let denied = 0;
    for (const [who, prefix] of Object.entries(starters)) {
      for (const port of [a, b, c]) {
        const [got] = await f.run([...prefix, client, "tcp4", "127.0.0.1", String(port)]);
        const kernel = got === "EPERM" ? "deny" : "allow";
        const pkt = parsePacket(
          ["out", "tcp", `127.0.0.1:${port}`],
          "client",
          who === "none" ? undefined : who,
        );
        const e = explainPacket(policy, pkt);
        assert.equal(e.verdict, kernel, `${who} port ${port}: explain ${e.why[0]} / kernel ${got}`);
        if (kernel === "deny") denied++;
      }
    }
    // a-no (none, other), c-no (none, launcher), b-not-under-launcher (launcher).
    assert.equal(denied, 5, "the table covers denials by app, via and general rules");
  } finally {
    await f.close();
  }
});

Deno.test("via on a remote_host rule: the name an app resolved decides only when the launcher started it", async () => {
  const f = await setupNames("via-names");
  try {
    const launcher = await netclientCopy(f.dir, "launcher");
    f.core.approve({
      key: identityOf(await Deno.stat(launcher)),
      appId: 2,
      flags: 0,
      times: fileTimes(statIdentity(launcher)),
    });
    const rules = `
[defaults]
mode = "enforcing"
outbound = "allow"

[[rule]]
id = "dns"
action = "allow"
direction = "out"
protocol = "udp"
ports = [53]

[[rule]]
id = "api-via-launcher"
action = "allow"
direction = "out"
protocol = "tcp"
remote_host = ["allowed.hw"]
app = "dnsapp"
via = "launcher"

[[rule]]
id = "api-no"
action = "deny"
direction = "out"
protocol = "tcp"
remote_host = ["allowed.hw"]
app = "dnsapp"
`;
    const loaded = validateTexts({
      rulesFile: "rules.toml",
      rulesText: rules,
      appsTexts: [{
        file: "apps.toml",
        text: ["dnsapp", "launcher"].map((n) =>
          `[[app]]\nname = "${n}"\npath = "/bin/${n}"\nsha256 = "${"ab".repeat(32)}"\n`
        ).join("\n"),
      }],
    });
    if (!loaded.ok) throw new Error(loaded.errors.join("\n"));
    const ids: Record<string, number> = { dnsapp: 1, launcher: 2 };
    f.filter.apply(compilePolicy(loaded.policy, { appId: (n) => ids[n] }));
    const raw = ["raw", f.dns.addr, "allowed.hw", "A", String(f.v4.port)];
    assert.equal(await lastLine(f, [f.app, ...raw]), "EPERM", "resolved and connected alone");
    assert.equal(
      await lastLine(f, [launcher, "fork", "exec", f.app, ...raw]),
      "ok",
      "the same, started by the launcher",
    );
    assert.equal(
      await lastLine(f, [
        launcher,
        "fork",
        "exec",
        f.app,
        "raw",
        f.dns.addr,
        "other.hw",
        "A",
        String(f.v4.port),
      ]),
      "ok",
      "another name for the same address matches neither rule",
    );
  } finally {
    await teardownNames(f);
  }
});
