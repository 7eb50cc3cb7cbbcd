/**
 * The generated table of malformed config inputs (≥ 300 cases): used by the unit test of the
 * config loader and by the stress suite, kept here so importing it does not re-run tests.
 *
 * @module
 */

/** The rules file name the cases use. */
export const RULES = "rules.toml";
/** The apps file name the cases use. */
export const APPS = "apps.toml";
const SHA = "f".repeat(64);

/** A base config where every key sits on its own line under its table header. */
const BASE_RULES = [
  "[defaults]",
  'mode = "learning"',
  "allow_loopback = true",
  'inbound = "deny"',
  'outbound = "allow"',
  'untracked = "allow"',
  'interfaces = ["eth0"]',
  "exec_gate = false",
  "[ui]",
  'listen = "127.0.0.1:7447"',
  "[[rule]]",
  'id = "web"',
  'action = "allow"',
  'direction = "out"',
  'protocol = "tcp"',
  'remote = ["192.0.2.0/24"]',
  "ports = [443]",
  'app = "firefox"',
  'comment = "c"',
  "[[integrity.watch]]",
  'path = "/etc/ssh"',
  "recursive = true",
];
const BASE_APPS = [
  "[[app]]",
  'name = "firefox"',
  'path = "/usr/bin/firefox"',
  `sha256 = "${SHA}"`,
  "inherit = false",
  "interpreter = false",
  'duration = "forever"',
];

type Kind = "string" | "bool" | "array";
/** [file, table header, key, expected TOML kind]. */
const KEYS: [string, string, string, Kind][] = [
  [RULES, "[defaults]", "mode", "string"],
  [RULES, "[defaults]", "allow_loopback", "bool"],
  [RULES, "[defaults]", "inbound", "string"],
  [RULES, "[defaults]", "outbound", "string"],
  [RULES, "[defaults]", "untracked", "string"],
  [RULES, "[defaults]", "interfaces", "array"],
  [RULES, "[defaults]", "exec_gate", "bool"],
  [RULES, "[ui]", "listen", "string"],
  [RULES, "[[rule]]", "id", "string"],
  [RULES, "[[rule]]", "action", "string"],
  [RULES, "[[rule]]", "direction", "string"],
  [RULES, "[[rule]]", "protocol", "string"],
  [RULES, "[[rule]]", "remote", "array"],
  [RULES, "[[rule]]", "ports", "array"],
  [RULES, "[[rule]]", "app", "string"],
  [RULES, "[[rule]]", "comment", "string"],
  [RULES, "[[integrity.watch]]", "path", "string"],
  [RULES, "[[integrity.watch]]", "recursive", "bool"],
  [APPS, "[[app]]", "name", "string"],
  [APPS, "[[app]]", "path", "string"],
  [APPS, "[[app]]", "sha256", "string"],
  [APPS, "[[app]]", "inherit", "bool"],
  [APPS, "[[app]]", "interpreter", "bool"],
  [APPS, "[[app]]", "duration", "string"],
];
const WRONG: [string, Kind | "other"][] = [
  ["7", "other"],
  ["-1.5", "other"],
  ["true", "bool"],
  ['"zz"', "string"],
  ['["x"]', "array"],
  ["{ a = 1 }", "other"],
  ["1979-05-27T07:32:00Z", "other"],
  ["[]", "array"],
];

/** One malformed case: texts for validateTexts, or a folder builder for loadPolicy. */
/** One malformed input. */
export interface Case {
  name: string;
  rules?: string;
  apps?: string[];
  folder?: (dir: string) => Promise<void>;
  /** Where one error must point, when the fault has a known place. */
  at?: { file: string; line: number; col: number };
}

/** Replaces (or with `value === null` removes) `key` under `header` in `lines`. */
function setKey(lines: string[], header: string, key: string, value: string | null) {
  const out = [...lines];
  const h = out.indexOf(header);
  const i = out.findIndex((l, j) => j > h && l.startsWith(`${key} = `));
  if (value === null) out.splice(i, 1);
  else out[i] = `${key} = ${value}`;
  return { text: out.join("\n") + "\n", line: i + 1, col: key.length + 4 };
}

