import {
  answerChallenge,
  computeResponse,
  type DigestCredentials,
  formatAuthorization,
  formatChallenge,
  newChallenge,
  parseAuthorization,
  parseChallenge,
  verifyAuthorization,
} from "../../src/msrp/digest.ts";
import { md5Hex } from "../../src/msrp/_md5.ts";
import { MsrpError } from "../../src/msrp/status.ts";
import { assert, assertEquals, assertThrows } from "../_assert.ts";

const RELAY = {
  username: "alice",
  password: "secret",
  realm: "msrp-relay.test",
  nonce: "awcLcmsHCkYgP5wQPFjoycX/KO2c7PCw",
  uri: "msrp://127.0.0.1:12856;tcp",
  nc: "00000001",
  cnonce: "612fc90c7494622d",
} as const;
const RELAY_RESPONSE = "5dc949daa37b5231174fc8a9f5e7317b";
const RELAY_AUTHORIZATION = 'Digest username="alice", realm="msrp-relay.test", ' +
  'nonce="awcLcmsHCkYgP5wQPFjoycX/KO2c7PCw", uri="msrp://127.0.0.1:12856;tcp", ' +
  'response="5dc949daa37b5231174fc8a9f5e7317b", qop=auth, nc=00000001, cnonce="612fc90c7494622d"';
const RELAY_CREDENTIALS: DigestCredentials = {
  username: "alice",
  realm: "msrp-relay.test",
  nonce: "awcLcmsHCkYgP5wQPFjoycX/KO2c7PCw",
  uri: "msrp://127.0.0.1:12856;tcp",
  response: RELAY_RESPONSE,
  qop: "auth",
  nc: "00000001",
  cnonce: "612fc90c7494622d",
};

Deno.test("computeResponse reproduces the RFC 2617 §3.5 example (HA1, HA2, response)", () => {
  assertEquals(
    md5Hex("Mufasa:testrealm@host.com:Circle Of Life"),
    "939e7578ed9e3c518a452acee763bce9",
  );
  assertEquals(md5Hex("GET:/dir/index.html"), "39aff3a2bab6126f332b942af96d3366");
  const response = computeResponse({
    username: "Mufasa",
    password: "Circle Of Life",
    realm: "testrealm@host.com",
    nonce: "dcd98b7102dd2f0e8b11d0f600bfb0c093",
    method: "GET",
    uri: "/dir/index.html",
    qop: "auth",
    nc: "00000001",
    cnonce: "0a4f113b",
  });
  assertEquals(response, "6629fae49393a05397450978507c4ef1");
});

Deno.test("computeResponse gives the response the MSRP relay accepted for AUTH", () => {
  assertEquals(md5Hex("alice:msrp-relay.test:secret"), "cc5180aa94efaf6e57f72c4f400a5eaf");
  assertEquals(md5Hex("AUTH:msrp://127.0.0.1:12856;tcp"), "a5e01823625eae2b0938af140da5e0e4");
  assertEquals(computeResponse({ ...RELAY, method: "AUTH", qop: "auth" }), RELAY_RESPONSE);
});

Deno.test("computeResponse without qop is MD5(HA1:nonce:HA2)", () => {
  const ha1 = md5Hex("alice:msrp-relay.test:secret");
  const ha2 = md5Hex("AUTH:msrp://127.0.0.1:12856;tcp");
  assertEquals(
    computeResponse({ ...RELAY, method: "AUTH", nc: undefined, cnonce: undefined }),
    md5Hex(`${ha1}:${RELAY.nonce}:${ha2}`),
  );
});

Deno.test("computeResponse rejects auth-int and qop without nc/cnonce with MsrpError 400", () => {
  const base = { ...RELAY, method: "AUTH" };
  const e1 = assertThrows(() => computeResponse({ ...base, qop: "auth-int" }), MsrpError, "qop");
  assertEquals(e1.status, 400);
  const e2 = assertThrows(
    () => computeResponse({ ...base, qop: "auth", cnonce: undefined }),
    MsrpError,
    "nc and cnonce",
  );
  assertEquals(e2.status, 400);
});

