/**
 * bpf/rules_app.h in a cgroup connect4 hook: a small probe program includes the header, reuses
 * the filter's pinned rule maps and is attached to a test cgroup only. App-scoped and general
 * outbound rules decide connects (a denied connect gets EPERM at once, no hanging SYN), the first
 * match in file order wins across both, and an allowed socket is noted for tc egress.
 */
import assert from "node:assert/strict";
import { BpfObject, closeBpfFd, mapKeys, mapUpdate, objGet } from "../../ffi/libbpf.ts";
import { close as closeFd, O_CLOEXEC, O_DIRECTORY, O_RDONLY, openPath } from "../../ffi/libc.ts";
import { encodeU32 } from "../../ffi/filter_structs.ts";
import { compilePolicy } from "../../src/policy/compile.ts";
import { loadPacketFilter, RULE_MAPS } from "../../src/kernel/filter.ts";
import { createTestCgroup, removeTestParentIfEmpty } from "../helpers/cgroup.ts";
import { TRAFFIC_TOOL } from "../helpers/netns.ts";
import { validateTexts } from "../../src/config/validate.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

const PROBE_C = `
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "hashwall.h"
#include "rules_app.h"
char LICENSE[] SEC("license") = "GPL";

/* The app id this test pretends the caller has (the kernel core knows it from the exe). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} probe_app SEC(".maps");

SEC("cgroup/connect4")
int probe_connect4(struct bpf_sock_addr *ctx)
{
	__u32 zero = 0, rule = 0, ip = ctx->user_ip4, gen;
	__u32 *app = bpf_map_lookup_elem(&probe_app, &zero);
	struct hw_flt_ctl *ctl = bpf_map_lookup_elem(&hw_flt_ctl, &zero);
	struct hw_flt_gen *g;
	__u8 daddr[4];
	int v;

	if (!ctl)
		return 1;
	gen = ctl->seq & 1; /* as the kernel core reads it (bpf/verdict_cache.h) */
	g = bpf_map_lookup_elem(&hw_flt_gen, &gen);
	if (!g)
		return 1;
	__builtin_memcpy(daddr, &ip, 4);
	v = hw_flt_app_verdict(gen, g, app ? *app : 0, ctx->protocol, 4, daddr,
			       bpf_ntohs((__u16)ctx->user_port), &rule);
	if (v == HW_FLT_DENY)
		return 0;
	if (v == HW_FLT_ALLOW)
		hw_flt_note_socket(bpf_get_socket_cookie(ctx), rule);
	return 1;
}
`;

const RULES = `
[defaults]
mode = "enforcing"
outbound = "allow"

[[rule]]
id = "probe-not-8081"
action = "deny"
direction = "out"
protocol = "tcp"
ports = [8081]
app = "probe"

[[rule]]
id = "nobody-8082"
action = "deny"
direction = "out"
protocol = "tcp"
ports = [8082]
remote = ["127.0.0.0/8"]

[[rule]]
id = "probe-8083"
action = "allow"
direction = "out"
protocol = "tcp"
ports = [8083]
app = "probe"

[[rule]]
id = "nobody-8083"
action = "deny"
direction = "out"
protocol = "tcp"
ports = [8083]
`;

const APPS_TOML = `
[[app]]
name = "probe"
path = "/usr/bin/python3"
sha256 = "${"ab".repeat(32)}"
`;

/** Kernel app ids as the identity registry would hand them out. */
const APPS: Record<string, number> = { probe: 7, other: 9 };

