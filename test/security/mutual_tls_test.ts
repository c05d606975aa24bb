/**
 * Issue 14, TLS where it matters: the service's MSRP listener serves
 * `msrps` with MSRP_TLS_CERT / MSRP_TLS_KEY; with MSRP_TLS_CLIENT_CA it
 * requires a client certificate that CA issued, refusing others in the
 * handshake (they never reach MSRP); a passive session whose SDP gave the
 * peer's `a=fingerprint` binds only a connection presenting that
 * certificate (RFC 8122, RFC 4975 §14.1); a session negotiated through the
 * API dials an `msrps` peer only if its certificate has the fingerprint of
 * its SDP; MD5 and MD2 fingerprints make an offer unacceptable.
 *
 * Everything runs the real bridge and its HTTP API in this process, over
 * real TLS sockets on 127.0.0.1, with certificates made by openssl here.
 */
import { connect as tlsConnect, type TLSSocket } from "node:tls";
import { nextMessage } from "../_messages.ts";
import { assert, assertEquals, assertRejects } from "../_assert.ts";
import { until, withDeadline } from "../_until.ts";
import { type Harness, startHarness } from "../api/_harness.ts";
import { createBridge } from "../_bridge.ts";
import { peerOffer } from "../bridge/_peer.ts";
import { sendFrame } from "../session/_peer.ts";
import { ConfigError } from "../../src/config.ts";
import {
  buildAnswer,
  buildOffer,
  type Fingerprint,
  type LocalMsrpOffer,
  parseAnswer,
} from "../../src/sdp/mod.ts";
import { MsrpEndpoint, type MsrpSession } from "../../src/session/mod.ts";
import { fingerprintOf, type Issued, TestPki } from "./_tls_pki.ts";

/** Largest wait for anything here: a hang guard, not a timing check. */
const DEADLINE_MS = 10_000;

/** A hand-written MSRP client over `node:tls`, optionally presenting a client certificate. */
class TlsClient implements AsyncDisposable {
  /** Everything the server sent. */
  received = "";
  /** True once the client's side of the handshake completed. */
  secure = false;
  /** Resolves when the connection is closed. */
  readonly closed: Promise<void>;
  readonly #socket: TLSSocket;

  constructor(port: number, serverCert: string, client?: Issued, maxVersion?: "TLSv1.2") {
    this.#socket = tlsConnect({
      host: "127.0.0.1",
      port,
      ca: [serverCert],
      ...(client === undefined ? {} : { cert: client.cert, key: client.key }),
      ...(maxVersion === undefined ? {} : { maxVersion }),
    });
    const { promise, resolve } = Promise.withResolvers<void>();
    this.closed = promise;
    this.#socket.on("secureConnect", () => this.secure = true);
    this.#socket.on(
      "data",
      (chunk: Uint8Array) => this.received += new TextDecoder().decode(chunk),
    );
    this.#socket.on("error", () => {}); // a refusal shows as the connection closing
    this.#socket.on("close", () => resolve());
  }

  /** Resolves once the handshake completed; throws when the connection closed first. */
  async handshake(): Promise<void> {
    await this.#until("the TLS handshake", () => this.secure);
  }

  /** Writes `text` once the handshake completed. */
  write(text: string): void {
    if (this.secure) this.#socket.write(text);
    else this.#socket.once("secureConnect", () => this.#socket.write(text));
  }

  /** The status of the response to transaction `tid`. */
  async status(tid: string): Promise<number> {
    const pattern = new RegExp(`^MSRP ${tid} (\\d{3})`, "m");
    await this.#until(`the response to ${tid}`, () => pattern.test(this.received));
    return Number(pattern.exec(this.received)![1]);
  }

  /** Resolves once the server closed the connection (the hang guard fails the test otherwise). */
  async closedByServer(): Promise<void> {
    await withDeadline(this.closed, "the server to close the refused connection", DEADLINE_MS);
  }

  /** Closes the connection and waits until it is. */
  async close(): Promise<void> {
    this.#socket.destroy();
    await this.closed;
  }

  /** Closes the connection. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  async #until(what: string, predicate: () => boolean): Promise<void> {
    let closed = false;
    this.closed.then(() => closed = true);
    await until(
      () => {
        if (predicate()) return true;
        if (closed) throw new Error(`the connection closed before ${what}`);
        return false;
      },
      what,
      { timeoutMs: DEADLINE_MS },
    );
  }
}

/** The bridge listening for `msrps` with `server`'s certificate, plus `env`. */
function tlsHarness(server: Issued, env: Record<string, string> = {}): Promise<Harness> {
  return startHarness({ MSRP_TLS_CERT: server.certPath, MSRP_TLS_KEY: server.keyPath, ...env });
}

