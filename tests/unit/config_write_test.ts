import assert from "node:assert/strict";
import { createFileAtomic, writeFileAtomic } from "../../src/config/atomic.ts";
import {
  appendLearnedApp,
  ConfigRejectedError,
  removeLearnedApp,
} from "../../src/config/learned.ts";
import { loadPolicy } from "../../src/config/load.ts";
import { formatErrors } from "../../src/config/format.ts";
import { tempConfig } from "../fixtures/config/temp_config.ts";

const SHA = "c".repeat(64);

async function listDir(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const e of Deno.readDir(dir)) names.push(e.name);
  return names.sort();
}

Deno.test("writeFileAtomic: replaces content, sets the mode exactly, leaves no temp file", async () => {
  await using cfg = await tempConfig({ "f.txt": "old" });
  const path = `${cfg.dir}/f.txt`;
  const oldIno = (await Deno.stat(path)).ino;
  await writeFileAtomic(path, "new content");
  assert.equal(await Deno.readTextFile(path), "new content");
  const st = await Deno.stat(path);
  assert.equal(st.mode! & 0o777, 0o600);
  assert.notEqual(st.ino, oldIno, "a new inode is renamed into place, not rewritten in place");
  await writeFileAtomic(path, new Uint8Array([1, 2, 3]), 0o640);
  assert.deepEqual([...await Deno.readFile(path)], [1, 2, 3]);
  assert.equal((await Deno.stat(path)).mode! & 0o777, 0o640);
  assert.deepEqual(await listDir(cfg.dir), ["f.txt"]);
});

Deno.test("writeFileAtomic: a failed rename keeps the old file and removes the temp", async () => {
  await using cfg = await tempConfig({ "f.txt": "old" });
  await Deno.mkdir(`${cfg.dir}/target`);
  await cfg.write("target/inside", "x");
  // rename(2) of a file over a non-empty folder fails.
  await assert.rejects(writeFileAtomic(`${cfg.dir}/target`, "data"));
  assert.deepEqual(await listDir(cfg.dir), ["f.txt", "target"]);
  await assert.rejects(writeFileAtomic(`${cfg.dir}/missing/f.txt`, "data"), Deno.errors.NotFound);
});

Deno.test("createFileAtomic: never overwrites", async () => {
  await using cfg = await tempConfig({ "keep.toml": "mine" });
  assert.equal(await createFileAtomic(`${cfg.dir}/keep.toml`, "theirs"), false);
  assert.equal(await Deno.readTextFile(`${cfg.dir}/keep.toml`), "mine");
  assert.equal(await createFileAtomic(`${cfg.dir}/new.toml`, "fresh", 0o644), true);
  assert.equal(await Deno.readTextFile(`${cfg.dir}/new.toml`), "fresh");
  assert.equal((await Deno.stat(`${cfg.dir}/new.toml`)).mode! & 0o777, 0o644);
  assert.deepEqual(await listDir(cfg.dir), ["keep.toml", "new.toml"]);
});

Deno.test("learned apps: append, replace, remove; file stays valid and 0600", async () => {
  await using cfg = await tempConfig({
    "rules.toml": "",
    "apps.toml": "# hand-written, keep me\n",
  });
  await appendLearnedApp(cfg.dir, { name: "curl", path: "/usr/bin/curl", sha256: SHA });
  await appendLearnedApp(cfg.dir, {
    name: "py",
    path: "/srv/app/run.py",
    sha256: "D".repeat(64),
    interpreter: true,
    inherit: true,
    duration: "session",
  });
  const learned = `${cfg.dir}/apps.d/learned.toml`;
  assert.equal((await Deno.stat(learned)).mode! & 0o777, 0o600);
  let r = await loadPolicy(cfg.dir);
  assert.ok(r.ok, r.ok ? "" : formatErrors(r.errors));
  assert.deepEqual(
    r.policy.apps.map((
      a,
    ) => [a.name, a.path, a.sha256.slice(0, 2), a.inherit, a.interpreter, a.duration]),
    [
      ["curl", "/usr/bin/curl", "cc", false, false, undefined],
      ["py", "/srv/app/run.py", "dd", true, true, "session"],
    ],
  );
  // Same name again replaces the approval (e.g. an update approved with its new hash).
  await appendLearnedApp(cfg.dir, { name: "curl", path: "/usr/bin/curl", sha256: "e".repeat(64) });
  r = await loadPolicy(cfg.dir);
  assert.ok(r.ok);
  assert.deepEqual(r.policy.apps.map((a) => [a.name, a.sha256[0]]), [["curl", "e"], ["py", "d"]]);
  assert.equal(await removeLearnedApp(cfg.dir, "curl"), true);
  assert.equal(await removeLearnedApp(cfg.dir, "curl"), false);
  r = await loadPolicy(cfg.dir);
  assert.ok(r.ok);
  assert.deepEqual(r.policy.apps.map((a) => a.name), ["py"]);
  assert.equal(await Deno.readTextFile(`${cfg.dir}/apps.toml`), "# hand-written, keep me\n");
  assert.deepEqual(await listDir(`${cfg.dir}/apps.d`), ["learned.toml"]);
});

