/**
 * The one-file artifact `dist/hashwall`, run from `/` as a user would: version, help, a real
 * subcommand, exit codes and stdio pass-through; for the self-extracting kind also the 0700
 * unpack folder, pruning of older copies, tamper detection (a tampered unpacked file is reported and unpacked again, never
 * run), a foreign-owned cache folder (refused) and a non-root run.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { COMMANDS } from "../../src/cli/registry.ts";
import { checkCommand } from "../../src/cli/check.ts";
import { VERSION } from "../../src/version.ts";
import { DIST_PATH, readLauncherHeader, runDist } from "../helpers/dist.ts";

const header = await readLauncherHeader();
const selfExtracting = header !== null;
const NOBODY = { uid: 65534, gid: 65534 };
const ROOT = new URL("../../", import.meta.url).pathname;

async function sha256File(path: string): Promise<string> {
  return createHash("sha256").update(await Deno.readFile(path)).digest("hex");
}

function mode(path: string): number {
  return Deno.statSync(path).mode! & 0o7777;
}

/** A fresh cache folder (not yet existing) inside a temp dir; removed by the returned cleanup. */
async function tempCacheBase(): Promise<{ base: string; cleanup(): Promise<void> }> {
  const parent = await Deno.makeTempDir({ prefix: "hashwall-dist-test-" });
  return {
    base: `${parent}/cache`,
    cleanup: () => Deno.remove(parent, { recursive: true }),
  };
}

Deno.test("dist/hashwall exists and is executable", () => {
  const st = Deno.statSync(DIST_PATH);
  assert.ok(st.isFile, `${DIST_PATH} is not a file: run ./build.sh build`);
  assert.ok((st.mode! & 0o111) !== 0, `${DIST_PATH} is not executable`);
});

Deno.test("dist/hashwall --version from / prints the source version", async () => {
  const r = await runDist(["--version"]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, `hashwall ${VERSION}\n`);
});

