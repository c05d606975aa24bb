import { Hono } from "hono";
import { assert, assertEquals } from "../_assert.ts";
import { FORWARDED_BY, forwardToOwner } from "../../src/api/forward.ts";
import type { SessionLocation } from "../../src/bridge/mod.ts";
import type { ApiEnv } from "../../src/api/types.ts";

/** What the owner instance saw of a forwarded request. */
interface Seen {
  readonly method: string;
  readonly path: string;
  readonly headers: Headers;
  readonly bytes: number;
  readonly sum: number;
}

/** An owner instance on a free port that answers 201 with what it received. */
function owner(): { url: string; seen: Seen[]; close(): Promise<void> } {
  const seen: Seen[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const body = new Uint8Array(await req.arrayBuffer());
    const url = new URL(req.url);
    seen.push({
      method: req.method,
      path: url.pathname + url.search,
      headers: req.headers,
      bytes: body.length,
      sum: body.reduce((a, b) => (a + b) % 65_521, 0),
    });
    return Response.json({ served: "owner" }, { status: 201, headers: { "x-owner": "a" } });
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    seen,
    close: () => server.shutdown(),
  };
}

/** An instance whose sessions are all at `where`; what it answers itself says `here`. */
function front(where: SessionLocation) {
  const app = new Hono<ApiEnv>();
  app.use(
    "/v1/sessions/:id/*",
    forwardToOwner({ methods: ["POST"], locate: () => Promise.resolve(where), instanceId: "b" }),
  );
  app.all("*", (c) => c.json({ served: "here" }));
  return app;
}

Deno.test("forward: a request for a session another instance serves reaches it with its body streamed at its declared length, and its answer comes back", async () => {
  const a = owner();
  try {
    const app = front({ kind: "elsewhere", instance: "a", url: a.url });
    const body = new Uint8Array(3 * 1024 * 1024).map((_, i) => i % 251);
    const stream = new ReadableStream<Uint8Array>({
      start(c) {
        for (let i = 0; i < body.length; i += 65_536) c.enqueue(body.subarray(i, i + 65_536));
        c.close();
      },
    });
    const res = await app.request("http://b.test/v1/sessions/s1/messages?type=text%2Fplain", {
      method: "POST",
      body: stream,
      headers: {
        "content-length": String(body.length),
        "content-type": "application/octet-stream",
        "authorization": "Bearer client-token",
      },
    });
    assertEquals([res.status, res.headers.get("x-owner"), await res.json()], [201, "a", {
      served: "owner",
    }]);
    assertEquals(a.seen.length, 1);
    const [seen] = a.seen;
    assertEquals([seen.method, seen.path], ["POST", "/v1/sessions/s1/messages?type=text%2Fplain"]);
    assertEquals(seen.headers.get(FORWARDED_BY), "b");
    assertEquals(seen.headers.get("authorization"), "Bearer client-token");
    assertEquals(seen.headers.get("content-length"), String(body.length));
    assertEquals(seen.headers.get("transfer-encoding"), null);
    assertEquals(
      [seen.bytes, seen.sum],
      [body.length, body.reduce((x, y) => (x + y) % 65_521, 0)],
    );
  } finally {
    await a.close();
  }
});

Deno.test("forward: a request already forwarded, or of a method not forwarded, is answered here", async () => {
  const a = owner();
  try {
    const app = front({ kind: "elsewhere", instance: "a", url: a.url });
    const marked = await app.request("http://b.test/v1/sessions/s1/messages", {
      method: "POST",
      body: "x",
      headers: { [FORWARDED_BY]: "c" },
    });
    assertEquals(await marked.json(), { served: "here" });
    const get = await app.request("http://b.test/v1/sessions/s1/messages");
    assertEquals(await get.json(), { served: "here" });
    assertEquals(a.seen, []);
  } finally {
    await a.close();
  }
});

Deno.test("forward: a session of a lost instance, or of one that cannot be reached, is a 503 problem naming it", async () => {
  const gone = await front({ kind: "gone", instance: "a" }).request(
    "http://b.test/v1/sessions/s1/messages",
    { method: "POST", body: "x" },
  );
  assertEquals(gone.status, 503);
  assertEquals(gone.headers.get("content-type"), "application/problem+json");
  const problem = await gone.json();
  assertEquals([problem.instance, problem.owner, problem.status], [
    "/v1/sessions/s1/messages",
    "a",
    503,
  ]);
  assert(problem.type.endsWith("/instance-unavailable"), problem.type);
  assert(problem.detail.includes("instance a"), problem.detail);

  const closed = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = closed.addr.port;
  closed.close();
  const unreachable = await front({
    kind: "elsewhere",
    instance: "a",
    url: `http://127.0.0.1:${port}`,
  }).request("http://b.test/v1/sessions/s1/messages", { method: "POST", body: "x" });
  assertEquals(unreachable.status, 503);
  assert((await unreachable.json()).detail.includes("could not be reached"));
});
