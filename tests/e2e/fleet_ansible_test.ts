/**
 * Policy as code, end to end, with real `ansible-playbook` (Debian's ansible-core) and the
 * shipped role (deploy/ansible) against two local "hosts": connection `local`, each with its own
 * install root (`hashwall_root`) and its own daemon (`hashwall_service_manager=none`: PID 1 here
 * is not systemd, so the role reloads with `hashwall reload --state`).
 *
 * Learn on a reference host (A, learning mode) → review apps.d/learned.toml → commit to a git
 * repo → distribute with the role → the second host (B) enforces it: the approved client
 * connects, an unknown one gets EPERM. `apps export` on both hosts diffs clean. A broken policy
 * is refused by the role: the play fails with the check's FILE:LINE:COL and nothing is replaced.
 */
import assert from "node:assert/strict";
import { startTestDaemon, type TestDaemon } from "../helpers/daemon.ts";
import { DIST_PATH } from "../helpers/dist.ts";
import { loopbackListener, netclientCopy } from "../helpers/netclient.ts";
import { until } from "../helpers/wait.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const PLAYBOOK = `${ROOT}deploy/ansible/site.yml`;
const UNIT = `${ROOT}config/hashwall.service`;

async function run(
  cmd: string,
  args: string[],
  opts: { cwd?: string; env?: Record<string, string> } = {},
) {
  const o = await new Deno.Command(cmd, {
    args,
    cwd: opts.cwd,
    env: opts.env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: o.code, out: dec.decode(o.stdout) + dec.decode(o.stderr) };
}

/** Every file under `dir` with its content (a snapshot to compare). */
async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (d: string) => {
    for await (const e of Deno.readDir(d)) {
      const p = `${d}/${e.name}`;
      if (e.isDirectory) await walk(p);
      else out[p.slice(dir.length)] = await Deno.readTextFile(p);
    }
  };
  await walk(dir);
  return out;
}

