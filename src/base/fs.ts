/**
 * Small file-system questions every layer asks, answered one way.
 *
 * @module
 */

/**
 * Whether anything exists at `path`, without following a final symlink (a dangling link exists).
 *
 * @example
 * ```ts
 * if (!exists("/sys/fs/bpf/hashwall")) console.log("no pins");
 * ```
 */
export function exists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
}
