import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { aliasesOf, DpkgDb, parseStatus } from "../../src/packages/dpkg_db.ts";
import { AptIndex, findAll, findStanzas, releaseSha256 } from "../../src/packages/apt_index.ts";
import { cachedDebName, hashTarMembers, memberPath } from "../../src/packages/deb_archive.ts";
import { PackageUpdates, PENDING_MAX_MS } from "../../src/packages/updates.ts";
import type { ShipsVerdict } from "../../src/packages/trust.ts";
import { validateTexts } from "../../src/config/validate.ts";
import { aptHookOptions, aptHookText } from "../../src/packages/apt_hook.ts";

const sha = (s: string | Uint8Array) => createHash("sha256").update(s).digest("hex");

Deno.test("dpkg status: installed stanzas parsed, not-installed and config-files skipped", () => {
  const text = [
    "Package: a\nStatus: install ok installed\nArchitecture: amd64\nMulti-Arch: same\nVersion: 1:2.0-1\n" +
    "Description: x\n more: text\n",
    "Package: b\nStatus: deinstall ok config-files\nArchitecture: all\nVersion: 1\n",
    "Package: c\nStatus: install ok half-installed\nArchitecture: all\nVersion: 3\n",
  ].join("\n");
  assert.deepEqual(parseStatus(text), [
    { name: "a", arch: "amd64", version: "1:2.0-1", state: "installed", multiArchSame: true },
    { name: "c", arch: "all", version: "3", state: "half-installed", multiArchSame: false },
  ]);
  assert.deepEqual(aliasesOf("/usr/bin/curl"), ["/usr/bin/curl", "/bin/curl"]);
  assert.deepEqual(aliasesOf("/sbin/ip"), ["/sbin/ip", "/usr/sbin/ip"]);
  assert.deepEqual(aliasesOf("/opt/x"), ["/opt/x"]);
});

Deno.test("dpkg database of this host: dpkg owns /usr/bin/dpkg, md5 matches the file", async () => {
  const db = new DpkgDb();
  assert.ok(db.present());
  const p = db.owner("/usr/bin/dpkg");
  assert.equal(p?.name, "dpkg");
  assert.ok(db.lists(p!, "/usr/bin/dpkg"));
  const md5 = createHash("md5").update(await Deno.readFile("/usr/bin/dpkg")).digest("hex");
  assert.equal(db.md5Of(p!, "/usr/bin/dpkg"), md5);
  assert.equal(db.owner("/nonexistent/hw-nothing"), undefined);
});