/** The bridge serving msrps, and the certificates of a peer and of one other party. */
interface Pinning extends AsyncDisposable {
  /** The bridge's API, its MSRP listener serving msrps with `server`. */
  readonly h: Harness;
  /** The bridge's certificate. */
  readonly server: Issued;
  /** The certificate whose fingerprint the SDP pins. */
  readonly peer: Issued;
  /** A certificate of another party, which the SDP does not pin. */
  readonly other: Issued;
}

/**
 * Certificates for the bridge, the peer and `other` from a throwaway PKI,
 * and the bridge serving msrps; dispose stops the bridge and removes the PKI.
 */
async function pinning(other: string): Promise<Pinning> {
  const pki = await TestPki.create();
  try {
    const server = await pki.leaf("bridge");
    const peer = await pki.leaf("peer");
    const otherCert = await pki.leaf(other);
    const h = await tlsHarness(server);
    return {
      h,
      server,
      peer,
      other: otherCert,
      async [Symbol.asyncDispose]() {
        await h[Symbol.asyncDispose]();
        await pki[Symbol.asyncDispose]();
      },
    };
  } catch (e) {
    await pki[Symbol.asyncDispose]();
    throw e;
  }
}

/** The URI a hand-written peer puts in its SDP and its From-Path. */
function peerUri(id: string): string {
  return `msrps://127.0.0.1:2855/${id};tcp`;
}

/** The offer of a hand-written peer at `from` that connects (`a=setup:active`), with `fingerprint`. */
function activeOffer(from: string, fingerprint?: Fingerprint): LocalMsrpOffer {
  return {
    path: [from],
    address: "127.0.0.1",
    port: 2855,
    acceptTypes: ["*"],
    setup: "active",
    fingerprint,
  };
}

/**
 * Offers a session to the bridge from a peer that connects (`a=setup:active`)
 * with `fingerprint`; returns the bridge's session id, the URI to send to,
 * and the fingerprint the bridge's answer gave for itself.
 */
async function offerAsActivePeer(
  h: Harness,
  from: string,
  fingerprint?: Fingerprint,
): Promise<{ id: string; to: string; answerFingerprint: Fingerprint | undefined }> {
  const local = activeOffer(from, fingerprint);
  const created = await h.json("POST", "/v1/sessions", { offer: buildOffer(local) });
  assertEquals(created.status, 201, await created.clone().text());
  const { id, answer } = await created.json();
  const accepted = parseAnswer(answer, local);
  assertEquals(accepted.protocol, "TCP/TLS/MSRP");
  return { id, to: accepted.remotePath[0], answerFingerprint: accepted.fingerprint };
}

/** Waits until session `id` is in `state`, `what` naming the wait. */
async function untilState(h: Harness, id: string, state: string, what: string): Promise<void> {
  await until(async () => (await sessionState(h, id)).state === state, what, {
    timeoutMs: DEADLINE_MS,
    intervalMs: 20,
  });
}

async function sessionState(
  h: Harness,
  id: string,
): Promise<{ state: string; endReason?: string }> {
  const res = await h.request(`/v1/sessions/${id}`);
  assertEquals(res.status, 200);
  return await res.json();
}

/** Posts `text` to session `id` through the API (202) and checks `peer` receives it. */
async function assertDelivered(
  h: Harness,
  id: string,
  peer: MsrpSession,
  text: string,
): Promise<void> {
  const got = nextMessage(peer);
  const sent = await h.json("POST", `/v1/sessions/${id}/messages`, { text });
  assertEquals(sent.status, 202, await sent.clone().text());
  assertEquals((await got).text(), text);
}

