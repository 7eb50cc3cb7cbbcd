/**
 * Config hostility: over 10 000 generated malformed or adversarial rules.toml/apps.toml inputs
 * (deep nesting, huge arrays, giant strings, NUL and control bytes, invalid UTF-8, symlinks, FIFOs,
 * devices, wrong owners and modes) through the config loader in process; a few hundred of them
 * through `hashwall check` as a process; and a few hundred broken files through `reload` of a
 * running daemon. Every one must give errors located FILE:LINE:COL inside the file, never an
 * exception, a crash or a hang, and the running daemon's policy must stay exactly as it was
 * (proved by real connect verdicts and `status`).
 *
 * The 425 table cases of tests/helpers/config_cases.ts (also used by tests/unit/config_malformed_test.ts) are reused through the exported
 * `cases()` (importing that module also registers its own two tests in this run).
 */
import assert from "node:assert/strict";
import { cases as tableCases } from "../helpers/config_cases.ts";
import { validateTexts } from "../../src/config/validate.ts";
import { loadPolicy } from "../../src/config/load.ts";
import type { ConfigError, LoadResult } from "../../src/config/model.ts";
import { runHashwall, sha256Of, startTestDaemon, type TestDaemon } from "../helpers/daemon.ts";
import { loopbackListener, netclientCopy } from "../helpers/netclient.ts";
import { cliJson, until } from "../helpers/stress.ts";
import { callDaemon } from "../../src/daemon/client.ts";
import type { StatusInfo } from "../../src/api/types.ts";
import { rng } from "../helpers/rng.ts";

const SHA = "a".repeat(64);
const GOOD_RULES = [
  "[defaults]",
  'mode = "enforcing"',
  "allow_loopback = false",
  "",
  "[[rule]]",
  'id = "web"',
  'action = "allow"',
  'direction = "out"',
  'protocol = "tcp"',
  'remote = ["192.0.2.0/24"]',
  "ports = [443]",
  "",
].join("\n");
const GOOD_APPS = `[[app]]\nname = "x"\npath = "/usr/bin/x"\nsha256 = "${SHA}"\n`;

/** One generated text case. `mustFail`: the input is certainly invalid. */
interface TextCase {
  name: string;
  rules: string;
  apps: string;
  mustFail: boolean;
}

const KEYS = ["mode", "allow_loopback", "inbound", "outbound", "interfaces", "exec_gate"];
const RULE_KEYS = ["id", "action", "direction", "protocol", "remote", "ports", "app", "comment"];
const JUNK = [
  "[",
  "]",
  "[[",
  "]]",
  "{",
  "}",
  "=",
  ",",
  '"',
  "'",
  '"""',
  "\\",
  "#",
  "\n",
  "\r",
  "\t",
  "\0",
  "\x01",
  "\x7f",
  "\u2028",
  "\uFEFF",
  "\uD800",
  "é",
  "\u{1F600}",
  "1e400",
  "0x",
  "-",
  "inf",
  "nan",
  "1979-05-27T",
  "..",
  "a.b.c",
];
const SIZES = [1, 10, 100, 1_000, 10_000, 100_000];
/** The i-th size of a family: each big size once, then small ones (so 10 000 cases stay quick). */
function size(i: number): number {
  return i < SIZES.length ? SIZES[i] : SIZES[i % 4];
}

