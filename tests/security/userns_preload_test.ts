/**
 * Libraries an approved binary loads are chosen by files, not only by variables. In a user and
 * mount namespace of its own (`unshare -r -m`, no privilege needed) a user may bind-mount a
 * folder of its own over /etc: the dynamic loader of every binary exec'd there then reads the
 * attacker's /etc/ld.so.preload (and ld.so.cache, openssl.cnf, ...). The approved binary itself
 * is untouched — same inode, same identity — but its process runs the attacker's library first.
 *
 * The attacker's library is evil_preload.so: its constructor connects and prints "evil:ok" when it
 * borrowed the approved binary's trust.
 */
import assert from "node:assert/strict";
import { netclientCopy } from "../helpers/netclient.ts";
import { HW } from "../../ffi/structs.ts";
import { buildFixture, secSetup } from "./harness.ts";

Deno.test("attacker: /etc/ld.so.preload bind-mounted in unshare -r -m does not run with an approved binary's trust", async () => {
  const f = await secSetup("userns-preload");
  try {
    const P = String(f.port);
    const client = await netclientCopy(f.dir, "client");
    await f.approveBinary(client, 180);
    const so = await buildFixture("evil_preload", f.dir, ["-shared", "-fPIC"]);
    const tcp = ["tcp4", "127.0.0.1", P];
    assert.deepEqual(await f.run([client, ...tcp]), ["ok"], "the approved binary alone");
    // The attacker's /etc: only ld.so.preload (the loader falls back to the default library
    // folders without ld.so.cache).
    const etc = `${f.dir}/etc`;
    await Deno.mkdir(etc, { mode: 0o755 });
    await Deno.writeTextFile(`${etc}/ld.so.preload`, `${so}\n`);
    const inNs = `mount --bind "$1" /etc && shift && exec "$@"`;
    const out = await f.run(
      ["unshare", "-r", "-m", "/bin/sh", "-c", inNs, "sh", etc, client, ...tcp],
      { env: { EVIL_PORT: P } },
    );
    assert.equal(out[0], "evil:EPERM", `the preloaded library ran untrusted (${out})`);
    assert.ok(f.events().some((e) => e.reason === HW.REASON_USERNS), "reason: userns_mount");
    // A user namespace alone (no mount namespace of its own) changes no file: still trusted.
    assert.deepEqual(await f.run(["unshare", "-r", client, ...tcp]), ["ok"], "unshare -r only");
  } finally {
    await f.close();
  }
});
