/**
 * `hashwall install` / `uninstall` end to end, always with `--root` in a temp folder (never the
 * real /etc or /usr): files, modes and owners, an existing config kept, uninstall removing what
 * install added, `--dry-run` changing nothing, bad input refused, the real dist/hashwall
 * installing itself, and uninstall detaching a real daemon's pins.
 */
import assert from "node:assert/strict";
import { DEFAULT_APPS_TOML, DEFAULT_RULES_TOML } from "../../src/config/defaults.ts";
import { HASHWALL_UNIT } from "../../src/cli/install.ts";
import { instanceName, pinPaths } from "../../src/kernel/pins.ts";
import { DIST_PATH } from "../helpers/dist.ts";
import { startTestDaemon } from "../helpers/daemon.ts";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;
const UNIT_FILE = new URL("../../config/hashwall.service", import.meta.url).pathname;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs hashwall from source (or `bin`) with `args` and extra `env`. */
async function hw(args: string[], env: Record<string, string> = {}, bin?: string): Promise<Run> {
  const [cmd, ...pre] = bin ? [bin] : [Deno.execPath(), "run", "-A", MAIN];
  const out = await new Deno.Command(cmd, {
    args: [...pre, ...args],
    env: { NO_COLOR: "1", ...env },
    cwd: "/",
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** A temp root with the folders every Debian system has, and a fake hashwall binary. */
async function tempRoot(): Promise<{ root: string; fakeBin: string } & AsyncDisposable> {
  const root = await Deno.makeTempDir({ prefix: "hw-install-" });
  for (const d of ["usr/local/sbin", "etc/systemd/system", "var/lib", "var/cache"]) {
    await Deno.mkdir(`${root}/${d}`, { recursive: true, mode: 0o755 });
  }
  const fakeBin = `${root}.bin`;
  await Deno.writeTextFile(fakeBin, `#!/bin/sh\necho fake hashwall ${crypto.randomUUID()}\n`, {
    mode: 0o750,
  });
  await Deno.chmod(fakeBin, 0o750);
  return {
    root,
    fakeBin,
    async [Symbol.asyncDispose]() {
      await Deno.remove(root, { recursive: true }).catch(() => {});
      await Deno.remove(fakeBin).catch(() => {});
    },
  };
}

/**
 * Every path under `dir` with type, mode, owner, size, content hash and mtime (of folders too
 * unless `dirTimes` is false: a folder's mtime shows that something was added and removed).
 */
async function snapshot(dir: string, dirTimes = true): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const walk = async (d: string) => {
    for await (const e of Deno.readDir(d)) {
      const p = `${d}/${e.name}`;
      const st = await Deno.lstat(p);
      let content = "";
      if (st.isFile) {
        const h = await crypto.subtle.digest("SHA-256", await Deno.readFile(p));
        content = btoa(String.fromCharCode(...new Uint8Array(h)));
      } else if (st.isSymlink) content = await Deno.readLink(p);
      out.set(
        p.slice(dir.length),
        `${st.isDirectory ? "d" : st.isSymlink ? "l" : "f"} ${st.mode! & 0o7777} ${st.uid}` +
          ` ${st.size} ${st.isDirectory && !dirTimes ? "" : st.mtime?.getTime()} ${content}`,
      );
      if (st.isDirectory) await walk(p);
    }
  };
  await walk(dir);
  return out;
}

function modeOf(st: Deno.FileInfo): number {
  return st.mode! & 0o7777;
}

Deno.test("install --root: binary 0755, unit 0644, default config, systemctl commands", async () => {
  await using t = await tempRoot();
  const r = await hw(["install", "--root", t.root, "--binary", t.fakeBin]);
  assert.equal(r.code, 0, r.stderr);
  const bin = await Deno.stat(`${t.root}/usr/local/sbin/hashwall`);
  assert.equal(modeOf(bin), 0o755);
  assert.equal(bin.uid, 0);
  assert.equal(bin.gid, 0);
  assert.deepEqual(
    await Deno.readFile(`${t.root}/usr/local/sbin/hashwall`),
    await Deno.readFile(t.fakeBin),
  );
  const unitPath = `${t.root}/etc/systemd/system/hashwall.service`;
  const unit = await Deno.stat(unitPath);
  assert.equal(modeOf(unit), 0o644);
  assert.equal(unit.uid, 0);
  // The binary carries the unit: what it installs is config/hashwall.service byte for byte.
  assert.equal(await Deno.readTextFile(unitPath), await Deno.readTextFile(UNIT_FILE));
  assert.equal(HASHWALL_UNIT, await Deno.readTextFile(UNIT_FILE));
  for (
    const [name, text] of [["rules.toml", DEFAULT_RULES_TOML], ["apps.toml", DEFAULT_APPS_TOML]]
  ) {
    const p = `${t.root}/etc/hashwall/${name}`;
    assert.equal(await Deno.readTextFile(p), text);
    const st = await Deno.stat(p);
    assert.equal(modeOf(st), 0o644, name);
    assert.equal(st.uid, 0, name);
  }
  const appsD = await Deno.stat(`${t.root}/etc/hashwall/apps.d`);
  assert.ok(appsD.isDirectory);
  assert.equal(modeOf(appsD), 0o755);
  assert.match(r.stdout, /^ {2}systemctl daemon-reload$/m);
  assert.match(r.stdout, /^ {2}systemctl enable --now hashwall\.service$/m);
  // The installed config is valid for the daemon: check it with the CLI.
  const check = await hw(["check", "--config", `${t.root}/etc/hashwall`]);
  assert.equal(check.code, 0, check.stdout + check.stderr);
});

Deno.test("install --root: an existing config is kept, the binary and unit are upgraded", async () => {
  await using t = await tempRoot();
  await Deno.mkdir(`${t.root}/etc/hashwall`, { mode: 0o755 });
  const mine = '# mine\n[defaults]\nmode = "enforcing"\n';
  await Deno.writeTextFile(`${t.root}/etc/hashwall/rules.toml`, mine, { mode: 0o600 });
  await Deno.chmod(`${t.root}/etc/hashwall/rules.toml`, 0o600);
  const unitPath = `${t.root}/etc/systemd/system/hashwall.service`;
  await Deno.writeTextFile(unitPath, "[Service]\nExecStart=/old\n");
  await Deno.writeTextFile(`${t.root}/usr/local/sbin/hashwall`, "old binary\n", { mode: 0o700 });

  const r = await hw(["install", "--root", t.root, "--binary", t.fakeBin]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(await Deno.readTextFile(`${t.root}/etc/hashwall/rules.toml`), mine);
  assert.equal(modeOf(await Deno.stat(`${t.root}/etc/hashwall/rules.toml`)), 0o600);
  assert.match(r.stdout, /keep existing .*\/etc\/hashwall\/rules\.toml/);
  // The missing file of the pair is still written.
  assert.equal(await Deno.readTextFile(`${t.root}/etc/hashwall/apps.toml`), DEFAULT_APPS_TOML);
  assert.equal(await Deno.readTextFile(unitPath), HASHWALL_UNIT);
  assert.equal(
    await Deno.readTextFile(`${t.root}/usr/local/sbin/hashwall`),
    await Deno.readTextFile(t.fakeBin),
  );
  assert.equal(modeOf(await Deno.stat(`${t.root}/usr/local/sbin/hashwall`)), 0o755);
  // No temp file is left next to the binary or the unit.
  for (const d of ["usr/local/sbin", "etc/systemd/system"]) {
    const names = [...Deno.readDirSync(`${t.root}/${d}`)].map((e) => e.name);
    assert.deepEqual(names.filter((n) => n.startsWith(".")), [], d);
  }
});

Deno.test("install and uninstall --dry-run change nothing", async () => {
  await using t = await tempRoot();
  const empty = await snapshot(t.root);
  const dry = await hw(["install", "--root", t.root, "--binary", t.fakeBin, "--dry-run"]);
  assert.equal(dry.code, 0, dry.stderr);
  assert.match(dry.stdout, /would install .*\/usr\/local\/sbin\/hashwall/);
  assert.match(dry.stdout, /would write .*\/etc\/hashwall\/rules\.toml/);
  assert.deepEqual(await snapshot(t.root), empty);

  assert.equal((await hw(["install", "--root", t.root, "--binary", t.fakeBin])).code, 0);
  await Deno.mkdir(`${t.root}/var/cache/hashwall`, { mode: 0o700 });
  const installed = await snapshot(t.root);
  const dryU = await hw(["uninstall", "--root", t.root, "--purge", "--dry-run"]);
  assert.equal(dryU.code, 0, dryU.stderr);
  assert.match(dryU.stdout, /would remove .*\/etc\/hashwall\//);
  assert.match(dryU.stdout, /would remove .*\/var\/cache\/hashwall\//);
  assert.deepEqual(await snapshot(t.root), installed);
});

Deno.test("uninstall removes what install added; config and history stay unless --purge", async () => {
  await using t = await tempRoot();
  const before = await snapshot(t.root, false);
  const inst = await hw(["install", "--root", t.root, "--binary", t.fakeBin]);
  assert.equal(inst.code, 0, inst.stderr);
  // What running and enabling the service adds: history, the unpacked runtime, an enable link.
  await Deno.mkdir(`${t.root}/var/lib/hashwall`, { mode: 0o700 });
  await Deno.writeTextFile(`${t.root}/var/lib/hashwall/hashwall.db`, "history");
  await Deno.mkdir(`${t.root}/var/cache/hashwall/abc`, { recursive: true, mode: 0o700 });
  const wants = `${t.root}/etc/systemd/system/multi-user.target.wants`;
  await Deno.mkdir(wants);
  await Deno.symlink("/etc/systemd/system/hashwall.service", `${wants}/hashwall.service`);
  await Deno.symlink("/lib/systemd/system/other.service", `${wants}/other.service`);

  const r = await hw(["uninstall", "--root", t.root]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /kernel: left alone/);
  for (const gone of ["usr/local/sbin/hashwall", "etc/systemd/system/hashwall.service"]) {
    await assert.rejects(Deno.lstat(`${t.root}/${gone}`), Deno.errors.NotFound, gone);
  }
  await assert.rejects(Deno.lstat(`${wants}/hashwall.service`), Deno.errors.NotFound);
  await assert.rejects(Deno.lstat(`${t.root}/var/cache/hashwall`), Deno.errors.NotFound);
  assert.ok((await Deno.lstat(`${wants}/other.service`)).isSymlink, "other units untouched");
  assert.equal(await Deno.readTextFile(`${t.root}/etc/hashwall/rules.toml`), DEFAULT_RULES_TOML);
  assert.equal(await Deno.readTextFile(`${t.root}/var/lib/hashwall/hashwall.db`), "history");
  assert.match(r.stdout, /keep .*\/etc\/hashwall\/ \(--purge removes it\)/);

  const p = await hw(["uninstall", "--root", t.root, "--purge"]);
  assert.equal(p.code, 0, p.stderr);
  await Deno.remove(wants, { recursive: true });
  assert.deepEqual(await snapshot(t.root, false), before);

  const again = await hw(["uninstall", "--root", t.root]);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stdout, /nothing installed under/);
});

Deno.test("install: bad input is refused with a clear message and changes nothing", async () => {
  await using t = await tempRoot();
  const before = await snapshot(t.root);
  const cases: [string[], Record<string, string>, number, RegExp][] = [
    [
      ["install", "--root", `${t.root}/nope`, "--binary", t.fakeBin],
      {},
      2,
      /--root .*nope: no such folder/,
    ],
    [["install", "--root", t.fakeBin, "--binary", t.fakeBin], {}, 2, /--root .*: not a folder/],
    [
      ["install", "--root", t.root, "--binary", `${t.root}/missing`],
      {},
      1,
      /binary .*missing: no such file/,
    ],
    [["install", "--root", t.root, "--binary", t.root], {}, 1, /binary .*: not a regular file/],
    [["install", "--root", t.root], {}, 2, /runs on the Deno runtime .*pass --binary PATH/],
    [["install", "--root", t.root, "--bogus"], {}, 2, /unknown option --bogus/],
    [["install", "--root", t.root, "extra"], {}, 2, /unexpected "extra"/],
    [
      ["install", "--root", t.root],
      { HASHWALL_EXE: `${t.root}/gone` },
      1,
      /binary .*gone: no such file/,
    ],
    [["uninstall", "--root", `${t.root}/nope`], {}, 2, /--root .*nope: no such folder/],
    [["uninstall", "--root", t.root, "--state", ""], {}, 2, /--state needs a folder/],
  ];
  const notExec = `${t.root}.noexec`;
  await Deno.writeTextFile(notExec, "data", { mode: 0o644 });
  try {
    cases.push([["install", "--root", t.root, "--binary", notExec], {}, 1, /not executable/]);
    for (const [args, env, code, re] of cases) {
      const r = await hw(args, env);
      assert.equal(r.code, code, `${args.join(" ")}: ${r.stdout}${r.stderr}`);
      assert.match(r.stderr, re, args.join(" "));
    }
  } finally {
    await Deno.remove(notExec);
  }
  assert.deepEqual(await snapshot(t.root), before);
});

Deno.test("install: without --binary, HASHWALL_EXE (set by the launcher) names the binary", async () => {
  await using t = await tempRoot();
  const r = await hw(["install", "--root", t.root], { HASHWALL_EXE: t.fakeBin });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`from ${t.fakeBin.replace(/[.]/g, "\\.")}$`, "m"));
  assert.deepEqual(
    await Deno.readFile(`${t.root}/usr/local/sbin/hashwall`),
    await Deno.readFile(t.fakeBin),
  );
});

Deno.test("dist/hashwall installs itself; the installed copy runs and uninstalls", async () => {
  await using t = await tempRoot();
  const r = await hw(["install", "--root", t.root], {}, DIST_PATH);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const installed = `${t.root}/usr/local/sbin/hashwall`;
  assert.deepEqual(await Deno.readFile(installed), await Deno.readFile(DIST_PATH));
  assert.equal(modeOf(await Deno.stat(installed)), 0o755);
  assert.equal(
    await Deno.readTextFile(`${t.root}/etc/systemd/system/hashwall.service`),
    await Deno.readTextFile(UNIT_FILE),
  );
  const v = await hw(["--version"], {}, installed);
  assert.equal(v.code, 0, v.stderr);
  assert.match(v.stdout, /^hashwall \d/);
  // Installing again from the installed copy is a no-op for the binary.
  const again = await hw(["install", "--root", t.root], {}, installed);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stdout, /already this binary, left as is/);
  const u = await hw(["uninstall", "--root", t.root, "--purge"], {}, installed);
  assert.equal(u.code, 0, u.stderr);
  await assert.rejects(Deno.lstat(installed), Deno.errors.NotFound);
  await assert.rejects(Deno.lstat(`${t.root}/etc/hashwall`), Deno.errors.NotFound);
});

Deno.test("uninstall --state: detaches and unpins a running instance (hashwall disable)", async () => {
  await using t = await tempRoot();
  const daemon = await startTestDaemon({});
  try {
    const pins = pinPaths(instanceName(daemon.stateDir));
    assert.ok([...Deno.readDirSync(pins.links)].length > 0, "the daemon pinned its links");
    const dry = await hw(["uninstall", "--root", t.root, "--state", daemon.stateDir, "--dry-run"]);
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, /would disable instance s-[0-9a-f]+: would remove \d+ pins/);
    assert.ok([...Deno.readDirSync(pins.links)].length > 0, "--dry-run left the pins");

    const r = await hw(["uninstall", "--root", t.root, "--state", daemon.stateDir]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /disable instance s-[0-9a-f]+: remove \d+ pins/);
    await assert.rejects(Deno.lstat(pins.root), Deno.errors.NotFound);
  } finally {
    await daemon.stop();
  }
});