/** Sends a one-chunk SEND from `from` to `to` and returns the response status. */
async function send(client: TlsClient, tid: string, to: string, from: string): Promise<number> {
  client.write(sendFrame({ tid, to, from, messageId: tid, range: "1-5/5", body: "hello" }));
  return await client.status(tid);
}

/** Writes a SEND and checks the server closes the connection without a byte of MSRP. */
async function assertRefusedInHandshake(
  h: Harness,
  client: TlsClient,
  to: string,
  from: string,
  failedBefore: number,
): Promise<void> {
  client.write(
    sendFrame({ tid: "refused1", to, from, messageId: "r1", range: "1-1/1", body: "x" }),
  );
  await client.closedByServer();
  assertEquals(client.received, "", "no MSRP response reached a refused client");
  // The listener counted a failed handshake and never handed the connection to MSRP.
  assertEquals(h.bridge.endpoint.failedHandshakeCount, failedBefore + 1);
  assertEquals(h.bridge.endpoint.connectionCount, 0);
}

Deno.test("mutual TLS: with MSRP_TLS_CLIENT_CA a client certificate that CA issued completes the handshake and an MSRP SEND gets 200 (TLS 1.3 and 1.2)", async () => {
  await using pki = await TestPki.create();
  const ca = await pki.ca("clients-ca");
  const server = await pki.leaf("bridge");
  const good = await pki.leaf("good-client", ca);
  await using h = await tlsHarness(server, { MSRP_TLS_CLIENT_CA: ca.certPath });
  const port = h.bridge.endpoint.port;
  for (const version of [undefined, "TLSv1.2"] as const) {
    const from = peerUri(`good${version ?? "13"}`.replace(".", ""));
    const { id, to, answerFingerprint } = await offerAsActivePeer(h, from);
    // Our SDP names msrps and the fingerprint of our certificate (RFC 8122).
    assert(to.startsWith("msrps://"), to);
    assertEquals(answerFingerprint, {
      hash: "sha-256",
      value: await fingerprintOf(server.cert, "sha-256"),
    });
    await using client = new TlsClient(port, server.cert, good, version);
    await client.handshake();
    assertEquals(await send(client, "good1", to, from), 200);
    await untilState(h, id, "active", "the session to start");
  }
  assertEquals(h.bridge.endpoint.failedHandshakeCount, 0);
});

Deno.test("mutual TLS: a client without a certificate, or with one another CA or nobody issued, is refused in the handshake and never reaches MSRP", async () => {
  await using pki = await TestPki.create();
  const ca = await pki.ca("clients-ca");
  const otherCa = await pki.ca("other-ca");
  const server = await pki.leaf("bridge");
  const good = await pki.leaf("good-client", ca);
  const foreign = await pki.leaf("foreign-client", otherCa);
  const selfSigned = await pki.leaf("self-signed-client");
  await using h = await tlsHarness(server, { MSRP_TLS_CLIENT_CA: ca.certPath });
  const port = h.bridge.endpoint.port;
  const from = peerUri("refusals");
  const { id, to } = await offerAsActivePeer(h, from);

  const refused: [string, Issued | undefined][] = [
    ["no certificate", undefined],
    ["another CA's certificate", foreign],
    ["a self-signed certificate", selfSigned],
  ];
  for (const [what, credentials] of refused) {
    const failedBefore = h.bridge.endpoint.failedHandshakeCount;
    {
      await using client = new TlsClient(port, server.cert, credentials);
      await assertRefusedInHandshake(h, client, to, from, failedBefore).catch((e) => {
        throw new Error(`${what}: ${(e as Error).message}`, { cause: e });
      });
    }
    assertEquals((await sessionState(h, id)).state, "pending", `${what}: the session is unbound`);
  }

  // The premise: the same client code with the CA's certificate gets through.
  await using client = new TlsClient(port, server.cert, good);
  assertEquals(await send(client, "after1", to, from), 200);
});

