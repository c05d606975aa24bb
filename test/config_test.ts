import { assertEquals, assertThrows } from "./_assert.ts";
import { ConfigError, loadConfig } from "../src/config.ts";

Deno.test("config: defaults run on one laptop", () => {
  const c = loadConfig({});
  assertEquals(
    [c.httpHost, c.httpPort, c.msrpHost, c.msrpPort, c.eslMode, c.eslPort, c.headTimeoutMs],
    ["127.0.0.1", 8080, "127.0.0.1", 2855, "inbound", 8021, 30_000],
  );
  assertEquals([c.maxHeaderBytes, c.maxHeaderCount, c.transactionTimeoutMs], [16384, 64, 30_000]);
});

Deno.test("config: every limit is read from its variable", () => {
  const c = loadConfig({
    MAX_HEADER_BYTES: "4096",
    MAX_HEADER_COUNT: "16",
    MAX_CHUNK_BYTES: "900",
    MAX_QUEUED_BYTES: "33554432",
    IDLE_TIMEOUT_MS: "60000",
    HEAD_TIMEOUT_MS: "5000",
    TRANSACTION_TIMEOUT_MS: "10000",
    MAX_MESSAGE_BYTES: "1000",
    MAX_SESSIONS: "5",
    MAX_CONNECTIONS: "7",
    MAX_CONNECTIONS_PER_IP: "3",
    MAX_UPLOAD_BYTES: "2000",
  });
  assertEquals(
    [
      c.maxHeaderBytes,
      c.maxHeaderCount,
      c.maxChunkBytes,
      c.maxQueuedBytes,
      c.idleTimeoutMs,
      c.headTimeoutMs,
      c.transactionTimeoutMs,
      c.maxMessageBytes,
      c.maxSessions,
      c.maxConnections,
      c.maxConnectionsPerIp,
      c.maxUploadBytes,
    ],
    [4096, 16, 900, 33554432, 60000, 5000, 10000, 1000, 5, 7, 3, 2000],
  );
});

Deno.test("config: an invalid value is one clear error naming the variable", () => {
  for (
    const [name, value] of [
      ["MSRP_PORT", "70000"],
      ["MAX_HEADER_BYTES", "12"],
      ["MAX_QUEUED_BYTES", "1024"],
      ["HEAD_TIMEOUT_MS", "-1"],
      ["ESL_MODE", "sideways"],
      ["ESL_OUTBOUND_PORT", "99999"],
      ["SIP_URI", "http://x"],
      ["WS_PATH", "msrp"],
      ["LOG_LEVEL", "loud"],
      ["API_TOKEN", "short-token"],
      ["WS_RELAY_PASSWORD", "hunter2"],
      ["RELAY_ALLOW", "10.0.0.0/33"],
      ["RELAY_ALLOW", "relay.example.net:0"],
      ["ESL_OUTBOUND_ALLOW", "not a host!"],
      ["ALLOWED_ORIGINS", "evil.example"],
      ["ALLOWED_ORIGINS", "https://app.example.com/path"],
      ["PUBLIC_HOSTS", "bad host/"],
      ["HTTP_TLS_CERT", "cert.pem"],
      ["MSRP_TLS_KEY", "key.pem"],
      ["MSRP_TLS_CLIENT_CA", "ca.pem"],
      ["MAX_CHUNK_BYTES", "4294967296"],
      ["MAX_UNFINISHED_PER_SESSION", "0"],
      ["DATA_QUOTA_BYTES", "lots"],
      ["UNFINISHED_IDLE_MS", "0"],
    ]
  ) {
    assertThrows(() => loadConfig({ [name]: value }), ConfigError, name);
  }
});

Deno.test("config: ESL_MODE=outbound listens for the socket application on loopback:8084 unless told otherwise", () => {
  const c = loadConfig({ ESL_MODE: "outbound" });
  assertEquals([c.eslMode, c.eslOutboundHost, c.eslOutboundPort], ["outbound", "127.0.0.1", 8084]);
  const moved = loadConfig({
    ESL_MODE: "outbound",
    ESL_OUTBOUND_HOST: "10.0.0.5",
    ESL_OUTBOUND_PORT: "9090",
  });
  assertEquals([moved.eslOutboundHost, moved.eslOutboundPort], ["10.0.0.5", 9090]);
  assertEquals(loadConfig({ ESL_MODE: "off" }).eslMode, "off");
});