Deno.test("install --root on a Debian-family root adds the dpkg hook; uninstall removes it", async () => {
  await using t = await tempRoot();
  await Deno.mkdir(`${t.root}/etc/apt/apt.conf.d`, { recursive: true });
  const before = await snapshot(t.root, false);
  const r = await hw(["install", "--root", t.root, "--binary", t.fakeBin]);
  assert.equal(r.code, 0, r.stderr);
  const hook = `${t.root}/etc/apt/apt.conf.d/20hashwall`;
  assert.equal(modeOf(await Deno.stat(hook)), 0o644);
  assert.match(r.stdout, /install .*\/etc\/apt\/apt\.conf\.d\/20hashwall \(0644\)/);
  // apt itself reads the snippet: its Pre- and Post-Invoke lists carry the hashwall calls.
  const dump = await new Deno.Command("apt-config", {
    args: ["dump", "DPkg"],
    env: { APT_CONFIG: hook },
    stdout: "piped",
  }).output();
  const text = new TextDecoder().decode(dump.stdout);
  assert.match(
    text,
    /DPkg::Pre-Invoke:: ".*\/usr\/local\/sbin\/hashwall packages hook pre \|\| true; fi";/,
  );
  assert.match(
    text,
    /DPkg::Post-Invoke:: ".*\/usr\/local\/sbin\/hashwall packages hook post \|\| true; fi";/,
  );
  const u = await hw(["uninstall", "--root", t.root, "--purge"]);
  assert.equal(u.code, 0, u.stderr);
  assert.match(u.stdout, /remove .*20hashwall/);
  assert.deepEqual(await snapshot(t.root, false), before);
});