Deno.test("a=fingerprint from SDP: the client whose certificate matches binds the passive session; another certificate, or none, gets 481 and leaves it unbound", async () => {
  await using pinned = await pinning("intruder");
  const { h, server, peer, other: intruder } = pinned;
  const port = h.bridge.endpoint.port;
  const from = peerUri("pinned");
  const pin = { hash: "sha-256", value: await fingerprintOf(peer.cert, "sha-256") };
  const { id, to } = await offerAsActivePeer(h, from, pin);

  for (const [what, credentials] of [["another", intruder], ["no", undefined]] as const) {
    {
      await using client = new TlsClient(port, server.cert, credentials);
      await client.handshake(); // no client CA: the handshake itself succeeds
      assertEquals(await send(client, "intr1", to, from), 481, `${what} certificate`);
    }
    assertEquals((await sessionState(h, id)).state, "pending", `${what} certificate: unbound`);
  }

  await using client = new TlsClient(port, server.cert, peer);
  assertEquals(await send(client, "peer1", to, from), 200);
  await untilState(h, id, "active", "the session to start");
});

Deno.test("a=fingerprint from SDP: sha-1, sha-384 and sha-512 fingerprints of the client certificate are verified too", async () => {
  await using pinned = await pinning("intruder");
  const { h, server, peer, other: intruder } = pinned;
  const port = h.bridge.endpoint.port;
  for (const hash of ["sha-1", "sha-384", "sha-512"] as const) {
    const from = peerUri(`pinned-${hash}`);
    // Lower case, as RFC 8122 §5 allows.
    const value = (await fingerprintOf(peer.cert, hash)).toLowerCase();
    const { to } = await offerAsActivePeer(h, from, { hash: hash.toUpperCase(), value });
    await using wrong = new TlsClient(port, server.cert, intruder);
    await using right = new TlsClient(port, server.cert, peer);
    assertEquals(await send(wrong, "wrong1", to, from), 481, `${hash}: another certificate`);
    assertEquals(await send(right, "right1", to, from), 200, `${hash}: the pinned certificate`);
  }
});

/** A real MSRP endpoint serving msrps with `cert`, as the peer the bridge dials. */
function tlsPeer(cert: Issued): MsrpEndpoint & AsyncDisposable {
  const endpoint = new MsrpEndpoint({ port: 0, tls: { cert: cert.cert, key: cert.key } }).listen();
  return Object.assign(endpoint, { [Symbol.asyncDispose]: () => endpoint.close() });
}

Deno.test("API offer: the bridge dialing an msrps peer whose certificate lacks the offer's a=fingerprint fails; with the right fingerprint (sha-256, sha-384) it connects and delivers", async () => {
  await using pinned = await pinning("other");
  const { h, peer: peerCert, other } = pinned;
  await using peer = tlsPeer(peerCert);

  const offer = async (fingerprint: Fingerprint) => {
    const session = peer.createSession();
    const local = peerOffer(peer, session, { setup: "passive", fingerprint }); // the bridge connects
    const created = await h.json("POST", "/v1/sessions", { offer: buildOffer(local) });
    assertEquals(created.status, 201);
    const { id } = await created.json();
    return { id, session };
  };

  const wrong = await offer({ hash: "sha-256", value: await fingerprintOf(other.cert, "sha-256") });
  await untilState(h, wrong.id, "ended", "the mismatched session to end");
  const ended = await sessionState(h, wrong.id);
  assert(/fingerprint/.test(ended.endReason ?? ""), ended.endReason);
  assertEquals(wrong.session.remotePath, undefined, "the peer session was never bound");

  for (const hash of ["sha-256", "sha-384"] as const) {
    const right = await offer({ hash, value: await fingerprintOf(peerCert.cert, hash) });
    await untilState(h, right.id, "active", `the ${hash}-pinned session to start`);
    await assertDelivered(h, right.id, right.session, hash);
  }
});

