import { assert, assertEquals, assertRejects, assertThrows } from "../_assert.ts";
import { createBridge, startBridge } from "../_bridge.ts";
import { ConfigError, loadConfig } from "../../src/config.ts";
import { nextMessage } from "../_messages.ts";
import {
  openPeerSession,
  peerEndpoint,
  randomStream,
  sha256Of,
  startHarness,
  TOKEN,
} from "./_harness.ts";

const PROBLEMS = "https://msrp-bridge.dev/problems/";

interface ProblemBody {
  type: string;
  title: string;
  status: number;
  detail: string;
  field?: string;
  errors?: { field: string; message: string }[];
}

/** Checks that `res` is a problem of `kind` with `status` and returns its body. */
async function problem(res: Response, status: number, kind: string): Promise<ProblemBody> {
  assertEquals(res.headers.get("content-type"), "application/problem+json");
  const body = await res.json() as ProblemBody;
  assertEquals([res.status, body.status, body.type], [status, status, `${PROBLEMS}${kind}`]);
  assert(body.title.length > 0 && body.detail.length > 0, "title and detail");
  return body;
}

Deno.test("api auth: /v1 needs the bearer token, compared exactly; health is open", async () => {
  await using h = await startHarness();
  const missing = await h.request("/v1/sessions", { headers: { authorization: "" } });
  const body = await problem(missing, 401, "unauthorized");
  assertEquals(body.field, "Authorization");
  assertEquals(missing.headers.get("www-authenticate"), 'Bearer realm="msrp-bridge"');
  for (const wrong of [`Bearer ${TOKEN}x`, `Bearer ${TOKEN.slice(1)}`, `Basic ${TOKEN}`]) {
    await problem(
      await h.request("/v1/sessions", { headers: { authorization: wrong } }),
      401,
      "unauthorized",
    );
  }
  const events = await h.request("/v1/events", { headers: { authorization: "Bearer nope" } });
  await problem(events, 401, "unauthorized");
  assertEquals((await h.request("/v1/sessions")).status, 200);
  const health = await fetch(`${h.url}/healthz`);
  assertEquals([health.status, await health.json()], [200, { status: "ok" }]);
});

Deno.test("api without API_TOKEN: /v1 is open", async () => {
  await using h = await startHarness({ API_TOKEN: "" });
  assertEquals(h.config.apiToken, undefined);
  const res = await fetch(`${h.url}/v1/sessions`);
  assertEquals([res.status, await res.json()], [200, { items: [], nextCursor: null }]);
});