Deno.test("formatAuthorization writes the exact relay header, qop and nc unquoted", () => {
  assertEquals(formatAuthorization(RELAY_CREDENTIALS), RELAY_AUTHORIZATION);
  assertEquals(
    formatAuthorization({ ...RELAY_CREDENTIALS, opaque: 'op"aque', algorithm: "MD5" }),
    `${RELAY_AUTHORIZATION}, opaque="op\\"aque", algorithm=MD5`,
  );
});

Deno.test("formatAuthorization refuses values that would break the header", () => {
  assertThrows(
    () => formatAuthorization({ ...RELAY_CREDENTIALS, username: "a\r\nX-Evil: 1" }),
    MsrpError,
    "control character",
  );
  assertThrows(
    () => formatAuthorization({ ...RELAY_CREDENTIALS, nc: "1, x=y" }),
    MsrpError,
    "not a token",
  );
});

Deno.test("parseAuthorization inverts formatAuthorization", () => {
  assertEquals(parseAuthorization(RELAY_AUTHORIZATION), RELAY_CREDENTIALS);
  const full = { ...RELAY_CREDENTIALS, opaque: 'o"p\\q', algorithm: "MD5" };
  assertEquals(parseAuthorization(formatAuthorization(full)), full);
});

Deno.test("parseAuthorization accepts any order, name case, quoted qop/nc and odd spacing", () => {
  const value = 'digest  CNONCE="612fc90c7494622d",qop="auth" ,  NC=00000001,' +
    'Response="5dc949daa37b5231174fc8a9f5e7317b", uri="msrp://127.0.0.1:12856;tcp",' +
    ' nonce="awcLcmsHCkYgP5wQPFjoycX/KO2c7PCw", Realm=msrp-relay.test, username="alice", x-ext=1';
  assertEquals(parseAuthorization(value), RELAY_CREDENTIALS);
});

Deno.test("parseAuthorization rejects bad values with MsrpError 400", () => {
  const cases: [string, string][] = [
    ["Basic dXNlcjpwYXNz", "not a Digest value"],
    [RELAY_AUTHORIZATION.replace('username="alice", ', ""), "no username"],
    [RELAY_AUTHORIZATION.replace(' uri="msrp://127.0.0.1:12856;tcp",', ""), "no uri"],
    [RELAY_AUTHORIZATION.replace(', cnonce="612fc90c7494622d"', ""), "no cnonce"],
    [RELAY_AUTHORIZATION.replace(", nc=00000001", ""), "no nc"],
    [RELAY_AUTHORIZATION.replace("nc=00000001", "nc=1"), "nc is not 8 hex digits"],
    [RELAY_AUTHORIZATION.replace(RELAY_RESPONSE, "xyz"), "response is not 32 hex digits"],
    [`${RELAY_AUTHORIZATION}, realm="again"`, "duplicate parameter realm"],
    ['Digest username="alice', "unterminated quoted string"],
    ["Digest username", 'missing "="'],
    ["Digest username=", "empty value"],
    ['Digest username="a" realm="b"', 'expected ","'],
  ];
  for (const [value, problem] of cases) {
    const error = assertThrows(() => parseAuthorization(value), MsrpError, problem);
    assertEquals(error.status, 400, value);
  }
});

Deno.test("parseChallenge reads quoted strings with escapes, tokens, any order and case", () => {
  assertEquals(
    parseChallenge('Digest realm="msrp-relay.test", nonce="abc", qop="auth"'),
    { realm: "msrp-relay.test", nonce: "abc", qop: "auth" },
  );
  assertEquals(
    parseChallenge(
      'DIGEST Stale=TRUE, ALGORITHM=MD5, Opaque="x\\"y\\\\z", QOP="auth,auth-int", ' +
        'Nonce=n0nce, domain="msrp://r", Realm="a, b"',
    ),
    {
      realm: "a, b",
      nonce: "n0nce",
      qop: "auth,auth-int",
      opaque: 'x"y\\z',
      algorithm: "MD5",
      stale: true,
    },
  );
  assertEquals(parseChallenge('Digest realm="r", nonce="n", stale=false').stale, false);
});

