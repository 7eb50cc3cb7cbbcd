/**
 * Filesystems for identity tests, each on a loop file (or tmpfs / overlay) under one temporary
 * folder with a random name, and bind mounts of them. `cleanup()` unmounts everything in reverse
 * order (lazily if busy) and removes the folder; loop devices go with their last unmount
 * (`mount -o loop` sets autoclear).
 *
 * @module
 */

/** Runs a command; throws with its stderr when it fails. */
export async function sh(cmd: string, ...args: string[]): Promise<string> {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  const dec = new TextDecoder();
  if (out.code !== 0) {
    throw new Error(`${cmd} ${args.join(" ")}: exit ${out.code}: ${dec.decode(out.stderr)}`);
  }
  return dec.decode(out.stdout);
}

/** A set of test mounts. */
export interface LoopFs extends AsyncDisposable {
  /** The folder everything lives under (mode 0755, so uid nobody can reach binaries). */
  root: string;
  /** A fresh filesystem of `type` ("ext4", "xfs", "btrfs") on a loop file, mounted at root/name. */
  loop(type: "ext4" | "xfs" | "btrfs", name: string, opts?: string): Promise<string>;
  /** Mounts `source` (device/loop file) or a subvolume at root/name with extra options. */
  mount(args: string[], name: string): Promise<string>;
  /** A bind mount of `dir` at root/name. */
  bind(dir: string, name: string): Promise<string>;
  /** Unmounts everything and removes the folder. Safe to call twice. */
  cleanup(): Promise<void>;
}

/** Creates the folder; every mount made through the result is undone by `cleanup`. */
export async function createLoopFs(prefix: string): Promise<LoopFs> {
  const root = await Deno.makeTempDir({ prefix: `hw-${prefix}-` });
  await Deno.chmod(root, 0o755);
  const mounts: string[] = [];
  let cleaned = false;
  const fs: LoopFs = {
    root,
    async loop(type, name, opts) {
      const img = `${root}/${name}.img`;
      const f = await Deno.open(img, { create: true, write: true });
      await f.truncate(type === "xfs" ? 320 << 20 : 160 << 20);
      f.close();
      if (type === "btrfs") await sh("mkfs.btrfs", "-q", "-f", img);
      else if (type === "xfs") await sh("mkfs.xfs", "-q", "-f", img);
      else await sh("mkfs.ext4", "-q", "-F", img);
      return await fs.mount(["-o", opts ? `loop,${opts}` : "loop", img], name);
    },
    async mount(args, name) {
      const at = `${root}/${name}`;
      await Deno.mkdir(at, { recursive: true });
      await sh("mount", ...args, at);
      mounts.push(at);
      await Deno.chmod(at, 0o755);
      return at;
    },
    async bind(dir, name) {
      return await fs.mount(["--bind", dir], name);
    },
    async cleanup() {
      if (cleaned) return;
      cleaned = true;
      for (const at of mounts.reverse()) {
        try {
          await sh("umount", at);
        } catch {
          await sh("umount", "-l", at).catch(() => {});
        }
      }
      await Deno.remove(root, { recursive: true }).catch(() => {});
    },
    [Symbol.asyncDispose]: () => fs.cleanup(),
  };
  return fs;
}
