/**
 * The systemd unit (config/hashwall.service): `systemd-analyze verify` finds nothing, the
 * settings the issue asks for are there and agree with the code (socket, state, cache folders),
 * its exposure score stays low, and its capability bounding set is enough for a real daemon
 * (run under `setpriv` with exactly that set) while one capability less is not.
 */
import assert from "node:assert/strict";
import { HASHWALL_UNIT, INSTALL_PATHS } from "../../src/cli/install.ts";
import { RUNTIME_CONTROL_SOCKET } from "../../src/daemon/socket_path.ts";
import { BPFFS } from "../../src/kernel/pins.ts";
import { startTestDaemon } from "../helpers/daemon.ts";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;
const LAUNCHER_SH = new URL("../../packaging/launcher.sh.in", import.meta.url).pathname;

/** `section → key → values` (a key may repeat). */
type Unit = Map<string, Map<string, string[]>>;

function parseUnit(text: string): Unit {
  const unit: Unit = new Map();
  let section: Map<string, string[]> | undefined;
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const s = /^\[(\w+)\]$/.exec(line);
    if (s) {
      section = new Map();
      unit.set(s[1], section);
      continue;
    }
    const eq = line.indexOf("=");
    assert.ok(section && eq > 0, `unit line outside a section or without "=": ${line}`);
    const key = line.slice(0, eq);
    section.set(key, [...(section.get(key) ?? []), line.slice(eq + 1)]);
  }
  return unit;
}

function one(unit: Unit, section: string, key: string): string {
  const v = unit.get(section)?.get(key);
  assert.ok(v && v.length === 1, `[${section}] ${key}= appears ${v?.length ?? 0} times`);
  return v[0];
}

/** The capabilities the unit keeps, lower-case without CAP_ (setpriv's spelling). */
const UNIT_CAPS = one(parseUnit(HASHWALL_UNIT), "Service", "CapabilityBoundingSet")
  .split(/\s+/).map((c) => c.replace(/^CAP_/, "").toLowerCase());

async function run(cmd: string, args: string[]): Promise<{ code: number; out: string }> {
  const o = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  const dec = new TextDecoder();
  return { code: o.code, out: dec.decode(o.stdout) + dec.decode(o.stderr) };
}

/** The unit with ExecStart pointing at a temp copy of /bin/true (verify needs a real file). */
async function unitInTemp(
  text = HASHWALL_UNIT,
): Promise<{ path: string } & AsyncDisposable> {
  const dir = await Deno.makeTempDir({ prefix: "hw-unit-" });
  await Deno.copyFile("/bin/true", `${dir}/hashwall`);
  await Deno.chmod(`${dir}/hashwall`, 0o755);
  const path = `${dir}/hashwall.service`;
  await Deno.writeTextFile(path, text.replaceAll(INSTALL_PATHS.binary, `${dir}/hashwall`));
  return { path, [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }) };
}

Deno.test("systemd-analyze verify: the unit loads with no warning at all", async () => {
  await using u = await unitInTemp();
  const r = await run("systemd-analyze", ["verify", u.path]);
  assert.equal(r.code, 0, r.out);
  assert.equal(r.out.trim(), "", r.out);
});

Deno.test("systemd-analyze verify: a broken unit is reported (the check can fail)", async () => {
  await using typo = await unitInTemp(HASHWALL_UNIT.replace("PrivateTmp=", "PrivateTemp="));
  const r = await run("systemd-analyze", ["verify", typo.path]);
  assert.match(r.out, /Unknown key 'PrivateTemp'/);
  await using noBin = await unitInTemp();
  await Deno.remove(noBin.path.replace(/hashwall\.service$/, "hashwall"));
  const r2 = await run("systemd-analyze", ["verify", noBin.path]);
  assert.notEqual(r2.code, 0);
  assert.match(r2.out, /is not executable/);
});

