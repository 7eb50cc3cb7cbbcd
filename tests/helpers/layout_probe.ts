/**
 * Checks a TypeScript mirror of bpf/hashwall.h against the header itself: generates a C probe that
 * prints every size, offset and constant the mirror claims, compiles it with the system compiler,
 * runs it, and returns the disagreements. Used by the layout tests of ffi/structs.ts and
 * ffi/filter_structs.ts (one source of truth: the header).
 *
 * @module
 */

/** Struct name → size and field offsets, as the mirrors declare them. */
export type LayoutTable = Record<string, { size: number; fields: Record<string, number> }>;

/** What to check: layouts, `PREFIX_NAME` constants, and free-form C expressions. */
export interface ProbeSpec {
  layouts: LayoutTable;
  constants: Record<string, number>;
  /** Prefix of the constants in C, e.g. "HW_" or "HW_FLT_". */
  constPrefix: string;
  /** Extra facts: name → [C expression (unsigned long long), expected value]. */
  expressions?: Record<string, [string, number]>;
  /**
   * Prefixes of constants that belong to another mirror (e.g. "HW_FLT_" when checking "HW_"), so
   * the completeness check does not ask this mirror for them.
   */
  otherPrefixes?: string[];
}

/** Names (without prefix) of every object-like `#define PREFIX…` in the header, in order. */
export function headerConstants(
  header: string,
  prefix: string,
  otherPrefixes: string[] = [],
): string[] {
  const names: string[] = [];
  for (const m of header.matchAll(/^#define\s+([A-Z0-9_]+)\s+\S/gm)) {
    const name = m[1];
    if (!name.startsWith(prefix) || otherPrefixes.some((p) => name.startsWith(p))) continue;
    names.push(name.slice(prefix.length));
  }
  return names;
}

const HEADER = new URL("../../bpf/hashwall.h", import.meta.url).pathname;

/** Compiles and runs the probe; resolves to the facts checked and the mismatches found. */
export async function probeLayout(
  spec: ProbeSpec,
): Promise<{ checked: number; mismatches: string[] }> {
  const expected = new Map<string, number>();
  const lines: string[] = [];
  // Completeness: a constant the header defines but the mirror lacks is a mismatch too, so a new
  // #define cannot silently go unmirrored.
  const header = await Deno.readTextFile(HEADER);
  const missing = headerConstants(header, spec.constPrefix, spec.otherPrefixes)
    .filter((name) => !(name in spec.constants))
    .map((name) =>
      `const.${spec.constPrefix}${name}: defined in the header, missing from the mirror`
    );
  const fact = (name: string, expr: string, value: number) => {
    expected.set(name, value);
    lines.push(`  printf("${name} %llu\\n", (unsigned long long)(${expr}));`);
  };
  for (const [struct, layout] of Object.entries(spec.layouts)) {
    fact(`sizeof.${struct}`, `sizeof(struct ${struct})`, layout.size);
    for (const [field, offset] of Object.entries(layout.fields)) {
      fact(`offsetof.${struct}.${field}`, `offsetof(struct ${struct}, ${field})`, offset);
    }
  }
  for (const [name, value] of Object.entries(spec.constants)) {
    fact(`const.${spec.constPrefix}${name}`, `${spec.constPrefix}${name}`, value);
  }
  for (const [name, [expr, value]] of Object.entries(spec.expressions ?? {})) {
    fact(name, expr, value);
  }
  const source = [
    "#include <stdio.h>",
    "#include <stddef.h>",
    `#include "${HEADER}"`,
    "int main(void) {",
    ...lines,
    "  return 0;",
    "}",
  ].join("\n");
  const dir = await Deno.makeTempDir({ prefix: "hw-layout-" });
  try {
    await Deno.writeTextFile(`${dir}/probe.c`, source);
    const cc = await new Deno.Command("cc", {
      args: ["-Wall", "-Werror", "-o", `${dir}/probe`, `${dir}/probe.c`],
    }).output();
    if (cc.code !== 0) throw new Error(new TextDecoder().decode(cc.stderr));
    const run = await new Deno.Command(`${dir}/probe`).output();
    if (run.code !== 0) throw new Error(`probe exited ${run.code}`);
    const actual = new Map<string, number>();
    for (const line of new TextDecoder().decode(run.stdout).trim().split("\n")) {
      const [name, value] = line.split(" ");
      actual.set(name, Number(value));
    }
    const mismatches = [...expected].filter(([k, v]) => actual.get(k) !== v)
      .map(([k, v]) => `${k}: mirror says ${v}, header says ${actual.get(k)}`);
    return { checked: expected.size, mismatches: [...missing, ...mismatches] };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