Deno.test("config: the WebSocket relay's grant bounds default to 60–3600 s with 600 s, and are read from WS_RELAY_*_EXPIRES", () => {
  const c = loadConfig({});
  assertEquals(
    [c.wsRelayMinExpires, c.wsRelayMaxExpires, c.wsRelayDefaultExpires],
    [60, 3600, 600],
  );
  const set = loadConfig({
    WS_RELAY_MIN_EXPIRES: "30",
    WS_RELAY_MAX_EXPIRES: "900",
    WS_RELAY_DEFAULT_EXPIRES: "120",
  });
  assertEquals(
    [set.wsRelayMinExpires, set.wsRelayMaxExpires, set.wsRelayDefaultExpires],
    [30, 900, 120],
  );
  // Without its own variable the default moves inside the bounds it would leave.
  assertEquals(loadConfig({ WS_RELAY_MAX_EXPIRES: "300" }).wsRelayDefaultExpires, 300);
  assertEquals(loadConfig({ WS_RELAY_MIN_EXPIRES: "1200" }).wsRelayDefaultExpires, 1200);
});

Deno.test("config: WS_RELAY_*_EXPIRES out of range or crossing each other is an error naming the variable", () => {
  for (
    const [env, name] of [
      [{ WS_RELAY_MIN_EXPIRES: "0" }, "WS_RELAY_MIN_EXPIRES"],
      [{ WS_RELAY_MIN_EXPIRES: "soon" }, "WS_RELAY_MIN_EXPIRES"],
      [{ WS_RELAY_MAX_EXPIRES: "-5" }, "WS_RELAY_MAX_EXPIRES"],
      [{ WS_RELAY_MIN_EXPIRES: "600", WS_RELAY_MAX_EXPIRES: "300" }, "WS_RELAY_MAX_EXPIRES"],
      [{ WS_RELAY_MIN_EXPIRES: "4000" }, "WS_RELAY_MAX_EXPIRES"],
      [{ WS_RELAY_DEFAULT_EXPIRES: "30" }, "WS_RELAY_DEFAULT_EXPIRES"],
      [{ WS_RELAY_DEFAULT_EXPIRES: "7200" }, "WS_RELAY_DEFAULT_EXPIRES"],
      [{ WS_RELAY_DEFAULT_EXPIRES: "1.5" }, "WS_RELAY_DEFAULT_EXPIRES"],
    ] as const
  ) {
    const error = assertThrows(() => loadConfig(env), ConfigError);
    assertEquals(error.message.startsWith(name), true, error.message);
  }
});

Deno.test("config: the security settings default to closed: no relay next hops, outbound socket from loopback only, chunks no larger than a message", () => {
  const c = loadConfig({});
  assertEquals(c.relayAllow, []);
  assertEquals(c.eslOutboundAllow.map((r) => r.text), ["127.0.0.0/8", "::1"]);
  assertEquals([c.allowedOrigins, c.publicHosts], [[], []]);
  assertEquals([c.apiToken, c.wsRelayPassword], [undefined, undefined]);
  assertEquals(c.maxChunkBytes, c.maxMessageBytes);
  assertEquals(
    [c.wsRelayMaxGrants, c.authFailureLimit, c.authFailureWindowMs],
    [8, 10, 60_000],
  );
  assertEquals(
    [c.maxUnfinishedPerSession, c.maxUnfinishedPerConnection, c.sipMaxMessageBytes],
    [32, 128, 65536],
  );
  assertEquals(c.dataQuotaBytes, 16 * 1024 ** 3);
  assertEquals(c.unfinishedIdleMs, 30_000);
  assertEquals(loadConfig({ MAX_MESSAGE_BYTES: "5000" }).maxChunkBytes, 5000);
});

Deno.test("config: origins and public hosts are normalised to lowercase; TLS files come in pairs", () => {
  const c = loadConfig({
    ALLOWED_ORIGINS: "https://App.Example.com, http://localhost:3000",
    PUBLIC_HOSTS: "Chat.Example.com chat.example.com:8443",
    HTTP_TLS_CERT: "c.pem",
    HTTP_TLS_KEY: "k.pem",
    MSRP_TLS_CERT: "mc.pem",
    MSRP_TLS_KEY: "mk.pem",
    MSRP_TLS_CLIENT_CA: "ca.pem",
    API_TOKEN: "0123456789abcdef",
  });
  assertEquals(c.allowedOrigins, ["https://app.example.com", "http://localhost:3000"]);
  assertEquals(c.publicHosts, ["chat.example.com", "chat.example.com:8443"]);
  assertEquals(
    [c.httpTlsCert, c.httpTlsKey, c.msrpTlsCert, c.msrpTlsKey, c.msrpTlsClientCa],
    ["c.pem", "k.pem", "mc.pem", "mk.pem", "ca.pem"],
  );
  assertEquals(c.apiToken, "0123456789abcdef");
  const error = assertThrows(() => loadConfig({ HTTP_TLS_KEY: "k.pem" }), ConfigError);
  assertEquals(error.message, "HTTP_TLS_CERT must be set together with HTTP_TLS_KEY");
});