/** A generator family: i picks sizes and positions; the family decides the shape. */
const FAMILIES: ((i: number, r: () => number) => TextCase)[] = [
  // Deeply nested arrays in a key that wants an array of ports.
  (i) => {
    const d = size(i);
    return {
      name: `ports nested ${d} deep`,
      rules: `${GOOD_RULES}[[rule]]\nid = "n"\naction = "deny"\ndirection = "out"\nports = ${
        "[".repeat(d)
      }1${"]".repeat(d)}\n`,
      apps: GOOD_APPS,
      mustFail: true,
    };
  },
  // Deeply nested inline tables.
  (i) => {
    const d = size(i);
    return {
      name: `inline tables ${d} deep`,
      rules: `${GOOD_RULES}[defaults.x]\ny = ${"{ a = ".repeat(d)}1${" }".repeat(d)}\n`,
      apps: GOOD_APPS,
      mustFail: true,
    };
  },
  // A dotted table header, or a dotted key, with very many parts.
  (i) => {
    const d = size(i);
    const key = Array(d).fill("a").join(".");
    return {
      name: `${i % 2 ? "key" : "header"} with ${d} dotted parts`,
      rules: i % 2 ? `${GOOD_RULES}[defaults.x]\n${key} = 1\n` : `${GOOD_RULES}[${key}]\nb = 1\n`,
      apps: GOOD_APPS,
      mustFail: true,
    };
  },
  // Huge arrays: ports, remotes, interfaces.
  (i) => {
    const n = size(i) * 2;
    const key = ["ports", "remote", "interfaces"][i % 3];
    const el = key === "ports" ? "70000" : key === "remote" ? '"300.0.0.0/8"' : '"x/y"';
    const body = Array(n).fill(el).join(",");
    return {
      name: `${key} with ${n} bad elements`,
      rules: key === "interfaces"
        ? GOOD_RULES.replace(
          "allow_loopback = false",
          `allow_loopback = false\ninterfaces = [${body}]`,
        )
        : GOOD_RULES.replace(
          key === "ports" ? "ports = [443]" : 'remote = ["192.0.2.0/24"]',
          `${key} = [${body}]`,
        ),
      apps: GOOD_APPS,
      mustFail: true,
    };
  },
  // Giant strings: in a value, in a key, unterminated.
  (i) => {
    const n = size(i) * 10;
    const s = "x".repeat(n);
    const shape = i % 3;
    return {
      name: `giant string ${n} (${["value", "key", "unterminated"][shape]})`,
      rules: shape === 0
        ? GOOD_RULES.replace('mode = "enforcing"', `mode = "${s}"`)
        : shape === 1
        ? `${GOOD_RULES}[defaults]\n${s} = 1\n`
        : `${GOOD_RULES}[[rule]]\nid = "${s}\n`,
      apps: GOOD_APPS,
      mustFail: true,
    };
  },
  // NUL and other control characters at a random place in a value or bare.
  (i, r) => {
    const ch = ["\0", "\x01", "\x08", "\x1b", "\x7f", "\x0b", "\x0c"][i % 7];
    const lines = GOOD_RULES.split("\n");
    const li = Math.floor(r() * lines.length);
    const col = Math.floor(r() * (lines[li].length + 1));
    lines[li] = lines[li].slice(0, col) + ch + lines[li].slice(col);
    return {
      name: `control char ${ch.charCodeAt(0)} at ${li + 1}:${col + 1}`,
      rules: lines.join("\n"),
      apps: GOOD_APPS,
      // A control char inside a comment-free blank line or at line end may still be a TOML
      // error; it is never valid, except \f/\v which TOML also refuses. Keep it strict.
      mustFail: true,
    };
  },
  // Thousands of rules with duplicate ids.
  (i) => {
    const n = size(i) + 1;
    const rule = '[[rule]]\nid = "dup"\naction = "deny"\ndirection = "out"\n';
    return {
      name: `${n} rules with one id`,
      rules: GOOD_RULES + rule.repeat(n),
      apps: GOOD_APPS,
      mustFail: true,
    };
  },
  // Thousands of apps with one name, or an app path with a NUL escape.
  (i) => {
    const n = size(i) + 1;
    return i % 2 === 0
      ? { name: `${n} apps named x`, rules: GOOD_RULES, apps: GOOD_APPS.repeat(n), mustFail: true }
      : {
        name: `app path with escaped NUL #${i}`,
        rules: GOOD_RULES,
        apps: GOOD_APPS.replace('"/usr/bin/x"', `"/usr/bin/x\\u0000${"y".repeat(i % 50)}"`),
        mustFail: true,
      };
  },
  // Duplicate keys and redefined tables.
  (i) => {
    const k = KEYS[i % KEYS.length];
    const shapes = [
      `${GOOD_RULES}[defaults]\nmode = "learning"\n`,
      GOOD_RULES.replace('mode = "enforcing"', `mode = "enforcing"\nmode = "learning"`),
      `${GOOD_RULES}defaults.${k} = 1\n`,
      `${GOOD_RULES}[defaults.${k}]\n`,
      `rule = 1\n${GOOD_RULES}`,
    ];
    return {
      name: `redefinition ${i % shapes.length} of ${k}`,
      rules: shapes[i % shapes.length],
      apps: GOOD_APPS,
      mustFail: true,
    };
  },
  // Numbers that overflow or are not integers, in every integer place.
  (i) => {
    const v = [
      "1e400",
      "9223372036854775808",
      "-9223372036854775809",
      "0x10000",
      "0o777777",
      "0b1111111111111111111",
      "nan",
      "+inf",
      "-0",
      "1_000_000",
      "0.0",
      "443.0",
    ][i % 12];
    return {
      name: `ports = [${v}]`,
      rules: GOOD_RULES.replace("ports = [443]", `ports = [${v}]`),
      apps: GOOD_APPS,
      mustFail: true,
    };
  },
  // Wrong value kinds for every defaults and rule key.
  (i) => {
    const v = ["1979-05-27T07:32:00Z", "{}", "[{}]", "[[]]", "1.5", "-1", '""', "'''\n'''"][i % 8];
    const useRule = i % 2 === 0;
    const key = useRule ? RULE_KEYS[i % RULE_KEYS.length] : KEYS[i % KEYS.length];
    const rules = useRule
      ? `${GOOD_RULES}[[rule]]\nid = "k"\naction = "deny"\ndirection = "out"\n${
        key === "id" ? "" : `${key} = ${v}\n`
      }`.replace(key === "id" ? 'id = "k"' : "\0", `id = ${v}`)
      : GOOD_RULES.replace("[defaults]", `[defaults]\n${key} = ${v}`).replace(
        key === "mode" ? 'mode = "enforcing"\n' : "\0",
        "",
      ).replace(key === "allow_loopback" ? "allow_loopback = false\n" : "\0", "");
    return {
      name: `${useRule ? "rule" : "defaults"}.${key} = ${v}`,
      rules,
      apps: GOOD_APPS,
      mustFail: true,
    };
  },
  // Random junk spliced into a valid file (may stay valid: then it must load cleanly).
  (i, r) => {
    let t = GOOD_RULES;
    const n = 1 + Math.floor(r() * 6);
    for (let k = 0; k < n; k++) {
      const at = Math.floor(r() * (t.length + 1));
      t = t.slice(0, at) + JUNK[Math.floor(r() * JUNK.length)] + t.slice(at);
    }
    return { name: `junk splice #${i}`, rules: t, apps: GOOD_APPS, mustFail: false };
  },
  // Random junk in apps.toml.
  (i, r) => {
    let t = GOOD_APPS;
    const n = 1 + Math.floor(r() * 6);
    for (let k = 0; k < n; k++) {
      const at = Math.floor(r() * (t.length + 1));
      t = t.slice(0, at) + JUNK[Math.floor(r() * JUNK.length)] + t.slice(at);
    }
    return { name: `apps junk splice #${i}`, rules: GOOD_RULES, apps: t, mustFail: false };
  },
  // Lines cut short at a random byte (truncated writes).
  (i, r) => {
    const full = GOOD_RULES +
      '[[rule]]\nid = "t"\naction = "deny"\ndirection = "out"\nremote = ["10.0.0.0/8"]\n';
    const cut = Math.floor(r() * full.length);
    return {
      name: `truncated at ${cut} (#${i})`,
      rules: full.slice(0, cut),
      apps: GOOD_APPS,
      mustFail: false,
    };
  },
];

