import { assert, assertEquals, assertRejects } from "../_assert.ts";
import { encodeRequest, encodeResponse } from "../../src/msrp/serializer.ts";
import {
  certificateFingerprint,
  connect,
  type ConnectOptions,
  listen,
  MsrpConnection,
  type MsrpListener,
  normalizeFingerprint,
  TransportError,
} from "../../src/transport/mod.ts";
import { checkBackpressure } from "./_backpressure.ts";
import { makeTestCertificate, type TestCertificate } from "./_certs.ts";
import { FrameCollector, patternBytes, readToEnd, sendRequest, within } from "./_support.ts";

const dec = new TextDecoder();

/** Runs `fn` with a fresh certificate and a TLS listener wrapping accepted conns in MsrpConnections. */
async function withTlsServer(
  hostname: string,
  fn: (
    ctx: {
      certificate: TestCertificate;
      listener: MsrpListener;
      accepted: Promise<{ connection: MsrpConnection; frames: FrameCollector }>;
    },
  ) => Promise<void>,
  handshakeTimeoutMs?: number,
): Promise<void> {
  const certificate = await makeTestCertificate();
  const accepted = Promise.withResolvers<{ connection: MsrpConnection; frames: FrameCollector }>();
  const listener = listen(
    {
      hostname,
      port: 0,
      tls: { cert: certificate.cert, key: certificate.key },
      handshakeTimeoutMs,
    },
    (conn) => {
      const frames = new FrameCollector();
      accepted.resolve({ connection: new MsrpConnection(conn, frames), frames });
    },
  );
  try {
    await fn({ certificate, listener, accepted: accepted.promise });
  } finally {
    listener.close();
    await listener.closed;
    await Deno.remove(certificate.dir, { recursive: true });
  }
}

/** Connects with `options`, then checks a request and a response round-trip. */
async function roundTrip(
  listener: MsrpListener,
  accepted: Promise<{ connection: MsrpConnection; frames: FrameCollector }>,
  options: Omit<ConnectOptions, "port">,
  closeFrom: "client" | "server" = "client",
): Promise<void> {
  const clientFrames = new FrameCollector();
  const client = new MsrpConnection(
    await connect({ ...options, port: listener.addr.port }),
    clientFrames,
  );
  const server = await within(accepted, "the TLS connection");
  assert(client.secure && server.connection.secure);
  assertEquals(listener.connectionCount, 1);

  const request = sendRequest(1, patternBytes(200_000, 4));
  await client.send(encodeRequest(request));
  await within(server.frames.until(() => server.frames.frames.length === 1), "the request");
  assertEquals(server.frames.frames[0].body, request.body);
  await server.connection.send([encodeResponse({
    transactionId: request.transactionId,
    status: 200,
    toPath: request.fromPath,
    fromPath: request.toPath,
  })]);
  await within(clientFrames.until(() => clientFrames.frames.length === 1), "the response");
  const head = clientFrames.frames[0].head;
  assertEquals(head.kind === "response" && head.status, 200);

  (closeFrom === "client" ? client : server.connection).close();
  const [clientInfo, serverInfo] = await within(
    Promise.all([client.closed, server.connection.closed]),
    "both ends to close",
  );
  assertEquals(clientInfo.error, undefined, "a clean end of stream for the client");
  assertEquals(serverInfo.error, undefined, "a clean end of stream for the server");
  assertEquals(serverInfo.bytesRead, clientInfo.bytesWritten);
  assertEquals(listener.connectionCount, 0, "closing the connection released its place");
}

Deno.test("makeTestCertificate: the fingerprint is openssl's SHA-256 and certificateFingerprint agrees", async () => {
  const certificate = await makeTestCertificate();
  try {
    const { stdout } = await new Deno.Command("openssl", {
      args: ["x509", "-in", `${certificate.dir}/cert.pem`, "-noout", "-fingerprint", "-sha256"],
      stdout: "piped",
      stderr: "null",
    }).output();
    const fromOpenssl = dec.decode(stdout).trim().split("=")[1];
    assertEquals(certificate.fingerprint, fromOpenssl);
    assertEquals(await certificateFingerprint(certificate.cert), fromOpenssl);
    assertEquals(normalizeFingerprint(fromOpenssl.toLowerCase()), fromOpenssl);
  } finally {
    await Deno.remove(certificate.dir, { recursive: true });
  }
});

Deno.test("TLS: frames round-trip over TLS validated with caCerts on 127.0.0.1", async () => {
  await withTlsServer("127.0.0.1", async ({ certificate, listener, accepted }) => {
    assert(listener.secure);
    await roundTrip(listener, accepted, {
      hostname: "127.0.0.1",
      tls: true,
      caCerts: [certificate.cert],
    });
  });
});

