import { assertEquals } from "./_assert.ts";
import { SerialWork } from "../src/_serial.ts";

Deno.test("serial work: runs one at a time, and calls made during a run become one more run after it", async () => {
  let running = 0;
  let most = 0;
  let runs = 0;
  const gates: PromiseWithResolvers<void>[] = [];
  const work = new SerialWork(async () => {
    running++;
    most = Math.max(most, running);
    runs++;
    const gate = Promise.withResolvers<void>();
    gates.push(gate);
    await gate.promise;
    running--;
  });
  work.run();
  work.run();
  work.run();
  assertEquals([runs, gates.length], [1, 1]);
  gates[0].resolve();
  await new Promise((r) => setTimeout(r, 0));
  assertEquals(runs, 2, "the two calls during the first run made one more run");
  const idle = work.idle();
  gates[1].resolve();
  await idle;
  assertEquals([runs, most], [2, 1]);
  work.run();
  assertEquals(runs, 3, "a call when idle runs at once");
  gates[2].resolve();
  await work.idle();
});