export function cases(): Case[] {
  const list: Case[] = [];
  const rulesText = BASE_RULES.join("\n") + "\n";
  const appsText = BASE_APPS.join("\n") + "\n";
  const withValue = (file: string, header: string, key: string, value: string, name: string) => {
    const r = setKey(file === RULES ? BASE_RULES : BASE_APPS, header, key, value);
    list.push({
      name,
      rules: file === RULES ? r.text : rulesText,
      apps: [file === APPS ? r.text : appsText],
      at: { file, line: r.line, col: r.col },
    });
  };

  // Wrong types for every key.
  for (const [file, header, key, kind] of KEYS) {
    for (const [value, valueKind] of WRONG) {
      if (valueKind === kind) continue;
      withValue(file, header, key, value, `${header} ${key} = ${value}`);
    }
  }
  // Wrong element types in array keys.
  for (const [key, value] of [["interfaces", "[1]"], ["remote", "[true]"], ["ports", "[[1]]"]]) {
    const header = key === "interfaces" ? "[defaults]" : "[[rule]]";
    const r = setKey(BASE_RULES, header, key, value);
    list.push({
      name: `${key} element ${value}`,
      rules: r.text,
      apps: [appsText],
      at: { file: RULES, line: r.line, col: r.col + 1 },
    });
  }
  // Missing required keys.
  for (const [file, header, key] of KEYS) {
    if (
      !["id", "action", "direction", "name", "sha256"].includes(key) &&
      header !== "[[integrity.watch]]"
    ) continue;
    if (key === "recursive") continue;
    const r = setKey(file === RULES ? BASE_RULES : BASE_APPS, header, key, null);
    const lines = file === RULES ? BASE_RULES : BASE_APPS;
    list.push({
      name: `missing ${header} ${key}`,
      rules: file === RULES ? r.text : rulesText,
      apps: [file === APPS ? r.text : appsText],
      at: { file, line: lines.indexOf(header) + 1, col: 1 },
    });
  }
  // Bad enum words.
  for (const [key, value] of [["mode", "enforce"], ["inbound", "reject"], ["outbound", "Allow"]]) {
    withValue(RULES, "[defaults]", key, `"${value}"`, `defaults.${key} = ${value}`);
  }
  for (const [key, value] of [["action", "drop"], ["direction", "both"], ["protocol", "sctp"]]) {
    withValue(RULES, "[[rule]]", key, `"${value}"`, `rule.${key} = ${value}`);
  }
  withValue(APPS, "[[app]]", "duration", '"always"', "duration always");
  // Bad CIDRs.
  const cidrs = [
    "192.0.2.1/24",
    "10.0.0.1/8",
    "2001:db8::1/32",
    "192.0.2.0/33",
    "::/129",
    "192.0.2.256",
    "192.0.2",
    "1.2.3.4.5",
    "01.2.3.4",
    "192.0.2.0/",
    "192.0.2.0/08",
    "192.0.2.0/x",
    "1::2::3",
    "1:2:3:4:5:6:7",
    "12345::",
    "fe80::1%eth0",
    "::ffff:1.2.3",
    "example.com",
    "",
    " 192.0.2.0/24",
    "192.0.2.0/24 ",
    "0.0.0.0/-1",
  ];
  for (const c of cidrs) {
    const r = setKey(BASE_RULES, "[[rule]]", "remote", `["192.0.2.0/24", ${JSON.stringify(c)}]`);
    list.push({
      name: `cidr ${JSON.stringify(c)}`,
      rules: r.text,
      apps: [appsText],
      at: { file: RULES, line: r.line, col: r.col + 17 },
    });
  }
  // Bad ports.
  const ports = [
    "0",
    "65536",
    "-1",
    "1.5",
    '"0-5"',
    '"5-1"',
    '"70000"',
    '"a"',
    '"1-"',
    '"-1"',
    '"1-2-3"',
    '" 1"',
    '"65535-65536"',
    "99999999",
  ];
  for (const p of ports) {
    const r = setKey(BASE_RULES, "[[rule]]", "ports", `[22, ${p}]`);
    list.push({
      name: `port ${p}`,
      rules: r.text,
      apps: [appsText],
      at: { file: RULES, line: r.line, col: r.col + 5 },
    });
  }
  // Ports with a protocol that has none.
  for (const proto of ["icmp", "icmpv6", "any"]) {
    const r = setKey(BASE_RULES, "[[rule]]", "protocol", `"${proto}"`);
    list.push({ name: `ports with ${proto}`, rules: r.text, apps: [appsText] });
  }
  // Bad listen addresses.
  for (
    const l of [
      "0.0.0.0:7447",
      "[::]:1",
      "127.0.0.1",
      "10.0.0.1:80",
      "localhost:0",
      ":7447",
      "off ",
    ]
  ) {
    withValue(RULES, "[ui]", "listen", JSON.stringify(l), `listen ${l}`);
  }
  // Bad app fields.
  for (const s of ["abc", "g".repeat(64), "a".repeat(63), "a".repeat(65), ""]) {
    withValue(APPS, "[[app]]", "sha256", JSON.stringify(s), `sha256 ${s.slice(0, 8)}`);
  }
  for (
    const p of [
      "usr/bin/x",
      "/usr/bin/",
      "/usr//bin",
      "/usr/./bin",
      "/usr/../bin",
      "",
      "/a\\u0000b",
    ]
  ) {
    withValue(APPS, "[[app]]", "path", `"${p}"`, `app path ${p}`);
    withValue(RULES, "[[integrity.watch]]", "path", `"${p}"`, `watch path ${p}`);
  }
  for (const n of ["", "-x", "a b", "x/y", "é", "a".repeat(65)]) {
    withValue(APPS, "[[app]]", "name", JSON.stringify(n), `app name ${n.slice(0, 8)}`);
  }
  for (const id of ["", "-x", "a b", "a".repeat(65)]) {
    withValue(RULES, "[[rule]]", "id", JSON.stringify(id), `rule id ${id.slice(0, 8)}`);
  }
  // App references: inbound, unknown.
  withValue(RULES, "[[rule]]", "direction", '"in"', "app on inbound rule");
  // The fault is reported on the app key, not on the direction.
  list[list.length - 1].at = {
    file: RULES,
    line: BASE_RULES.indexOf('app = "firefox"') + 1,
    col: 7,
  };
  withValue(RULES, "[[rule]]", "app", '"firefx"', "unknown app with hint");
  // Duplicate rule ids and app names.
  for (let n = 2; n <= 6; n++) {
    const block = BASE_RULES.slice(10, 19).join("\n");
    list.push({
      name: `${n} rules with one id`,
      rules: [BASE_RULES.slice(0, 10).join("\n"), ...Array(n).fill(block)].join("\n") + "\n",
      apps: [appsText],
      at: { file: RULES, line: 12 + 9, col: 6 },
    });
    list.push({
      name: `app name in ${n} files`,
      rules: rulesText,
      apps: Array(n).fill(appsText),
    });
  }
  // Unknown keys: three typos of every key, each pointing at the key.
  for (const [file, header, key] of KEYS) {
    const typos = [key.slice(1), key.slice(0, -1) + "x" + key.slice(-1), key + key.slice(-1)];
    for (const typo of typos) {
      const lines = file === RULES ? BASE_RULES : BASE_APPS;
      const out = [...lines];
      const h = out.indexOf(header);
      out.splice(h + 1, 0, `${typo} = 1`);
      list.push({
        name: `typo ${typo}`,
        rules: file === RULES ? out.join("\n") : rulesText,
        apps: [file === APPS ? out.join("\n") : appsText],
        at: { file, line: h + 2, col: 1 },
      });
    }
  }
  for (
    const t of ["[rules]", "[default]", "[integrity.watchh]", "[[apps]]", "[x.y.z]", "zzz = 1"]
  ) {
    list.push({ name: `unknown table ${t}`, rules: rulesText + t + "\n", apps: [appsText] });
  }
  // Syntax errors.
  const syntax = [
    "[defaults",
    "[[rule]",
    "mode = ",
    '= "x"',
    "a = 1\na = 2",
    "[ui]\n[ui]",
    'x = "\\q"',
    "x = [1, 2",
    "x = { a = 1",
    "x = 1 2",
    "x = '''",
    'x = """',
    "x = 0x",
    "x = 1__0",
    "x = tru",
    "\tkey with space = 1",
    "x = 1979-13-45",
    "[[defaults]]",
  ];
  for (const s of syntax) {
    list.push({ name: `syntax ${JSON.stringify(s)}`, rules: s + "\n", apps: [] });
  }
  // NUL bytes at several places of a valid file.
  for (const off of [0, 5, 20, 60, 100, 150, rulesText.length - 1]) {
    const t = rulesText.slice(0, off) + "\0" + rulesText.slice(off);
    const before = t.slice(0, off).split("\n");
    list.push({
      name: `NUL at ${off}`,
      rules: t,
      apps: [appsText],
      at: { file: RULES, line: before.length, col: before[before.length - 1].length + 1 },
    });
  }
  // Deep nesting, far past the limit and just past it.
  for (const depth of [33, 100, 5000, 50000]) {
    list.push({
      name: `array depth ${depth}`,
      rules: `x = ${"[".repeat(depth)}${"]".repeat(depth)}\n`,
    });
    list.push({
      name: `table depth ${depth}`,
      rules: `x = ${"{a=".repeat(depth)}1${"}".repeat(depth)}\n`,
    });
    list.push({ name: `unterminated depth ${depth}`, rules: `x = ${"[".repeat(depth)}\n` });
  }
  list.push({ name: "dotted depth 5000", rules: `${Array(5000).fill("a").join(".")} = 1\n` });
  list.push({ name: "header depth 5000", rules: `[${Array(5000).fill("a").join(".")}]\n` });
  // Files given to the loader: owners, modes, symlinks, encodings, size.
  const targets = ["", "rules.toml", "apps.toml", "apps.d", "apps.d/x.toml"];
  for (const t of targets) {
    for (const change of ["owner", "group-w", "other-w"]) {
      list.push({
        name: `${change} on ${t || "folder"}`,
        folder: async (dir) => {
          await writeBase(dir);
          const p = t ? `${dir}/${t}` : dir;
          if (change === "owner") await Deno.chown(p, 65534, 65534);
          else {await Deno.chmod(
              p,
              ((await Deno.stat(p)).mode! & 0o777) | (change === "group-w" ? 0o020 : 0o002),
            );}
        },
      });
    }
  }
  list.push({
    name: "dangling symlink",
    folder: async (dir) => {
      await writeBase(dir);
      await Deno.remove(`${dir}/apps.toml`);
      await Deno.symlink(`${dir}/nowhere`, `${dir}/apps.toml`);
    },
  });
  list.push({
    name: "symlink to insecure file",
    folder: async (dir) => {
      await writeBase(dir);
      await Deno.writeTextFile(`${dir}/other`, "");
      await Deno.chmod(`${dir}/other`, 0o666);
      await Deno.symlink(`${dir}/other`, `${dir}/apps.d/y.toml`);
    },
  });
  list.push({
    name: "symlink to a foreign-owned file",
    folder: async (dir) => {
      await writeBase(dir);
      await Deno.remove(`${dir}/rules.toml`);
      await Deno.writeTextFile(`${dir}/other`, "");
      await Deno.chown(`${dir}/other`, 65534, 65534);
      await Deno.symlink(`${dir}/other`, `${dir}/rules.toml`);
    },
  });
  list.push({
    name: "symlink loop",
    folder: async (dir) => {
      await writeBase(dir);
      await Deno.symlink(`${dir}/apps.d/loop.toml`, `${dir}/apps.d/loop.toml`);
    },
  });
  list.push({
    name: "rules.toml is a folder",
    folder: async (dir) => {
      await Deno.mkdir(`${dir}/rules.toml`);
    },
  });
  list.push({ name: "no rules.toml", folder: async () => {} });
  list.push({
    name: "file over 1 MiB",
    folder: async (dir) => {
      await writeBase(dir);
      await Deno.writeTextFile(`${dir}/apps.toml`, "#".repeat(1024 * 1024 + 1));
    },
  });
  const badUtf8: [string, number[]][] = [
    ["0xff", [0xff]],
    ["overlong", [0xc0, 0x80]],
    ["surrogate", [0xed, 0xa0, 0x80]],
    ["truncated", [0xe2, 0x82]],
    ["past U+10FFFF", [0xf5, 0x80, 0x80, 0x80]],
    ["lone continuation", [0x80]],
  ];
  for (const [what, bytes] of badUtf8) {
    for (const off of [0, 30, rulesText.length]) {
      list.push({
        name: `invalid UTF-8 ${what} at ${off}`,
        folder: async (dir) => {
          await writeBase(dir);
          const enc = new TextEncoder();
          const data = new Uint8Array([
            ...enc.encode(rulesText.slice(0, off)),
            ...bytes,
            ...enc.encode(rulesText.slice(off)),
          ]);
          await Deno.writeFile(`${dir}/rules.toml`, data);
        },
      });
    }
  }
  return list;
}

/** Writes a valid base config folder (cases then break one thing). */
async function writeBase(dir: string): Promise<void> {
  await Deno.writeTextFile(`${dir}/rules.toml`, BASE_RULES.join("\n") + "\n");
  await Deno.writeTextFile(`${dir}/apps.toml`, BASE_APPS.join("\n") + "\n");
  await Deno.mkdir(`${dir}/apps.d`, { mode: 0o755 });
  await Deno.writeTextFile(`${dir}/apps.d/x.toml`, "");
  for (const f of ["rules.toml", "apps.toml", "apps.d/x.toml"]) {
    await Deno.chmod(`${dir}/${f}`, 0o644);
  }
}