Deno.test("dpkg database in a folder: owner index follows a new .list", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hw-dpkgdb-" });
  try {
    await Deno.mkdir(`${dir}/info`);
    await Deno.writeTextFile(
      `${dir}/status`,
      "Package: p\nStatus: install ok installed\nArchitecture: all\nVersion: 1.0\n",
    );
    await Deno.writeTextFile(`${dir}/info/p.list`, "/.\n/usr\n/usr/bin\n/usr/bin/p\n");
    await Deno.writeTextFile(`${dir}/info/p.md5sums`, `${"a".repeat(32)}  usr/bin/p\n`);
    const db = new DpkgDb(dir);
    assert.equal(db.owner("/usr/bin/p")?.version, "1.0");
    assert.equal(db.owner("/bin/p")?.name, "p", "merged-/usr alias");
    assert.equal(db.md5Of(db.package("p")!, "/usr/bin/p"), "a".repeat(32));
    assert.equal(db.owner("/usr/bin/q"), undefined);
    await Deno.writeTextFile(
      `${dir}/status`,
      "Package: p\nStatus: install ok installed\nArchitecture: all\nVersion: 1.1\n\n" +
        "Package: q\nStatus: install ok installed\nArchitecture: all\nVersion: 2\n",
    );
    await Deno.writeTextFile(`${dir}/info/q.list`, "/usr/bin/q\n");
    // The info folder's mtime moves on a new file: the index is rebuilt.
    const later = new Date(Date.now() + 5000);
    await Deno.utime(`${dir}/info`, later, later);
    assert.equal(db.owner("/usr/bin/q")?.name, "q");
    assert.equal(db.package("p")?.version, "1.1");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("dpkg database: the journal (updates/NNNN) is read over status, in dpkg's order", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hw-dpkgdb-" });
  try {
    await Deno.mkdir(`${dir}/info`);
    await Deno.mkdir(`${dir}/updates`);
    const st = (p: string, state: string, v: string) =>
      `Package: ${p}\nStatus: install ok ${state}\nArchitecture: all\nVersion: ${v}\n`;
    await Deno.writeTextFile(
      `${dir}/status`,
      `${st("p", "installed", "1.0")}\n${st("q", "installed", "1")}`,
    );
    const db = new DpkgDb(dir);
    const s0 = db.statusStamp();
    assert.equal(db.package("p")?.version, "1.0");
    // dpkg mid-unpack of p: half-installed (still the old Version), then unpacked with the new.
    await Deno.writeTextFile(`${dir}/updates/0000`, st("p", "half-installed", "1.0"));
    assert.notEqual(db.statusStamp(), s0, "a journal entry changes the stamp");
    assert.equal(db.package("p")?.state, "half-installed");
    await Deno.writeTextFile(`${dir}/updates/tmp.i`, st("p", "installed", "6.6"));
    await Deno.writeTextFile(`${dir}/updates/0010`, st("q", "not-installed", ""));
    await Deno.writeTextFile(`${dir}/updates/0002`, st("p", "unpacked", "1.1"));
    assert.deepEqual(db.package("p"), {
      name: "p",
      arch: "all",
      version: "1.1",
      state: "unpacked",
      multiArchSame: false,
    }, "0002 applies after 0000; tmp.i (being written) is not read");
    assert.equal(db.package("q"), undefined, "removed in the journal");
    // Folded into status: the journal emptied.
    await Deno.writeTextFile(`${dir}/status`, st("p", "installed", "1.1"));
    for (const n of ["0000", "0002", "0010", "tmp.i"]) await Deno.remove(`${dir}/updates/${n}`);
    assert.equal(db.package("p")?.state, "installed");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("apt: InRelease SHA256 entries, Packages stanzas found by name", () => {
  const rel = "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\nDate: x\nMD5Sum:\n" +
    ` ${"1".repeat(32)} 10 Packages\nSHA256:\n ${"2".repeat(64)}  900 Packages\n` +
    ` ${"3".repeat(64)}  100 main/binary-amd64/Packages\n-----BEGIN PGP SIGNATURE-----\n x\n`;
  assert.deepEqual(
    [...releaseSha256(rel)],
    [["Packages", "2".repeat(64)], ["main/binary-amd64/Packages", "3".repeat(64)]],
  );
  const pk = `Package: foo-dev\nVersion: 1\nSHA256: ${"4".repeat(64)}\nFilename: a.deb\n\n` +
    `Package: foo\nVersion: 1.0\nArchitecture: all\nFilename: ./foo_1.0_all.deb\n` +
    `SHA256: ${"5".repeat(64)}\n\nPackage: foo\nVersion: 1.1\nArchitecture: all\n` +
    `Filename: ./foo_1.1_all.deb\nSHA256: ${"6".repeat(64)}\n`;
  const found = findStanzas(pk, "foo", "idx");
  assert.deepEqual(found.map((f) => [f.version, f.sha256]), [["1.0", "5".repeat(64)], [
    "1.1",
    "6".repeat(64),
  ]]);
  assert.equal(findStanzas(pk, "fo").length, 0);
  // One pass for many names gives the same stanzas; names absent or not asked are not in it.
  const all = findAll(pk, new Set(["foo", "foo-dev", "bar"]), "idx");
  assert.deepEqual(all.get("foo"), found);
  assert.deepEqual(all.get("foo-dev")?.map((f) => f.sha256), ["4".repeat(64)]);
  assert.equal(all.has("bar"), false);
  assert.equal(findAll(pk, new Set(["fo"])).size, 0);
  assert.equal(cachedDebName("a", "1:2.0", "amd64"), "a_1%3a2.0_amd64.deb");
});

Deno.test("apt: a Packages file whose hash is not its InRelease's is not a verified index", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hw-aptlists-" });
  try {
    const pk = `Package: foo\nVersion: 1.0\nArchitecture: all\nFilename: ./f.deb\n` +
      `SHA256: ${"5".repeat(64)}\n`;
    const rel = (h: string) => `Date: x\nSHA256:\n ${h} ${pk.length} Packages\n`;
    await Deno.writeTextFile(`${dir}/_r_._Packages`, pk);
    await Deno.writeTextFile(`${dir}/_r_._InRelease`, rel(sha(pk)));
    await Deno.writeTextFile(`${dir}/_s_._Packages`, pk.replace("1.0", "6.6"));
    await Deno.writeTextFile(`${dir}/_s_._InRelease`, rel(sha(pk)));
    await Deno.writeTextFile(`${dir}/_t_._Packages`, pk.replace("1.0", "7.7")); // no InRelease
    const idx = new AptIndex(dir);
    const got = (await idx.lookupMany(["foo"])).get("foo")!;
    assert.deepEqual(got.map((d) => d.version), ["1.0"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("tar members hashed from a real tar (GNU long names included)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hw-tar-" });
  try {
    const long = "d".repeat(120);
    await Deno.mkdir(`${dir}/src/usr/bin/${long}`, { recursive: true });
    await Deno.writeTextFile(`${dir}/src/usr/bin/tool`, "tool v1\n");
    await Deno.writeTextFile(`${dir}/src/usr/bin/${long}/x`, "long\n");
    const out = await new Deno.Command("tar", {
      args: ["--format=gnu", "-C", `${dir}/src`, "-cf", "-", "."],
      stdout: "piped",
    }).output();
    const sums = hashTarMembers(
      out.stdout,
      new Set(["/usr/bin/tool", `/usr/bin/${long}/x`, "/usr/bin/none"]),
    );
    assert.equal(sums.get("/usr/bin/tool"), sha("tool v1\n"));
    assert.equal(sums.get(`/usr/bin/${long}/x`), sha("long\n"));
    assert.equal(sums.has("/usr/bin/none"), false);
    assert.equal(memberPath("./usr/bin/"), "/usr/bin");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

const refused = (reason: "differs" | "unsigned" | "not-settled"): ShipsVerdict => ({
  ok: false,
  reason,
  package: "p",
  detail: reason,
});
const approved: ShipsVerdict = {
  ok: true,
  package: "p",
  arch: "all",
  version: "1.1",
  level: "md5sums",
  sha256: "0".repeat(64),
};

Deno.test("update state: decided while dpkg runs; retried only when the app's dpkg state changed", () => {
  const u = new PackageUpdates();
  const keys: Record<string, string> = { a: "busy:1.0:half-installed", b: "busy:2.0:installed" };
  u.begin(1000);
  u.wait("a", 1000);
  u.wait("b", 1000);
  assert.ok(u.running(1001));
  assert.deepEqual(u.due((n) => keys[n], 1002).tryNow, ["a", "b"], "tried while dpkg runs");
  assert.equal(u.verdict("a", refused("not-settled"), keys.a, { final: false }), "retry");
  assert.equal(u.verdict("b", refused("differs"), keys.b, { final: false }), "retry");
  assert.equal(u.refusal("b")?.reason, "differs");
  assert.deepEqual(u.due((n) => keys[n], 1003).tryNow, [], "same state: not tried again");
  keys.a = "busy:1.1:unpacked"; // a's package unpacked; b's did not move
  assert.deepEqual(u.due((n) => keys[n], 1004).tryNow, ["a"]);
  assert.equal(u.verdict("a", approved, keys.a, { final: false }), "approve");
  assert.equal(u.waiting("a"), false);
  assert.equal(u.refusal("a"), undefined);
  assert.deepEqual(u.end(), ["b"]);
  assert.equal(u.running(1005), false);
  keys.b = "idle:s1";
  assert.deepEqual(u.due((n) => keys[n], 1005).tryNow, ["b"], "dpkg ended: one more look");
});

Deno.test("update state: the hook's end makes a refusal final; waiting expires", () => {
  const u = new PackageUpdates();
  u.wait("b", 0);
  assert.equal(u.verdict("b", refused("unsigned"), "s", { final: true }), "final");
  assert.equal(u.waiting("b"), false);
  assert.equal(u.refusal("b")?.reason, "unsigned", "kept for the Learning page");
  u.done("b");
  assert.equal(u.refusal("b"), undefined);
  u.wait("c", 0);
  const r = u.due(() => "s", PENDING_MAX_MS + 1);
  assert.deepEqual(r.expired, ["c"]);
  assert.deepEqual(u.pending(), []);
  // A hook that never ended does not hold decisions back forever.
  u.begin(0);
  assert.equal(u.running(2 * 60 * 60_000), false);
});

Deno.test("config: trust, package, package_version and [defaults] package_trust", () => {
  const sha256 = "a".repeat(64);
  const ok = validateTexts({
    rulesFile: "rules.toml",
    rulesText: "[defaults]\npackage_trust = false\n",
    appsTexts: [{
      file: "apps.toml",
      text: `[[app]]\nname = "c"\npath = "/usr/bin/c"\nsha256 = "${sha256}"\n` +
        `trust = "package"\npackage = "libc6:amd64"\npackage_version = "1:2.36-9+deb12u4"\n`,
    }],
  });
  assert.ok(ok.ok);
  assert.equal(ok.policy.defaults.packageTrust, false);
  assert.equal(ok.policy.apps[0].trust, "package");
  assert.equal(ok.policy.apps[0].package, "libc6:amd64");
  assert.equal(ok.policy.apps[0].packageVersion, "1:2.36-9+deb12u4");
  const none = validateTexts({ rulesFile: "rules.toml", rulesText: "", appsTexts: [] });
  assert.ok(none.ok);
  assert.equal(none.policy.defaults.packageTrust, undefined, "absent: decided by the host");
  const bad = validateTexts({
    rulesFile: "rules.toml",
    rulesText: "[defaults]\npackage_trust = 1\n",
    appsTexts: [{
      file: "apps.toml",
      text: `[[app]]\nname = "c"\npath = "/c"\nsha256 = "${sha256}"\ntrust = "pkg"\n` +
        `package = "Bad Name"\n`,
    }],
  });
  assert.ok(!bad.ok);
  assert.deepEqual(bad.errors.map(String), [
    "rules.toml:2:17: defaults.package_trust: expected true or false, got integer 1",
    'apps.toml:5:9: app[0].trust: "pkg" is not valid; expected one of "hash" | "package"',
    'apps.toml:6:11: app[0].package: "Bad Name" is not a Debian package name; expected e.g. "curl" or "libc6:amd64"',
  ]);
});

Deno.test("apt hook snippet: Pre- and Post-Invoke that never fail apt", () => {
  const t = aptHookText("/usr/local/sbin/hashwall");
  assert.match(
    t,
    /^DPkg::Pre-Invoke \{ "if \[ -x \/usr\/local\/sbin\/hashwall \]; then .* packages hook pre \|\| true; fi"; \};$/m,
  );
  assert.match(t, /^DPkg::Post-Invoke \{ ".* packages hook post \|\| true; fi"; \};$/m);
  assert.throws(() => aptHookText("/x; rm -rf /"), /unsafe/);
  assert.deepEqual(aptHookOptions("/b", "/s").filter((x) => x !== "-o").length, 2);
});

Deno.test("dpkg busy: its database lock held (as /proc/locks shows) means dpkg runs", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hw-dpkglock-" });
  try {
    const db = new DpkgDb(dir);
    assert.equal(db.busy(), false, "no lock file");
    const f = await Deno.open(`${dir}/lock`, { create: true, write: true });
    assert.equal(db.busy(), false, "lock file, nobody holds it");
    await f.lock(true);
    assert.equal(db.busy(), true);
    await f.unlock();
    assert.equal(db.busy(), false);
    f.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