Deno.test("API answer: applying an answer whose msrps peer lacks its a=fingerprint fails with 502 connect-failed; the right fingerprint connects", async () => {
  await using pinned = await pinning("other");
  const { h, peer: peerCert, other } = pinned;
  await using peer = tlsPeer(peerCert);

  const answerWith = async (fingerprint: Fingerprint) => {
    const created = await h.json("POST", "/v1/sessions", { createOffer: true });
    assertEquals(created.status, 201);
    const { id, offer } = await created.json();
    const session = peer.createSession();
    const { sdp } = buildAnswer(offer, {
      path: session.localPath,
      address: "127.0.0.1",
      port: peer.port,
      acceptTypes: ["*"],
      fingerprint,
    }); // actpass offered: the peer answers passive, the bridge connects
    const applied = await h.json("PUT", `/v1/sessions/${id}/answer`, { answer: sdp });
    return { id, session, applied };
  };

  const wrong = await answerWith({
    hash: "sha-512",
    value: await fingerprintOf(other.cert, "sha-512"),
  });
  assertEquals(wrong.applied.status, 502);
  const problem = await wrong.applied.json();
  assert(/fingerprint/.test(problem.detail ?? ""), JSON.stringify(problem));
  assertEquals(wrong.session.remotePath, undefined, "the peer session was never bound");

  const right = await answerWith({
    hash: "sha-512",
    value: await fingerprintOf(peerCert.cert, "sha-512"),
  });
  assertEquals(right.applied.status, 200, await right.applied.clone().text());
  await assertDelivered(h, right.id, right.session, "pinned");
});

Deno.test("SDP: an msrps offer or answer whose a=fingerprint uses md5, md2 or another unsupported hash function is not acceptable (422)", async () => {
  await using pki = await TestPki.create();
  const server = await pki.leaf("bridge");
  await using h = await tlsHarness(server);
  const bytes = (n: number) => Array.from({ length: n }, () => "AB").join(":");
  const unsupported: Fingerprint[] = [
    { hash: "md5", value: bytes(16) },
    { hash: "md2", value: bytes(16) },
    { hash: "sha-224", value: bytes(28) },
  ];
  for (const fingerprint of unsupported) {
    const local = activeOffer(peerUri("weak"), fingerprint);
    const res = await h.json("POST", "/v1/sessions", { offer: buildOffer(local) });
    assertEquals(res.status, 422, fingerprint.hash);
    const problem = await res.json();
    assert(problem.type.endsWith("/sdp-not-acceptable"), problem.type);
    assert(problem.detail.includes(fingerprint.hash), problem.detail);
  }
  // A sha-256 value of the wrong length is refused as well.
  const short = activeOffer(peerUri("short"), { hash: "sha-256", value: bytes(20) });
  assertEquals((await h.json("POST", "/v1/sessions", { offer: buildOffer(short) })).status, 422);

  const created = await h.json("POST", "/v1/sessions", { createOffer: true });
  const { id, offer } = await created.json();
  const { sdp } = buildAnswer(offer, {
    path: [peerUri("weak-answer")],
    address: "127.0.0.1",
    port: 2855,
    acceptTypes: ["*"],
    fingerprint: { hash: "md5", value: bytes(16) },
  });
  const applied = await h.json("PUT", `/v1/sessions/${id}/answer`, { answer: sdp });
  assertEquals(applied.status, 422);
  assert((await applied.json()).type.endsWith("/sdp-not-acceptable"));
});

Deno.test("start-up: an unreadable or unusable MSRP TLS file stops the bridge with one line naming the variable", async () => {
  await using pki = await TestPki.create();
  const server = await pki.leaf("bridge");
  const other = await pki.leaf("other");
  const notPem = `${pki.dir}/not.pem`;
  await Deno.writeTextFile(notPem, "not a certificate\n");
  const cases: [Record<string, string>, string][] = [
    [{ MSRP_TLS_CERT: `${pki.dir}/missing.pem`, MSRP_TLS_KEY: server.keyPath }, "MSRP_TLS_CERT"],
    [{ MSRP_TLS_CERT: notPem, MSRP_TLS_KEY: server.keyPath }, "MSRP_TLS_CERT"],
    [{ MSRP_TLS_CERT: server.certPath, MSRP_TLS_KEY: notPem }, "MSRP_TLS_KEY"],
    [{ MSRP_TLS_CERT: server.certPath, MSRP_TLS_KEY: other.keyPath }, "MSRP_TLS_KEY"],
    [{
      MSRP_TLS_CERT: server.certPath,
      MSRP_TLS_KEY: server.keyPath,
      MSRP_TLS_CLIENT_CA: notPem,
    }, "MSRP_TLS_CLIENT_CA"],
  ];
  for (const [env, variable] of cases) {
    await using fixture = await createBridge(env);
    const error = await assertRejects(() => fixture.bridge.start(), ConfigError);
    assert(error.message.startsWith(`${variable}: `), error.message);
    assert(!error.message.includes("\n"), "one line");
  }
});