Deno.test("learned apps: concurrent appends are all kept", async () => {
  await using cfg = await tempConfig({ "rules.toml": "" });
  await Promise.all(
    Array.from(
      { length: 8 },
      (_, i) => appendLearnedApp(cfg.dir, { name: `app${i}`, path: `/bin/app${i}`, sha256: SHA }),
    ),
  );
  const r = await loadPolicy(cfg.dir);
  assert.ok(r.ok);
  assert.deepEqual(
    r.policy.apps.map((a) => a.name).sort(),
    [0, 1, 2, 3, 4, 5, 6, 7].map((i) => `app${i}`),
  );
});

Deno.test("learned apps: changes that would break the config are refused, nothing written", async () => {
  await using cfg = await tempConfig({
    "rules.toml": '[[rule]]\nid = "r"\naction = "allow"\ndirection = "out"\napp = "curl"\n',
    "apps.toml": `[[app]]\nname = "firefox"\npath = "/usr/bin/firefox"\nsha256 = "${SHA}"\n`,
  });
  // rules.toml names "curl", which no file defines yet: approving it makes the config valid.
  assert.ok(!(await loadPolicy(cfg.dir)).ok);
  await appendLearnedApp(cfg.dir, { name: "curl", path: "/usr/bin/curl", sha256: SHA });
  assert.ok((await loadPolicy(cfg.dir)).ok);
  // Invalid approvals, each refused for its own reason.
  const cases: [Parameters<typeof appendLearnedApp>[1], RegExp][] = [
    [{ name: "x", path: "/bin/x", sha256: "nothex" }, /app\[1\]\.sha256: not a SHA-256/],
    [{ name: "x", path: "bin/x", sha256: SHA }, /app\[1\]\.path: "bin\/x" is not an absolute/],
    [
      { name: "firefox", path: "/bin/ff", sha256: SHA },
      /learned\.toml:\d+:\d+: app\[1\]\.name: duplicate app name "firefox"/,
    ],
    [{ name: "bad name", path: "/bin/x", sha256: SHA }, /not a valid app name/],
  ];
  for (const [bad, re] of cases) {
    await assert.rejects(appendLearnedApp(cfg.dir, bad), (e: unknown) => {
      assert.ok(e instanceof ConfigRejectedError);
      assert.equal(e.errors.length, 1, e.message);
      assert.match(e.message, re);
      return true;
    });
  }
  const before = await Deno.readTextFile(`${cfg.dir}/apps.d/learned.toml`);
  await assert.rejects(removeLearnedApp(cfg.dir, "curl"), /unknown app "curl"/);
  assert.equal(await Deno.readTextFile(`${cfg.dir}/apps.d/learned.toml`), before);
  // A hand-broken learned.toml is never clobbered.
  await Deno.writeTextFile(`${cfg.dir}/apps.d/learned.toml`, "[[app]\n");
  await assert.rejects(
    appendLearnedApp(cfg.dir, { name: "y", path: "/bin/y", sha256: SHA }),
    /learned\.toml is invalid; fix it first/,
  );
  assert.equal(await Deno.readTextFile(`${cfg.dir}/apps.d/learned.toml`), "[[app]\n");
  // An insecure folder is refused too.
  await Deno.chmod(`${cfg.dir}/apps.d`, 0o777);
  await assert.rejects(
    appendLearnedApp(cfg.dir, { name: "y", path: "/bin/y", sha256: SHA }),
    /apps\.d:1:1: refusing to load: folder is writable by group and others/,
  );
});
