import assert from "node:assert/strict";
import { tempConfig, tempFullConfig } from "../fixtures/config/temp_config.ts";

const REPO = new URL("../../", import.meta.url).pathname;

async function hashwall(...args: string[]) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "main.ts", ...args],
    cwd: REPO,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

Deno.test("hashwall check: valid folder → exit 0 and a one-line summary", async () => {
  await using cfg = await tempFullConfig();
  const r = await hashwall("check", "--config", cfg.dir);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, `${cfg.dir}: OK: 3 rules, 3 apps, mode enforcing\n`);
  assert.equal(r.stderr, "");
});

Deno.test("hashwall check: invalid folder → exit 1, every error on stderr, one per line", async () => {
  await using cfg = await tempConfig({
    "rules.toml": '[defaults]\nmode = "enforce"\n[[rule]]\nid = "x"\naction = "allow"\n' +
      'direction = "out"\nprotocol = "tcp"\nports = [0, "9-1"]\n',
    "apps.toml": '[[app]]\nname = "a"\npath = "rel"\nsha256 = "00"\n',
  });
  const r = await hashwall("check", "--config", cfg.dir);
  assert.equal(r.code, 1);
  assert.equal(r.stdout, "");
  const lines = r.stderr.trimEnd().split("\n");
  assert.deepEqual(lines.map((l) => l.slice(cfg.dir.length + 1).replace(/: .*/, "")), [
    "rules.toml:2:8",
    "rules.toml:8:10",
    "rules.toml:8:13",
    "apps.toml:3:8",
    "apps.toml:4:10",
  ]);
  assert.match(lines[0], /defaults\.mode: "enforce" is not valid.*did you mean "enforcing"\?$/);
  assert.match(lines[2], /rule\[0\]\.ports\[1\]: range "9-1" is reversed/);
});

Deno.test("hashwall check --json: {ok, errors:[{file,line,col,message}]} on stdout", async () => {
  await using cfg = await tempConfig({ "rules.toml": "[ui]\nlisten = '0.0.0.0:80'\n" });
  const bad = await hashwall("check", "--json", "--config", cfg.dir);
  assert.equal(bad.code, 1);
  assert.deepEqual(JSON.parse(bad.stdout), {
    ok: false,
    errors: [{
      file: `${cfg.dir}/rules.toml`,
      line: 2,
      col: 10,
      message:
        'ui.listen: host "0.0.0.0" is not loopback; the UI listens only on 127.0.0.1, [::1] or localhost',
    }],
  });
  await cfg.write("rules.toml", "[ui]\nlisten = 'off'\n");
  const good = await hashwall("check", "--config", cfg.dir, "--json");
  assert.equal(good.code, 0);
  const j = JSON.parse(good.stdout);
  assert.equal(j.ok, true);
  assert.deepEqual(j.errors, []);
  assert.equal(j.rules, 0);
  assert.equal(j.mode, "learning");
});

Deno.test("hashwall check --default: the embedded default passes", async () => {
  const r = await hashwall("check", "--default");
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^the embedded default config: OK: \d+ rules, 0 apps, mode learning\n$/);
});

Deno.test("hashwall check: insecure or missing folders, and usage errors", async () => {
  await using cfg = await tempConfig({ "rules.toml": "" });
  await Deno.chown(`${cfg.dir}/rules.toml`, 65534, 65534);
  const r = await hashwall("check", "--config", cfg.dir);
  assert.equal(r.code, 1);
  assert.equal(
    r.stderr,
    `${cfg.dir}/rules.toml:1:1: refusing to load: file is owned by uid 65534, not root; ` +
      `fix with: chown root:root ${cfg.dir}/rules.toml && chmod go-w ${cfg.dir}/rules.toml\n`,
  );
  const missing = await hashwall("check", "--config", `${cfg.dir}/nope`);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /nope:1:1: config folder not found/);
  assert.equal((await hashwall("check", "extra")).code, 2);
  assert.equal((await hashwall("check", "--default", "--config", cfg.dir)).code, 2);
  assert.equal((await hashwall("check", "--bogus")).code, 2);
  const help = await hashwall("check", "--help");
  assert.equal(help.code, 0);
  assert.match(help.stdout, /--config DIR/);
});