Deno.test("policy as code: learn on A, review, commit, roll out with Ansible, B enforces; a broken policy is refused", async () => {
  const root = await Deno.makeTempDir({ prefix: "hw-fleet-ansible-" });
  const repo = `${root}/policy`;
  const hosts = { A: `${root}/hostA`, B: `${root}/hostB` };
  const daemons: TestDaemon[] = [];
  const listener = loopbackListener();
  try {
    for (const h of Object.values(hosts)) await Deno.mkdir(h);
    const git = async (...args: string[]) => {
      const r = await run("git", [
        "-c",
        "user.name=fleet test",
        "-c",
        "user.email=t@example.invalid",
        ...args,
      ], { cwd: repo });
      assert.equal(r.code, 0, r.out);
      return r.out;
    };
    await Deno.mkdir(`${repo}/apps.d`, { recursive: true });
    await Deno.writeTextFile(
      `${repo}/rules.toml`,
      `[defaults]\nmode = "learning"\nallow_loopback = false\n\n[ui]\nlisten = "off"\n`,
    );
    await Deno.writeTextFile(`${repo}/apps.toml`, "# hand-written approvals\n");
    await git("init", "-q", "-b", "main");
    await git("add", "-A");
    await git("commit", "-q", "-m", "initial policy: learning");

    const env = {
      ANSIBLE_HOME: `${root}/.ansible`,
      ANSIBLE_LOCAL_TEMP: `${root}/.ansible/tmp`,
      ANSIBLE_REMOTE_TEMP: `${root}/.ansible/tmp`,
      ANSIBLE_NOCOLOR: "1",
      ANSIBLE_RETRY_FILES_ENABLED: "0",
      PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
    };
    const playbook = async (extra: Record<string, string> = {}) => {
      const inv = ["[hashwall]"];
      for (const [name, dir] of Object.entries(hosts)) {
        const d = daemons[name === "A" ? 0 : 1];
        inv.push(
          `host${name} ansible_connection=local ansible_python_interpreter=/usr/bin/python3 ` +
            `hashwall_root=${dir} hashwall_state_dir=${d?.stateDir ?? `${dir}/no-daemon`}`,
        );
      }
      await Deno.writeTextFile(`${root}/inventory.ini`, inv.join("\n") + "\n");
      const vars = {
        hashwall_binary_src: DIST_PATH,
        hashwall_config_src: repo,
        hashwall_service_manager: "none",
        // We are root on a machine without sudo: no privilege escalation needed.
        ansible_become: "false",
        ...extra,
      };
      return await run("ansible-playbook", [
        "-i",
        `${root}/inventory.ini`,
        PLAYBOOK,
        ...Object.entries(vars).flatMap(([k, v]) => ["-e", `${k}=${v}`]),
      ], { env });
    };

    // 1. First rollout, no daemon yet: binary, unit and policy in place on both hosts.
    const first = await playbook();
    assert.equal(first.code, 0, first.out);
    assert.match(first.out, /no hashwall daemon answers/);
    const distBytes = await Deno.readFile(DIST_PATH);
    for (const h of Object.values(hosts)) {
      assert.deepEqual(await Deno.readFile(`${h}/usr/local/sbin/hashwall`), distBytes);
      assert.equal(
        await Deno.readTextFile(`${h}/etc/systemd/system/hashwall.service`),
        await Deno.readTextFile(UNIT),
      );
      assert.equal(
        await Deno.readTextFile(`${h}/etc/hashwall/rules.toml`),
        await Deno.readTextFile(`${repo}/rules.toml`),
      );
      await assert.rejects(Deno.stat(`${h}/etc/hashwall/.git`));
    }

    // Each host runs its daemon from its installed binary on its installed policy.
    for (const h of Object.values(hosts)) {
      daemons.push(
        await startTestDaemon({
          configDir: `${h}/etc/hashwall`,
          command: [`${h}/usr/local/sbin/hashwall`],
          env: { HASHWALL_CACHE_DIR: `${h}/var/cache/hashwall` },
        }),
      );
    }
    const [a, b] = daemons;

    // 2. Learn on the reference host A: the client is seen, then approved there.
    const client = await netclientCopy(root, "fleet-client");
    const stranger = await netclientCopy(root, "stranger");
    const connect = async (d: TestDaemon, exe: string) =>
      (await d.cg.run([exe, "tcp4", "127.0.0.1", `${listener.port}`])).stdout.trim();
    assert.equal(await connect(a, client), "ok");
    await until(
      "A saw the client",
      async () => {
        const r = await a.cli(["events", "--json"]);
        return r.code === 0 && r.stdout.includes(client);
      },
      10_000,
      100,
    );
    const allow = await a.cli(["apps", "allow", client, "--name", "fleet-client"]);
    assert.equal(allow.code, 0, allow.stderr);

    // 3. Review: learned.toml is plain TOML naming the file and its hash. Commit it, enforce.
    const learned = await Deno.readTextFile(`${hosts.A}/etc/hashwall/apps.d/learned.toml`);
    assert.match(learned, /name = "fleet-client"/);
    assert.ok(learned.includes(client));
    await Deno.writeTextFile(`${repo}/apps.d/learned.toml`, learned);
    const rules = await Deno.readTextFile(`${repo}/rules.toml`);
    await Deno.writeTextFile(`${repo}/rules.toml`, rules.replace('"learning"', '"enforcing"'));
    await git("add", "-A");
    await git("commit", "-q", "-m", "approve fleet-client; enforce");

    // 4. Distribute: both daemons reload, the role verifies they enforce.
    const second = await playbook({ hashwall_expect_mode: "enforcing" });
    assert.equal(second.code, 0, second.out);
    assert.match(second.out, /hashwall 0\.\d+\.\d+ enforcing, 1 apps \(0 invalid\)/);
    for (const d of daemons) {
      const s = JSON.parse((await d.cli(["status", "--json"])).stdout);
      assert.equal(s.mode, "enforcing");
    }
    // B never saw the client in learning, yet enforces what A learned.
    assert.equal(await connect(b, client), "ok");
    assert.equal(await connect(b, stranger), "EPERM");

    // Two hosts with the same images export the same approvals, byte for byte.
    const exports = await Promise.all(daemons.map((d) => d.cli(["apps", "export"])));
    for (const e of exports) assert.equal(e.code, 0, e.stderr);
    assert.equal(exports[0].stdout, exports[1].stdout);
    assert.match(exports[0].stdout, /\[\[app\]\]\nname = "fleet-client"/);

    // A third run changes nothing and still verifies.
    const again = await playbook({ hashwall_expect_mode: "enforcing" });
    assert.equal(again.code, 0, again.out);
    assert.match(again.out, /hostB\s*: ok=\d+\s+changed=0 /);

    // 5. A broken policy: the role refuses it, the play fails with FILE:LINE:COL, B keeps its own.
    const before = await snapshot(`${hosts.B}/etc/hashwall`);
    await Deno.writeTextFile(
      `${repo}/rules.toml`,
      (await Deno.readTextFile(`${repo}/rules.toml`)) +
        `\n[[rule]]\nid = "office"\naction = "allow"\ndirection = "out"\nremote = ["10.1.2.3/8"]\n`,
    );
    await git("commit", "-q", "-am", "a rule with a typo");
    const broken = await playbook({ hashwall_expect_mode: "enforcing" });
    assert.notEqual(broken.code, 0, broken.out);
    assert.match(broken.out, /hashwall check refused the policy/);
    assert.match(broken.out, /hashwall\.staged\/rules\.toml:12:11: [^\n]*10\.0\.0\.0\/8/);
    assert.deepEqual(await snapshot(`${hosts.B}/etc/hashwall`), before);
    for (const h of Object.values(hosts)) {
      await assert.rejects(Deno.stat(`${h}/etc/hashwall.staged`));
    }
    assert.equal(await connect(b, client), "ok");
    assert.equal(await connect(b, stranger), "EPERM");
  } finally {
    listener.close();
    for (const d of daemons) await d.stop();
    await Deno.remove(root, { recursive: true }).catch(() => {});
  }
});
