import assert from "node:assert/strict";
import { loadPolicy } from "../../src/config/load.ts";
import { formatErrors } from "../../src/config/format.ts";
import { tempConfig, tempFullConfig } from "../fixtures/config/temp_config.ts";

const SHA = "b".repeat(64);
const app = (name: string) =>
  `[[app]]\nname = "${name}"\npath = "/bin/${name}"\nsha256 = "${SHA}"\n`;

async function errorsOf(dir: string, opts = {}): Promise<string[]> {
  const r = await loadPolicy(dir, opts);
  assert.ok(!r.ok, "expected errors");
  return r.errors.map(String);
}

Deno.test("loadPolicy: full fixture folder with apps.d merged in name order", async () => {
  await using cfg = await tempFullConfig();
  const r = await loadPolicy(cfg.dir);
  assert.ok(r.ok, r.ok ? "" : formatErrors(r.errors));
  assert.deepEqual(r.policy.apps.map((a) => a.name), ["firefox", "curl", "python3"]);
  assert.deepEqual(r.policy.files, [
    `${cfg.dir}/rules.toml`,
    `${cfg.dir}/apps.toml`,
    `${cfg.dir}/apps.d/10-curl.toml`,
    `${cfg.dir}/apps.d/20-python.toml`,
  ]);
  assert.equal(r.policy.rules[0].loc.file, `${cfg.dir}/rules.toml`);
});

Deno.test("loadPolicy: missing rules.toml is an error, missing apps.toml means no apps", async () => {
  await using none = await tempConfig({ "apps.toml": app("a") });
  assert.deepEqual(await errorsOf(none.dir), [
    `${none.dir}/rules.toml:1:1: rules.toml not found; it is required (\`hashwall install\` writes a commented default)`,
  ]);
  await using onlyRules = await tempConfig({ "rules.toml": "" });
  const r = await loadPolicy(onlyRules.dir);
  assert.ok(r.ok);
  assert.deepEqual(r.policy.apps, []);
  assert.deepEqual(r.policy.files, [`${onlyRules.dir}/rules.toml`]);
  assert.match((await errorsOf(`${onlyRules.dir}/nope`))[0], /:1:1: config folder not found/);
});

Deno.test("loadPolicy: errors from every file are all reported; files stay untouched", async () => {
  await using cfg = await tempConfig({
    "rules.toml": "[defaults]\nmode = 2\n",
    "apps.toml": "[[app]]\nname = 1\n",
    "apps.d/a.toml": app("x"),
    "apps.d/b.toml": app("x"),
  });
  const before = await Deno.readTextFile(`${cfg.dir}/rules.toml`);
  const e = await errorsOf(cfg.dir);
  assert.deepEqual(e.map((l) => l.slice(cfg.dir.length + 1).split(": ")[0]), [
    "rules.toml:2:8",
    "apps.toml:1:1",
    "apps.toml:1:1",
    "apps.toml:2:8",
    "apps.d/b.toml:2:8",
  ]);
  assert.match(e[4], /duplicate app name "x" \(first defined at .*apps\.d\/a\.toml:2:8\)/);
  assert.equal(await Deno.readTextFile(`${cfg.dir}/rules.toml`), before);
});

Deno.test("loadPolicy: apps.d skips dot files and non-.toml files; a .toml folder is refused", async () => {
  await using cfg = await tempConfig({
    "rules.toml": "",
    "apps.d/.learned.toml.123.tmp": "garbage",
    "apps.d/.hidden.toml": "garbage =",
    "apps.d/notes.md": "garbage",
    "apps.d/ok.toml": app("ok"),
  });
  const r = await loadPolicy(cfg.dir);
  assert.ok(r.ok, r.ok ? "" : formatErrors(r.errors));
  assert.deepEqual(r.policy.apps.map((a) => a.name), ["ok"]);
  await Deno.mkdir(`${cfg.dir}/apps.d/dir.toml`);
  assert.match(
    (await errorsOf(cfg.dir))[0],
    /dir\.toml:1:1: refusing to load: file is not a regular file/,
  );
});

Deno.test("access: wrong owner or group/other-writable files and folders are refused", async () => {
  const targets = ["", "rules.toml", "apps.toml", "apps.d", "apps.d/x.toml"];
  for (const t of targets) {
    for (const kind of ["owner", "group-w", "other-w"] as const) {
      await using cfg = await tempConfig({
        "rules.toml": "",
        "apps.toml": app("a"),
        "apps.d/x.toml": app("b"),
      });
      const path = t === "" ? cfg.dir : `${cfg.dir}/${t}`;
      // rules.toml names an app: no false "unknown app" when apps.toml was refused.
      await cfg.write("rules.toml", '[[rule]]\nid="r"\naction="allow"\ndirection="out"\napp="a"\n');
      await Deno.chmod(`${cfg.dir}/rules.toml`, 0o644);
      if (kind === "owner") await Deno.chown(path, 65534, 65534);
      else {
        const mode = (await Deno.stat(path)).mode! & 0o777;
        await Deno.chmod(path, mode | (kind === "group-w" ? 0o020 : 0o002));
      }
      const e = await errorsOf(cfg.dir);
      assert.equal(e.length, 1, `${t} ${kind}: ${e.join("\n")}`);
      const why = kind === "owner"
        ? "is owned by uid 65534, not root"
        : `is writable by ${kind === "group-w" ? "group" : "others"}`;
      assert.ok(e[0].startsWith(`${path}:1:1: refusing to load: `), e[0]);
      assert.ok(e[0].includes(why), e[0]);
      assert.ok(e[0].endsWith(`fix with: chown root:root ${path} && chmod go-w ${path}`), e[0]);
    }
  }
});