Deno.test("dist/hashwall --help from / lists every subcommand", async () => {
  const r = await runDist(["--help"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /Usage: hashwall <command>/);
  for (const c of COMMANDS) {
    assert.match(r.stdout, new RegExp(`^  ${c.name}\\s+${escapeRe(c.summary)}$`, "m"), c.name);
  }
});

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

Deno.test("dist/hashwall check works from /", async () => {
  if (checkCommand.usage.includes("--default")) {
    const r = await runDist(["check", "--default"]);
    assert.equal(r.code, 0, `check --default failed:\n${r.stdout}\n${r.stderr}`);
  } else {
    // Until `check --default` exists, its help must still come through the artifact intact.
    const r = await runDist(["check", "--help"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `${checkCommand.usage}\n`);
  }
});

Deno.test("dist/hashwall passes exit codes, stdout and stderr through", async () => {
  const bad = await runDist(["no-such-command"]);
  assert.equal(bad.code, 2);
  assert.equal(bad.stdout, "");
  assert.match(bad.stderr, /unknown command "no-such-command"/);

  const json = await runDist(["version", "--json"], { stdin: "ignored input\n" });
  assert.equal(json.code, 0, json.stderr);
  assert.deepEqual(JSON.parse(json.stdout), { version: VERSION });
});

Deno.test({
  name: "self-extracting dist/hashwall unpacks into a 0700 folder keyed by the payload hash",
  ignore: !selfExtracting,
  async fn() {
    const { base, cleanup } = await tempCacheBase();
    try {
      // A copy left by an older build is pruned on unpack; unrelated entries are left alone.
      const older = `${base}/${"ab".repeat(32)}`;
      await Deno.mkdir(older, { recursive: true, mode: 0o700 });
      await Deno.writeTextFile(`${older}/app.js`, "// older build\n");
      // Unpacked two hours ago: a copy younger than an hour is left to its own first run.
      const twoHoursAgo = new Date(Date.now() - 2 * 3600_000);
      await Deno.utime(older, twoHoursAgo, twoHoursAgo);
      await Deno.mkdir(`${base}/keep-me`);
      const r = await runDist(["--version"], { env: { HASHWALL_CACHE_DIR: base } });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, `hashwall ${VERSION}\n`);
      assert.equal(r.stderr, "");
      const dir = `${base}/${header!.payloadSha}`;
      assert.equal(mode(base), 0o700, "cache base mode");
      assert.equal(mode(dir), 0o700, "unpacked folder mode");
      assert.equal(Deno.statSync(dir).uid, Deno.uid());
      assert.equal(await sha256File(`${dir}/deno`), header!.denoSha);
      const carried = Object.keys(header!.jsSha);
      for (
        const f of ["app.js", "src/integrity/exec_gate_worker.js", "src/integrity/hash_worker.js"]
      ) {
        assert.ok(carried.includes(f), `${f} is carried`);
      }
      assert.ok(carried.some((f) => /^chunk-\w+\.js$/.test(f)), "the bundle is code-split");
      for (const [name, sha] of Object.entries(header!.jsSha)) {
        assert.equal(await sha256File(`${dir}/${name}`), sha, name);
      }
      // No leftovers from the atomic unpack, and the older copy is gone.
      const names = [...Deno.readDirSync(base)].map((e) => e.name).sort();
      assert.deepEqual(
        names,
        [header!.payloadSha, `.verified.${header!.payloadSha}`, "keep-me"].sort(),
      );
    } finally {
      await cleanup();
    }
  },
});

Deno.test({
  name: "self-extracting dist/hashwall detects a tampered unpacked file and unpacks again",
  ignore: !selfExtracting,
  async fn() {
    const { base, cleanup } = await tempCacheBase();
    try {
      const env = { HASHWALL_CACHE_DIR: base };
      assert.equal((await runDist(["--version"], { env })).code, 0);
      const dir = `${base}/${header!.payloadSha}`;

      // Replace the app with code that would announce itself if it ever ran.
      await Deno.writeTextFile(`${dir}/app.js`, 'console.log("TAMPERED"); Deno.exit(42);\n');
      const r = await runDist(["--version"], { env });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, `hashwall ${VERSION}\n`, "tampered code must not run");
      assert.match(r.stderr, /failed verification \(SHA-256 mismatch\); unpacking again/);
      assert.equal(await sha256File(`${dir}/app.js`), header!.appSha, "app.js restored");

      // A worker bundle is verified like the app: it runs with the same rights.
      const worker = "src/integrity/hash_worker.js";
      await Deno.writeTextFile(`${dir}/${worker}`, "// tampered worker\n");
      const rw = await runDist(["--version"], { env });
      assert.equal(rw.code, 0, rw.stderr);
      assert.match(rw.stderr, /SHA-256 mismatch/);
      assert.equal(await sha256File(`${dir}/${worker}`), header!.jsSha[worker]);

      // One byte appended to the runtime is caught as well.
      await Deno.writeFile(`${dir}/deno`, new Uint8Array([0]), { append: true });
      const r2 = await runDist(["--version"], { env });
      assert.equal(r2.code, 0, r2.stderr);
      assert.match(r2.stderr, /SHA-256 mismatch/);
      assert.equal(await sha256File(`${dir}/deno`), header!.denoSha, "deno restored");

      // A loosened folder mode is treated like tampering too.
      await Deno.chmod(dir, 0o755);
      const r3 = await runDist(["--version"], { env });
      assert.equal(r3.code, 0, r3.stderr);
      assert.match(r3.stderr, /owner\/mode changed/);
      assert.equal(mode(dir), 0o700);

      // Once repaired, runs are quiet again.
      const r4 = await runDist(["--version"], { env });
      assert.equal(r4.stderr, "");
    } finally {
      await cleanup();
    }
  },
});