Deno.test("parseChallenge rejects non-Digest and incomplete challenges with MsrpError 400", () => {
  const cases: [string, string][] = [
    ['Basic realm="r"', "not a Digest value"],
    ["", "not a Digest value"],
    ['Digest nonce="n"', "no realm"],
    ['Digest realm="r"', "no nonce"],
    ['Digest realm="r", nonce="n", stale=maybe', "bad stale value"],
  ];
  for (const [value, problem] of cases) {
    const error = assertThrows(() => parseChallenge(value), MsrpError, problem);
    assertEquals(error.status, 400, value);
  }
});

Deno.test("formatChallenge quotes realm, nonce, qop and opaque, and round-trips", () => {
  const challenge = {
    realm: 'r"1',
    nonce: "n",
    qop: "auth",
    opaque: "o",
    algorithm: "MD5",
    stale: true,
  };
  const text = formatChallenge(challenge);
  assertEquals(
    text,
    'Digest realm="r\\"1", nonce="n", qop="auth", opaque="o", algorithm=MD5, stale=true',
  );
  assertEquals(parseChallenge(text), challenge);
  assertEquals(formatChallenge({ realm: "r", nonce: "n" }), 'Digest realm="r", nonce="n"');
});

Deno.test("answerChallenge reproduces the relay credentials for nc 1 and a given cnonce", () => {
  const challenge = parseChallenge(
    'Digest realm="msrp-relay.test", nonce="awcLcmsHCkYgP5wQPFjoycX/KO2c7PCw", qop="auth"',
  );
  const credentials = answerChallenge(challenge, {
    username: "alice",
    password: "secret",
    uri: "msrp://127.0.0.1:12856;tcp",
    cnonce: "612fc90c7494622d",
  });
  assertEquals(credentials, RELAY_CREDENTIALS);
  assertEquals(formatAuthorization(credentials), RELAY_AUTHORIZATION);
});

Deno.test("answerChallenge formats nc as 8 hex digits and draws a random 16-hex cnonce", () => {
  const challenge = newChallenge("realm");
  const options = { username: "u", password: "p", uri: "msrp://r;tcp", nc: 255 };
  const a = answerChallenge(challenge, options);
  const b = answerChallenge(challenge, options);
  assertEquals(a.nc, "000000ff");
  assert(/^[0-9a-f]{16}$/.test(a.cnonce ?? ""), `cnonce ${a.cnonce}`);
  assert(a.cnonce !== b.cnonce, "cnonce is random");
  assertEquals(answerChallenge(challenge, { ...options, nc: 0xffffffff }).nc, "ffffffff");
  for (const nc of [0, -1, 1.5, 0x100000000]) {
    assertThrows(
      () => answerChallenge(challenge, { ...options, nc }),
      MsrpError,
      "nc out of range",
    );
  }
});

Deno.test("answerChallenge uses method AUTH by default and the given method otherwise", () => {
  const challenge = newChallenge("realm", { nonce: "n" });
  const options = { username: "u", password: "p", uri: "msrp://r;tcp", cnonce: "c" };
  const auth = answerChallenge(challenge, options);
  assert(verifyAuthorization(auth, { password: "p", method: "AUTH" }));
  const send = answerChallenge(challenge, { ...options, method: "SEND" });
  assert(send.response !== auth.response, "method is hashed");
  assert(verifyAuthorization(send, { password: "p", method: "SEND" }));
});

Deno.test("answerChallenge without qop in the challenge omits qop, nc and cnonce", () => {
  const credentials = answerChallenge(
    { realm: "r", nonce: "n", opaque: "o", algorithm: "md5" },
    { username: "u", password: "p", uri: "msrp://r;tcp" },
  );
  assertEquals(credentials, {
    username: "u",
    realm: "r",
    nonce: "n",
    uri: "msrp://r;tcp",
    response: computeResponse({
      username: "u",
      password: "p",
      realm: "r",
      nonce: "n",
      method: "AUTH",
      uri: "msrp://r;tcp",
    }),
    opaque: "o",
    algorithm: "md5",
  });
  assert(verifyAuthorization(credentials, { password: "p", method: "AUTH" }));
});

