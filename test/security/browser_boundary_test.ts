/**
 * Issue 14, browser boundary: web pages the operator opens cannot drive the
 * API or the MSRP WebSocket (foreign `Origin`, DNS rebinding through `Host`),
 * bearer tokens are long and not guessable at speed, and the API can be
 * served over HTTPS. Every test runs the real service process (as
 * `deno task start` does) and talks to it over sockets on 127.0.0.1.
 *
 * @module
 */

import { clientKey } from "../../src/auth_throttle.ts";
import { PROBLEM_BASE } from "../../src/api/mod.ts";
import { assert, assertEquals } from "../_assert.ts";
import { openPeerSession, peerEndpoint } from "../api/_harness.ts";
import { freePorts, type ServiceProcess, startService } from "../_service_process.ts";
import { makeTestCertificate } from "../transport/_certs.ts";
import { until, withDeadline } from "../_until.ts";

const MAIN = new URL("../../src/main.ts", import.meta.url).pathname;
const TOKEN = "browser-boundary-token-0123";
const EVIL = "http://evil.example";

/** The service with a fresh data directory (removed on dispose) and `env`. */
async function service(env: Record<string, string>): Promise<ServiceProcess> {
  const dir = await Deno.makeTempDir({ prefix: "msrp-bridge-browser-" });
  const [http, msrp] = freePorts(2);
  let svc: ServiceProcess;
  try {
    svc = await startService({
      DATA_DIR: dir,
      HTTP_PORT: String(http),
      MSRP_PORT: String(msrp),
      ...env,
    });
  } catch (e) {
    await Deno.remove(dir, { recursive: true });
    throw e;
  }
  return Object.assign(svc, {
    async [Symbol.asyncDispose]() {
      await svc.kill("SIGTERM");
      svc.httpClient?.close();
      await Deno.remove(dir, { recursive: true });
    },
  });
}

/** The lines of `stderr` that are the service's, not Deno's (module downloads). */
function serviceLines(stderr: string): string[] {
  return stderr.split("\n").filter((l) => l.trim() !== "" && !/^(Download|Initialize) /.test(l));
}

/** How a service that refuses to start ended. */
interface StartupFailure {
  /** Its exit code. */
  readonly code: number;
  /** What it wrote to stderr. */
  readonly stderr: string;
}

