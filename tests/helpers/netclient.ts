/**
 * Builds tests/fixtures/netclient.c (a one-shot client: see its header) and places copies where a
 * test wants them. Each copy is a separate inode, so it is a separate kernel identity.
 *
 * @module
 */
const SOURCE = new URL("../fixtures/netclient.c", import.meta.url).pathname;
let built: Promise<string> | undefined;

/** Compiles netclient once per test process; resolves to the binary's path. */
export function buildNetclient(): Promise<string> {
  built ??= (async () => {
    const dir = await Deno.makeTempDir({ prefix: "hw-netclient-" });
    const out = `${dir}/netclient`;
    const cc = await new Deno.Command("cc", { args: ["-O2", "-Wall", "-o", out, SOURCE] }).output();
    if (cc.code !== 0) throw new Error(new TextDecoder().decode(cc.stderr));
    return out;
  })();
  return built;
}

/** Copies the client to `dir/name` (a new inode) and returns the path. */
export async function netclientCopy(dir: string, name = "netclient"): Promise<string> {
  const src = await buildNetclient();
  await Deno.mkdir(dir, { recursive: true });
  const dst = `${dir}/${name}`;
  await Deno.copyFile(src, dst);
  await Deno.chmod(dst, 0o755);
  return dst;
}

/** A TCP listener on a loopback address that accepts and closes every connection. */
export function loopbackListener(hostname = "127.0.0.1"): { port: number; close(): void } {
  const l = Deno.listen({ hostname, port: 0 });
  (async () => {
    try {
      for await (const c of l) c.close();
    } catch { /* closed */ }
  })();
  return { port: (l.addr as Deno.NetAddr).port, close: () => l.close() };
}
