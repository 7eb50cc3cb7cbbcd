/**
 * Tests of the libc binding (ffi/libc.ts) against the real C library and kernel.
 *
 * Run: deno test -A tests/kernel/libc_test.ts
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  close,
  cString,
  decodeCString,
  errno,
  ErrnoError,
  errnoName,
  getpid,
  MNT_DETACH,
  mount,
  O_CLOEXEC,
  O_DIRECTORY,
  O_RDONLY,
  O_WRONLY,
  openPath,
  setErrno,
  strerror,
  umount,
} from "../../ffi/libc.ts";

Deno.test("errno names and strerror texts come from the real libc", () => {
  assert.equal(errnoName(1), "EPERM");
  assert.equal(errnoName(2), "ENOENT");
  assert.equal(errnoName(13), "EACCES");
  assert.equal(errnoName(524), "ENOTSUPP");
  assert.equal(errnoName(9999), "E9999");
  assert.equal(strerror(1), "Operation not permitted");
  assert.equal(strerror(2), "No such file or directory");
});

Deno.test("errno() reads and setErrno() writes the thread's errno", () => {
  setErrno(0);
  assert.equal(errno(), 0);
  setErrno(42);
  assert.equal(errno(), 42);
  setErrno(0);
});

Deno.test("openPath/close: fds work, failures name the path and errno", () => {
  const fd = openPath("/proc/self/status", O_RDONLY | O_CLOEXEC);
  try {
    assert.ok(fd > 2);
    // The fd is really open: /proc/self/fd lists it as a link to the file.
    assert.equal(Deno.readLinkSync(`/proc/self/fd/${fd}`), `/proc/${Deno.pid}/status`);
  } finally {
    close(fd);
  }
  assert.throws(() => Deno.readLinkSync(`/proc/self/fd/${fd}`), Deno.errors.NotFound);
  assert.throws(
    () => close(fd),
    (e: unknown) => e instanceof ErrnoError && e.errno === 9 && e.code === "EBADF",
  );
  assert.throws(
    () => openPath("/nonexistent/hashwall", O_RDONLY),
    (e: unknown) =>
      e instanceof ErrnoError && e.errno === 2 && e.code === "ENOENT" &&
      e.message === 'open("/nonexistent/hashwall"): No such file or directory (ENOENT)',
  );
  assert.throws(
    () => openPath("/etc/hostname", O_RDONLY | O_DIRECTORY),
    (e: unknown) => e instanceof ErrnoError && e.code === "ENOTDIR",
  );
  assert.throws(() => openPath("/tmp/a\0b", O_WRONLY), /NUL byte/);
  assert.throws(() => close(-1), /invalid fd/);
});

Deno.test("getpid is this process", () => {
  assert.equal(getpid(), Deno.pid);
});

Deno.test("C string helpers round-trip UTF-8 and stop at NUL", () => {
  const c = cString("héllo");
  assert.equal(c[c.length - 1], 0);
  assert.equal(decodeCString(c), "héllo");
  assert.equal(decodeCString(new Uint8Array([104, 105, 0, 120])), "hi");
  assert.equal(decodeCString(new Uint8Array([104, 105])), "hi");
});

Deno.test("mount/umount a tmpfs in a temp folder; errors name the target", () => {
  const dir = Deno.makeTempDirSync({ prefix: "hw-libc-mount-" });
  try {
    mount("hwtest", dir, "tmpfs", 0, "size=64k");
    try {
      const line = Deno.readTextFileSync("/proc/mounts").split("\n").find((l) =>
        l.split(" ")[1] === dir
      );
      assert.ok(line?.startsWith("hwtest "), line);
      assert.equal(line?.split(" ")[2], "tmpfs");
    } finally {
      umount(dir, MNT_DETACH);
    }
    assert.throws(
      () => umount(dir),
      (e: unknown) => e instanceof ErrnoError && e.code === "EINVAL" && e.message.includes(dir),
    );
    assert.throws(
      () => mount("x", `${dir}/missing`, "tmpfs"),
      (e: unknown) => e instanceof ErrnoError && e.code === "ENOENT",
    );
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
