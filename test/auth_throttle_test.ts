import { assertEquals, assertThrows } from "./_assert.ts";
import { AuthThrottle } from "../src/auth_throttle.ts";

Deno.test("auth throttle: a client is blocked after `limit` failures until the window has passed", () => {
  let now = 1_000;
  const throttle = new AuthThrottle(3, 60_000, () => now);
  for (let i = 0; i < 3; i++) {
    assertEquals(throttle.blocked("192.0.2.1"), 0);
    throttle.failed("192.0.2.1");
  }
  assertEquals(throttle.blocked("192.0.2.1"), 60_000);
  assertEquals(throttle.blocked("192.0.2.2"), 0, "other clients are not affected");
  now += 59_000;
  assertEquals(throttle.blocked("192.0.2.1"), 1_000);
  now += 1_000;
  assertEquals(throttle.blocked("192.0.2.1"), 0);
});

Deno.test("auth throttle: a success forgets the client's failures", () => {
  const throttle = new AuthThrottle(2, 60_000, () => 0);
  throttle.failed("a");
  throttle.succeeded("a");
  throttle.failed("a");
  assertEquals(throttle.blocked("a"), 0);
  throttle.failed("a");
  assertEquals(throttle.blocked("a") > 0, true);
});

Deno.test("auth throttle: memory stays bounded when many clients fail once", () => {
  const throttle = new AuthThrottle(1, 60_000, () => 0);
  for (let i = 0; i < 20_000; i++) throttle.failed(`client-${i}`);
  assertEquals(throttle.blocked("client-19999") > 0, true);
  assertEquals(throttle.blocked("client-0"), 0, "the oldest clients are forgotten first");
});

Deno.test("auth throttle: a limit or window below 1 is refused", () => {
  assertThrows(() => new AuthThrottle(0, 1000), RangeError);
  assertThrows(() => new AuthThrottle(1, 0), RangeError);
});