Deno.test("answerChallenge picks auth from a qop list and refuses other algorithms or qops", () => {
  const base = { username: "u", password: "p", uri: "msrp://r;tcp" };
  assertEquals(
    answerChallenge({ realm: "r", nonce: "n", qop: "auth-int, auth" }, base).qop,
    "auth",
  );
  const e1 = assertThrows(
    () => answerChallenge({ realm: "r", nonce: "n", qop: "auth-int" }, base),
    MsrpError,
    "offers no qop=auth",
  );
  assertEquals(e1.status, 400);
  assertThrows(
    () => answerChallenge({ realm: "r", nonce: "n", algorithm: "MD5-sess" }, base),
    MsrpError,
    "unsupported digest algorithm",
  );
});

Deno.test("newChallenge offers qop auth with a random 32-hex nonce unless one is given", () => {
  const a = newChallenge("msrp-relay.test");
  const b = newChallenge("msrp-relay.test");
  assertEquals(a.realm, "msrp-relay.test");
  assertEquals(a.qop, "auth");
  assert(/^[0-9a-f]{32}$/.test(a.nonce), `nonce ${a.nonce}`);
  assert(a.nonce !== b.nonce, "nonce is random");
  assertEquals(newChallenge("r", { nonce: "n", opaque: "o" }), {
    realm: "r",
    nonce: "n",
    qop: "auth",
    opaque: "o",
  });
});

Deno.test("verifyAuthorization accepts the relay credentials and rejects any mismatch", () => {
  const ok = { password: "secret", method: "AUTH" };
  assert(verifyAuthorization(RELAY_CREDENTIALS, ok));
  assert(
    verifyAuthorization(RELAY_CREDENTIALS, {
      ...ok,
      expectedNonce: RELAY.nonce,
      realm: RELAY.realm,
    }),
  );
  assert(verifyAuthorization({ ...RELAY_CREDENTIALS, response: RELAY_RESPONSE.toUpperCase() }, ok));
  assert(!verifyAuthorization(RELAY_CREDENTIALS, { ...ok, password: "Secret" }), "password");
  assert(!verifyAuthorization(RELAY_CREDENTIALS, { ...ok, method: "SEND" }), "method");
  assert(!verifyAuthorization(RELAY_CREDENTIALS, { ...ok, expectedNonce: "other" }), "nonce");
  assert(!verifyAuthorization(RELAY_CREDENTIALS, { ...ok, realm: "other" }), "realm");
  assert(!verifyAuthorization({ ...RELAY_CREDENTIALS, nc: "00000002" }, ok), "nc");
  assert(!verifyAuthorization({ ...RELAY_CREDENTIALS, uri: "msrp://x;tcp" }, ok), "uri");
  assert(!verifyAuthorization({ ...RELAY_CREDENTIALS, response: "0".repeat(32) }, ok), "response");
  assert(!verifyAuthorization({ ...RELAY_CREDENTIALS, response: "abc" }, ok), "short response");
  assert(!verifyAuthorization({ ...RELAY_CREDENTIALS, qop: "auth-int" }, ok), "qop auth-int");
  assert(!verifyAuthorization({ ...RELAY_CREDENTIALS, cnonce: undefined }, ok), "no cnonce");
  assert(!verifyAuthorization({ ...RELAY_CREDENTIALS, algorithm: "SHA-256" }, ok), "algorithm");
});

Deno.test("a challenge answered by answerChallenge verifies after a header round trip", () => {
  const challenge = parseChallenge(formatChallenge(newChallenge("relay.example", { opaque: "o" })));
  const header = formatAuthorization(
    answerChallenge(challenge, {
      username: "bob",
      password: "pw",
      uri: "msrps://relay:2855;tcp",
      nc: 3,
    }),
  );
  const credentials = parseAuthorization(header);
  assertEquals(credentials.nc, "00000003");
  assertEquals(credentials.opaque, "o");
  assert(
    verifyAuthorization(credentials, {
      password: "pw",
      method: "AUTH",
      expectedNonce: challenge.nonce,
      realm: "relay.example",
    }),
  );
});