/** The generated text cases, deterministic for a given count. */
function generatedCases(count: number): TextCase[] {
  const r = rng(0x5eed);
  const out: TextCase[] = [];
  for (let i = 0; out.length < count; i++) {
    out.push(FAMILIES[i % FAMILIES.length](Math.floor(i / FAMILIES.length), r));
  }
  return out;
}

/** Asserts every error is `FILE:LINE:COL: message` with LINE/COL inside that file's text. */
function assertLocated(r: LoadResult, texts: Map<string, string>, name: string): void {
  assert.ok(!r.ok, `${name}: expected errors`);
  assert.ok(r.errors.length > 0, `${name}: no errors`);
  const split = new Map<string, string[]>();
  for (const e of r.errors as ConfigError[]) {
    const m = /^(.+):(\d+):(\d+): (.+)$/s.exec(e.toString());
    assert.ok(m, `${name}: not FILE:LINE:COL: ${e}`);
    assert.ok(!m[4].includes("\n"), `${name}: multi-line message: ${e}`);
    let lines = split.get(e.file);
    if (!lines) split.set(e.file, lines = (texts.get(e.file) ?? "").split("\n"));
    const [line, col] = [Number(m[2]), Number(m[3])];
    assert.ok(line >= 1 && line <= lines.length, `${name}: line ${line} outside ${e.file}: ${e}`);
    const len = lines[line - 1].length;
    assert.ok(col >= 1 && col <= len + 1, `${name}: col ${col} outside line (${len}): ${e}`);
  }
}