Deno.test("access: expectedUid is a parameter, not a switch", async () => {
  await using cfg = await tempConfig({ "rules.toml": "" });
  const e = await errorsOf(cfg.dir, { expectedUid: 65534 });
  assert.match(e[0], /owned by uid 0, not uid 65534; fix with: chown 65534:65534 /);
  await Deno.chown(cfg.dir, 65534, 65534);
  await Deno.chown(`${cfg.dir}/rules.toml`, 65534, 65534);
  assert.ok((await loadPolicy(cfg.dir, { expectedUid: 65534 })).ok);
});

Deno.test("access: symlinks are judged by their target", async () => {
  await using cfg = await tempConfig({ "real/rules.toml": "[defaults]\nmode = 'enforcing'\n" });
  await using conf = await tempConfig({});
  await Deno.symlink(`${cfg.dir}/real/rules.toml`, `${conf.dir}/rules.toml`);
  const good = await loadPolicy(conf.dir);
  assert.ok(good.ok);
  assert.equal(good.policy.defaults.mode, "enforcing");
  await Deno.chown(`${cfg.dir}/real/rules.toml`, 65534, 65534);
  assert.match(
    (await errorsOf(conf.dir))[0],
    /rules\.toml:1:1: refusing to load: symlink target is owned by uid 65534/,
  );
  await Deno.chown(`${cfg.dir}/real/rules.toml`, 0, 0);
  await Deno.chmod(`${cfg.dir}/real/rules.toml`, 0o666);
  assert.match((await errorsOf(conf.dir))[0], /symlink target is writable by group and others/);
  await Deno.remove(`${cfg.dir}/real/rules.toml`);
  assert.match(
    (await errorsOf(conf.dir))[0],
    /refusing to load symlink: its target does not exist/,
  );
  // A symlinked config folder is judged by the folder it points at.
  await using linkParent = await tempConfig({});
  await Deno.symlink(cfg.dir, `${linkParent.dir}/conf`);
  await cfg.write("rules.toml", "");
  await Deno.chmod(cfg.dir, 0o777);
  assert.match((await errorsOf(`${linkParent.dir}/conf`))[0], /symlink target is writable/);
});

Deno.test("loadPolicy: FIFOs and devices are refused without blocking", async () => {
  await using cfg = await tempConfig({});
  const mk = new Deno.Command("mkfifo", { args: [`${cfg.dir}/rules.toml`] });
  assert.equal((await mk.output()).code, 0);
  assert.match((await errorsOf(cfg.dir))[0], /refusing to load: file is not a regular file/);
});

Deno.test("loadPolicy: size cap, invalid UTF-8 and NUL bytes are located errors", async () => {
  await using cfg = await tempConfig({ "rules.toml": "# " + "x".repeat(2000) + "\n" });
  assert.match(
    (await errorsOf(cfg.dir, { maxFileBytes: 1000 }))[0],
    /rules\.toml:1:1: file is 2003 bytes, over the 1000-byte limit/,
  );
  await cfg.write("rules.toml", "# big\n" + "#".repeat(1024 * 1024) + "\n");
  assert.match((await errorsOf(cfg.dir))[0], /over the 1048576-byte limit/);
  await cfg.write(
    "rules.toml",
    new Uint8Array([0x61, 0x20, 0x3d, 0x20, 0x31, 0x0a, 0x62, 0xc3, 0x28]),
  );
  assert.deepEqual((await errorsOf(cfg.dir)).map((l) => l.slice(cfg.dir.length)), [
    "/rules.toml:2:2: invalid UTF-8 (byte 0xc3 at offset 7)",
  ]);
  await cfg.write("rules.toml", '[defaults]\nmode = "learn\0ing"\n');
  assert.deepEqual((await errorsOf(cfg.dir)).map((l) => l.slice(cfg.dir.length)), [
    "/rules.toml:2:14: NUL byte in config text; remove it",
  ]);
  // A UTF-8 byte order mark is accepted.
  await cfg.write("rules.toml", "\ufeff[defaults]\nmode = 'enforcing'\n");
  const r = await loadPolicy(cfg.dir);
  assert.ok(r.ok && r.policy.defaults.mode === "enforcing");
});