Deno.test({
  name: "self-extracting dist/hashwall hashes its files once, again only when one changed",
  ignore: !selfExtracting,
  async fn() {
    const { base, cleanup } = await tempCacheBase();
    // openssl and sha256sum that log each call, then do the real work: the launcher's hashing
    // is observed directly.
    const bin = await Deno.makeTempDir({ prefix: "hw-sums-" });
    const log = `${bin}/calls.log`;
    for (const tool of ["openssl", "sha256sum"]) {
      const real = new TextDecoder().decode(
        (await new Deno.Command("sh", { args: ["-c", `command -v ${tool}`] }).output()).stdout,
      ).trim();
      await Deno.writeTextFile(
        `${bin}/${tool}`,
        `#!/bin/sh\necho ${tool} >>${log}\nexec ${real} "$@"\n`,
      );
      await Deno.chmod(`${bin}/${tool}`, 0o755);
    }
    const env = { HASHWALL_CACHE_DIR: base, PATH: `${bin}:${Deno.env.get("PATH")}` };
    const calls = async () => (await Deno.readTextFile(log).catch(() => "")).split("\n").length - 1;
    try {
      assert.equal((await runDist(["--version"], { env })).code, 0);
      const first = await calls();
      assert.ok(first >= 1, "the first run verifies what it unpacked");
      for (let i = 0; i < 3; i++) {
        const r = await runDist(["--version"], { env });
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.stdout, `hashwall ${VERSION}\n`);
      }
      assert.equal(await calls(), first, "unchanged files are not hashed again");

      // Rewriting a file with its own bytes and its old mtime still moves its ctime: re-verified.
      const dir = `${base}/${header!.payloadSha}`;
      const chunk = Object.keys(header!.jsSha).find((f) => f.startsWith("chunk-"))!;
      const st = Deno.statSync(`${dir}/${chunk}`);
      await Deno.writeFile(`${dir}/${chunk}`, await Deno.readFile(`${dir}/${chunk}`));
      await Deno.utime(`${dir}/${chunk}`, st.atime!, st.mtime!);
      const r = await runDist(["--version"], { env });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stderr, "", "same bytes: verified, nothing to repair");
      assert.ok(await calls() > first, "a changed ctime means a full check");

      // A tampered chunk with its mtime put back is caught and repaired.
      const before = await calls();
      await Deno.writeTextFile(`${dir}/${chunk}`, "export const x = 1; // tampered\n");
      await Deno.utime(`${dir}/${chunk}`, st.atime!, st.mtime!);
      const rt = await runDist(["--version"], { env });
      assert.equal(rt.stdout, `hashwall ${VERSION}\n`);
      assert.match(rt.stderr, /SHA-256 mismatch/);
      assert.ok(await calls() > before);
      assert.equal(await sha256File(`${dir}/${chunk}`), header!.jsSha[chunk], "chunk restored");

      // The fast path (one stat, no hashing) also sees the copy's mode loosened: anyone could
      // now swap a file in. The full check refuses the folder and unpacks a fresh one.
      for (let i = 0; i < 2; i++) assert.equal((await runDist(["--version"], { env })).code, 0);
      const settled = await calls();
      await Deno.chmod(dir, 0o777);
      const rm = await runDist(["--version"], { env });
      assert.equal(rm.code, 0, rm.stderr);
      assert.match(rm.stderr, /folder owner\/mode changed/);
      assert.ok(await calls() > settled, "a loosened mode means a full check");
      assert.equal(Deno.statSync(dir).mode! & 0o777, 0o700);
    } finally {
      await cleanup();
      await Deno.remove(bin, { recursive: true });
    }
  },
});

Deno.test({
  name: "self-extracting dist/hashwall keeps an older copy a running daemon still uses",
  ignore: !selfExtracting,
  async fn() {
    const { base, cleanup } = await tempCacheBase();
    let child: Deno.ChildProcess | undefined;
    try {
      // An older build whose runtime is running (a daemon loads its workers from it later).
      const older = `${base}/${"cd".repeat(32)}`;
      await Deno.mkdir(older, { recursive: true, mode: 0o700 });
      await Deno.copyFile("/bin/sleep", `${older}/deno`);
      await Deno.chmod(`${older}/deno`, 0o700);
      const twoHoursAgo = new Date(Date.now() - 2 * 3600_000);
      await Deno.utime(older, twoHoursAgo, twoHoursAgo);
      child = new Deno.Command(`${older}/deno`, { args: ["60"] }).spawn();
      const env = { HASHWALL_CACHE_DIR: base };
      assert.equal((await runDist(["--version"], { env })).code, 0);
      assert.ok(Deno.statSync(`${older}/deno`).isFile, "in use: kept");

      // Once nothing runs from it, the next unpack removes it.
      child.kill("SIGKILL");
      await child.status;
      child = undefined;
      await Deno.remove(`${base}/${header!.payloadSha}`, { recursive: true });
      assert.equal((await runDist(["--version"], { env })).code, 0);
      assert.throws(() => Deno.statSync(older), Deno.errors.NotFound);
    } finally {
      if (child) {
        child.kill("SIGKILL");
        await child.status;
      }
      await cleanup();
    }
  },
});