Deno.test("api validation: 400 malformed JSON, 422 naming the field, 404 unknown ids, 415", async () => {
  await using h = await startHarness({ MAX_UPLOAD_BYTES: "1000" });
  const bad = await h.request("/v1/sessions", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: "{bad",
  });
  assertEquals((await problem(bad, 400, "malformed-json")).field, "body");

  const wrongType = await problem(
    await h.json("POST", "/v1/sessions", { offer: 5 }),
    422,
    "validation",
  );
  assertEquals(wrongType.field, "offer");
  assert(wrongType.detail.startsWith("offer: "), wrongType.detail);
  const two = await problem(
    await h.json("POST", "/v1/sessions", { offer: "v=0", createOffer: true }),
    422,
    "validation",
  );
  assertEquals(two.field, "offer,createOffer");
  const unknown = await problem(
    await h.json("POST", "/v1/sessions", { ofer: "x" }),
    422,
    "validation",
  );
  assertEquals(unknown.field, "ofer");
  const badSdp = await problem(
    await h.json("POST", "/v1/sessions", { offer: "hello" }),
    422,
    "invalid-sdp",
  );
  assertEquals(badSdp.field, "offer");
  const audioOnly = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n" +
    "m=audio 4000 RTP/AVP 0\r\n";
  await problem(
    await h.json("POST", "/v1/sessions", { offer: audioOnly }),
    422,
    "sdp-not-acceptable",
  );
  const limit = await problem(await h.request("/v1/sessions?limit=abc"), 422, "validation");
  assertEquals(limit.field, "limit");
  await problem(
    await h.request("/v1/sessions", {
      method: "POST",
      headers: { "content-type": "text/plain" },
      body: "x",
    }),
    415,
    "unsupported-media-type",
  );

  const missing = await problem(
    await h.json("POST", "/v1/sessions/nosuchsession/messages", { text: "hi" }),
    404,
    "not-found",
  );
  assertEquals(missing.field, "id");
  await problem(await h.request("/v1/sessions/nosuchsession"), 404, "not-found");
  await problem(
    await h.request("/v1/sessions/nosuchsession", { method: "DELETE" }),
    404,
    "not-found",
  );
  await problem(await h.request("/v1/sessions/nosuchsession/messages"), 404, "not-found");
  await problem(await h.request("/v1/messages/nosuchmessage"), 404, "not-found");
  await problem(await h.request("/v1/messages/nosuchmessage/content"), 404, "not-found");
  await problem(
    await h.json("PUT", "/v1/sessions/nosuchsession/answer", { answer: "v=0" }),
    404,
    "not-found",
  );
  await problem(await h.request("/nothing-here"), 404, "not-found");

  const { id } = await (await h.json("POST", "/v1/sessions", { createOffer: true })).json();
  const textType = await problem(
    await h.json("POST", `/v1/sessions/${id}/messages`, { text: 1, report: "yes" }),
    422,
    "validation",
  );
  assertEquals(textType.errors?.map((e) => e.field), ["text", "report"]);
  const tooLarge = await problem(
    await h.request(`/v1/sessions/${id}/messages`, {
      method: "POST",
      headers: { "content-type": "application/octet-stream" },
      body: new Uint8Array(1001),
    }),
    413,
    "payload-too-large",
  );
  assertEquals(tooLarge.field, "body");
  await problem(
    await h.request(`/v1/sessions/${id}/messages`, {
      method: "POST",
      headers: { "content-type": "application/octet-stream" },
      body: new Uint8Array(10),
    }),
    409,
    "session-not-active",
  );
  await problem(
    await h.json("PUT", `/v1/sessions/${id}/answer`, { answer: "not sdp" }),
    422,
    "invalid-sdp",
  );
  assertEquals((await h.request(`/v1/sessions/${id}`, { method: "DELETE" })).status, 204);
  await problem(
    await h.json("POST", `/v1/sessions/${id}/messages`, { text: "late" }),
    409,
    "session-closed",
  );
  await problem(
    await h.json("PUT", `/v1/sessions/${id}/answer`, { answer: "v=0" }),
    409,
    "not-awaiting-answer",
  );
});

Deno.test("api uploads: a chunked body (no Content-Length) is refused with 411 before any message exists", async () => {
  await using h = await startHarness();
  await using peer = peerEndpoint();
  const { id } = await openPeerSession(h, peer);
  let pieces = 0;
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (pieces++ === 10) controller.close();
      else controller.enqueue(new Uint8Array(16384));
    },
  });
  const res = await h.request(`/v1/sessions/${id}/messages`, {
    method: "POST",
    headers: { "content-type": "application/octet-stream" },
    body,
  });
  const p = await problem(res, 411, "length-required");
  assertEquals(p.field, "Content-Length");
  const list = await (await h.request(`/v1/sessions/${id}/messages`)).json();
  assertEquals(list.items, []);
});

Deno.test("api uploads: a body with a Content-Length streams to the peer whole", async () => {
  await using h = await startHarness();
  await using peer = peerEndpoint();
  const { id, session: peerSession } = await openPeerSession(h, peer);
  const size = 3 * 65536 + 1234; // pieces are filled whole, the last one is short
  const file = randomStream(size);
  const got = nextMessage(peerSession);
  const res = await h.upload(
    `/v1/sessions/${id}/messages`,
    file.stream,
    size,
    "application/x-test",
  );
  assertEquals(res.status, 202);
  const received = await got;
  assertEquals(received.contentType, "application/x-test");
  assertEquals(await sha256Of(received.body()), file.sha256());
});

