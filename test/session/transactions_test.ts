import { assertEquals } from "../_assert.ts";
import { Transactions } from "../../src/session/_transactions.ts";

Deno.test("transactions: responses in order take the oldest, and entries keep sent order", () => {
  const t = new Transactions<number>();
  for (let i = 0; i < 5; i++) t.add(`tid${i}`, i);
  assertEquals(t.take("tid0"), 0);
  assertEquals(t.take("tid1"), 1);
  assertEquals(t.size, 3);
  assertEquals(t.oldest(), ["tid2", 2]);
  assertEquals(t.entries(), [["tid2", 2], ["tid3", 3], ["tid4", 4]]);
});

Deno.test("transactions: a response out of order takes its own transaction, the older ones still wait", () => {
  const t = new Transactions<string>();
  for (const id of ["a1", "a2", "a3", "a4"]) t.add(id, id.toUpperCase());
  assertEquals(t.take("a3"), "A3");
  assertEquals(t.take("a3"), undefined, "taken once");
  t.add("a5", "A5");
  assertEquals(t.take("a5"), "A5", "added after the index was built");
  assertEquals(t.entries(), [["a1", "A1"], ["a2", "A2"], ["a4", "A4"]]);
  assertEquals(t.take("a1"), "A1");
  assertEquals(t.take("a2"), "A2");
  assertEquals(t.oldest(), ["a4", "A4"], "the head moves past the hole a3 left");
});

Deno.test("transactions: an unknown id takes nothing and changes nothing", () => {
  const t = new Transactions<number>();
  assertEquals(t.take("nope"), undefined);
  t.add("x1", 1);
  assertEquals(t.take("nope"), undefined);
  assertEquals([t.size, t.oldest()], [1, ["x1", 1]]);
});

Deno.test("transactions: clear forgets every transaction", () => {
  const t = new Transactions<number>();
  t.add("c1", 1);
  t.add("c2", 2);
  t.take("c2");
  t.clear();
  assertEquals([t.size, t.oldest(), t.entries(), t.take("c1")], [0, undefined, [], undefined]);
  t.add("c3", 3);
  assertEquals(t.take("c3"), 3);
});

Deno.test("transactions: random adds and takes, in and out of order, agree with a Map", () => {
  let seed = 42;
  const random = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  for (let run = 0; run < 20; run++) {
    const t = new Transactions<number>();
    const model = new Map<string, number>();
    let next = 0;
    for (let step = 0; step < 5000; step++) {
      const r = random();
      if (r < 0.5 || model.size === 0) {
        const id = `t${next}`;
        t.add(id, next++);
        model.set(id, next - 1);
      } else {
        const keys = [...model.keys()];
        // Mostly the oldest, as peers answer; sometimes any, sometimes one never sent.
        const id = r < 0.85
          ? keys[0]
          : r < 0.97
          ? keys[Math.floor(random() * keys.length)]
          : `unknown${step}`;
        assertEquals(t.take(id), model.get(id), `run ${run} step ${step} take ${id}`);
        model.delete(id);
      }
      assertEquals(t.size, model.size);
    }
    assertEquals(t.entries(), [...model.entries()]);
  }
});