Deno.test("unit: notify, watchdog, restart, hardening and folders the code expects", () => {
  const unit = parseUnit(HASHWALL_UNIT);
  const svc = (k: string) => one(unit, "Service", k);
  assert.equal(svc("Type"), "notify");
  assert.equal(svc("NotifyAccess"), "main");
  assert.match(svc("WatchdogSec"), /^\d+s$/);
  assert.equal(svc("Restart"), "on-failure");
  assert.equal(svc("ExecStart").split(" ")[0], INSTALL_PATHS.binary);
  assert.match(svc("ExecStart"), / run --config \/etc\/hashwall --state \/var\/lib\/hashwall$/);
  assert.equal(svc("ExecReload"), "/bin/kill -HUP $MAINPID");
  assert.equal(svc("ProtectSystem"), "strict");
  assert.equal(svc("ProtectHome"), "read-only");
  assert.equal(svc("PrivateTmp"), "yes");
  assert.equal(svc("NoNewPrivileges"), "yes");
  // Folders: state, the default instance's control socket, the launcher's unpack folder.
  assert.equal(`/var/lib/${svc("StateDirectory")}`, INSTALL_PATHS.state);
  assert.equal(`/run/${svc("RuntimeDirectory")}/control.sock`, RUNTIME_CONTROL_SOCKET);
  assert.equal(`/var/cache/${svc("CacheDirectory")}`, INSTALL_PATHS.cache);
  assert.equal(svc("CacheDirectoryMode"), "0700", "the launcher refuses a cache folder not 0700");
  assert.equal(svc("StateDirectoryMode"), "0700", "the daemon keeps its state folder 0700");
  const launcher = Deno.readTextFileSync(LAUNCHER_SH);
  assert.match(launcher, /elif \[ "\$uid" = 0 \]; then\n\s+base=\/var\/cache\/hashwall\n/);
  assert.ok(unit.get("Service")!.get("Environment")!.includes(
    `HASHWALL_CACHE_DIR=${INSTALL_PATHS.cache}`,
  ));
  // Writable despite ProtectSystem=strict: the config (learned.toml) and bpffs (pins).
  assert.deepEqual(svc("ReadWritePaths").split(" ").sort(), [INSTALL_PATHS.config, BPFFS].sort());
  assert.match(svc("ExecStartPre"), /^\+\/bin\/sh -c .*mount -t bpf bpf \/sys\/fs\/bpf/);
  assert.deepEqual(UNIT_CAPS.sort(), [
    "bpf",
    "chown",
    "dac_read_search",
    "net_admin",
    "perfmon",
    "sys_admin",
    "sys_ptrace",
  ]);
  assert.equal(one(unit, "Install", "WantedBy"), "multi-user.target");
});

Deno.test("systemd-analyze security: exposure of the unit stays at most 4.0", async () => {
  await using u = await unitInTemp();
  const r = await run("systemd-analyze", ["security", "--offline=true", u.path]);
  assert.equal(r.code, 0, r.out);
  const m = /Overall exposure level for hashwall\.service: (\d+\.\d)/.exec(r.out);
  assert.ok(m, r.out);
  assert.ok(Number(m[1]) <= 4.0, `exposure ${m[1]}`);
});

/**
 * Starts a test daemon through `setpriv` with only `caps` in the bounding set and no new
 * privileges (what systemd does with CapabilityBoundingSet= and NoNewPrivileges=).
 */
async function withCaps(caps: string[], body: () => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "hw-caps-" });
  const wrapper = `${dir}/hashwall`;
  await Deno.writeTextFile(
    wrapper,
    `#!/bin/sh\nexec setpriv --bounding-set=-all,${caps.map((c) => `+${c}`).join(",")} ` +
      `--no-new-privs -- ${Deno.execPath()} run -A ${MAIN} "$@"\n`,
  );
  await Deno.chmod(wrapper, 0o755);
  const old = Deno.env.get("HASHWALL_BIN");
  Deno.env.set("HASHWALL_BIN", wrapper);
  try {
    await body();
  } finally {
    if (old === undefined) Deno.env.delete("HASHWALL_BIN");
    else Deno.env.set("HASHWALL_BIN", old);
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("the unit's capability set runs a real daemon: BPF, fanotify watch, socket, UI", async () => {
  const watched = await Deno.makeTempDir({ prefix: "hw-caps-watch-" });
  try {
    await Deno.writeTextFile(`${watched}/f`, "x");
    await withCaps(UNIT_CAPS, async () => {
      const d = await startTestDaemon({
        ui: true,
        rulesExtra: `[[integrity.watch]]\npath = "${watched}"\nrecursive = true\n`,
      });
      try {
        const st = await d.cli(["status", "--json"]);
        assert.equal(st.code, 0, st.stderr);
        const status = JSON.parse(st.stdout);
        assert.ok(status.attachPoints.length > 0, st.stdout);
        assert.ok(status.counters.watched_files >= 1, st.stdout);
        // The daemon runs with no more than the unit's capabilities.
        const capBnd = /^CapBnd:\s+([0-9a-f]+)$/m.exec(
          await Deno.readTextFile(`/proc/${status.pid}/status`),
        );
        assert.ok(capBnd);
        const want = (1n << 21n) | (1n << 38n) | (1n << 39n) | (1n << 12n) | (1n << 2n) |
          (1n << 19n) | (1n << 0n); // sys_admin perfmon bpf net_admin dac_read_search ptrace chown
        assert.equal(BigInt(`0x${capBnd[1]}`), want);
        const ui = await fetch(`${d.uiUrl}/`);
        await ui.body?.cancel();
        assert.ok(ui.status < 500, `UI answered ${ui.status}`);
      } finally {
        await d.stop();
      }
    });
  } finally {
    await Deno.remove(watched, { recursive: true });
  }
});

// CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN cannot be probed one by one this way: the kernel accepts
// CAP_SYS_ADMIN in their place (bpf_capable(), perfmon_capable(), bpf_net_capable()), and the
// daemon keeps CAP_SYS_ADMIN for fanotify.
for (const cap of ["sys_admin"]) {
  Deno.test(`one capability less (CAP_${cap.toUpperCase()}) and the daemon cannot start`, async () => {
    await withCaps(UNIT_CAPS.filter((c) => c !== cap), async () => {
      await assert.rejects(async () => {
        const d = await startTestDaemon({});
        await d.stop();
      }, /daemon exited/);
    });
  });
}
