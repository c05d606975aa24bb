/**
 * The waits of `test/_until.ts`: each ends, and one that waits in vain fails
 * naming what it waited for.
 *
 * @module
 */

import { assertEquals, assertRejects } from "./_assert.ts";
import { deadlineOnAwait, until, withDeadline } from "./_until.ts";

Deno.test("until: withDeadline gives the value, or fails naming what it waited for", async () => {
  assertEquals(await withDeadline(Promise.resolve(7), "seven"), 7);
  await assertRejects(
    () => withDeadline(new Promise(() => {}), "a promise that never settles", 20),
    Error,
    "gave up waiting for a promise that never settles (20 ms)",
  );
});

Deno.test("until: polls until the condition holds, and bounds a check that hangs", async () => {
  let n = 0;
  await until(() => ++n === 3, "the third check", { intervalMs: 1 });
  assertEquals(n, 3);
  await assertRejects(() => until(() => false, "never", { timeoutMs: 20 }), Error, "never");
  await assertRejects(
    () => until(() => new Promise<boolean>(() => {}), "a hung check", { timeoutMs: 20 }),
    Error,
    "a hung check",
  );
});

Deno.test("until: deadlineOnAwait starts no timer until it is used (the sanitizer would see one)", async () => {
  deadlineOnAwait(new Promise(() => {}), "something never awaited", 20);
  const used = deadlineOnAwait(new Promise(() => {}), "the awaited one", 20);
  await assertRejects(() => used, Error, "gave up waiting for the awaited one");
  assertEquals(await deadlineOnAwait(Promise.resolve("ok"), "ok").catch(() => "no"), "ok");
});
