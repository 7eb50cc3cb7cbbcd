/**
 * Lineage through exec (issue 21), on the real kernel programs, enforcing, allow_loopback = false,
 * every process run as nobody in the test cgroup:
 *
 * - `inherit = true` reaches every descendant, forked or exec'd, at any depth ("via" the app);
 *   `inherit = false` keeps the old behaviour;
 * - a descendant that execs an approved app becomes that app (its own entry and app id);
 * - `only_via`: an app trusted only when one of its starters is among its ancestors;
 * - trust is fixed when a process is created: orphaning and setsid neither grant nor remove it;
 * - an exec with an injection variable under an inheriting parent is not trusted;
 * - revoking the ancestor app ends the trust of everything trusted via it.
 *
 * The launcher and clients are copies of tests/fixtures/netclient.c: `L fork exec B MODE…` forks
 * and the child execs B; `L exec B MODE…` execs B in the same process.
 */
import assert from "node:assert/strict";
import { netclientCopy } from "../helpers/netclient.ts";
import { HW } from "../../ffi/structs.ts";
import { identityOf } from "../../src/identity/running.ts";
import { buildFixture, secSetup } from "./harness.ts";

const LAUNCHER = 70, CLIENT = 71, OTHER = 72;

Deno.test("inherit: a fork+exec'd unknown binary is trusted via the launcher, also two levels down; without inherit it is not", async () => {
  const f = await secSetup("lin-inherit");
  try {
    const tcp = ["tcp4", "127.0.0.1", String(f.port)];
    const launcher = await netclientCopy(f.dir, "launcher");
    const plain = await netclientCopy(f.dir, "plain-launcher");
    const stranger = await netclientCopy(f.dir, "stranger");
    await f.approveBinary(launcher, LAUNCHER, { flags: HW.APP_INHERIT });
    await f.approveBinary(plain, OTHER);

    assert.deepEqual(await f.run([stranger, ...tcp]), ["EPERM"], "alone: unknown");
    assert.deepEqual(await f.run([launcher, "fork", "exec", stranger, ...tcp]), ["ok"]);
    assert.deepEqual(await f.run([launcher, "exec", stranger, ...tcp]), ["ok"], "exec in place");
    // launcher → sh -c → stranger: the shell is not approved either; both are trusted via.
    assert.deepEqual(
      await f.run([launcher, "exec", "/bin/sh", "-c", `${stranger} ${tcp.join(" ")}; true`]),
      ["ok"],
    );
    // Without inherit the child is on its own, as before.
    assert.deepEqual(await f.run([plain, "fork", "exec", stranger, ...tcp]), ["EPERM"]);
    assert.deepEqual(await f.run([plain, "exec", stranger, ...tcp]), ["EPERM"]);
  } finally {
    await f.close();
  }
});

Deno.test("inherit: an approved app exec'd under the launcher becomes that app, via only what is not approved", async () => {
  const f = await secSetup("lin-become");
  try {
    const launcher = await netclientCopy(f.dir, "launcher");
    const client = await netclientCopy(f.dir, "client");
    const stranger = await netclientCopy(f.dir, "stranger");
    await f.approveBinary(launcher, LAUNCHER, { flags: HW.APP_INHERIT });
    await f.approveBinary(client, CLIENT);
    // Both children report their own kernel entry before connecting.
    const look = async (bin: string) => {
      const child = f.spawn([launcher, "exec", bin, "sleep-then", "1.5", "tcp4", "127.0.0.1", "1"]);
      child.stdin.close();
      const done = child.output();
      await new Promise((r) => setTimeout(r, 700));
      const entry = f.core.procEntry(child.pid);
      await done;
      return entry;
    };
    const own = await look(client);
    assert.equal(own?.appId, CLIENT, "the approved child is its own app (its own rules apply)");
    assert.equal(own?.source, HW.TRUST_OWN);
    const via = await look(stranger);
    assert.equal(via?.appId, LAUNCHER, "the stranger is trusted as the launcher");
    assert.equal(via?.source, HW.TRUST_VIA);
    assert.deepEqual(
      via?.trustKey,
      identityOf(await Deno.stat(launcher)),
      "it rests on the launcher",
    );
  } finally {
    await f.close();
  }
});

Deno.test("only_via: the client is trusted when the launcher starts it, at any depth, and never otherwise", async () => {
  const f = await secSetup("lin-onlyvia");
  try {
    const tcp = ["tcp4", "127.0.0.1", String(f.port)];
    const launcher = await netclientCopy(f.dir, "launcher");
    const other = await netclientCopy(f.dir, "other-app");
    const client = await netclientCopy(f.dir, "client");
    // only_via does not need inherit on the starter.
    await f.approveBinary(launcher, LAUNCHER);
    await f.approveBinary(other, OTHER, { flags: HW.APP_INHERIT });
    await f.approveBinary(client, CLIENT);
    f.core.setOnlyVia(new Map([[CLIENT, [LAUNCHER]]]));

    assert.deepEqual(await f.run([launcher, "fork", "exec", client, ...tcp]), ["ok"]);
    assert.deepEqual(
      await f.run([launcher, "fork", "exec", "/bin/sh", "-c", `${client} ${tcp.join(" ")}; true`]),
      ["ok"],
      "two levels down",
    );
    assert.deepEqual(await f.run([client, ...tcp]), ["EPERM"], "started from a shell");
    assert.deepEqual(
      await f.run([other, "fork", "exec", client, ...tcp]),
      ["EPERM"],
      "another app (even with inherit) is not a listed starter",
    );
    assert.deepEqual(
      await f.run([launcher, "exec", client, ...tcp]),
      ["EPERM"],
      "the launcher's own process exec'ing the client: the launcher is not its ancestor",
    );
    const reasons = f.events().filter((e) => e.reason === HW.REASON_NOT_VIA);
    assert.ok(reasons.length >= 1, "denials say the starter was missing");
  } finally {
    await f.close();
  }
});

