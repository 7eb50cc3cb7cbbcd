/**
 * The apt configuration snippet that tells the daemon when dpkg runs: `DPkg::Pre-Invoke` before
 * apt calls dpkg, `DPkg::Post-Invoke` after it returned. Both call `hashwall packages hook` through
 * the control socket; `post` returns only after the daemon reconciled every changed
 * package-backed app. A hook never fails apt: no daemon, no binary or any error is ignored.
 *
 * @module
 */

/** Where `hashwall install` puts the snippet. */
export const APT_HOOK_PATH = "/etc/apt/apt.conf.d/20hashwall";

/**
 * The snippet for a hashwall binary at `binary` (and a state folder other than the default when
 * `stateDir` is given).
 *
 * @example
 * ```ts
 * aptHookText("/usr/local/sbin/hashwall");
 * ```
 */
export function aptHookText(binary: string, stateDir?: string): string {
  if (!/^\/[A-Za-z0-9._/+-]+$/.test(binary)) throw new Error(`unsafe binary path ${binary}`);
  if (stateDir !== undefined && !/^\/[A-Za-z0-9._/+-]+$/.test(stateDir)) {
    throw new Error(`unsafe state path ${stateDir}`);
  }
  const state = stateDir ? ` --state ${stateDir}` : "";
  const call = (phase: string) =>
    `"if [ -x ${binary} ]; then ${binary} packages hook ${phase}${state} || true; fi";`;
  return [
    "// hashwall: tells the daemon when dpkg runs, so approvals of package-owned files follow",
    "// signed package updates. Written by `hashwall install`, removed by `hashwall uninstall`.",
    `DPkg::Pre-Invoke { ${call("pre")} };`,
    `DPkg::Post-Invoke { ${call("post")} };`,
    "",
  ].join("\n");
}

/** apt `-o` options that run the same hook for one command (tests, or a one-off upgrade). */
export function aptHookOptions(binary: string, stateDir?: string): string[] {
  const state = stateDir ? ` --state ${stateDir}` : "";
  return [
    "-o",
    `DPkg::Pre-Invoke::=${binary} packages hook pre${state} || true`,
    "-o",
    `DPkg::Post-Invoke::=${binary} packages hook post${state} || true`,
  ];
}
