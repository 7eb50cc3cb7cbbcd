/**
 * Policy as code on a workstation: `hashwall check --config DIR` and `hashwall apps export
 * --config DIR` run as an unprivileged user (uid nobody) on their own copy of a config folder,
 * with no root, no BPF, no daemon; export is stable and sorted, so two hosts with the same
 * approvals (declared in other files, in another order) print the same bytes, and it matches
 * what a running daemon exports. Root-run checks (what the Ansible role runs on a host) stay as
 * strict as the daemon: a folder owned by another user is refused.
 */
import assert from "node:assert/strict";
import { DIST_PATH, runDist } from "../helpers/dist.ts";
import { sha256Of, startTestDaemon } from "../helpers/daemon.ts";

const NOBODY = { uid: 65534, gid: 65534 };

async function chownTree(dir: string, uid: number, gid: number): Promise<void> {
  await Deno.chown(dir, uid, gid);
  for await (const e of Deno.readDir(dir)) {
    const p = `${dir}/${e.name}`;
    if (e.isDirectory) await chownTree(p, uid, gid);
    else await Deno.chown(p, uid, gid);
  }
}

const RULES = `[defaults]\nmode = "enforcing"\nallow_loopback = false\n\n[ui]\nlisten = "off"\n`;

Deno.test({
  name: "check and apps export work offline as uid nobody on a copy of a config folder",
  ignore: Deno.uid() !== 0,
  async fn() {
    const tmp = await Deno.makeTempDir({ prefix: "hw-fleet-policy-" });
    try {
      const bin = `${tmp}/hashwall`;
      await Deno.copyFile(DIST_PATH, bin);
      await Deno.chmod(bin, 0o755);
      await Deno.chmod(tmp, 0o1777);
      const env = { TMPDIR: tmp, XDG_RUNTIME_DIR: "", HASHWALL_CACHE_DIR: "", HOME: "/" };
      const h = (s: string) => s.repeat(64).slice(0, 64);
      // Host 1: apps in apps.toml; host 2: the same approvals split over apps.d/, another order.
      const one = `${tmp}/host1`, two = `${tmp}/host2`;
      for (const d of [one, two]) {
        await Deno.mkdir(`${d}/apps.d`, { recursive: true });
        await Deno.writeTextFile(`${d}/rules.toml`, RULES);
      }
      const app = (name: string, path: string, sha: string, extra = "") =>
        `[[app]]\nname = "${name}"\npath = "${path}"\nsha256 = "${sha}"\n${extra}`;
      await Deno.writeTextFile(
        `${one}/apps.toml`,
        [
          app("curl", "/usr/bin/curl", h("A"), "inherit = true\n"),
          app("ssh", "/usr/bin/ssh", h("b")),
          app("python3", "/usr/bin/python3.11", h("c"), "interpreter = true\n"),
        ].join("\n"),
      );
      await Deno.writeTextFile(`${two}/apps.toml`, app("ssh", "/usr/bin/ssh", h("b")));
      await Deno.writeTextFile(
        `${two}/apps.d/learned.toml`,
        app("python3", "/usr/bin/python3.11", h("c"), "interpreter = true\n") + "\n" +
          app("curl", "/usr/bin/curl", h("a"), 'inherit = true\nduration = "forever"\n'),
      );
      // A user's checkout: owned by them, not by root.
      await chownTree(one, NOBODY.uid, NOBODY.gid);
      await chownTree(two, NOBODY.uid, NOBODY.gid);

      const asNobody = (args: string[]) => runDist(args, { path: bin, env, asUser: NOBODY });
      const c = await asNobody(["check", "--config", one]);
      assert.equal(c.code, 0, c.stderr);
      assert.match(c.stdout, /OK: 0 rules, 3 apps, mode enforcing/);
      const help = await asNobody(["check", "--help"]);
      assert.match(help.stdout, /needs no root, no kernel support and no running daemon/);

      const e1 = await asNobody(["apps", "export", "--config", one]);
      const e2 = await asNobody(["apps", "export", "--config", two]);
      assert.equal(e1.code, 0, e1.stderr);
      assert.equal(e2.code, 0, e2.stderr);
      assert.equal(e1.stdout, e2.stdout);
      assert.equal(
        e1.stdout,
        `# hashwall apps export: 3 approvals in force,
# sorted by path then name (hosts with the same images diff clean)

[[app]]
name = "curl"
path = "/usr/bin/curl"
sha256 = "${h("a")}"
inherit = true
interpreter = false

[[app]]
name = "python3"
path = "/usr/bin/python3.11"
sha256 = "${h("c")}"
inherit = false
interpreter = true

[[app]]
name = "ssh"
path = "/usr/bin/ssh"
sha256 = "${h("b")}"
inherit = false
interpreter = false
`,
      );
      const j = await asNobody(["apps", "export", "--config", two, "--format", "json"]);
      assert.equal(j.code, 0, j.stderr);
      assert.deepEqual(JSON.parse(j.stdout).apps.map((a: { name: string }) => a.name), [
        "curl",
        "python3",
        "ssh",
      ]);

      // A mistake is reported at its place, as nobody, and exits 1.
      await Deno.writeTextFile(
        `${one}/rules.toml`,
        RULES + `\n[[rule]]\nid = "x"\naction = "alow"\n`,
      );
      const bad = await asNobody(["check", "--config", one]);
      assert.equal(bad.code, 1);
      assert.match(
        bad.stderr,
        new RegExp(`^${one}/rules\\.toml:10:10: rule\\[0\\]\\.action: "alow" is not valid`, "m"),
      );

      // Root's check is the daemon's: a folder owned by another user is refused.
      const strict = await runDist(["check", "--config", two], { path: bin });
      assert.equal(strict.code, 1);
      assert.match(strict.stderr, /is owned by uid 65534, not root/);
    } finally {
      await Deno.remove(tmp, { recursive: true }).catch(() => {});
    }
  },
});

