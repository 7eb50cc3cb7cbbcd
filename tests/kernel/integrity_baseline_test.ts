import assert from "node:assert/strict";
import {
  buildBaseline,
  checkBaseline,
  hasChanges,
  type IntegrityReport,
} from "../../src/integrity/baseline.ts";
import { baselinePath } from "../../src/integrity/baseline_store.ts";
import { writeDefaultConfig } from "../../src/config/defaults.ts";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;

async function hashwall(args: string[]) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, ...args],
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

async function makeTree(root: string) {
  await Deno.mkdir(`${root}/sub/deep`, { recursive: true });
  await Deno.writeTextFile(`${root}/a.conf`, "alpha\n");
  await Deno.writeTextFile(`${root}/b.conf`, "beta\n");
  await Deno.writeTextFile(`${root}/sub/c.conf`, "gamma\n");
  await Deno.writeTextFile(`${root}/sub/deep/d.conf`, "delta\n");
  await Deno.writeTextFile(`${root}/gone.conf`, "to be removed\n");
  await Deno.writeTextFile(`${root}/mode.conf`, "mode\n");
  await Deno.chmod(`${root}/mode.conf`, 0o644);
  await Deno.symlink("a.conf", `${root}/link`);
}

Deno.test("baseline/check: added, removed and changed with before/after per attribute", async () => {
  const root = await Deno.makeTempDir({ prefix: "hw-integ-" });
  try {
    await makeTree(root);
    const entries = [{ path: root, recursive: true }];
    const base = await buildBaseline(entries);
    assert.deepEqual(Object.keys(base.files), [
      `${root}/a.conf`,
      `${root}/b.conf`,
      `${root}/gone.conf`,
      `${root}/link`,
      `${root}/mode.conf`,
      `${root}/sub/c.conf`,
      `${root}/sub/deep/d.conf`,
    ]);
    assert.equal(base.files[`${root}/link`].target, "a.conf");
    const clean = await checkBaseline(base, entries);
    assert.equal(hasChanges(clean), false, JSON.stringify(clean));
    assert.equal(clean.scanned, 7);

    await Deno.writeTextFile(`${root}/a.conf`, "ALPHA!\n"); // content + size
    await Deno.chmod(`${root}/mode.conf`, 0o600); // mode only
    await Deno.chown(`${root}/b.conf`, 0, 65534); // owner only
    await Deno.remove(`${root}/gone.conf`);
    await Deno.writeTextFile(`${root}/sub/deep/new.conf`, "new\n");
    await Deno.writeTextFile(`${root}/sub/c.tmp`, "gamma\n"); // same content, new inode
    await Deno.rename(`${root}/sub/c.tmp`, `${root}/sub/c.conf`);
    await Deno.remove(`${root}/link`);
    await Deno.symlink("b.conf", `${root}/link`);

    const r = await checkBaseline(base, entries);
    assert.deepEqual(r.added.map((a) => a.path), [`${root}/sub/deep/new.conf`]);
    assert.deepEqual(r.removed.map((a) => a.path), [`${root}/gone.conf`]);
    const byPath = new Map(r.changed.map((c) => [c.path, c.changes]));
    const attrs = (p: string) => (byPath.get(p) ?? []).map((c) => c.attribute);
    assert.deepEqual(attrs(`${root}/a.conf`), ["sha256", "size", "mtime"]);
    const size = byPath.get(`${root}/a.conf`)!.find((c) => c.attribute === "size")!;
    assert.deepEqual([size.before, size.after], [6, 7]);
    const mode = byPath.get(`${root}/mode.conf`)!;
    assert.deepEqual(mode.map((c) => c.attribute), ["mode"]);
    assert.equal((mode[0].before as number) & 0o777, 0o644);
    assert.equal((mode[0].after as number) & 0o777, 0o600);
    assert.deepEqual(byPath.get(`${root}/b.conf`), [{ attribute: "gid", before: 0, after: 65534 }]);
    assert.ok(attrs(`${root}/sub/c.conf`).includes("ino"));
    assert.ok(!attrs(`${root}/sub/c.conf`).includes("sha256"), "same content, new inode");
    assert.ok(attrs(`${root}/link`).includes("target"));
    assert.deepEqual(
      [...byPath.keys()].sort(),
      [
        `${root}/a.conf`,
        `${root}/b.conf`,
        `${root}/link`,
        `${root}/mode.conf`,
        `${root}/sub/c.conf`,
      ],
    );
    assert.deepEqual(r.errors, []);

    // Non-recursive folders cover their own files only.
    const flat = await buildBaseline([{ path: root, recursive: false }]);
    assert.ok(Object.keys(flat.files).every((p) => !p.includes("/sub/")));
    await assert.rejects(buildBaseline([{ path: "relative", recursive: false }]), /absolute/);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("integrity CLI: --paths baseline then check; exit 0 clean, 1 changed, 2 errors", async () => {
  const root = await Deno.makeTempDir({ prefix: "hw-integ-" });
  try {
    const tree = `${root}/tree`, state = `${root}/state`;
    await Deno.mkdir(tree);
    await makeTree(tree);
    const none = await hashwall(["integrity", "check", "--state", state, "--paths", tree]);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /no baseline at .*run "hashwall integrity baseline" first/);

    const b = await hashwall(["integrity", "baseline", "--state", state, "--paths", tree]);
    assert.equal(b.code, 0, b.stderr);
    assert.match(b.stdout, /baseline of 7 files written to/);
    assert.equal((await Deno.stat(baselinePath(state))).mode! & 0o777, 0o600);
    assert.equal((await Deno.stat(state)).mode! & 0o777, 0o700);

    const ok = await hashwall(["integrity", "check", "--state", state]);
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    assert.match(ok.stdout, /0 added, 0 removed, 0 changed/);

    await Deno.writeTextFile(`${tree}/b.conf`, "tampered\n");
    await Deno.remove(`${tree}/gone.conf`);
    const ch = await hashwall(["integrity", "check", "--state", state]);
    assert.equal(ch.code, 1);
    assert.match(ch.stdout, new RegExp(`changed  ${tree}/b.conf: sha256 [0-9a-f]{16}… → `));
    assert.match(ch.stdout, new RegExp(`removed  ${tree}/gone.conf`));
    const js = await hashwall(["integrity", "check", "--state", state, "--json"]);
    assert.equal(js.code, 1);
    const report = JSON.parse(js.stdout) as IntegrityReport;
    assert.deepEqual(report.removed.map((x) => x.path), [`${tree}/gone.conf`]);
    assert.equal(report.changed[0].path, `${tree}/b.conf`);

    // Bad input: clear message, exit 2, nothing written.
    const before = await Deno.readTextFile(baselinePath(state));
    for (
      const [args, msg] of [
        [["integrity"], /missing action/],
        [["integrity", "frobnicate"], /unknown action "frobnicate"/],
        [["integrity", "baseline", "--state", state, "--paths", "rel/x"], /not an absolute path/],
        [["integrity", "baseline", "--paths", tree, "--config", root], /exclude each other/],
      ] as const
    ) {
      const r = await hashwall([...args]);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, msg);
    }
    assert.equal(await Deno.readTextFile(baselinePath(state)), before);
    await Deno.writeTextFile(baselinePath(state), "{not json");
    const broken = await hashwall(["integrity", "check", "--state", state]);
    assert.equal(broken.code, 2);
    assert.match(broken.stderr, /not valid JSON/);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("integrity CLI: --config covers [[integrity.watch]] and the config files", async () => {
  const root = await Deno.makeTempDir({ prefix: "hw-integ-" });
  try {
    const conf = `${root}/etc`, tree = `${root}/tree`, state = `${root}/state`;
    await Deno.mkdir(tree);
    await makeTree(tree);
    await writeDefaultConfig(conf);
    const rules = await Deno.readTextFile(`${conf}/rules.toml`);
    await Deno.writeTextFile(
      `${conf}/rules.toml`,
      rules.replace('path = "/etc/ssh"', `path = "${tree}"`)
        .replace('path = "/etc/hashwall"', `path = "${tree}/sub"`),
    );
    const b = await hashwall(["integrity", "baseline", "--config", conf, "--state", state]);
    assert.equal(b.code, 0, b.stderr);
    const base = JSON.parse(await Deno.readTextFile(baselinePath(state)));
    assert.ok(base.files[`${conf}/rules.toml`], "config files are always covered");
    assert.ok(base.files[`${tree}/sub/deep/d.conf`]);

    await Deno.writeTextFile(`${conf}/rules.toml`, "\n# edited\n", { append: true });
    const ch = await hashwall(["integrity", "check", "--config", conf, "--state", state]);
    assert.equal(ch.code, 1, ch.stderr);
    assert.match(ch.stdout, new RegExp(`changed  ${conf}/rules.toml: sha256`));

    await Deno.writeTextFile(`${conf}/rules.toml`, "[defaults\n");
    const bad = await hashwall(["integrity", "baseline", "--config", conf, "--state", state]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /rules\.toml:\d+:\d+:/);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
