import { assert, assertEquals } from "./_assert.ts";
import { Random } from "./_random.ts";
import { backoffDelay } from "../src/_backoff.ts";

Deno.test("backoff: doubles from the base delay up to the cap", () => {
  const delays = [1, 2, 3, 4, 10, 11, 20, 1000].map((n) => backoffDelay(n, 1000, 600_000, "none"));
  assertEquals(delays, [1000, 2000, 4000, 8000, 512_000, 600_000, 600_000, 600_000]);
});

Deno.test("backoff: full jitter stays between 0 and the ceiling", () => {
  const random = new Random(3);
  for (let attempt = 1; attempt <= 40; attempt++) {
    const ceiling = Math.min(600_000, 1000 * 2 ** (attempt - 1));
    for (let i = 0; i < 50; i++) {
      const d = backoffDelay(attempt, 1000, 600_000, "full", () => random.next());
      assert(d >= 0 && d < ceiling, `attempt ${attempt}: ${d}`);
    }
  }
  assertEquals(backoffDelay(5, 1000, 600_000, "full", () => 0), 0);
  assertEquals(backoffDelay(30, 1000, 600_000, "full", () => 0.5), 300_000);
});

Deno.test("backoff: equal jitter stays in the upper half of the ceiling", () => {
  assertEquals([1, 2, 3, 4].map((n) => backoffDelay(n, 100, 1000, "equal", () => 0)), [
    50,
    100,
    200,
    400,
  ]);
  assertEquals(backoffDelay(5, 100, 1000, "equal", () => 0), 500);
  assertEquals(backoffDelay(60, 100, 1000, "equal", () => 0.999999), 999);
  assertEquals(backoffDelay(3, 100, 1000, "equal", () => 0.5), 300);
});
