/**
 * Finding the cgroup2 hierarchy. On hybrid hosts it is mounted at /sys/fs/cgroup/unified, so it is
 * read from /proc/mounts rather than assumed.
 *
 * @module
 */

/** The cgroup2 mount point from /proc/mounts; throws when there is none. */
export function cgroup2Mount(mounts = Deno.readTextFileSync("/proc/mounts")): string {
  for (const line of mounts.split("\n")) {
    const f = line.split(" ");
    if (f[2] === "cgroup2") return f[1];
  }
  throw new Error("no cgroup2 mount in /proc/mounts (hashwall needs cgroup v2)");
}

/**
 * Throws unless `path` is a cgroup2 folder. Attaching to anything else fails deep in libbpf with
 * a bare EBADF; this names the folder and where the cgroup2 hierarchy really is (on hybrid hosts
 * /sys/fs/cgroup is a tmpfs of v1 hierarchies, and a folder made there is no cgroup at all).
 */
export function assertCgroup2(path: string): void {
  try {
    // cgroup.controllers exists in every cgroup2 folder and in no v1 hierarchy.
    Deno.statSync(`${path}/cgroup.controllers`);
  } catch {
    let where = "";
    try {
      where = `; the cgroup2 hierarchy is mounted at ${cgroup2Mount()}`;
    } catch { /* no cgroup2 at all: cgroup2Mount's own error would say so */ }
    throw new Error(`--cgroup ${path} is not a cgroup2 folder (no cgroup.controllers)${where}`);
  }
}
