import { findCycles, importGraph } from "../../tools/check_cycles.ts";
import { assertEquals } from "../_assert.ts";

Deno.test("findCycles: a graph without cycles has none", () => {
  const graph = new Map([["a", ["b", "c"]], ["b", ["c"]], ["c", []]]);
  assertEquals(findCycles(graph), []);
});

Deno.test("findCycles: two modules importing each other make one cycle", () => {
  const graph = new Map([["main", ["b"]], ["b", ["a"]], ["a", ["b"]]]);
  assertEquals(findCycles(graph), [["a", "b", "a"]]);
});

Deno.test("findCycles: a module importing itself is a cycle", () => {
  assertEquals(findCycles(new Map([["a", ["a", "b"]], ["b", []]])), [["a", "a"]]);
});

Deno.test("findCycles: every cycle of a tangle and of separate tangles is listed once", () => {
  const graph = new Map([
    ["a", ["b"]],
    ["b", ["c", "a"]],
    ["c", ["a"]],
    ["x", ["y"]],
    ["y", ["x"]],
  ]);
  assertEquals(findCycles(graph), [["a", "b", "a"], ["a", "b", "c", "a"], ["x", "y", "x"]]);
});

Deno.test("importGraph: reads imports, type-only ones too, through deno info", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.mkdir(`${dir}/src`);
    await Deno.writeTextFile(
      `${dir}/src/a.ts`,
      'import { b } from "./b.ts";\nexport const a = b;\n',
    );
    await Deno.writeTextFile(
      `${dir}/src/b.ts`,
      'import type { C } from "./c.ts";\nexport const b: C = 1;\n',
    );
    await Deno.writeTextFile(`${dir}/src/c.ts`, 'import "./b.ts";\nexport type C = number;\n');
    const { graph, errors } = await importGraph(["src"], dir);
    assertEquals(errors, []);
    assertEquals(findCycles(graph), [["src/b.ts", "src/c.ts", "src/b.ts"]]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