Deno.test("TLS: frames round-trip over TLS validated with caCerts on ::1", async () => {
  await withTlsServer("::1", async ({ certificate, listener, accepted }) => {
    await roundTrip(
      listener,
      accepted,
      { hostname: "::1", tls: true, caCerts: [certificate.cert] },
      "server",
    );
  });
});

Deno.test("TLS: a client without the CA fails validation and the listener drops the handshake", async () => {
  await withTlsServer("127.0.0.1", async ({ listener }) => {
    const error = await assertRejects(
      () => connect({ hostname: "127.0.0.1", port: listener.addr.port, tls: true }),
      TransportError,
      "self-signed",
    );
    assertEquals(error.code, "tls-handshake-failed");
    await within(until(() => listener.connectionCount === 0), "the listener to drop it");
  });
});

Deno.test("TLS: a certificate for another name fails validation even with its CA", async () => {
  const other = await makeTestCertificate("DNS:other.invalid");
  const listener = listen(
    { hostname: "127.0.0.1", port: 0, tls: { cert: other.cert, key: other.key } },
    (conn) => conn.close(),
  );
  try {
    const error = await assertRejects(
      () =>
        connect({
          hostname: "127.0.0.1",
          port: listener.addr.port,
          tls: true,
          caCerts: [other.cert],
        }),
      TransportError,
    );
    assertEquals(error.code, "tls-handshake-failed");
    assertEquals((error.cause as { code?: string }).code, "ERR_TLS_CERT_ALTNAME_INVALID");
  } finally {
    listener.close();
    await listener.closed;
    await Deno.remove(other.dir, { recursive: true });
  }
});

Deno.test("TLS: a matching fingerprint accepts the self-signed certificate without a CA", async () => {
  await withTlsServer("127.0.0.1", async ({ certificate, listener, accepted }) => {
    await roundTrip(listener, accepted, {
      hostname: "127.0.0.1",
      tls: true,
      fingerprint: certificate.fingerprint.toLowerCase(),
    });
  });
});

Deno.test("TLS: fingerprint pinning also works on ::1", async () => {
  await withTlsServer("::1", async ({ certificate, listener, accepted }) => {
    await roundTrip(
      listener,
      accepted,
      { hostname: "::1", tls: true, fingerprint: certificate.fingerprint },
      "server",
    );
  });
});

Deno.test("TLS: another certificate's fingerprint fails with fingerprint-mismatch", async () => {
  const other = await makeTestCertificate();
  try {
    await withTlsServer("127.0.0.1", async ({ listener }) => {
      const error = await assertRejects(
        () =>
          connect({
            hostname: "127.0.0.1",
            port: listener.addr.port,
            tls: true,
            fingerprint: other.fingerprint,
          }),
        TransportError,
        other.fingerprint,
      );
      assertEquals(error.code, "fingerprint-mismatch");
    });
  } finally {
    await Deno.remove(other.dir, { recursive: true });
  }
});

Deno.test("TLS: insecure accepts a certificate that nothing vouches for", async () => {
  await withTlsServer("127.0.0.1", async ({ listener, accepted }) => {
    await roundTrip(listener, accepted, { hostname: "127.0.0.1", tls: true, insecure: true });
  });
});

Deno.test("TLS: the connection from a fingerprint-pinned connect works as a Deno.TlsConn, streams included", async () => {
  await withTlsServer("127.0.0.1", async ({ certificate, listener, accepted }) => {
    const conn = await connect({
      hostname: "127.0.0.1",
      port: listener.addr.port,
      tls: true,
      fingerprint: certificate.fingerprint,
    });
    assert("handshake" in conn);
    const { transport, hostname, port } = conn.remoteAddr as Deno.NetAddr;
    assertEquals([transport, hostname, port], ["tcp", "127.0.0.1", listener.addr.port]);
    const server = await within(accepted, "the TLS connection");
    const writer = conn.writable.getWriter();
    const request = sendRequest(7, patternBytes(40_000, 7));
    for (const part of encodeRequest(request)) await writer.write(part);
    await within(server.frames.until(() => server.frames.frames.length === 1), "the request");
    assertEquals(server.frames.frames[0].body, request.body);
    await writer.close(); // closeWrite: the server sees end of stream and closes
    const info = await within(server.connection.closed, "the server side to close");
    assertEquals(info.error, undefined);
    const rest = await within(new Response(conn.readable).arrayBuffer(), "end of stream");
    assertEquals(rest.byteLength, 0);
    conn.close();
    await assertRejects(() => conn.read(new Uint8Array(1)), Deno.errors.BadResource);
  });
});

