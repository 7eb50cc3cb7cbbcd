/**
 * `hashwall run` refuses bad start arguments with a message that names the problem, before it
 * loads anything into the kernel.
 */
import assert from "node:assert/strict";
import { runHashwall } from "../helpers/daemon.ts";
import { cgroup2Mount } from "../../src/kernel/cgroup.ts";

Deno.test("run: a --cgroup that is not a cgroup2 folder is named, with where cgroup2 is", async () => {
  const root = await Deno.makeTempDir({ prefix: "hw-run-errors-" });
  try {
    await Deno.mkdir(`${root}/not-a-cgroup`);
    const r = await runHashwall([
      "run",
      "--default-config",
      "--state",
      `${root}/state`,
      "--cgroup",
      `${root}/not-a-cgroup`,
      "--ui",
      "off",
      "--interfaces",
      "none",
    ]);
    assert.notEqual(r.code, 0, "the daemon must not start");
    const out = r.stdout + r.stderr;
    assert.match(out, new RegExp(`${root}/not-a-cgroup is not a cgroup2 folder`));
    assert.ok(out.includes(`mounted at ${cgroup2Mount()}`), out);
    assert.doesNotMatch(out, /EBADF/);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
