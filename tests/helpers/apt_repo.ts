/**
 * A throwaway signed apt repository for package-trust tests: builds versions of a small network
 * client package with `dpkg-deb` (tests/fixtures/netclient.c compiled with a different embedded
 * tag per version), publishes them with `apt-ftparchive` signed by a temporary GPG key (its own
 * GNUPGHOME), and runs `apt-get` against ONLY this source (`Dir::Etc::sourcelist` = a temp file,
 * no source parts, no list cleanup), so the host's sources are untouched and nothing goes to the
 * network. The source is `copy:` so apt puts the .deb into its archive cache, as it does for a
 * remote repository.
 *
 * `cleanup()` purges the package, removes the source file, the key and GNUPGHOME, the apt lists
 * and cached archives it created. Package names are unique per run.
 *
 * @module
 */
const NETCLIENT = new URL("../fixtures/netclient.c", import.meta.url).pathname;
const LISTS = "/var/lib/apt/lists";
const ARCHIVES = "/var/cache/apt/archives";

/** Output of a command. */
export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion. */
export async function run(
  cmd: string,
  args: string[],
  opts: { env?: Record<string, string>; cwd?: string; stdin?: string } = {},
): Promise<RunResult> {
  const child = new Deno.Command(cmd, {
    args,
    env: opts.env,
    cwd: opts.cwd,
    stdin: opts.stdin !== undefined ? "piped" : "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (opts.stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(opts.stdin));
    await w.close();
  }
  const out = await child.output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

async function must(cmd: string, args: string[], opts = {}): Promise<string> {
  const r = await run(cmd, args, opts);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(" ")}: ${r.code}\n${r.stdout}${r.stderr}`);
  return r.stdout;
}

/** One version to build. */
export interface VersionSpec {
  version: string;
  /** Package name (default: the repository's own unique name; see {@link TestAptRepo.extra}). */
  name?: string;
  /** Ship the client binary (false: the version drops it). Default true. */
  withBinary?: boolean;
  /** A `preinst` maintainer script (run by dpkg, as root, while it unpacks this version). */
  preinst?: string;
}

/** A temporary signed repository for one unique package name. */
export class TestAptRepo implements AsyncDisposable {
  readonly pkg: string;
  readonly dir: string;
  readonly repo: string;
  readonly sourceList: string;
  /** Where the package installs the client. */
  readonly binPath: string;
  #gnupg: string;
  #key: string;
  /** Every package name built here (purged by cleanup). */
  #names = new Set<string>();

  private constructor(dir: string, pkg: string) {
    this.dir = dir;
    this.pkg = pkg;
    this.repo = `${dir}/repo`;
    this.sourceList = `${dir}/sources.list`;
    this.binPath = `/usr/lib/${pkg}/netclient`;
    this.#gnupg = `${dir}/gnupg`;
    this.#key = `${dir}/key.gpg`;
  }

  /**
   * Makes the folder, the key and an empty repository (nothing published yet). `method`: `copy`
   * (default; apt caches the .deb like a download) or `file` (apt installs from the repository
   * in place and caches nothing: package trust then rests on dpkg's md5sums).
   */
  static async create(
    label: string,
    method: "copy" | "file" = "copy",
  ): Promise<TestAptRepo> {
    const dir = await Deno.makeTempDir({ prefix: "hw-aptrepo-" });
    // apt's fetchers run as _apt: the repository and key must be readable by others.
    await Deno.chmod(dir, 0o755);
    const pkg = `hw-${label}-${crypto.randomUUID().slice(0, 8)}`;
    const r = new TestAptRepo(dir, pkg);
    try {
      await Deno.mkdir(r.repo, { mode: 0o755 });
      await Deno.mkdir(r.#gnupg, { mode: 0o700 });
      const env = { GNUPGHOME: r.#gnupg };
      await must("gpg", [
        "--batch",
        "--passphrase",
        "",
        "--quick-gen-key",
        `hashwall test ${pkg} <t@invalid>`,
        "ed25519",
        "sign",
        "never",
      ], { env });
      await Deno.writeFile(r.#key, new TextEncoder().encode(""));
      const key = await new Deno.Command("gpg", {
        args: ["--batch", "--export"],
        env,
        stdout: "piped",
      }).output();
      await Deno.writeFile(r.#key, key.stdout, { mode: 0o644 });
      await Deno.writeTextFile(
        r.sourceList,
        `deb [signed-by=${r.#key}] ${method}:${r.repo} ./\n`,
        { mode: 0o644 },
      );
      return r;
    } catch (e) {
      await r.cleanup();
      throw e;
    }
  }

  /** The name of the i-th extra package of this repository (unique like {@link pkg}). */
  extra(i: number): string {
    return `${this.pkg}-${i}`;
  }

  /** Where package `name` installs its client. */
  binPathOf(name: string): string {
    return `/usr/lib/${name}/netclient`;
  }

  /** Builds version `v` into `outDir` (default: the repository) and returns the .deb path. */
  async build(spec: VersionSpec, outDir = this.repo): Promise<string> {
    const pkg = spec.name ?? this.pkg;
    this.#names.add(pkg);
    const root = await Deno.makeTempDir({ dir: this.dir, prefix: "build-" });
    await Deno.mkdir(`${root}/DEBIAN`, { recursive: true });
    const libdir = `${root}/usr/lib/${pkg}`;
    await Deno.mkdir(libdir, { recursive: true });
    if (spec.withBinary !== false) {
      await must("cc", [
        "-O2",
        `-DNETCLIENT_TAG="${pkg} ${spec.version}"`,
        "-o",
        `${libdir}/netclient`,
        NETCLIENT,
      ]);
    } else {
      await Deno.writeTextFile(`${libdir}/README`, `${spec.version} has no client\n`);
    }
    await Deno.writeTextFile(
      `${root}/DEBIAN/control`,
      `Package: ${pkg}\nVersion: ${spec.version}\nArchitecture: all\n` +
        `Maintainer: hashwall tests <t@invalid>\nDescription: hashwall package-trust test client\n`,
    );
    if (spec.preinst !== undefined) {
      await Deno.writeTextFile(`${root}/DEBIAN/preinst`, spec.preinst, { mode: 0o755 });
      await Deno.chmod(`${root}/DEBIAN/preinst`, 0o755);
    }
    const deb = `${outDir}/${pkg}_${spec.version}_all.deb`;
    await must("dpkg-deb", ["--root-owner-group", "-Zgzip", "--build", root, deb]);
    await Deno.chmod(deb, 0o644);
    await Deno.remove(root, { recursive: true });
    return deb;
  }

  /** Regenerates Packages, Release and the signed InRelease, then `apt-get update` (this source). */
  async publish(): Promise<void> {
    const packages = await must("apt-ftparchive", ["packages", "."], { cwd: this.repo });
    await Deno.writeTextFile(`${this.repo}/Packages`, packages, { mode: 0o644 });
    await Deno.remove(`${this.repo}/Release`).catch(() => {});
    await Deno.remove(`${this.repo}/InRelease`).catch(() => {});
    const release = await must("apt-ftparchive", ["release", "."], { cwd: this.repo });
    await Deno.writeTextFile(`${this.repo}/Release`, release, { mode: 0o644 });
    await must("gpg", [
      "--batch",
      "--yes",
      "--clearsign",
      "-o",
      `${this.repo}/InRelease`,
      `${this.repo}/Release`,
    ], { env: { GNUPGHOME: this.#gnupg } });
    await Deno.chmod(`${this.repo}/InRelease`, 0o644);
    // apt-get update does not wait for the lists lock (other tests' updates hold it): retry.
    let r = await this.apt(["update"]);
    for (let i = 0; i < 120 && r.code !== 0 && /Could not get lock/.test(r.stderr); i++) {
      await new Promise((res) => setTimeout(res, 1000));
      r = await this.apt(["update"]);
    }
    if (r.code !== 0 || /^(E|W): .*(not signed|GPG error)/m.test(r.stdout + r.stderr)) {
      throw new Error(`apt-get update failed:\n${r.stdout}${r.stderr}`);
    }
  }

  /** `apt-get -y ARGS` against only this source; `extra` are more `-o` options (the hook). */
  apt(args: string[], extra: string[] = []): Promise<RunResult> {
    return run("apt-get", [
      "-y",
      "-q",
      "-o",
      `Dir::Etc::sourcelist=${this.sourceList}`,
      "-o",
      "Dir::Etc::sourceparts=-",
      "-o",
      "APT::Get::List-Cleanup=0",
      "-o",
      "DPkg::Lock::Timeout=300",
      ...extra,
      ...args,
    ], { env: { DEBIAN_FRONTEND: "noninteractive" } });
  }

  /**
   * `apt-get install PKG=VERSION` (for every name in `names`, default the repository's own
   * package), throwing with apt's output on failure.
   */
  async install(version: string, extra: string[] = [], names = [this.pkg]): Promise<RunResult> {
    const r = await this.apt(
      ["install", "--allow-downgrades", ...names.map((n) => `${n}=${version}`)],
      extra,
    );
    if (r.code !== 0) throw new Error(`apt-get install ${version}: ${r.stdout}${r.stderr}`);
    return r;
  }

  /**
   * `dpkg -i DEB` (a local .deb, outside any repository), retried while another apt or dpkg
   * (other tests run at the same time) holds dpkg's lock: dpkg does not wait for it.
   */
  async dpkgInstall(deb: string): Promise<RunResult> {
    for (let i = 0;; i++) {
      const r = await run("dpkg", ["-i", deb]);
      if (r.code === 0 || !/lock/i.test(r.stderr) || i >= 300) return r;
      await new Promise((res) => setTimeout(res, 1000));
    }
  }

  /** Installed version (dpkg-query), or undefined. */
  async installedVersion(): Promise<string | undefined> {
    const r = await run("dpkg-query", ["-W", "-f=${Version}", this.pkg]);
    return r.code === 0 && r.stdout ? r.stdout : undefined;
  }

  /** Purges the package and removes the source, key, lists and cached archives. */
  async cleanup(): Promise<void> {
    // dpkg does not wait for its lock (another test's apt may hold it): retry for a while.
    for (let i = 0; i < 300; i++) {
      const r = await run("dpkg", ["--purge", this.pkg, ...this.#names]).catch(() => undefined);
      if (!r || !/lock/i.test(r.stderr)) break;
      await new Promise((res) => setTimeout(res, 1000));
    }
    // Lists apt made for this source: named after the repository path, `/` as `_`.
    const stem = `${this.repo}_`.replaceAll("/", "_");
    for (const dir of [LISTS, `${LISTS}/partial`]) {
      try {
        for (const e of Deno.readDirSync(dir)) {
          if (e.name.startsWith(stem)) {
            await Deno.remove(`${dir}/${e.name}`).catch(() => {});
          }
        }
      } catch { /* no such folder */ }
    }
    try {
      for (const e of Deno.readDirSync(ARCHIVES)) {
        if (e.name.startsWith(`${this.pkg}_`) || e.name.startsWith(`${this.pkg}-`)) {
          await Deno.remove(`${ARCHIVES}/${e.name}`);
        }
      }
    } catch { /* none */ }
    await run("gpgconf", ["--kill", "gpg-agent"], { env: { GNUPGHOME: this.#gnupg } })
      .catch(() => {});
    await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.cleanup();
  }
}