Deno.test({
  name: "self-extracting dist/hashwall refuses a cache folder owned by someone else",
  ignore: !selfExtracting || Deno.uid() !== 0,
  async fn() {
    const { base, cleanup } = await tempCacheBase();
    try {
      await Deno.mkdir(base, { mode: 0o700 });
      await Deno.chown(base, NOBODY.uid, NOBODY.gid);
      const r = await runDist(["--version"], { env: { HASHWALL_CACHE_DIR: base } });
      assert.equal(r.code, 70);
      assert.equal(r.stdout, "");
      assert.match(r.stderr, new RegExp(`${base} belongs to uid 65534, not to you \\(uid 0\\)`));
      assert.deepEqual([...Deno.readDirSync(base)], [], "nothing unpacked into it");
    } finally {
      await cleanup();
    }
  },
});

Deno.test({
  name: "self-extracting dist/hashwall runs --version and --help as a non-root user",
  ignore: !selfExtracting || Deno.uid() !== 0,
  async fn() {
    const tmp = await Deno.makeTempDir({ prefix: "hashwall-dist-nobody-" });
    try {
      // A private copy the unprivileged user can read, whatever the checkout's permissions.
      const copy = `${tmp}/hashwall`;
      await Deno.copyFile(DIST_PATH, copy);
      await Deno.chmod(copy, 0o755);
      await Deno.chmod(tmp, 0o1777);
      const env = { TMPDIR: tmp, XDG_RUNTIME_DIR: "", HASHWALL_CACHE_DIR: "", HOME: "/" };
      const v = await runDist(["--version"], { path: copy, env, asUser: NOBODY });
      assert.equal(v.code, 0, v.stderr);
      assert.equal(v.stdout, `hashwall ${VERSION}\n`);
      const h = await runDist(["--help"], { path: copy, env, asUser: NOBODY });
      assert.equal(h.code, 0, h.stderr);
      assert.match(h.stdout, /Usage: hashwall/);
      const base = `${tmp}/hashwall-${NOBODY.uid}`;
      assert.equal(mode(base), 0o700);
      assert.equal(Deno.statSync(base).uid, NOBODY.uid);
      assert.equal(mode(`${base}/${header!.payloadSha}`), 0o700);
    } finally {
      await Deno.remove(tmp, { recursive: true });
    }
  },
});

/** Bundle files (relative names) statically reachable from `start` by its `import` statements. */
function staticClosure(dir: string, start: string): Set<string> {
  const seen = new Set<string>();
  const todo = [start];
  while (todo.length) {
    const f = todo.pop()!;
    if (seen.has(f)) continue;
    seen.add(f);
    const text = Deno.readTextFileSync(`${dir}/${f}`);
    for (const m of text.matchAll(/^(?:import|export)\b[^;]*?["']\.\/([^"']+\.js)["']/gm)) {
      todo.push(m[1]);
    }
  }
  return seen;
}

/** The read-only commands of bench/cli.ts with the bundle file each one's module lives in. */
const READ_ONLY = ["version", "status", "apps", "rules", "events"];