Deno.test("TLS: send() stays pending past highWaterMark while the peer does not read; all arrives once it reads", async () => {
  const certificate = await makeTestCertificate();
  const accepted = Promise.withResolvers<Deno.Conn>();
  const listener = listen(
    { hostname: "127.0.0.1", port: 0, tls: { cert: certificate.cert, key: certificate.key } },
    (conn) => accepted.resolve(conn), // not read until checkBackpressure says so
  );
  try {
    const client = await connect({
      hostname: "127.0.0.1",
      port: listener.addr.port,
      tls: true,
      caCerts: [certificate.cert],
    });
    await checkBackpressure(client, await within(accepted.promise, "the TLS connection"));
  } finally {
    listener.close();
    await listener.closed;
    await Deno.remove(certificate.dir, { recursive: true });
  }
});

Deno.test("TLS: contradictory or malformed options fail before connecting", async () => {
  const base = { hostname: "127.0.0.1", port: 9 };
  await assertRejects(() => connect({ ...base, fingerprint: "AA" }), TypeError, "tls: true");
  await assertRejects(() => connect({ ...base, insecure: true }), TypeError, "tls: true");
  await assertRejects(
    () => connect({ ...base, tls: true, insecure: true, caCerts: [] }),
    TypeError,
    "exclude",
  );
  await assertRejects(
    () => connect({ ...base, tls: true, fingerprint: "AB:CD" }),
    TypeError,
    "fingerprint",
  );
  await assertRejects(() => connect({ ...base, timeoutMs: 0 }), RangeError);
});

Deno.test("TLS: the listener closes a connection whose handshake does not complete in handshakeTimeoutMs", async () => {
  await withTlsServer("127.0.0.1", async ({ listener }) => {
    const raw = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
    assertEquals(await within(readToEnd(raw), "the listener to give up"), 0);
    raw.close();
    await within(until(() => listener.connectionCount === 0), "the count to drop");
  }, 100);
});

for (const mode of ["caCerts", "fingerprint"] as const) {
  Deno.test(`TLS: connect() (${mode}) fails with connect-timeout when the handshake does not complete`, async () => {
    const certificate = await makeTestCertificate();
    const silent = Deno.listen({ hostname: "127.0.0.1", port: 0 }); // accepts, never answers
    const accepting = silent.accept();
    try {
      const error = await assertRejects(
        () =>
          connect({
            hostname: "127.0.0.1",
            port: silent.addr.port,
            tls: true,
            timeoutMs: 100,
            ...(mode === "caCerts"
              ? { caCerts: [certificate.cert] }
              : { fingerprint: certificate.fingerprint }),
          }),
        TransportError,
      );
      assertEquals(error.code, "connect-timeout");
      const peer = await accepting;
      await within(readToEnd(peer), "the client to hang up"); // after its ClientHello
      peer.close();
    } finally {
      silent.close();
      await Deno.remove(certificate.dir, { recursive: true });
    }
  });
}

Deno.test("TLS: the listener refuses TLS 1.0 and 1.1 and accepts 1.2 and 1.3 (RFC 8996)", async () => {
  await withTlsServer("127.0.0.1", async ({ listener }) => {
    const results: Record<string, boolean> = {};
    for (const version of ["tls1", "tls1_1", "tls1_2", "tls1_3"]) {
      const { code } = await new Deno.Command("openssl", {
        args: [
          "s_client",
          "-connect",
          `127.0.0.1:${listener.addr.port}`,
          `-${version}`,
          "-cipher",
          "DEFAULT@SECLEVEL=0", // let openssl offer the old versions at all
        ],
        stdin: "null",
        stdout: "null",
        stderr: "null",
      }).output();
      results[version] = code === 0;
    }
    assertEquals(results, { tls1: false, tls1_1: false, tls1_2: true, tls1_3: true });
    await within(until(() => listener.connectionCount === 0), "the count to drop");
  });
});

Deno.test("TLS: a plain TCP client of a TLS listener gets an alert and the connection closed", async () => {
  await withTlsServer("127.0.0.1", async ({ listener }) => {
    const conn = await connect({ hostname: "127.0.0.1", port: listener.addr.port });
    await conn.write(new TextEncoder().encode("MSRP abcd SEND\r\n"));
    await within(readToEnd(conn), "the listener to drop it");
    conn.close();
    await within(until(() => listener.connectionCount === 0), "the count to drop");
  });
});

/** Polls `ready` until it holds (the caller bounds the wait with `within`). */
async function until(ready: () => boolean): Promise<void> {
  while (!ready()) await new Promise((r) => setTimeout(r, 10));
}
