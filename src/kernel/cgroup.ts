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