/** Runs `src/main.ts` with `env`, expecting it to exit on its own. */
async function startupFailure(env: Record<string, string>): Promise<StartupFailure> {
  const dir = await Deno.makeTempDir({ prefix: "msrp-bridge-browser-" });
  const [http, msrp] = freePorts(2);
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN],
    env: {
      ESL_MODE: "off",
      LOG_LEVEL: "error",
      HTTP_HOST: "127.0.0.1",
      DATA_DIR: dir,
      HTTP_PORT: String(http),
      MSRP_PORT: String(msrp),
      ...env,
    },
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  try {
    const { code, stderr } = await withDeadline(child.output(), "the service to exit");
    return { code, stderr: new TextDecoder().decode(stderr) };
  } catch (e) {
    child.kill("SIGKILL");
    await child.status;
    throw e;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** An HTTP/1.1 response read off a socket. */
interface RawResponse {
  readonly status: number;
  readonly headers: Headers;
  readonly body: string;
}

/**
 * Sends `head` (request line and headers, no body) on a new connection made
 * by `connect` and reads the response: up to the end of its head for 101,
 * else its `Content-Length` body or up to the end of the connection.
 */
async function rawRequest(
  connect: () => Promise<Deno.Conn>,
  head: string,
): Promise<RawResponse> {
  const conn = await connect();
  try {
    return await withDeadline(exchange(conn, head), `a response to ${head.split("\r\n")[0]}`);
  } finally {
    conn.close();
  }
}

async function exchange(conn: Deno.Conn, head: string): Promise<RawResponse> {
  const out = new TextEncoder().encode(head);
  for (let sent = 0; sent < out.length;) sent += await conn.write(out.subarray(sent));
  const decoder = new TextDecoder();
  let text = "";
  const buffer = new Uint8Array(16 * 1024);
  const more = async () => {
    const n = await conn.read(buffer);
    if (n === null) return false;
    text += decoder.decode(buffer.subarray(0, n), { stream: true });
    return true;
  };
  while (!text.includes("\r\n\r\n")) {
    if (!await more()) throw new Error(`the connection ended inside a response head: ${text}`);
  }
  const end = text.indexOf("\r\n\r\n");
  const [statusLine, ...lines] = text.slice(0, end).split("\r\n");
  const status = Number(statusLine.split(" ")[1]);
  const headers = new Headers();
  for (const line of lines) {
    const colon = line.indexOf(":");
    headers.append(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
  }
  if (status === 101) return { status, headers, body: "" };
  const length = headers.get("content-length");
  const bodyStart = end + 4;
  while (length === null || text.length - bodyStart < Number(length)) {
    if (!await more()) break;
  }
  return { status, headers, body: text.slice(bodyStart) };
}

/** A plain request to the service on `port` with `Host: host` and extra header lines. */
function get(port: number, path: string, host: string, extra: string[] = []): Promise<RawResponse> {
  const head = [`GET ${path} HTTP/1.1`, `Host: ${host}`, "Connection: close", ...extra, "", ""];
  return rawRequest(() => Deno.connect({ hostname: "127.0.0.1", port }), head.join("\r\n"));
}

/** The head of a WebSocket handshake (RFC 6455 §4.1) for MSRP (RFC 7977 §4.1). */
function upgradeHead(path: string, host: string, origin: string): string {
  return [
    `GET ${path} HTTP/1.1`,
    `Host: ${host}`,
    "Upgrade: websocket",
    "Connection: Upgrade",
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
    "Sec-WebSocket-Version: 13",
    "Sec-WebSocket-Protocol: msrp",
    `Origin: ${origin}`,
    "",
    "",
  ].join("\r\n");
}

/** Asserts that `body` is the problem `kind` with `status`. */
function assertProblem(body: string, kind: string, status: number): void {
  const problem = JSON.parse(body);
  assertEquals(problem.type, `${PROBLEM_BASE}${kind}`);
  assertEquals(problem.status, status);
}

/** Opens a WebSocket with the `msrp` subprotocol and `origin`; resolves with its protocol or "refused". */
function openWebSocket(url: string, origin: string): Promise<string> {
  const ws = new WebSocket(url, { protocols: ["msrp"], headers: { origin } });
  return withDeadline(
    new Promise<string>((resolve) => {
      ws.onopen = () => {
        resolve(ws.protocol);
        ws.close();
      };
      ws.onerror = () => resolve("refused");
    }),
    `the WebSocket at ${url} to open or fail`,
  );
}

Deno.test("a foreign Origin gets 403 forbidden-origin on /v1 and reads or creates nothing; our own origin and ALLOWED_ORIGINS pass", async () => {
  await using svc = await service({ ALLOWED_ORIGINS: "https://console.example" });
  await using peer = peerEndpoint();
  const { id } = await openPeerSession(svc, peer);
  const own = `http://127.0.0.1:${svc.httpPort}`;

  const plain = await svc.request("/v1/sessions");
  assertEquals(plain.status, 200);
  assert((await plain.text()).includes(id), "without Origin the session list shows the session");

  for (
    const origin of [
      EVIL,
      "null",
      `http://127.0.0.1:${svc.httpPort + 1}`,
      `https://127.0.0.1:${svc.httpPort}`,
    ]
  ) {
    const res = await svc.request("/v1/sessions", { headers: { origin } });
    assertEquals(res.status, 403, `Origin: ${origin}`);
    const body = await res.text();
    assertProblem(body, "forbidden-origin", 403);
    assert(!body.includes(id), `Origin: ${origin} reads no session`);
  }
  const created = await svc.request("/v1/sessions", {
    method: "POST",
    headers: { origin: EVIL, "content-type": "application/json" },
    body: JSON.stringify({ offer: "v=0\r\n" }),
  });
  assertEquals(created.status, 403);
  await created.body?.cancel();
  const list = await (await svc.request("/v1/sessions")).json();
  assertEquals(list.items.map((s: { id: string }) => s.id), [id], "no session was created");

  for (const origin of [own, "https://console.example"]) {
    const res = await svc.request("/v1/sessions", { headers: { origin } });
    assertEquals(res.status, 200, `Origin: ${origin}`);
    assert((await res.text()).includes(id));
  }
});

Deno.test("a WebSocket upgrade at WS_PATH with a foreign Origin is refused without 101; our own origin and ALLOWED_ORIGINS open it", async () => {
  await using svc = await service({ ALLOWED_ORIGINS: "https://console.example" });
  const host = `127.0.0.1:${svc.httpPort}`;
  const connect = () => Deno.connect({ hostname: "127.0.0.1", port: svc.httpPort });

  for (const origin of [EVIL, "null"]) {
    const refused = await rawRequest(connect, upgradeHead("/msrp", host, origin));
    assertEquals(refused.status, 403, `Origin: ${origin}`);
    assertProblem(refused.body, "forbidden-origin", 403);
  }
  for (const origin of [`http://${host}`, "https://console.example"]) {
    const opened = await rawRequest(connect, upgradeHead("/msrp", host, origin));
    assertEquals(opened.status, 101, `Origin: ${origin}`);
    assertEquals(opened.headers.get("sec-websocket-protocol"), "msrp");
  }

  const url = `ws://${host}/msrp`;
  assertEquals(await openWebSocket(url, EVIL), "refused");
  assertEquals(await openWebSocket(url, `http://${host}`), "msrp");
  assertEquals(await openWebSocket(url, "https://console.example"), "msrp");
});

Deno.test("without API_TOKEN a Host that is not a loopback name or in PUBLIC_HOSTS gets 421 on /v1, /readyz, /metrics, the pages and the WebSocket; /healthz answers", async () => {
  await using svc = await service({ PUBLIC_HOSTS: "bridge.example, other.example:8443" });
  await using peer = peerEndpoint();
  const { id } = await openPeerSession(svc, peer);
  const port = svc.httpPort;

  for (
    const host of [
      `evil.example:${port}`,
      "evil.example",
      "other.example:8080",
      "127.0.0.1.evil.example",
    ]
  ) {
    for (
      const path of ["/v1/sessions", "/readyz", "/metrics", "/console", "/docs", "/openapi.json"]
    ) {
      const res = await get(port, path, host);
      assertEquals(res.status, 421, `Host: ${host} ${path}`);
      assertProblem(res.body, "misdirected-request", 421);
      assert(!res.body.includes(id), `Host: ${host} ${path} shows no session`);
    }
  }
  const upgrade = await rawRequest(
    () => Deno.connect({ hostname: "127.0.0.1", port }),
    upgradeHead("/msrp", `evil.example:${port}`, `http://evil.example:${port}`),
  );
  assertEquals(upgrade.status, 421, "a rebound page's WebSocket");

  const health = await get(port, "/healthz", "evil.example");
  assertEquals(health.status, 200);

  for (
    const host of [
      `127.0.0.1:${port}`,
      `localhost:${port}`,
      "LOCALHOST",
      `[::1]:${port}`,
      "127.0.0.2",
      `bridge.example:${port}`,
      "bridge.example",
      "other.example:8443",
    ]
  ) {
    const res = await get(port, "/v1/sessions", host);
    assertEquals(res.status, 200, `Host: ${host}`);
    assert(res.body.includes(id), `Host: ${host} shows the session`);
  }
});

Deno.test("with API_TOKEN the Host is not restricted but a foreign Origin still gets 403", async () => {
  await using svc = await service({ API_TOKEN: TOKEN });
  const auth = `Authorization: Bearer ${TOKEN}`;
  assertEquals((await get(svc.httpPort, "/v1/sessions", "bridge.example", [auth])).status, 200);
  const foreign = await get(svc.httpPort, "/v1/sessions", "bridge.example", [
    auth,
    `Origin: ${EVIL}`,
  ]);
  assertEquals(foreign.status, 403);
});

Deno.test("an API_TOKEN of 10 characters stops start-up with one line naming API_TOKEN", async () => {
  const failure = await startupFailure({ API_TOKEN: "0123456789" });
  assertEquals(failure.code, 1);
  const lines = serviceLines(failure.stderr);
  assertEquals(lines.length, 1, failure.stderr);
  assert(lines[0].includes("API_TOKEN"), lines[0]);
  assert(!lines[0].includes("0123456789"), "the token is not echoed");
});

Deno.test("after AUTH_FAILURE_LIMIT wrong tokens an address gets 429 with Retry-After, the right token too, until the window passes", async () => {
  // The window only has to outlast eleven local requests; the test then waits it out.
  await using svc = await service({
    API_TOKEN: TOKEN,
    AUTH_FAILURE_LIMIT: "10",
    AUTH_FAILURE_WINDOW_MS: "5000",
  });
  const bearer = (token: string) => ({ headers: { authorization: `Bearer ${token}` } });
  const right = await svc.request("/v1/sessions");
  assertEquals(right.status, 200, "the right token works before any failure");
  await right.body?.cancel();

  for (let i = 1; i <= 10; i++) {
    const res = await svc.request("/v1/sessions", bearer(`wrong-token-${i}-0123456789`));
    assertEquals(res.status, 401, `wrong token ${i}`);
    await res.body?.cancel();
  }
  const eleventh = await svc.request("/v1/sessions", bearer("wrong-token-11-0123456789"));
  assertEquals(eleventh.status, 429);
  const retryAfter = Number(eleventh.headers.get("retry-after"));
  assert(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 5, `${retryAfter}`);
  assertProblem(await eleventh.text(), "too-many-attempts", 429);

  const blocked = await svc.request("/v1/sessions");
  assertEquals(blocked.status, 429, "the right token is refused while blocked");
  await blocked.body?.cancel();

  await until(
    async () => {
      const res = await svc.request("/v1/sessions");
      await res.body?.cancel();
      if (res.status === 200) return true;
      assertEquals(res.status, 429);
      return false;
    },
    "the window to pass",
    { intervalMs: 250 },
  );
});

Deno.test("failed logins are counted per IPv4 address and per IPv6 /64, an IPv4-mapped client as IPv4", () => {
  assertEquals(clientKey("192.0.2.7"), "192.0.2.7");
  assertEquals(clientKey("::ffff:192.0.2.7"), "192.0.2.7");
  assertEquals(clientKey("2001:db8:1:2:aaaa::1"), clientKey("2001:db8:1:2::ffff:2"));
  assertEquals(clientKey("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
  assert(clientKey("2001:db8:1:3::1") !== clientKey("2001:db8:1:2::1"));
  assertEquals(clientKey("::1"), "0:0:0:0::/64");
});

Deno.test("with HTTP_TLS_CERT and HTTP_TLS_KEY the API and the WebSocket are served over HTTPS, where our own origin is https", async () => {
  const cert = await makeTestCertificate();
  try {
    await using svc = await service({
      HTTP_TLS_CERT: `${cert.dir}/cert.pem`,
      HTTP_TLS_KEY: `${cert.dir}/key.pem`,
    });
    const host = `127.0.0.1:${svc.httpPort}`;
    const client = svc.httpClient;
    assert(client !== undefined);
    const res = await fetch(`https://${host}/v1/sessions`, { client });
    assertEquals(res.status, 200);
    assertEquals((await res.json()).items, []);
    const own = await fetch(`https://${host}/v1/sessions`, {
      client,
      headers: { origin: `https://${host}` },
    });
    assertEquals(own.status, 200, "our own https origin");
    await own.body?.cancel();
    const plainOrigin = await fetch(`https://${host}/v1/sessions`, {
      client,
      headers: { origin: `http://${host}` },
    });
    assertEquals(plainOrigin.status, 403, "the http origin of the same host is foreign");
    await plainOrigin.body?.cancel();

    await assertRefused(fetch(`http://${host}/healthz`), "plain HTTP on the HTTPS port");

    const tls = () =>
      Deno.connectTls({ hostname: "127.0.0.1", port: svc.httpPort, caCerts: [cert.cert] });
    assertEquals(
      (await rawRequest(tls, upgradeHead("/msrp", host, `https://${host}`))).status,
      101,
    );
    assertEquals((await rawRequest(tls, upgradeHead("/msrp", host, `http://${host}`))).status, 403);
  } finally {
    await Deno.remove(cert.dir, { recursive: true });
  }
});

async function assertRefused(request: Promise<Response>, what: string): Promise<void> {
  const outcome = await withDeadline(
    request.then(async (r) => {
      await r.body?.cancel();
      return `status ${r.status}`;
    }, () => "failed"),
    what,
  );
  assertEquals(outcome, "failed", `${what} is not served`);
}

Deno.test("an HTTP_TLS_CERT that cannot be read stops start-up with one line naming HTTP_TLS_CERT", async () => {
  const cert = await makeTestCertificate();
  try {
    const failure = await startupFailure({
      HTTP_TLS_CERT: `${cert.dir}/missing.pem`,
      HTTP_TLS_KEY: `${cert.dir}/key.pem`,
    });
    assertEquals(failure.code, 1);
    const lines = serviceLines(failure.stderr);
    assertEquals(lines.length, 1, failure.stderr);
    assert(lines[0].includes("HTTP_TLS_CERT"), lines[0]);
  } finally {
    await Deno.remove(cert.dir, { recursive: true });
  }
});