Deno.test({
  name: "dist/hashwall: a read-only command loads only its own chunks (no daemon, UI, " +
    "BPF objects, node:crypto or node:sqlite)",
  ignore: !selfExtracting,
  async fn() {
    const { base, cleanup } = await tempCacheBase();
    const tmp = await Deno.makeTempDir({ prefix: "hw-dist-lazy-" });
    try {
      const env = { HASHWALL_CACHE_DIR: base };
      assert.equal((await runDist(["--version"], { env })).code, 0);
      const dir = `${base}/${header!.payloadSha}`;
      const app = Deno.readTextFileSync(`${dir}/app.js`);
      // deno run loads every string-literal import() into its module graph up front: the build
      // turns them into computed ones (build.sh lazy_dynamic_imports).
      assert.doesNotMatch(app, /import\("\./, "string-literal dynamic import left in app.js");
      const sizeOf = (files: Iterable<string>) =>
        [...files].reduce((n, f) => n + Deno.statSync(`${dir}/${f}`).size, 0);
      for (const name of READ_ONLY) {
        const m = app.match(
          new RegExp(`name: "${name}",[^]*?import\\(String\\("\\./([^"]+\\.js)"\\)\\)`),
        );
        assert.ok(m, `app.js loads ${name} through a computed import`);
        const closure = staticClosure(dir, m![1]);
        for (const f of closure) {
          const text = Deno.readTextFileSync(`${dir}/${f}`);
          // node:crypto / node:sqlite start Deno's Node layer (~50 / ~30 ms); __toBinary is an
          // embedded BPF object or UI asset decoded at import.
          assert.doesNotMatch(text, /from "node:(crypto|sqlite)"|__toBinary\(/, `${name}: ${f}`);
        }
        // (rules parses the config: smol-toml and the validator, ~170 KB; the whole is ~4 MB.)
        assert.ok(sizeOf(closure) < 256 * 1024, `${name} loads ${sizeOf(closure)} bytes`);
      }

      // What the runtime really opens (strace), against a state folder with no daemon.
      const state = `${tmp}/state`;
      const cases: [string[], number][] = [
        [["version"], 0],
        [["status", "--state", state], 3],
        [["apps", "list", "--state", state], 3],
        [["rules", "list", "--config", `${ROOT}config`, "--state", state], 0],
      ];
      const everything = sizeOf(Object.keys(header!.jsSha));
      for (const [args, code] of cases) {
        const log = `${tmp}/strace.log`;
        const out = await new Deno.Command("strace", {
          args: ["-f", "-qq", "-e", "trace=openat", "-o", log, DIST_PATH, ...args],
          env,
          cwd: "/",
          stdout: "null",
          stderr: "piped",
        }).output();
        assert.equal(out.code, code, `${args[0]}: ${new TextDecoder().decode(out.stderr)}`);
        const opened = new Set(
          [...Deno.readTextFileSync(log).matchAll(/openat\([^"]*"([^"]+\.js)", [^)]*\) = \d+/g)]
            .map((m) => m[1])
            .filter((p) => p.startsWith(`${dir}/`))
            .map((p) => p.slice(dir.length + 1)),
        );
        assert.ok(opened.has("app.js"), `${args[0]} opened ${[...opened]}`);
        assert.ok(![...opened].some((f) => f.startsWith("run-")), `${args[0]} opened the daemon`);
        assert.ok(
          sizeOf(opened) < everything / 10,
          `${args.join(" ")} read ${sizeOf(opened)} of ${everything} bundle bytes`,
        );
      }
    } finally {
      await cleanup();
      await Deno.remove(tmp, { recursive: true });
    }
  },
});

/**
 * As uid nobody: writes `text` over `file` and forges the launcher's stamp of the last full check
 * (.verified.<payload>) so that it describes the folder as it now is — what the launcher's fast
 * path compares (packaging/launcher.sh.in stamp_now): boot id, owner and mode of the cache folder
 * and of the copy, then `stat` of every payload file.
 */
async function tamperAsNobody(base: string, file: string, text: string): Promise<void> {
  const dir = `${base}/${header!.payloadSha}`;
  const files = ["deno", ...Object.keys(header!.jsSha)];
  const script = `set -e
printf '%s\\n' "$TEXT" >"$DIR/$FILE"
{ cat /proc/sys/kernel/random/boot_id
  cd "$DIR" && stat -c '%u %a %d %i %s %.9Y %.9Z %n' "$BASE" "$DIR" "$@" |
    awk 'NR <= 2 { print $1 " " $2; next } 1'
} >"$BASE/.forged.$$"
mv -f "$BASE/.forged.$$" "$BASE/.verified.$SHA"`;
  const out = await new Deno.Command("setpriv", {
    args: [
      `--reuid=${NOBODY.uid}`,
      `--regid=${NOBODY.gid}`,
      "--clear-groups",
      "sh",
      "-c",
      script,
      "sh",
      ...files,
    ],
    env: { TEXT: text, DIR: dir, FILE: file, BASE: base, SHA: header!.payloadSha },
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
}

Deno.test({
  name: "attacker: uid nobody cannot get a swapped file run by root's dist/hashwall " +
    "(a planted cache with a forged stamp of the last check)",
  ignore: !selfExtracting || Deno.uid() !== 0,
  async fn() {
    const tmp = await Deno.makeTempDir({ prefix: "hw-dist-attack-" });
    try {
      await Deno.chmod(tmp, 0o1777);
      const copy = `${tmp}/hashwall`;
      await Deno.copyFile(DIST_PATH, copy);
      await Deno.chmod(copy, 0o755);
      const pwned = 'console.log("PWNED"); Deno.exit(0);';

      // 1. A cache folder nobody made (a shared path root was told to use): nobody unpacks the
      // real artifact there, swaps app.js and stamps the result. nobody's own runs take the
      // planted file (the fast path trusts the stamp's owner): the forgery is a working one.
      const planted = `${tmp}/cache-planted`;
      const envP = { HASHWALL_CACHE_DIR: planted };
      const own = await runDist(["--version"], { path: copy, env: envP, asUser: NOBODY });
      assert.equal(own.code, 0, own.stderr);
      await tamperAsNobody(planted, "app.js", pwned);
      const self = await runDist(["--version"], { path: copy, env: envP, asUser: NOBODY });
      assert.equal(self.stdout, "PWNED\n", "the forged stamp passes nobody's own fast path");
      const root = await runDist(["--version"], { path: copy, env: envP });
      assert.doesNotMatch(root.stdout, /PWNED/);
      assert.equal(root.code, 70, root.stderr);
      assert.match(root.stderr, /belongs to uid 65534, not to you \(uid 0\)/);

      // 2. root's own cache folder, left world-writable (0777) after a good run: nobody moves
      // root's copy aside, puts its own (nobody-owned) copy with a swapped chunk in its place
      // and forges the stamp. root's next run re-checks, refuses the copy and unpacks again.
      const shared = `${tmp}/cache-shared`;
      const envS = { HASHWALL_CACHE_DIR: shared };
      assert.equal((await runDist(["--version"], { path: copy, env: envS })).code, 0);
      await Deno.chmod(shared, 0o777);
      const dir = `${shared}/${header!.payloadSha}`;
      const own2 = await runDist(["--version"], {
        path: copy,
        env: { HASHWALL_CACHE_DIR: `${tmp}/cache-nobody` },
        asUser: NOBODY,
      });
      assert.equal(own2.code, 0, own2.stderr);
      const swap = await new Deno.Command("setpriv", {
        args: [
          `--reuid=${NOBODY.uid}`,
          `--regid=${NOBODY.gid}`,
          "--clear-groups",
          "sh",
          "-c",
          'mv "$1" "$1.root" 2>/dev/null || true; cp -a "$2" "$1"',
          "sh",
          dir,
          `${tmp}/cache-nobody/${header!.payloadSha}`,
        ],
        stderr: "piped",
      }).output();
      // Moving root's 0700 copy needs only write access to the 0777 parent.
      assert.equal(swap.code, 0, new TextDecoder().decode(swap.stderr));
      await tamperAsNobody(shared, "app.js", pwned);
      assert.equal(Deno.statSync(dir).uid, NOBODY.uid, "nobody's copy is in place");
      const r = await runDist(["--version"], { path: copy, env: envS });
      assert.doesNotMatch(r.stdout, /PWNED/);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, `hashwall ${VERSION}\n`);
      assert.match(r.stderr, /failed verification \(folder owner\/mode changed\)/);
      assert.equal(Deno.statSync(dir).uid, 0, "root unpacked its own copy again");
      assert.equal(mode(shared), 0o700, "the cache folder is closed again");
      assert.equal(await sha256File(`${dir}/app.js`), header!.appSha);
    } finally {
      await Deno.remove(tmp, { recursive: true });
    }
  },
});