/** A hostile config folder: name, builder, and whether it must fail. */
interface FolderCase {
  name: string;
  build(dir: string): Promise<void>;
}

async function writeGood(dir: string): Promise<void> {
  await Deno.writeTextFile(`${dir}/rules.toml`, GOOD_RULES, { mode: 0o644 });
  await Deno.writeTextFile(`${dir}/apps.toml`, GOOD_APPS, { mode: 0o644 });
  await Deno.chmod(`${dir}/rules.toml`, 0o644);
  await Deno.chmod(`${dir}/apps.toml`, 0o644);
}

function sh(cmd: string, args: string[]): Promise<Deno.CommandOutput> {
  return new Deno.Command(cmd, { args, stdout: "null", stderr: "null" }).output();
}

/** Hostile folders for loadPolicy (each also goes through `hashwall check`). */
function folderCases(): FolderCase[] {
  const list: FolderCase[] = [];
  for (const file of ["rules.toml", "apps.toml", "apps.d/z.toml"]) {
    const put = async (dir: string, f: (path: string) => Promise<void>) => {
      await writeGood(dir);
      await Deno.mkdir(`${dir}/apps.d`, { recursive: true, mode: 0o755 });
      await Deno.chmod(`${dir}/apps.d`, 0o755);
      await Deno.writeTextFile(`${dir}/apps.d/z.toml`, GOOD_APPS.replaceAll('"x"', '"z"'));
      await Deno.chmod(`${dir}/apps.d/z.toml`, 0o644);
      await f(`${dir}/${file}`);
    };
    const rm = (p: string) => Deno.remove(p).catch(() => {});
    list.push(
      {
        name: `${file}: symlink to /etc/passwd (root's, not TOML)`,
        build: (d) =>
          put(d, async (p) => {
            await rm(p);
            await Deno.symlink("/etc/passwd", p);
          }),
      },
      {
        name: `${file}: symlink loop`,
        build: (d) =>
          put(d, async (p) => {
            await rm(p);
            await Deno.symlink(`${p}.b`, p);
            await Deno.symlink(p, `${p}.b`);
          }),
      },
      {
        name: `${file}: dangling symlink`,
        build: (d) =>
          put(d, async (p) => {
            await rm(p);
            await Deno.symlink(`${d}/nowhere`, p);
          }),
      },
      {
        name: `${file}: symlink to /dev/zero`,
        build: (d) =>
          put(d, async (p) => {
            await rm(p);
            await Deno.symlink("/dev/zero", p);
          }),
      },
      {
        name: `${file}: a FIFO (reading would block)`,
        build: (d) =>
          put(d, async (p) => {
            await rm(p);
            await sh("mkfifo", [p]);
          }),
      },
      {
        name: `${file}: a folder`,
        build: (d) =>
          put(d, async (p) => {
            await rm(p);
            await Deno.mkdir(p);
          }),
      },
      {
        name: `${file}: owned by nobody`,
        build: (d) => put(d, (p) => Deno.chown(p, 65534, 65534)),
      },
      { name: `${file}: mode 0666`, build: (d) => put(d, (p) => Deno.chmod(p, 0o666)) },
      { name: `${file}: mode 0620`, build: (d) => put(d, (p) => Deno.chmod(p, 0o620)) },
      {
        name: `${file}: symlink to a world-writable file`,
        build: (d) =>
          put(d, async (p) => {
            await Deno.writeTextFile(`${d}/ww`, GOOD_APPS);
            await Deno.chmod(`${d}/ww`, 0o666);
            await rm(p);
            await Deno.symlink(`${d}/ww`, p);
          }),
      },
      {
        name: `${file}: 2 MiB`,
        build: (d) => put(d, (p) => Deno.writeTextFile(p, "#".repeat(2 * 1024 * 1024))),
      },
      {
        name: `${file}: sparse 1 GiB`,
        build: (d) =>
          put(d, async (p) => {
            await Deno.truncate(p, 1024 * 1024 * 1024);
          }),
      },
      ...[
        [0xff],
        [0xc0, 0x80],
        [0xed, 0xa0, 0x80],
        [0xe2, 0x82],
        [0xf5, 0x80, 0x80, 0x80],
        [0x80],
        [0xfe, 0xff],
        [0x00],
      ].map((bytes) => ({
        name: `${file}: bytes ${bytes.map((b) => b.toString(16)).join(" ")} mid-file`,
        build: (d: string) =>
          put(d, async (p) => {
            const text = new TextEncoder().encode(await Deno.readTextFile(p).catch(() => ""));
            const at = Math.floor(text.length / 2);
            await Deno.writeFile(
              p,
              new Uint8Array([...text.slice(0, at), ...bytes, ...text.slice(at)]),
            );
          }),
      })),
    );
  }
  list.push(
    {
      name: "apps.d world-writable",
      build: async (d) => {
        await writeGood(d);
        await Deno.mkdir(`${d}/apps.d`);
        await Deno.chmod(`${d}/apps.d`, 0o777);
      },
    },
    {
      name: "apps.d is a file",
      build: async (d) => {
        await writeGood(d);
        await Deno.writeTextFile(`${d}/apps.d`, "x");
      },
    },
    {
      name: "apps.d holds 300 broken files",
      build: async (d) => {
        await writeGood(d);
        await Deno.mkdir(`${d}/apps.d`, { mode: 0o755 });
        await Deno.chmod(`${d}/apps.d`, 0o755);
        for (let i = 0; i < 300; i++) {
          await Deno.writeTextFile(
            `${d}/apps.d/${String(i).padStart(3, "0")}.toml`,
            `[[app]]\nname = ${i}\n`,
          );
        }
      },
    },
    {
      name: "config folder owned by nobody",
      build: async (d) => {
        await writeGood(d);
        await Deno.chown(d, 65534, 65534);
      },
    },
    {
      name: "no rules.toml",
      build: async (d) => {
        await Deno.writeTextFile(`${d}/apps.toml`, GOOD_APPS);
      },
    },
  );
  return list;
}

