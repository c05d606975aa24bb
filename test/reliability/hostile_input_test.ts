/**
 * Hostile input to the other parsers: random and mutated ESL streams into
 * the ESL parser, and malformed requests to the HTTP API. Seeded and bounded.
 */

import { assert } from "../_assert.ts";
import { Random } from "../_random.ts";
import { EslError, EslParser } from "../../src/pbx/mod.ts";
import { startHarness } from "../api/_harness.ts";

const FIXTURE = new URL("../fixtures/esl/message-event-inbound-sip-message.txt", import.meta.url);

Deno.test("hostile ESL input: random and mutated streams give EslError or messages, never another error or a hang", async () => {
  const valid = await Deno.readFile(FIXTURE);
  const rng = new Random(0xe51);
  for (let round = 0; round < 2000; round++) {
    const fromFixture = rng.next() < 0.5;
    const input = fromFixture ? valid.slice() : rng.bytes(rng.int(1, 3000));
    if (fromFixture) {
      for (let k = rng.int(1, 8); k > 0; k--) input[rng.int(0, input.length - 1)] = rng.int(0, 255);
    }
    const parser = new EslParser({ maxHeaderBytes: 4096, maxBodyBytes: 65536 });
    try {
      for (let at = 0; at < input.length;) {
        const n = rng.int(1, 500);
        parser.push(input.subarray(at, at + n));
        at += n;
      }
    } catch (e) {
      assert(e instanceof EslError, `round ${round}: ${e}`);
    }
  }
});

Deno.test("hostile HTTP input: malformed JSON, wrong types, huge headers and bodies get 4xx problems, never 5xx", async () => {
  await using h = await startHarness();
  const rng = new Random(0xa91);
  const created = await (await h.json("POST", "/v1/sessions", { createOffer: true })).json();
  const paths = [
    "/v1/sessions",
    `/v1/sessions/${created.id}/answer`,
    "/v1/pager",
    `/v1/sessions/${created.id}/messages`,
  ];
  const bodies = [
    "{",
    "null",
    "[]",
    '{"offer": 12}',
    '{"text": {"a": 1}}',
    '{"createOffer": "yes"}',
    '{"answer": ""}',
    '{"to": 5, "from": [], "text": null}',
    "x".repeat(100_000),
  ];
  for (let round = 0; round < 200; round++) {
    const path = rng.pick(paths);
    const method = path.endsWith("/answer") ? "PUT" : "POST";
    const body = rng.next() < 0.8
      ? rng.pick(bodies)
      : new TextDecoder().decode(rng.bytes(rng.int(0, 200)));
    const headers: Record<string, string> = { "content-type": "application/json" };
    if (rng.next() < 0.1) headers["x-junk"] = "y".repeat(rng.int(1000, 20_000));
    const res = await h.request(path, { method, headers, body });
    await res.body?.cancel();
    assert(
      res.status >= 400 && res.status < 500,
      `round ${round}: ${method} ${path} → ${res.status}`,
    );
  }
});