Deno.test("apps export from a running daemon: approvals in force, same bytes as offline", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hw-fleet-export-" });
  try {
    const paths = ["zeta", "alpha"].map((n) => `${dir}/${n}`);
    for (const p of paths) {
      await Deno.copyFile("/usr/bin/true", p);
      await Deno.chmod(p, 0o755);
    }
    await using d = await startTestDaemon({
      apps: [
        { name: "zeta", path: paths[0], sha256: await sha256Of(paths[0]), inherit: true },
        { name: "alpha", path: paths[1], sha256: await sha256Of(paths[1]) },
      ],
    });
    // A session approval is in force (exported with its duration); a tampered app keeps its
    // approved hash in the export (the approval did not change, the file did).
    const extra = `${dir}/session-tool`;
    await Deno.copyFile("/usr/bin/true", extra);
    await Deno.chmod(extra, 0o755);
    const allow = await d.cli(["apps", "allow", extra, "--for", "session"]);
    assert.equal(allow.code, 0, allow.stderr);
    const live = await d.cli(["apps", "export"]);
    assert.equal(live.code, 0, live.stderr);
    const names = [...live.stdout.matchAll(/^name = "(.*)"$/gm)].map((m) => m[1]);
    assert.deepEqual(names, ["alpha", "session-tool", "zeta"]);
    assert.match(live.stdout, /name = "session-tool"[^[]*duration = "session"/);
    const offline = await d.cli(["apps", "export", "--config", d.configDir]);
    assert.equal(offline.code, 0, offline.stderr);
    // Offline knows only the files: everything but the session approval, byte for byte.
    const withoutSession = live.stdout
      .replace(/\n\[\[app\]\]\nname = "session-tool"\n[^[]*?duration = "session"\n/, "")
      .replace("3 approvals", "2 approvals");
    assert.equal(offline.stdout, withoutSession);
    const json = JSON.parse((await d.cli(["apps", "export", "--json"])).stdout);
    assert.equal(json.apps.length, 3);
    assert.deepEqual(Object.keys(json.apps[0]), [
      "name",
      "path",
      "sha256",
      "inherit",
      "interpreter",
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});