const IN_PROCESS_TARGET = 10_000;

Deno.test(`config hostility in process: ≥${IN_PROCESS_TARGET} generated inputs through validateTexts and loadPolicy`, async () => {
  const table = tableCases();
  const folders = folderCases();
  const generated = generatedCases(IN_PROCESS_TARGET - table.length - folders.length);
  let failed = 0, valid = 0, slowest = 0, slowestName = "";
  const t0 = performance.now();
  const time = <T>(name: string, f: () => T): T => {
    const s = performance.now();
    const out = f();
    const ms = performance.now() - s;
    if (ms > slowest) [slowest, slowestName] = [ms, name];
    return out;
  };
  const validate = (name: string, rules: string, apps: string) =>
    time(name, () =>
      validateTexts({
        rulesFile: "rules.toml",
        rulesText: rules,
        appsTexts: [{ file: "apps.toml", text: apps }],
      }));
  for (const c of generated) {
    let r: LoadResult;
    try {
      r = validate(c.name, c.rules, c.apps);
    } catch (e) {
      assert.fail(`${c.name}: validateTexts threw ${(e as Error).stack}`);
    }
    if (r.ok) {
      assert.ok(!c.mustFail, `${c.name}: accepted an invalid config`);
      valid++;
      continue;
    }
    failed++;
    assertLocated(r, new Map([["rules.toml", c.rules], ["apps.toml", c.apps]]), c.name);
  }
  for (const c of table) {
    if (c.folder) continue; // run through loadPolicy below
    const apps = (c.apps ?? []).map((text, i) => ({
      file: i === 0 ? "apps.toml" : `apps.d/${i}.toml`,
      text,
    }));
    const r = time(
      c.name,
      () => validateTexts({ rulesFile: "rules.toml", rulesText: c.rules ?? "", appsTexts: apps }),
    );
    const texts = new Map([
      ["rules.toml", c.rules ?? ""],
      ...apps.map((a) => [a.file, a.text] as [string, string]),
    ]);
    assertLocated(r, texts, c.name);
    failed++;
  }
  // Folder cases: the table's own folder builders, then ours.
  const builders = [
    ...table.filter((c) => c.folder).map((c) => ({ name: c.name, build: c.folder! })),
    ...folders,
  ];
  for (const c of builders) {
    const dir = await Deno.makeTempDir({ prefix: "hw-stress-cfg-" });
    try {
      await Deno.chmod(dir, 0o755);
      await c.build(dir);
      const s = performance.now();
      const r = await loadPolicy(dir);
      const ms = performance.now() - s;
      if (ms > slowest) [slowest, slowestName] = [ms, c.name];
      assert.ok(!r.ok, `${c.name}: loaded`);
      for (const e of r.errors) {
        assert.match(e.toString(), /^\/.+:\d+:\d+: [^\n]+$/, `${c.name}: ${e}`);
        assert.ok(e.file.startsWith(dir), `${c.name}: error names a file outside the folder: ${e}`);
      }
      failed++;
    } finally {
      await Deno.chown(dir, 0, 0).catch(() => {});
      await Deno.remove(dir, { recursive: true });
    }
  }
  const total = generated.length + table.length + folders.length;
  console.log(
    `config in process: ${total} inputs (${generated.length} generated, ${table.length} table, ${folders.length} folders) in ${
      ((performance.now() - t0) / 1000).toFixed(1)
    } s; ${failed} located failures, ${valid} random mutations still valid; slowest ${
      slowest.toFixed(0)
    } ms (${slowestName})`,
  );
  assert.ok(total >= IN_PROCESS_TARGET, `only ${total} inputs`);
  assert.ok(slowest < 5000, `one input took ${slowest} ms: ${slowestName}`);
});