Deno.test("rules_app.h decides connects by app and general rules in a cgroup connect4 hook", async () => {
  const pinRoot = `/sys/fs/bpf/hashwall-test/app-${crypto.randomUUID().slice(0, 8)}`;
  const tmp = await Deno.makeTempDir({ prefix: "hw-rules-app-" });
  const cg = await createTestCgroup("flt-app");
  const servers: Deno.ChildProcess[] = [];
  const filter = loadPacketFilter({ pinRoot });
  let probe: BpfObject | undefined;
  let link: { destroy(): void } | undefined;
  try {
    const loaded = validateTexts({
      rulesFile: "rules.toml",
      rulesText: RULES,
      appsTexts: [{ file: "apps.toml", text: APPS_TOML }],
    });
    if (!loaded.ok) throw new Error(loaded.errors.join("\n"));
    filter.apply(compilePolicy(loaded.policy, { appId: (n) => APPS[n] }));
    await Deno.writeTextFile(`${tmp}/probe.bpf.c`, PROBE_C);
    const cc = await new Deno.Command("clang", {
      args: [
        "-O2",
        "-g",
        "-target",
        "bpf",
        "-D__TARGET_ARCH_x86",
        `-I${ROOT}build/vmlinux`,
        `-I${ROOT}bpf`,
        "-c",
        `${tmp}/probe.bpf.c`,
        "-o",
        `${tmp}/probe.bpf.o`,
      ],
    }).output();
    assert.equal(cc.code, 0, new TextDecoder().decode(cc.stderr));
    probe = BpfObject.openMem(await Deno.readFile(`${tmp}/probe.bpf.o`), "hw_probe");
    // The same maps as the filter: reuse its pins (this is what the kernel core must do too).
    for (const name of RULE_MAPS) {
      const fd = objGet(`${pinRoot}/filter/maps/${name}`);
      try {
        probe.map(name).reuseFd(fd);
      } finally {
        closeBpfFd(fd);
      }
    }
    probe.load();
    const cgFd = openPath(cg.path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    try {
      link = probe.program("probe_connect4").attachCgroup(cgFd);
    } finally {
      closeFd(cgFd);
    }
    for (const port of [8081, 8082, 8083, 8084]) {
      const s = new Deno.Command("python3", {
        args: ["-c", TRAFFIC_TOOL, "tcp-serve", "127.0.0.1", String(port)],
        stdout: "piped",
        stderr: "null",
      }).spawn();
      servers.push(s);
      const r = s.stdout.getReader();
      await r.read();
      r.releaseLock();
    }
    const appFd = probe.map("probe_app").fd;
    const connectAs = async (appId: number, port: number) => {
      mapUpdate(appFd, encodeU32(0), encodeU32(appId));
      const r = await cg.run([
        "python3",
        "-c",
        TRAFFIC_TOOL,
        "tcp-connect",
        "127.0.0.1",
        String(port),
        "1",
      ]);
      return r.stdout.trim();
    };
    const table: Array<[number, number, string]> = [
      [7, 8081, "error 1"], // the app's own deny
      [9, 8081, "ok"], // another app: that rule is not theirs
      [0, 8081, "ok"], // unknown app
      [7, 8082, "error 1"], // general deny applies to every app
      [9, 8082, "error 1"],
      [7, 8083, "ok"], // the app's allow comes first in the file
      [9, 8083, "error 1"], // everyone else meets the later general deny
      [7, 8084, "ok"], // no rule: the hook leaves it to the default / app control
    ];
    const wrong = [];
    for (const [app, port, want] of table) {
      const got = await connectAs(app, port);
      if (got !== want) wrong.push(`app ${app} port ${port}: want ${want}, got ${got}`);
    }
    assert.deepEqual(wrong, []);
    const noted = [...mapKeys(filter.maps.fds.hw_flt_sockok, 8)].length;
    assert.ok(noted >= 1, "the allowed connect was noted for tc egress");
  } finally {
    for (const s of servers) {
      try {
        s.kill("SIGKILL");
        await s.status;
        await s.stdout.cancel();
      } catch { /* gone */ }
    }
    link?.destroy();
    probe?.close();
    filter.destroy();
    await cg.remove();
    await removeTestParentIfEmpty();
    await Deno.remove(tmp, { recursive: true });
    try {
      Deno.removeSync(pinRoot, { recursive: true });
    } catch { /* gone */ }
    try {
      Deno.removeSync("/sys/fs/bpf/hashwall-test");
    } catch { /* not empty */ }
  }
});
