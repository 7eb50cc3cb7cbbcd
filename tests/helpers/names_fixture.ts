/**
 * The fixture of the hostname kernel tests: a dnsclient copy approved as app "dnsapp", the packet
 * filter's rule maps and the kernel core attached to a test cgroup under a test instance, with
 * remote_host rules, and dnsmasq on a unique 127.53.x.y serving the test names. Removed on every
 * path by {@link teardownNames}.
 *
 * @module
 */
import { AppControl, disableInstance } from "../../src/kernel/app_control.ts";
import { loadPacketFilter, type PacketFilter } from "../../src/kernel/filter.ts";
import { HostnameMaps } from "../../src/kernel/hostnames.ts";
import { pinPaths } from "../../src/kernel/pins.ts";
import { identityOf } from "../../src/identity/running.ts";
import { compilePolicy } from "../../src/policy/compile.ts";
import { validateTexts } from "../../src/config/validate.ts";
import type { Policy } from "../../src/config/model.ts";
import { HW } from "../../ffi/structs.ts";
import { fileTimes, statIdentity } from "../../src/integrity/hash.ts";
import { createTestCgroup, removeTestParentIfEmpty, type TestCgroup } from "./cgroup.ts";
import { loopbackListener } from "./netclient.ts";
import { dnsclientCopy, type DnsServer, startDnsmasq } from "./dns.ts";

/** What {@link setupNames} started. */
export interface NamesFixture {
  cg: TestCgroup;
  core: AppControl;
  filter: PacketFilter;
  names: HostnameMaps;
  dir: string;
  /** approved as app "dnsapp" (id 1) */
  app: string;
  instance: string;
  v4: { port: number; close(): void };
  v6: { port: number; close(): void };
  dns: DnsServer;
  /** The policy the kernel holds (for explain-vs-kernel checks). */
  policy: Policy;
}

const rulesFor = (ports: number[]) => `
[defaults]
mode = "enforcing"
outbound = "allow"

[[rule]]
id = "dns"
action = "allow"
direction = "out"
protocol = "udp"
ports = [53]
app = "dnsapp"

[[rule]]
id = "dns-tcp"
action = "allow"
direction = "out"
protocol = "tcp"
ports = [53]
app = "dnsapp"

[[rule]]
id = "by-name"
action = "allow"
direction = "out"
protocol = "tcp"
ports = [${ports.join(", ")}]
app = "dnsapp"
remote_host = ["allowed.hw", "*.wild.hw", "www.hw"]

[[rule]]
id = "blocked-name"
action = "deny"
direction = "out"
remote_host = ["blocked.hw"]

[[rule]]
id = "rest"
action = "deny"
direction = "out"
app = "dnsapp"
`;

const APPS_TOML = `
[[app]]
name = "dnsapp"
path = "/usr/bin/true"
sha256 = "${"ab".repeat(32)}"
`;

/** Approves a dnsclient copy, loads filter + core with the name rules, starts dnsmasq. */
export async function setupNames(
  name: string,
  opts: { mode?: number } = {},
): Promise<NamesFixture> {
  const dir = await Deno.makeTempDir({ prefix: "hw-names-" });
  await Deno.chmod(dir, 0o755);
  const app = await dnsclientCopy(dir, "app");
  const cg = await createTestCgroup(name);
  const instance = `test-${name}-${crypto.randomUUID().slice(0, 8)}`;
  const v4 = loopbackListener("127.0.0.1");
  const v6 = loopbackListener("::1");
  let core: AppControl | undefined;
  let filter: PacketFilter | undefined;
  let dns: DnsServer | undefined;
  try {
    dns = await startDnsmasq([
      "--host-record=allowed.hw,127.0.0.1,::1",
      "--host-record=other.hw,127.0.0.1,::1",
      "--host-record=blocked.hw,127.0.0.1",
      "--address=/wild.hw/127.0.0.1",
      "--cname=www.hw,edge.cdn.hw",
      "--host-record=edge.cdn.hw,127.0.0.1",
    ]);
    const loaded = validateTexts({
      rulesFile: "rules.toml",
      rulesText: rulesFor([v4.port, v6.port]),
      appsTexts: [{ file: "apps.toml", text: APPS_TOML }],
    });
    if (!loaded.ok) throw new Error(loaded.errors.join("\n"));
    filter = loadPacketFilter({ pinRoot: pinPaths(instance).root });
    filter.apply(compilePolicy(loaded.policy, { appId: (n) => n === "dnsapp" ? 1 : undefined }));
    core = AppControl.open({
      pins: pinPaths(instance),
      cgroupPath: cg.path,
      settings: {
        mode: opts.mode ?? HW.MODE_ENFORCING,
        allowLoopback: false,
        daemonTgid: Deno.pid,
        dedupMs: 10_000,
      },
    });
    core.attachLineage();
    core.approve({
      key: identityOf(await Deno.stat(app)),
      appId: 1,
      flags: 0,
      times: fileTimes(statIdentity(app)),
    });
    core.attachHooks();
    const names = new HostnameMaps({
      addrs: core.map("hw_dns_addrs").fd,
      names: core.map("hw_dns_names").fd,
      stats: core.map("hw_dns_stats").fd,
    });
    return { cg, core, filter, names, dir, app, instance, v4, v6, dns, policy: loaded.policy };
  } catch (e) {
    core?.close();
    filter?.close();
    disableInstance(pinPaths(instance));
    v4.close();
    v6.close();
    await dns?.stop();
    await cg.remove();
    await Deno.remove(dir, { recursive: true });
    throw e;
  }
}

/** Stops and removes everything {@link setupNames} started. */
export async function teardownNames(f: NamesFixture) {
  try {
    f.core.close();
    f.filter.close();
  } finally {
    disableInstance(pinPaths(f.instance));
    f.v4.close();
    f.v6.close();
    await f.dns.stop();
    await f.cg.remove();
    await removeTestParentIfEmpty();
    await Deno.remove(f.dir, { recursive: true });
  }
}

/** Runs argv in the test cgroup; the client's last line. */
export async function lastLine(
  f: NamesFixture,
  argv: string[],
  env?: Record<string, string>,
): Promise<string> {
  const r = await f.cg.run(argv, env ? { env } : undefined);
  return r.stdout.trim().split("\n").pop() ?? "";
}