Deno.test("api uploads: ?name= sends Content-Disposition; a JSON file goes as it is", async () => {
  await using h = await startHarness();
  await using peer = peerEndpoint();
  const { id, session: peerSession } = await openPeerSession(h, peer);
  const send = (query: string, type: string, body: string) =>
    h.request(`/v1/sessions/${id}/messages?${query}`, {
      method: "POST",
      headers: { "content-type": type },
      body,
    });
  const cases: [string, string, string][] = [
    [
      'a "quoted" \\ name.txt',
      "text/x-test",
      'attachment; filename="a \\"quoted\\" \\\\ name.txt"',
    ],
    [
      "résumé €.pdf",
      "application/pdf",
      `attachment; filename="r_sum_ _.pdf"; filename*=UTF-8''r%C3%A9sum%C3%A9%20%E2%82%AC.pdf`,
    ],
  ];
  for (const [name, type, disposition] of cases) {
    const got = nextMessage(peerSession);
    const res = await send(new URLSearchParams({ name }).toString(), type, "content");
    assertEquals(res.status, 202);
    await res.body?.cancel();
    const received = await got;
    assertEquals(received.contentType, type);
    assertEquals(received.info.headers.get("content-disposition"), disposition);
    assertEquals(received.text(), "content");
  }
  // application/json is {text} unless raw=true or a name says the body is a file.
  const json = '{"text":"not a request"}';
  for (const query of ["raw=true", "name=data.json"]) {
    const got = nextMessage(peerSession);
    const res = await send(query, "application/json", json);
    assertEquals(res.status, 202, query);
    await res.body?.cancel();
    const received = await got;
    assertEquals([received.contentType, received.text()], ["application/json", json]);
  }
  const asText = nextMessage(peerSession);
  assertEquals((await send("", "application/json", json)).status, 202);
  assertEquals([(await asText).contentType, (await asText).text()], [
    "text/plain",
    "not a request",
  ]);
  const badRaw = await send("raw=yes&name=x", "application/json", json);
  assertEquals((await problem(badRaw, 422, "validation")).field, "raw");
});

Deno.test("api uploads: a ?name= that could inject MSRP headers or mislead is refused with 422", async () => {
  await using h = await startHarness();
  await using peer = peerEndpoint();
  const { id } = await openPeerSession(h, peer);
  const names = [
    "x.txt\r\nContent-Type: text/html",
    "x.txt\nMessage-ID: 1",
    "x.txt\r",
    "nul\u0000.txt",
    "tab\t.txt",
    "del\u007f.txt",
    "c1\u0085.txt",
    "line\u2028sep.txt",
    "evil\u202egpj.exe",
    "",
    "   ",
    "n".repeat(256),
    "é".repeat(128),
  ];
  for (const type of ["application/octet-stream", "application/json"]) {
    for (const name of names) {
      const res = await h.request(
        `/v1/sessions/${id}/messages?${new URLSearchParams({ name })}`,
        { method: "POST", headers: { "content-type": type }, body: "x" },
      );
      const p = await problem(res, 422, "validation");
      assertEquals(p.field, "name", JSON.stringify(name));
    }
  }
  const list = await (await h.request(`/v1/sessions/${id}/messages`)).json();
  assertEquals(list.items, [], "nothing was sent");
  const ok = await h.request(`/v1/sessions/${id}/messages?name=${"n".repeat(255)}`, {
    method: "POST",
    headers: { "content-type": "application/octet-stream" },
    body: "x",
  });
  assertEquals(ok.status, 202, "255 bytes is the limit");
  await ok.body?.cancel();
});

Deno.test("api PBX: originating and pager mode answer 503 pbx-unavailable", async () => {
  await using h = await startHarness();
  const to = await problem(
    await h.json("POST", "/v1/sessions", { to: "sip:1000@pbx" }),
    503,
    "pbx-unavailable",
  );
  assert(to.detail.includes("ESL integration"), to.detail);
  await problem(
    await h.json("POST", "/v1/pager", { to: "sip:1000@pbx", from: "sip:bot@pbx", text: "hi" }),
    503,
    "pbx-unavailable",
  );
  const pagerField = await problem(
    await h.json("POST", "/v1/pager", { to: "sip:1000@pbx", text: "hi" }),
    422,
    "validation",
  );
  assertEquals(pagerField.field, "from");
  assertEquals((await (await h.request("/v1/sessions")).json()).items, []);
});