/** Runs `tasks` with at most `n` at once. */
async function pool<T>(n: number, tasks: (() => Promise<T>)[]): Promise<T[]> {
  const out: T[] = new Array(tasks.length);
  let next = 0;
  await Promise.all(Array.from({ length: n }, async () => {
    while (next < tasks.length) {
      const i = next++;
      out[i] = await tasks[i]();
    }
  }));
  return out;
}

const CHECK_RUNS = 300;

Deno.test(`config hostility: ${CHECK_RUNS} hostile folders through \`hashwall check\` as a process`, async () => {
  const root = await Deno.makeTempDir({ prefix: "hw-stress-check-" });
  try {
    await Deno.chmod(root, 0o755);
    const folders = folderCases();
    const gen = generatedCases(CHECK_RUNS - folders.length).filter((c) =>
      c.rules.length + c.apps.length < 900_000
    );
    const dirs: { name: string; dir: string; mustFail: boolean }[] = [];
    for (const [i, c] of folders.entries()) {
      const dir = `${root}/f${i}`;
      await Deno.mkdir(dir, { mode: 0o755 });
      await c.build(dir);
      dirs.push({ name: c.name, dir, mustFail: true });
    }
    for (const [i, c] of gen.entries()) {
      const dir = `${root}/g${i}`;
      await Deno.mkdir(dir, { mode: 0o755 });
      await Deno.writeTextFile(`${dir}/rules.toml`, c.rules);
      await Deno.writeTextFile(`${dir}/apps.toml`, c.apps);
      dirs.push({ name: c.name, dir, mustFail: c.mustFail });
    }
    const t0 = performance.now();
    const results = await pool(
      4,
      dirs.map((c) => () => runHashwall(["check", "--config", c.dir, "--json"])),
    );
    const s = (performance.now() - t0) / 1000;
    let located = 0;
    for (const [i, r] of results.entries()) {
      const c = dirs[i];
      assert.ok(r.code === 0 || r.code === 1, `${c.name}: exit ${r.code}: ${r.stderr}`);
      assert.doesNotMatch(r.stderr, /Uncaught|\bat .*\.ts:\d+/, `${c.name}: crashed: ${r.stderr}`);
      const out = JSON.parse(r.stdout) as {
        ok: boolean;
        errors: { file: string; line: number; col: number; message: string }[];
      };
      assert.equal(out.ok, r.code === 0, c.name);
      if (r.code === 0) {
        assert.ok(!c.mustFail, `${c.name}: hashwall check accepted it`);
        continue;
      }
      assert.ok(out.errors.length > 0, c.name);
      for (const e of out.errors) {
        assert.ok(e.file.startsWith(c.dir), `${c.name}: ${JSON.stringify(e)}`);
        assert.ok(e.line >= 1 && e.col >= 1 && e.message !== "", `${c.name}: ${JSON.stringify(e)}`);
      }
      // The process reports exactly what the loader says in process.
      const inProc = await loadPolicy(c.dir);
      assert.ok(!inProc.ok);
      assert.deepEqual(
        out.errors.map((e) => `${e.file}:${e.line}:${e.col}: ${e.message}`),
        inProc.errors.map((e) => e.toString()),
        c.name,
      );
      located++;
    }
    console.log(
      `hashwall check: ${dirs.length} runs in ${
        s.toFixed(1)
      } s (4 at a time), ${located} located failures`,
    );
    assert.ok(dirs.length >= CHECK_RUNS * 0.9, `only ${dirs.length} runs`);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

const RELOAD_CLI = 120;
const RELOAD_SOCKET = 180;

async function verdict(d: TestDaemon, client: string, port: number): Promise<string> {
  return (await d.cg.run([client, "tcp4", "127.0.0.1", `${port}`])).stdout.trim();
}

Deno.test(`config hostility: ${RELOAD_CLI + RELOAD_SOCKET} reloads of a running daemon with broken files keep its policy`, async () => {
  const dir = await Deno.makeTempDir({ prefix: "hw-stress-reload-" });
  const listener = loopbackListener();
  try {
    const good = await netclientCopy(`${dir}/good`);
    const bad = await netclientCopy(`${dir}/bad`);
    await using d = await startTestDaemon({
      mode: "enforcing",
      apps: [{ name: "good", path: good, sha256: await sha256Of(good) }],
    });
    const pid = d.process.pid;
    const rulesPath = `${d.configDir}/rules.toml`;
    const appsPath = `${d.configDir}/apps.toml`;
    const rulesText = await Deno.readTextFile(rulesPath);
    const appsText = await Deno.readTextFile(appsPath);
    const before = await cliJson<StatusInfo>(d, ["status"]);
    assert.equal(await verdict(d, good, listener.port), "ok");
    assert.equal(await verdict(d, bad, listener.port), "EPERM");

    // Broken variants of the daemon's own files: generated texts and hostile file kinds.
    const gen = generatedCases(400).filter((c) =>
      c.mustFail && c.rules.length + c.apps.length < 900_000
    );
    const breakers: { name: string; apply(): Promise<void> }[] = [];
    const replace = async (path: string, f: () => Promise<void>) => {
      await Deno.remove(path).catch(() => {});
      await f();
    };
    // Hostile file kinds first, so every one of them is tried; then the generated texts.
    breakers.push(
      {
        name: "rules.toml is a FIFO",
        apply: () => replace(rulesPath, () => sh("mkfifo", [rulesPath]).then(() => {})),
      },
      {
        name: "rules.toml → /dev/zero",
        apply: () => replace(rulesPath, () => Deno.symlink("/dev/zero", rulesPath)),
      },
      {
        name: "rules.toml dangling",
        apply: () => replace(rulesPath, () => Deno.symlink(`${dir}/none`, rulesPath)),
      },
      { name: "rules.toml owned by nobody", apply: () => Deno.chown(rulesPath, 65534, 65534) },
      { name: "apps.toml mode 0666", apply: () => Deno.chmod(appsPath, 0o666) },
      { name: "apps.toml sparse 1 GiB", apply: () => Deno.truncate(appsPath, 1024 ** 3) },
      {
        name: "rules.toml invalid UTF-8",
        apply: () => Deno.writeFile(rulesPath, new Uint8Array([0x5b, 0xff, 0x5d, 0x0a])),
      },
    );
    for (const c of gen) {
      // A case that breaks apps.toml replaces the daemon's apps.toml; one that breaks rules.toml
      // replaces rules.toml, with mode = learning so an accidental load would show.
      breakers.push(
        c.apps === GOOD_APPS
          ? {
            name: `rules: ${c.name}`,
            apply: () =>
              Deno.writeTextFile(
                rulesPath,
                c.rules.replace('mode = "enforcing"', 'mode = "learning"'),
                { mode: 0o600 },
              ),
          }
          : {
            name: `apps: ${c.name}`,
            apply: () => Deno.writeTextFile(appsPath, c.apps, { mode: 0o600 }),
          },
      );
    }
    const restore = async () => {
      for (const p of [rulesPath, appsPath]) await Deno.remove(p).catch(() => {});
      await Deno.writeTextFile(rulesPath, rulesText, { mode: 0o600 });
      await Deno.writeTextFile(appsPath, appsText, { mode: 0o600 });
    };

    let cli = 0, socket = 0;
    const t0 = performance.now();
    for (let i = 0; cli + socket < RELOAD_CLI + RELOAD_SOCKET; i++) {
      const b = breakers[i % breakers.length];
      await restore();
      await b.apply();
      let errors: string[];
      if (cli < RELOAD_CLI && (socket >= RELOAD_SOCKET || i % 5 < 2)) {
        const r = await d.cli(["reload"]);
        assert.equal(
          r.code,
          1,
          `${b.name}: hashwall reload exit ${r.code}: ${r.stdout}${r.stderr}`,
        );
        assert.doesNotMatch(r.stderr, /Uncaught/, b.name);
        errors = r.stderr.split("\n").filter((l) => /^\S+:\d+:\d+: /.test(l));
        cli++;
      } else {
        const res = await callDaemon(d.stateDir, "reload", {}, { timeoutMs: 10_000 }) as {
          ok: boolean;
          errors: string[];
        };
        assert.equal(res.ok, false, `${b.name}: reload accepted it`);
        errors = res.errors;
        socket++;
      }
      assert.ok(errors.length > 0, `${b.name}: no located error`);
      for (const e of errors) {
        assert.match(e, /^\/\S+:\d+:\d+: \S/, `${b.name}: not FILE:LINE:COL: ${e}`);
        assert.ok(e.startsWith(d.configDir), `${b.name}: ${e}`);
      }
      if (i % 50 === 0) {
        assert.equal(await verdict(d, bad, listener.port), "EPERM", `after ${b.name}`);
      }
    }
    const s = (performance.now() - t0) / 1000;
    // SIGHUP with a broken file too: logged, located, and nothing changes.
    await restore();
    await Deno.writeTextFile(rulesPath, "[defaults]\nmode = 7\n", { mode: 0o600 });
    const from = d.logs().length;
    d.signal("SIGHUP");
    await d.waitForLog(/rules\.toml:2:8:/, 10_000, from);

    // Same process, same policy: real verdicts and status.
    const after = await cliJson<StatusInfo>(d, ["status"]);
    assert.equal(after.pid, pid, "the daemon never restarted");
    assert.equal(after.mode, "enforcing");
    assert.deepEqual(after.apps, before.apps);
    assert.equal(await verdict(d, good, listener.port), "ok");
    assert.equal(await verdict(d, bad, listener.port), "EPERM");
    console.log(
      `reload: ${cli} \`hashwall reload\` + ${socket} control-socket reloads + 1 SIGHUP in ${
        s.toFixed(1)
      } s, all refused with located errors; policy unchanged`,
    );
    // And a good file still reloads afterwards, also one naming an app whose file is not there
    // (yet): that app is "missing", the reload succeeds and nothing else changes.
    await restore();
    assert.equal((await d.cli(["reload"])).code, 0);
    await Deno.writeTextFile(
      appsPath,
      `${appsText}\n[[app]]\nname = "absent"\npath = "${dir}/absent/bin"\nsha256 = "${SHA}"\n`,
      { mode: 0o600 },
    );
    const withAbsent = await d.cli(["reload"]);
    assert.equal(withAbsent.code, 0, `reload with a missing app file: ${withAbsent.stderr}`);
    const listed = await cliJson<{ name: string; status: string }[]>(d, ["apps", "list"]);
    assert.deepEqual(
      listed.map((a) => [a.name, a.status]).sort(),
      [["absent", "missing"], ["good", "valid"]],
    );
    assert.equal(await verdict(d, good, listener.port), "ok");
    assert.equal(await verdict(d, bad, listener.port), "EPERM");
    await until("still answering", async () => (await d.cli(["status"])).code === 0);
  } finally {
    listener.close();
    await Deno.remove(dir, { recursive: true });
  }
});
