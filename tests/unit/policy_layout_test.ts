/**
 * ffi/filter_structs.ts must agree with the packet-filter section of bpf/hashwall.h: a C probe
 * generated from FLT_LAYOUT and FLT is compiled against the header and every size, offset and
 * constant is compared.
 */
import assert from "node:assert/strict";
import { anyBit, FLT, FLT_LAYOUT } from "../../ffi/filter_structs.ts";

const header = new URL("../../bpf/hashwall.h", import.meta.url).pathname;

function probeSource(): { source: string; expected: Map<string, number> } {
  const expected = new Map<string, number>();
  const lines: string[] = [];
  for (const [struct, layout] of Object.entries(FLT_LAYOUT)) {
    expected.set(`sizeof.${struct}`, layout.size);
    lines.push(`  printf("sizeof.${struct} %zu\\n", sizeof(struct ${struct}));`);
    for (const [field, offset] of Object.entries(layout.fields)) {
      expected.set(`offsetof.${struct}.${field}`, offset as number);
      lines.push(
        `  printf("offsetof.${struct}.${field} %zu\\n", offsetof(struct ${struct}, ${field}));`,
      );
    }
  }
  for (const [name, value] of Object.entries(FLT)) {
    expected.set(`const.HW_FLT_${name}`, value);
    lines.push(`  printf("const.HW_FLT_${name} %lld\\n", (long long)(HW_FLT_${name}));`);
  }
  for (const dir of [0, 1]) {
    for (const proto of [1, 6, 17, 58, 255]) {
      expected.set(`anybit.${dir}.${proto}`, anyBit(dir, proto));
      lines.push(`  printf("anybit.${dir}.${proto} %u\\n", HW_FLT_ANY_BIT(${dir}, ${proto}));`);
    }
  }
  const source = [
    "#include <stdio.h>",
    "#include <stddef.h>",
    `#include "${header}"`,
    "int main(void) {",
    ...lines,
    "  return 0;",
    "}",
  ].join("\n");
  return { source, expected };
}

Deno.test("ffi/filter_structs.ts mirrors the packet-filter section of bpf/hashwall.h", async () => {
  const { source, expected } = probeSource();
  const dir = await Deno.makeTempDir({ prefix: "hw-flt-layout-" });
  try {
    await Deno.writeTextFile(`${dir}/probe.c`, source);
    const cc = await new Deno.Command("cc", {
      args: ["-Wall", "-Werror", "-o", `${dir}/probe`, `${dir}/probe.c`],
    }).output();
    assert.equal(cc.code, 0, new TextDecoder().decode(cc.stderr));
    const run = await new Deno.Command(`${dir}/probe`).output();
    assert.equal(run.code, 0);
    const actual = new Map<string, number>();
    for (const line of new TextDecoder().decode(run.stdout).trim().split("\n")) {
      const [name, value] = line.split(" ");
      actual.set(name, Number(value));
    }
    const mismatches = [...expected].filter(([k, v]) => actual.get(k) !== v)
      .map(([k, v]) => `${k}: mirror says ${v}, header says ${actual.get(k)}`);
    assert.deepEqual(mismatches, []);
    assert.ok(expected.size > 60, "the probe checks a meaningful number of facts");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
