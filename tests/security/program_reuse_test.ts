/**
 * Reusing a pinned program set (issue 22): a restart of the same build takes over the programs
 * the previous start pinned instead of loading and verifying them again. That is a trust path:
 * the kernel then runs whatever those pins hold. These tests show that only a set this build
 * loaded and attached, in root-only folders, is ever reused:
 *
 * - uid nobody (inside the test cgroup) can neither read, replace, rename nor add pins there;
 * - a set whose folder is not root-only (as if an unprivileged user could have swapped its pins)
 *   is not reused: the programs are loaded and verified again;
 * - a set pinned under another build id is not reused, and is removed;
 * - a set whose programs do not use the maps this daemon writes (a map re-created since) is not
 *   reused.
 *
 * Real kernel, real bpffs; everything under a test instance and a test cgroup, removed on every
 * path.
 */
import assert from "node:assert/strict";
import {
  AppControl,
  disableInstance,
  programBuildId,
  programSetDir,
} from "../../src/kernel/app_control.ts";
import { loadPacketFilter } from "../../src/kernel/filter.ts";
import { pinExists, type PinPaths, pinPaths } from "../../src/kernel/pins.ts";
import { closeBpfFd, objGet, objPin, progInfo } from "../../ffi/libbpf.ts";
import { HW } from "../../ffi/structs.ts";
import { createTestCgroup, removeTestParentIfEmpty, type TestCgroup } from "../helpers/cgroup.ts";
import { asNobody } from "./harness.ts";

interface Fixture {
  cg: TestCgroup;
  pins: PinPaths;
}

/** One daemon start's kernel part, in the daemon's order: filter maps, object, attach, close. */
function start(f: Fixture): { reused: boolean; connect4: number } {
  const filter = loadPacketFilter({ pinRoot: f.pins.root, deferPrograms: true });
  const core = AppControl.open({
    pins: f.pins,
    cgroupPath: f.cg.path,
    settings: { mode: HW.MODE_ENFORCING, allowLoopback: true, daemonTgid: 0, dedupMs: 10_000 },
  });
  try {
    core.attachLineage();
    core.attachHooks();
    return { reused: core.programsReused, connect4: attachedConnect4(f) };
  } finally {
    core.close();
    filter.close();
  }
}

/** The id of the program the pinned connect4 link runs now. */
function attachedConnect4(f: Fixture): number {
  const fd = objGet(`${programSetDir(f.pins)}/hw_connect4`);
  try {
    return progInfo(fd).id;
  } finally {
    closeBpfFd(fd);
  }
}

async function withFixture(
  name: string,
  body: (f: Fixture) => void | Promise<void>,
): Promise<void> {
  const cg = await createTestCgroup(name);
  const pins = pinPaths(`test-${name}-${crypto.randomUUID().slice(0, 8)}`);
  try {
    await body({ cg, pins });
  } finally {
    disableInstance(pins);
    await cg.remove();
    await removeTestParentIfEmpty();
  }
}

Deno.test("program reuse: a restart of the same build reuses its pinned set", async () => {
  await withFixture("reuse-same", (f) => {
    const first = start(f);
    assert.equal(first.reused, false, "a first start loads");
    const second = start(f);
    assert.equal(second.reused, true, "the restart reused the set");
    assert.equal(second.connect4, first.connect4, "the same program, not a new one");
    // disable removes the set with everything else.
    const removed = disableInstance(f.pins);
    assert.ok(removed.includes(programSetDir(f.pins)), "disable removed the program set");
    assert.equal(pinExists(f.pins.root), false);
  });
});

Deno.test("program reuse: uid nobody can neither read, replace, rename nor add pinned programs", async () => {
  await withFixture("reuse-nobody", async (f) => {
    const first = start(f);
    const set = programSetDir(f.pins);
    const forged = `${f.pins.root}/progs-${"0".repeat(32)}`;
    // Every attempt runs as nobody inside the test cgroup; each must fail.
    const attempts: [string, string][] = [
      ["read a program pin", `cat "${set}/hw_connect4" > /dev/null`],
      ["remove a program pin", `rm -f "${set}/hw_connect4"`],
      ["rename the set", `mv "${set}" "${set}x"`],
      ["add a set", `mkdir "${forged}"`],
      ["rename a pin into the set", `mv "${f.pins.maps}/hw_approved" "${set}/hw_connect4"`],
    ];
    for (const [what, sh] of attempts) {
      const r = await f.cg.run([...asNobody(), "sh", "-c", sh]);
      assert.notEqual(r.code, 0, `nobody could ${what}: ${r.stdout}${r.stderr}`);
      assert.match(r.stderr, /Permission denied|Operation not permitted/, what);
    }
    assert.equal(pinExists(forged), false);
    const again = start(f);
    assert.equal(again.reused, true, "the untouched set is still reused");
    assert.equal(again.connect4, first.connect4);
  });
});

Deno.test("program reuse: a set in a folder that is not root-only is loaded afresh", async () => {
  await withFixture("reuse-owner", (f) => {
    const first = start(f);
    // As if the folder were nobody's (then nobody could have renamed pins in it).
    Deno.chownSync(programSetDir(f.pins), 65534, 65534);
    const second = start(f);
    assert.equal(second.reused, false, "a set in a folder nobody owns was reused");
    assert.notEqual(second.connect4, first.connect4, "the programs were not loaded afresh");
    assert.equal(Deno.statSync(programSetDir(f.pins)).uid, 0, "the new set is root's");
    // The same for a group/other-writable folder.
    Deno.chmodSync(programSetDir(f.pins), 0o777);
    const third = start(f);
    assert.equal(third.reused, false, "a world-writable set folder was reused");
  });
});

Deno.test("program reuse: a set of another build id is not reused and is removed", async () => {
  await withFixture("reuse-build", (f) => {
    const first = start(f);
    const other = `${f.pins.root}/progs-${"f".repeat(32)}`;
    assert.notEqual(programBuildId(), "f".repeat(32));
    Deno.renameSync(programSetDir(f.pins), other);
    const second = start(f);
    assert.equal(second.reused, false, "a set pinned under another build id was reused");
    assert.notEqual(second.connect4, first.connect4);
    assert.equal(pinExists(other), false, "the other build's set was left behind");
    assert.equal(start(f).reused, true, "this build's new set is reused at the next start");
  });
});

Deno.test("program reuse: a set whose maps are not the ones the daemon writes is loaded afresh", async () => {
  await withFixture("reuse-maps", (f) => {
    const first = start(f);
    // The set's hw_sock_ctl pin swapped for another map the programs use (hw_settings): the
    // daemon would write socket-closing controls into the settings.
    const ctl = `${programSetDir(f.pins)}/hw_sock_ctl`;
    Deno.removeSync(ctl);
    const fd = objGet(`${f.pins.maps}/hw_settings`);
    try {
      objPin(fd, ctl);
    } finally {
      closeBpfFd(fd);
    }
    const second = start(f);
    assert.equal(second.reused, false, "a set with a swapped map pin was reused");
    assert.notEqual(second.connect4, first.connect4);
    // A persistent map's pin gone (a partial disable): the next start re-creates the map, which
    // the pinned programs do not use.
    Deno.removeSync(`${f.pins.maps}/hw_tainted`);
    const third = start(f);
    assert.equal(third.reused, false, "a set whose map was re-created was reused");
    assert.notEqual(third.connect4, second.connect4);
    assert.equal(start(f).reused, true, "the new set is reused at the next start");
  });
});