Deno.test("api docs: /openapi.json lists every route, /docs is a self-contained page", async () => {
  await using h = await startHarness();
  const doc = await (await fetch(`${h.url}/openapi.json`)).json();
  assertEquals(doc.openapi, "3.1.0");
  const operations = Object.entries(doc.paths as Record<string, object>)
    .flatMap(([path, item]) => Object.keys(item).map((method) => `${method.toUpperCase()} ${path}`))
    .sort();
  assertEquals(operations, [
    "DELETE /v1/files/published/{id}",
    "DELETE /v1/sessions/{id}",
    "GET /docs",
    "GET /healthz",
    "GET /metrics",
    "GET /openapi.json",
    "GET /readyz",
    "GET /v1/events",
    "GET /v1/files/published",
    "GET /v1/files/{id}",
    "GET /v1/messages/{id}",
    "GET /v1/messages/{id}/content",
    "GET /v1/sessions",
    "GET /v1/sessions/{id}",
    "GET /v1/sessions/{id}/messages",
    "POST /v1/files",
    "POST /v1/files/published",
    "POST /v1/messages/{id}/displayed",
    "POST /v1/pager",
    "POST /v1/sessions",
    "POST /v1/sessions/{id}/messages",
    "PUT /v1/sessions/{id}/answer",
  ]);
  assertEquals(doc.components.securitySchemes.bearerAuth, {
    type: "http",
    scheme: "bearer",
    description: "API_TOKEN; required when the service has one.",
  });
  assertEquals(doc.paths["/v1/sessions"].post.security, [{ bearerAuth: [] }]);
  assert(doc.components.schemas.Problem, "Problem schema");

  const page = await fetch(`${h.url}/docs`);
  assertEquals(page.headers.get("content-type"), "text/html; charset=utf-8");
  const csp = page.headers.get("content-security-policy") ?? "";
  assert(csp.includes("default-src 'none'") && csp.includes("script-src 'sha256-"), csp);
  const html = await page.text();
  assert(html.includes("<script>") && html.includes('fetch("openapi.json")'), "inline renderer");
  assert(!/\b(src|href)\s*=/.test(html), "no external resources");
  assert(!/https?:\/\//.test(html), "no absolute URLs");
});

Deno.test("api operations: /readyz reports the checks, /metrics has the named series", async () => {
  await using h = await startHarness();
  const ready = await fetch(`${h.url}/readyz`);
  assertEquals(await ready.json(), {
    status: "ready",
    checks: { store: true, msrp: true, esl: "off" },
  });
  await h.json("POST", "/v1/sessions", { createOffer: true });
  const res = await fetch(`${h.url}/metrics`);
  assertEquals(res.headers.get("content-type"), "text/plain; version=0.0.4; charset=utf-8");
  const text = await res.text();
  for (
    const series of [
      "msrp_bridge_sessions_open 1",
      "msrp_bridge_msrp_connections 0",
      'msrp_bridge_messages_total{direction="in"} 0',
      'msrp_bridge_messages_total{direction="out"} 0',
      'msrp_bridge_message_bytes_total{direction="in"} 0',
      'msrp_bridge_message_bytes_total{direction="out"} 0',
      "# TYPE msrp_bridge_message_failures_total counter",
      "msrp_bridge_incoming_failures_total 0",
      'msrp_bridge_webhook_backlog{state="pending"} 0',
      'msrp_bridge_esl_state{state="off"} 1',
      'msrp_bridge_esl_state{state="connected"} 0',
    ]
  ) assert(text.split("\n").includes(series), `missing ${series}`);
});

Deno.test("config: webhook and upload variables give one-line errors naming the variable", () => {
  assertThrows(() => loadConfig({ WEBHOOK_URL: "ftp://x" }), ConfigError, "WEBHOOK_URL");
  assertThrows(() => loadConfig({ WEBHOOK_URL: "http://x/" }), ConfigError, "WEBHOOK_SECRET");
  assertThrows(() => loadConfig({ MAX_UPLOAD_BYTES: "0" }), ConfigError, "MAX_UPLOAD_BYTES");
  const config = loadConfig({ WEBHOOK_URL: "https://x/hook", WEBHOOK_SECRET: "s" });
  assertEquals([config.webhookUrl, config.webhookSecret], ["https://x/hook", "s"]);
  assertEquals(loadConfig({}).maxUploadBytes, 4 * 1024 * 1024 * 1024);
});

Deno.test("service: start fails cleanly when the MSRP port is taken", async () => {
  using taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  await using first = await createBridge({ MSRP_PORT: String(taken.addr.port) });
  await assertRejects(() => first.bridge.start(), Deno.errors.AddrInUse);
  // The store was closed again: a second bridge on a free port opens it.
  const again = await startBridge({ DATA_DIR: first.dataDir });
  await again.bridge.stop();
});