Deno.test("attacker: orphaning, setsid and a re-parenting subreaper neither grant nor remove trust", async () => {
  const f = await secSetup("lin-reparent");
  try {
    const tcp = ["tcp4", "127.0.0.1", String(f.port)];
    const launcher = await netclientCopy(f.dir, "launcher");
    const client = await netclientCopy(f.dir, "client");
    const stranger = await netclientCopy(f.dir, "stranger");
    await f.approveBinary(launcher, LAUNCHER, { flags: HW.APP_INHERIT });
    await f.approveBinary(client, CLIENT);
    f.core.setOnlyVia(new Map([[CLIENT, [LAUNCHER]]]));
    const out = `${f.dir}/orphan.out`;
    await Deno.writeTextFile(out, "");
    await Deno.chmod(out, 0o666);

    // A descendant orphaned by a double fork (re-parented to init) keeps its via trust...
    await f.run([
      launcher,
      "exec",
      "/bin/sh",
      "-c",
      `(sleep 0.5; ${stranger} ${tcp.join(" ")} >> ${out}) & exit 0`,
    ]);
    // ...and so does one in a new session.
    await f.run([launcher, "exec", "/usr/bin/setsid", "-w", stranger, ...tcp]).then((l) =>
      assert.deepEqual(l, ["ok"], "setsid")
    );
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal((await Deno.readTextFile(out)).trim(), "ok", "orphan keeps trust");

    // The attacker's own orphan, setsid'd, double-forked: no launcher among its ancestors, no
    // trust, however it is re-parented.
    assert.deepEqual(await f.run(["/usr/bin/setsid", "-w", client, ...tcp]), ["EPERM"]);
    await Deno.writeTextFile(out, "");
    await f.run(["/bin/sh", "-c", `(sleep 0.3; ${client} ${tcp.join(" ")} >> ${out}) & exit 0`]);
    await new Promise((r) => setTimeout(r, 1200));
    assert.equal((await Deno.readTextFile(out)).trim(), "EPERM", "orphaned attacker");

    // A subreaper the attacker starts under the launcher adopts orphans of its own subtree only:
    // a process created outside the launcher never gets the launcher into its lineage.
    const reaper = await buildFixture("subreaper", f.dir);
    const lines = await f.run([launcher, "exec", reaper, client, ...tcp]);
    assert.deepEqual(lines, ["ok"], "created under the launcher (through the reaper): trusted");
    assert.deepEqual(await f.run([reaper, client, ...tcp]), ["EPERM"], "the reaper alone");
  } finally {
    await f.close();
  }
});

Deno.test("attacker: an exec carrying LD_PRELOAD under an inheriting parent is not trusted", async () => {
  const f = await secSetup("lin-preload");
  try {
    const P = String(f.port);
    const tcp = ["tcp4", "127.0.0.1", P];
    const launcher = await netclientCopy(f.dir, "launcher");
    const stranger = await netclientCopy(f.dir, "stranger");
    await f.approveBinary(launcher, LAUNCHER, { flags: HW.APP_INHERIT });
    const so = await buildFixture("evil_preload", f.dir, ["-shared", "-fPIC"]);
    assert.deepEqual(await f.run([launcher, "fork", "exec", stranger, ...tcp]), ["ok"]);
    assert.deepEqual(
      await f.run([
        launcher,
        "exec",
        "/usr/bin/env",
        `LD_PRELOAD=${so}`,
        `EVIL_PORT=${P}`,
        stranger,
        ...tcp,
      ]),
      ["evil:EPERM", "EPERM"],
    );
    assert.ok(f.events().some((e) => e.reason === HW.REASON_ENV), "the event names the variable");
  } finally {
    await f.close();
  }
});

Deno.test("revoking the launcher denies a long-running descendant's next connect", async () => {
  const f = await secSetup("lin-revoke");
  try {
    const launcher = await netclientCopy(f.dir, "launcher");
    const stranger = await netclientCopy(f.dir, "stranger");
    await f.approveBinary(launcher, LAUNCHER, { flags: HW.APP_INHERIT });
    const running = f.run([
      launcher,
      "fork",
      "exec",
      stranger,
      "loopfor",
      "2.5",
      "tcp4",
      "127.0.0.1",
      String(f.port),
    ]);
    await new Promise((r) => setTimeout(r, 1000));
    f.core.revoke(identityOf(await Deno.stat(launcher)));
    const line = (await running).at(-1) ?? "";
    const m = line.match(/^ok=(\d+) eperm=(\d+) other=(\d+)$/);
    assert.ok(m, line);
    assert.ok(Number(m[1]) > 0, "trusted before the revocation");
    assert.ok(Number(m[2]) > 0, "denied after it");
    assert.equal(m[3], "0");
  } finally {
    await f.close();
  }
});
