/**
 * The SIP user agent against the RFCs, not against itself:
 * - torture messages written for this project, each modelled on the property
 *   that a case of RFC 4475 exercises (hosts, tags, branches, names and
 *   values are our own), through `parseSipMessage`, the parser of every
 *   connection of `SipUserAgent`: what a UA must see in the valid ones
 *   (§3.1.1), and that the invalid ones are refused (§3.1.2, §3.3);
 * - the INVITE, CANCEL, ACK and BYE that `SipUserAgent` writes, captured on
 *   a scripted server and compared byte for byte with messages written from
 *   RFC 3261 §8.1.1, §9.1, §12.2.1.1, §13.2.2.4, §15.1.1 and §17.1.1.3.
 * The incremental framing (reads split anywhere, size limits) is pinned in
 * sip_message_test.ts.
 *
 * @module
 */

import { assert, assertEquals, assertThrows } from "../_assert.ts";
import { withDeadline } from "../_until.ts";
import {
  headerOf,
  parseSipMessage,
  serializeSip,
  SipConnection,
  type SipMessage,
  SipMessageError,
  statusOf,
} from "../../src/pbx/_sip_message.ts";
import { SipUserAgent } from "../../src/pbx/sip_ua.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/**
 * A message of `head` lines (start line, header lines, continuation lines
 * starting with whitespace), each ended by CRLF, a blank line, then `body`.
 * Content-Length is whatever the lines say.
 */
function sip(head: readonly string[], body: string | Uint8Array = ""): Uint8Array {
  const text = head.map((line) => `${line}\r\n`).join("") + "\r\n";
  return concat(enc.encode(text), typeof body === "string" ? enc.encode(body) : body);
}

/** Parses a message that must be one whole, accepted message; every shorter prefix must wait. */
function accepted(bytes: Uint8Array, label: string): SipMessage {
  const framed = parseSipMessage(bytes);
  assert(framed, `${label}: a whole message`);
  assertEquals(framed.size, bytes.length, `${label}: Content-Length covers the rest of the bytes`);
  for (let k = 0; k < bytes.length; k++) {
    assertEquals(parseSipMessage(bytes.subarray(0, k)), undefined, `${label}: ${k} bytes wait`);
  }
  return framed.message;
}

/** The refusal of a message. */
function refused(bytes: Uint8Array): SipMessageError {
  return assertThrows(() => parseSipMessage(bytes), SipMessageError);
}

function values(message: SipMessage, name: string): string[] {
  return message.headers.filter(([n]) => n === name).map(([, v]) => v);
}

/** The last `length` bytes of `bytes`, as text. */
function tail(bytes: Uint8Array, length: number): string {
  return dec.decode(bytes.subarray(bytes.length - length));
}

/** The body of the valid INVITEs and of the 200: 193 bytes of SDP. */
const SDP = [
  "v=0",
  "o=grace 7730 7731 IN IP4 198.51.100.20",
  "s=-",
  "c=IN IP4 198.51.100.20",
  "t=0 0",
  "m=message 7394 TCP/MSRP *",
  "a=accept-types:message/cpim text/plain",
  "a=path:msrp://198.51.100.20:7394/kx82bq;tcp",
  "",
].join("\r\n");

// --- Valid messages, modelled on RFC 4475 §3.1.1 and §3.3 -----------------------------------

// Modelled on RFC 4475 §3.1.1.1 (wsinv): LWS around ":", ";", "=" and "/"; a value that starts
// on a folded line; folded lists; compact names (e k s v i m l f t c); mixed-case names;
// leading zeros; an empty value; unknown headers of odd token characters; escaped
// characters in the Request-URI user part; quoted display names with escaped quotes.
const TORTUOUS_INVITE = sip([
  "INVITE sip:gr%61ce.h%40ome@torture.example.org;oddparam;x-y=1 SIP/2.0",
  "TO :",
  " sip:grace@torture.example.org ;  tag   =  7f3a0c",
  'f   :   "Henry \\"Hank\\" \\\\ Jr."    <sip:henry@example.net>  ;tag=  hj-5501',
  "mAX-fORWARDS: 0042",
  "i:torture-1.q8vmz3@198.51.100.20",
  "l  :  0193",
  "cseq:   00017   INVITE",
  "V : SIP /  2.0/ TCP   198.51.100.20:5071 ;branch = z9hG4bKq8vmz3a",
  "s   :",
  "k:path,   timer",
  "X-Odd.Header!%*_+`'~: first part,",
  "\tsecond part ;\tthird part",
  "x-NOTHING-BUT-SEPARATORS: ,;,;;,,;",
  "e: identity",
  "c :application/sdp",
  "rOuTe:<sip:proxy.example.net;lr;knownnot=1;bare-flag>",
  "v:   SIP / 2.0 / TCP proxy.example.net ; branch = z9hG4bKp1 ,",
  "   SIP/   2.0/UDP 192.0.2.33:5060;branch=z9hG4bKp0;received=192.0.2.33",
  'm: "Henry\'s \\"desk\\" phone" <sip:henry@198.51.100.20:5071;transport=tcp> ; ' +
  "Expires = 300 ; flagonly ;q=0.7",
], SDP);

Deno.test("torture, as RFC 4475 §3.1.1.1: folding unfolded to one space, compact and odd-case names, unknown headers kept, 193 bytes of body", () => {
  const m = accepted(TORTUOUS_INVITE, "tortuous INVITE");
  assertEquals(
    m.startLine,
    "INVITE sip:gr%61ce.h%40ome@torture.example.org;oddparam;x-y=1 SIP/2.0",
  );
  assertEquals(m.headers, [
    ["to", "sip:grace@torture.example.org ;  tag   =  7f3a0c"],
    ["from", '"Henry \\"Hank\\" \\\\ Jr."    <sip:henry@example.net>  ;tag=  hj-5501'],
    ["max-forwards", "0042"],
    ["call-id", "torture-1.q8vmz3@198.51.100.20"],
    ["content-length", "0193"],
    ["cseq", "00017   INVITE"],
    ["via", "SIP /  2.0/ TCP   198.51.100.20:5071 ;branch = z9hG4bKq8vmz3a"],
    ["subject", ""],
    ["supported", "path,   timer"],
    ["x-odd.header!%*_+`'~", "first part, second part ;\tthird part"],
    ["x-nothing-but-separators", ",;,;;,,;"],
    ["content-encoding", "identity"],
    ["content-type", "application/sdp"],
    ["route", "<sip:proxy.example.net;lr;knownnot=1;bare-flag>"],
    [
      "via",
      "SIP / 2.0 / TCP proxy.example.net ; branch = z9hG4bKp1 , " +
      "SIP/   2.0/UDP 192.0.2.33:5060;branch=z9hG4bKp0;received=192.0.2.33",
    ],
    [
      "contact",
      '"Henry\'s \\"desk\\" phone" <sip:henry@198.51.100.20:5071;transport=tcp> ; ' +
      "Expires = 300 ; flagonly ;q=0.7",
    ],
  ]);
  assertEquals(m.body, tail(TORTUOUS_INVITE, 193));
  assertEquals(m.body, SDP);
});

// Modelled on RFC 4475 §3.1.1.2 (intmeth): every token character in the method, a branch
// and a header name; every user and password character in the Request-URI; quoted-pairs of
// control characters; a UTF-8 quoted parameter; a Call-ID of word characters; a value that
// starts with U+FEFF; CSeq and Max-Forwards at their largest.
const METHOD = "`Quirky-Verb.09_!*+%~'";
const STRANGE_METHOD = sip([
  `${METHOD} sip:(odd)_user.n%61me~!*'&=+$,;?/:p&s=w+$,d@quirky.example.org SIP/2.0`,
  "Via: SIP/2.0/TCP quirky-client.example.org:5080;branch=z9hG4bK~'`+*%!._-x9",
  'To: "ESC:\\\x1b NUL:\\\x00 US:\\\x1f DEL:\\\x7f" ' +
  "<sip:(odd)_user.n%61me~!*'&=+$,;?/@quirky.example.org>",
  "From: one~` two'+_ three*%!.- <sip:plain@quirky.example.org>;" +
  "p!%*_+`'~.-=\"ünïcödé ✓\";tag=~`'+*%!-._9",
  "Call-ID: {q}[w]<e>(r)%x-!.*_+'`~:\\\"/?@quirky.example.org",
  `CSeq: 2147483647 ${METHOD}`,
  "Max-Forwards: 255",
  "Odd.Ext-Header!%*_+`'~: \ufeffΚαλημέρα κόσμε",
  "Content-Length: 0",
]);

Deno.test("torture, as RFC 4475 §3.1.1.2: every token character in the method, URI, branch and a header name; controls and UTF-8 inside quotes", () => {
  const m = accepted(STRANGE_METHOD, "unusual method");
  assertEquals(
    m.startLine,
    `${METHOD} sip:(odd)_user.n%61me~!*'&=+$,;?/:p&s=w+$,d@quirky.example.org SIP/2.0`,
  );
  assertEquals(headerOf(m, "cseq"), `2147483647 ${METHOD}`);
  assertEquals(
    headerOf(m, "via"),
    "SIP/2.0/TCP quirky-client.example.org:5080;branch=z9hG4bK~'`+*%!._-x9",
  );
  assertEquals(
    headerOf(m, "to"),
    '"ESC:\\\x1b NUL:\\\x00 US:\\\x1f DEL:\\\x7f" ' +
      "<sip:(odd)_user.n%61me~!*'&=+$,;?/@quirky.example.org>",
  );
  assertEquals(
    headerOf(m, "from"),
    "one~` two'+_ three*%!.- <sip:plain@quirky.example.org>;" +
      "p!%*_+`'~.-=\"ünïcödé ✓\";tag=~`'+*%!-._9",
  );
  assertEquals(headerOf(m, "call-id"), "{q}[w]<e>(r)%x-!.*_+'`~:\\\"/?@quirky.example.org");
  assertEquals(headerOf(m, "odd.ext-header!%*_+`'~"), "\ufeffΚαλημέρα κόσμε");
  assertEquals([headerOf(m, "max-forwards"), m.body], ["255", ""]);
});

// Modelled on RFC 4475 §3.1.1.3 (esc01): escaped ":" and "@" in a Request-URI user part,
// escapes in To, Contact parameter names and values, and compact "i" and "C".
const ESCAPED_URIS = sip([
  "INVITE sips:bob%3Aextra%40example.net@escapes.example.org SIP/2.0",
  "To: sip:%62%6f%62@escapes.example.org",
  "From: <sip:ali%63e@example.net>;tag=e5c4p3",
  "Max-Forwards: 70",
  "i: escapes-7.q0w9e8r7t6",
  "C: application/sdp",
  "CSeq: 44 INVITE",
  "Via: SIP/2.0/TCP host9.example.net;branch=z9hG4bKesc7",
  "Contact: <sip:ali%63e@host9.example.net;%74ransport=tcp;fl%61g;k%65y=v%61l%25%32%30>",
  "Content-Length: 193",
], SDP);

// Modelled on RFC 4475 §3.1.1.4 (escnull): %00 in user parts, two Contacts (one compact),
// an upper-case compact "L" without LWS.
const ESCAPED_NULLS = sip([
  "REGISTER sip:registrar.nulls.example.org SIP/2.0",
  "To: sip:zero-%00-byte@nulls.example.org",
  "From: sip:zero-%00-byte@nulls.example.org;tag=n0ll",
  "Call-ID: nulls.5v6b7n8m",
  "CSeq: 3 REGISTER",
  "Max-Forwards: 69",
  "Via: SIP/2.0/TCP 192.0.2.61;branch=z9hG4bKn0ll",
  "Contact: <sip:%00@192.0.2.61>",
  "m: <sip:%00%00%00@192.0.2.61;transport=tcp>",
  "L:0",
]);

// Modelled on RFC 4475 §3.1.1.5 (esc02): "%" is a token character, so an escape in a method
// or a header name is not decoded: SUB%53CRIBE is its own method, Con%74act its own header.
const ESCAPED_METHOD = sip([
  "SUB%53CRIBE sip:presence.example.org SIP/2.0",
  "Via: SIP/2.0/TCP 203.0.113.8;branch=z9hG4bKsubesc",
  "To: <sip:presence.example.org>",
  "From: <sip:watcher@example.net>;tag=w4tch",
  "Call-ID: escaped-method.m1n2",
  "CSeq: 81 SUB%53CRIBE",
  "Max-Forwards: 70",
  "Contact: <sip:one@h1.example.org>",
  "Con%74act: <sip:two@h2.example.org>",
  "contact: <sip:three@h3.example.org>",
  "Content-Length: 0",
]);

Deno.test("torture, as RFC 4475 §3.1.1.3-5: % escapes stay as written, %00 ends nothing, Con%74act is not Contact", () => {
  const escaped = accepted(ESCAPED_URIS, "escaped URIs");
  assertEquals(
    escaped.startLine,
    "INVITE sips:bob%3Aextra%40example.net@escapes.example.org SIP/2.0",
  );
  assertEquals(headerOf(escaped, "to"), "sip:%62%6f%62@escapes.example.org");
  assertEquals(headerOf(escaped, "call-id"), "escapes-7.q0w9e8r7t6", "i: is Call-ID");
  assertEquals(headerOf(escaped, "content-type"), "application/sdp", "C: is Content-Type");
  assertEquals(
    headerOf(escaped, "contact"),
    "<sip:ali%63e@host9.example.net;%74ransport=tcp;fl%61g;k%65y=v%61l%25%32%30>",
  );
  assertEquals(escaped.body, tail(ESCAPED_URIS, 193));

  const nulls = accepted(ESCAPED_NULLS, "escaped nulls");
  assertEquals(headerOf(nulls, "to"), "sip:zero-%00-byte@nulls.example.org");
  assertEquals(values(nulls, "contact"), [
    "<sip:%00@192.0.2.61>",
    "<sip:%00%00%00@192.0.2.61;transport=tcp>",
  ]);
  assertEquals(headerOf(nulls, "content-length"), "0", "L:0 is Content-Length");

  const method = accepted(ESCAPED_METHOD, "escaped method");
  assertEquals(method.startLine, "SUB%53CRIBE sip:presence.example.org SIP/2.0");
  assertEquals(headerOf(method, "cseq"), "81 SUB%53CRIBE");
  assertEquals(values(method, "contact"), [
    "<sip:one@h1.example.org>",
    "<sip:three@h3.example.org>",
  ]);
  assertEquals(headerOf(method, "con%74act"), "<sip:two@h2.example.org>");
});

// Modelled on RFC 4475 §3.1.1.6 (lwsdisp): a token display name with no LWS before "<".
const NO_LWS_DISPLAY = sip([
  "OPTIONS sip:noon@example.org SIP/2.0",
  "To: sip:noon@example.org",
  "From: Kim<sip:kim@example.net>;tag=9k1",
  "Max-Forwards: 70",
  "Call-ID: display.c7v8",
  "Via: SIP/2.0/TCP 198.51.100.71;branch=z9hG4bKnolws",
  "CSeq: 1 OPTIONS",
  "l: 0",
]);

// Modelled on RFC 4475 §3.1.1.9 (semiuri): ";" and "=" in the Request-URI user part, and a
// list folded over lines that start with HTAB and with SPs.
const SEMICOLON_USER = sip([
  "OPTIONS sip:mia;shift=late%40desk@semi.example.org SIP/2.0",
  "Via: SIP/2.0/TCP 203.0.113.14;branch=z9hG4bKsemi",
  "Call-ID: semi.u8i9o0",
  "From: <sip:ned@example.net>;tag=s3m1",
  "To: <sip:mia;shift=late%40desk@semi.example.org>",
  "Max-Forwards: 70",
  "CSeq: 5 OPTIONS",
  "Accept: message/cpim, text/plain,",
  "\tmessage/imdn+xml,",
  "   application/sdp",
  "l: 0",
]);

// Modelled on RFC 4475 §3.1.1.10 (transports): Vias of transports the user agent does not
// know, which it must carry as they are.
const UNKNOWN_TRANSPORTS = sip([
  "OPTIONS sip:routes.example.org SIP/2.0",
  "Via: SIP/2.0/WSS w1.example.org;branch=z9hG4bKw55",
  "Via: SIP/2.0/SCTP w2.example.org:5090;branch=z9hG4bKs71",
  "Via: SIP/2.0/TLS-SCTP w3.example.org;branch=z9hG4bKts3",
  "Via: SIP/2.0/NOSUCHTRANSPORT w4.example.org;branch=z9hG4bKnx9",
  "Via: SIP/2.0/UDP w5.example.org;branch=z9hG4bKu02",
  "To: <sip:routes.example.org>",
  "From: <sip:tracer@example.net>;tag=tr4",
  "Call-ID: transports.p0o9i8",
  "CSeq: 60 OPTIONS",
  "Max-Forwards: 70",
  "Content-Length: 0",
]);

Deno.test("torture, as RFC 4475 §3.1.1.6, §3.1.1.9, §3.1.1.10: no LWS before <, ; in the user part, folded lists, unknown transports", () => {
  assertEquals(
    headerOf(accepted(NO_LWS_DISPLAY, "no LWS before <"), "from"),
    "Kim<sip:kim@example.net>;tag=9k1",
  );

  const semicolon = accepted(SEMICOLON_USER, "; in the user part");
  assertEquals(semicolon.startLine, "OPTIONS sip:mia;shift=late%40desk@semi.example.org SIP/2.0");
  assertEquals(
    headerOf(semicolon, "accept"),
    "message/cpim, text/plain, message/imdn+xml, application/sdp",
  );

  const transports = accepted(UNKNOWN_TRANSPORTS, "unknown transports");
  assertEquals(headerOf(transports, "call-id"), "transports.p0o9i8");
  assertEquals(values(transports, "via"), [
    "SIP/2.0/WSS w1.example.org;branch=z9hG4bKw55",
    "SIP/2.0/SCTP w2.example.org:5090;branch=z9hG4bKs71",
    "SIP/2.0/TLS-SCTP w3.example.org;branch=z9hG4bKts3",
    "SIP/2.0/NOSUCHTRANSPORT w4.example.org;branch=z9hG4bKnx9",
    "SIP/2.0/UDP w5.example.org;branch=z9hG4bKu02",
  ]);
});

// Modelled on RFC 4475 §3.1.1.7 (longreq): many Vias under every spelling of the name, and
// long values — branch, display name, tag, parameters, Call-ID, an unknown header.
const VIA_SPELLINGS = ["Via", "via", "VIA", "vIa", "v", "V"];
const HOPS = 39;
const LONG_USER = "verbosecallee".repeat(8);
const LONG_BRANCH = `z9hG4bK${"lengthy".repeat(60)}end`;
const LONG_FROM = `"${"Extraordinarily Verbose Caller ".repeat(6).trimEnd()}" ` +
  `<sip:${"verbosecaller".repeat(8)}@example.org>;tag=${"731".repeat(60)};` +
  `x-${"pname".repeat(25)}=${"pvalue".repeat(20)};bare${"flag".repeat(15)}`;
const LONG_CALL_ID = `longreq.${"lengthy".repeat(25)}.id`;
const LONG_REQUEST = sip([
  `INVITE sip:${LONG_USER}@long.example.org SIP/2.0`,
  ...Array.from(
    { length: HOPS },
    (_, i) =>
      `${VIA_SPELLINGS[i % VIA_SPELLINGS.length]}: ` +
      `SIP/2.0/TCP hop${HOPS - i}.example.net;branch=z9hG4bKhop${HOPS - i}`,
  ),
  `Via: SIP/2.0/TCP origin.example.org;received=203.0.113.200;branch=${LONG_BRANCH}`,
  `t: <sip:${LONG_USER}@long.example.org>`,
  `F: ${LONG_FROM}`,
  `Call-ID: ${LONG_CALL_ID}`,
  "CSeq: 1 INVITE",
  "Max-Forwards: 70",
  `X-Filler-${"segment".repeat(10)}: ${
    Array.from({ length: 60 }, (_, i) => `item${i}`).join(", ")
  }`,
  `Contact: <sip:${"verbosecaller".repeat(8)}@origin.example.org;transport=tcp>`,
  "Content-Type: application/sdp",
  "Content-Length: 193",
], SDP);

Deno.test("torture, as RFC 4475 §3.1.1.7: long values and 40 Vias in every name case and compact form, in order", () => {
  assert(LONG_REQUEST.length > 4096, "a long request");
  const m = accepted(LONG_REQUEST, "long request");
  const vias = values(m, "via");
  assertEquals(vias.length, HOPS + 1);
  for (let i = 0; i < HOPS; i++) {
    assertEquals(vias[i], `SIP/2.0/TCP hop${HOPS - i}.example.net;branch=z9hG4bKhop${HOPS - i}`);
  }
  assertEquals(
    vias[HOPS],
    `SIP/2.0/TCP origin.example.org;received=203.0.113.200;branch=${LONG_BRANCH}`,
  );
  assertEquals(headerOf(m, "from"), LONG_FROM, "F: is From");
  assertEquals(headerOf(m, "to"), `<sip:${LONG_USER}@long.example.org>`, "t: is To");
  assertEquals(headerOf(m, "call-id"), LONG_CALL_ID);
  assertEquals(m.body, tail(LONG_REQUEST, 193));
});

// Modelled on RFC 4475 §3.1.1.8 (dblreq): a request with Content-Length 0 and another one
// right behind it, whose body is longer than its Content-Length.
const TWO_REQUESTS = concat(
  sip([
    "OPTIONS sip:pair.example.org SIP/2.0",
    "Via: SIP/2.0/TCP 192.0.2.90;branch=z9hG4bKpair1",
    "To: <sip:pair.example.org>",
    "From: <sip:twice@example.net>;tag=d81",
    "Call-ID: pair-1.j3k4",
    "CSeq: 1 OPTIONS",
    "Max-Forwards: 70",
    "Content-Length: 0",
  ]),
  enc.encode("\r\n"),
  sip([
    "MESSAGE sip:lee@pair.example.org SIP/2.0",
    "Via: SIP/2.0/TCP 192.0.2.90;branch=z9hG4bKpair2",
    "t: <sip:lee@pair.example.org>",
    "f: <sip:twice@example.net>;tag=d82",
    "i: pair-2.j3k4",
    "CSeq: 2 MESSAGE",
    "Max-Forwards: 70",
    "c: text/plain",
    "l: 18",
  ], "See you at noon.\r\nBye.\r\n\r\n"),
);

Deno.test("torture, as RFC 4475 §3.1.1.8: on TCP, Content-Length 0 ends the first request and the one after it is the next message", () => {
  // Over UDP the second request would be junk to ignore (RFC 4475 §3.1.1.8); over a stream,
  // the transport of this user agent, Content-Length alone ends a message (RFC 3261 §18.3).
  const bytes = TWO_REQUESTS;
  const first = parseSipMessage(bytes);
  assert(first);
  assertEquals(first.message.startLine, "OPTIONS sip:pair.example.org SIP/2.0");
  assertEquals(first.message.body, "");
  assertEquals(dec.decode(bytes.subarray(first.size, first.size + 9)), "\r\nMESSAGE");
  const second = parseSipMessage(bytes.subarray(first.size));
  assert(second);
  assertEquals(second.message.startLine, "MESSAGE sip:lee@pair.example.org SIP/2.0");
  assertEquals(headerOf(second.message, "to"), "<sip:lee@pair.example.org>", "t: is To");
  const end = first.size + second.size;
  assertEquals(second.message.body, dec.decode(bytes.subarray(end - 18, end)));
  assertEquals(second.message.body, "See you at noon.\r\n");
  // The bytes beyond the second Content-Length start a next message on a stream, which is
  // refused on its own (its start line is "Bye.").
  const rest = bytes.subarray(end);
  assertEquals(dec.decode(rest), "Bye.\r\n\r\n");
  const error = assertThrows(() => parseSipMessage(rest), SipMessageError, "bad Request-Line");
  assertEquals([error.framingLost, error.size], [false, 8]);
});

// Modelled on RFC 4475 §3.1.1.11 (mpart01): a multipart body whose second part is binary —
// NUL, CR LF CR LF, bytes that are not UTF-8 — counted by Content-Length in bytes.
const BOUNDARY = "b0undary.q7w8";
const MULTIPART_BODY = concat(
  enc.encode(
    [
      `--${BOUNDARY}`,
      "Content-Type: text/plain",
      "",
      "Two parts; the second is not text.",
      `--${BOUNDARY}`,
      "Content-Type: application/octet-stream",
      "Content-Transfer-Encoding: binary",
      "",
      "",
    ].join("\r\n"),
  ),
  Uint8Array.of(0x00, 0xff, 0x0d, 0x0a, 0x0d, 0x0a, 0x80, 0xc3, 0x28, 0xfe, 0x01, 0x2d, 0x2d, 0x0a),
  enc.encode(`\r\n--${BOUNDARY}--\r\n`),
);
const MULTIPART = sip([
  "MESSAGE sip:olga@parts.example.org SIP/2.0",
  "Via: SIP/2.0/TCP 198.51.100.140;branch=z9hG4bKmp4rt",
  "Max-Forwards: 70",
  "From: <sip:pat@example.net>;tag=mp1",
  "To: <sip:olga@parts.example.org>",
  "Call-ID: multipart.r5t6y7",
  "CSeq: 9 MESSAGE",
  "MIME-Version: 1.0",
  `Content-Type: multipart/mixed;boundary=${BOUNDARY}`,
  "Content-Length: 210",
], MULTIPART_BODY);

Deno.test("torture, as RFC 4475 §3.1.1.11: exactly Content-Length bytes of a multipart body with a binary part are taken", () => {
  // The user agent reads SDP text only: the body is handed on as text (binary parts do not
  // survive decoding), but framing counts bytes, so the message ends where its header says.
  const m = accepted(MULTIPART, "multipart");
  assertEquals(headerOf(m, "content-length"), "210");
  assertEquals(MULTIPART_BODY.length, 210);
  assertEquals(m.body, tail(MULTIPART, 210));
  assertEquals(m.body, dec.decode(MULTIPART_BODY));
  assert(m.body.startsWith(`--${BOUNDARY}\r\n`) && m.body.endsWith(`--${BOUNDARY}--\r\n`));
});

// Modelled on RFC 4475 §3.1.1.12 (unreason): a reason phrase of UTF-8 and punctuation.
const UTF8_REASON_LINE = "SIP/2.0 200 ¡Hecho! = 6 × 7 — 完成了 ✓";
const UTF8_REASON = sip([
  UTF8_REASON_LINE,
  "Via: SIP/2.0/TCP 192.0.2.201;branch=z9hG4bKunr",
  "Call-ID: reason-utf8.a1s2",
  "CSeq: 12 INVITE",
  "From: <sip:quinn@example.net>;tag=unr1",
  "To: <sip:rae@reason.example.org>;tag=unr2",
  "Contact: <sip:rae@192.0.2.202;transport=tcp>",
  "Content-Type: application/sdp",
  "Content-Length: 193",
], SDP);

// Modelled on RFC 4475 §3.1.1.13 (noreason): an empty reason phrase after the SP.
const NO_REASON = sip([
  "SIP/2.0 183 ",
  "Via: SIP/2.0/TCP 192.0.2.201;branch=z9hG4bKnr1",
  "To: <sip:rae@reason.example.org>;tag=nr2",
  "From: <sip:quinn@example.net>;tag=nr1",
  "Call-ID: no-reason.d3f4",
  "CSeq: 13 INVITE",
  "l: 0",
]);

Deno.test("torture, as RFC 4475 §3.1.1.12-13: a UTF-8 reason phrase and an empty one", () => {
  const utf8 = accepted(UTF8_REASON, "UTF-8 reason phrase");
  assertEquals(statusOf(utf8), 200);
  assertEquals(utf8.startLine, UTF8_REASON_LINE);
  assertEquals(utf8.body, tail(UTF8_REASON, 193));
  const empty = accepted(NO_REASON, "empty reason phrase");
  assertEquals([empty.startLine, statusOf(empty)], ["SIP/2.0 183 ", 183]);
});

// Modelled on RFC 4475 §3.3.2 (unkscm) and §3.3.3 (novelsc): Request-URIs of schemes nobody
// knows, one opaque and one with an authority.
const UNKNOWN_SCHEME = sip([
  "OPTIONS madeup-scheme:some/opaque;content?yes SIP/2.0",
  "Via: SIP/2.0/TCP 203.0.113.30;branch=z9hG4bKunk1",
  "To: <sip:someone@schemes.example.org>",
  "From: <sip:asker@example.net>;tag=uk1",
  "Call-ID: scheme-1.b8n9",
  "CSeq: 1 OPTIONS",
  "Max-Forwards: 70",
  "Content-Length: 0",
]);
const NOVEL_SCHEME = sip([
  "OPTIONS chat.ws+x://198.51.100.3:8443/route SIP/2.0",
  "Via: SIP/2.0/TCP 203.0.113.30;branch=z9hG4bKunk2",
  "To: <sip:someone@schemes.example.org>",
  "From: <sip:asker@example.net>;tag=uk2",
  "Call-ID: scheme-2.b8n9",
  "CSeq: 2 OPTIONS",
  "Max-Forwards: 70",
  "Content-Length: 0",
]);

Deno.test("torture, as RFC 4475 §3.3.2-3: a Request-URI of an unknown scheme is syntax the parser accepts", () => {
  // Answering 416 is the application's part; this user agent answers any request outside its
  // dialogs 481.
  assertEquals(
    accepted(UNKNOWN_SCHEME, "unknown scheme").startLine,
    "OPTIONS madeup-scheme:some/opaque;content?yes SIP/2.0",
  );
  assertEquals(
    accepted(NOVEL_SCHEME, "novel scheme").startLine,
    "OPTIONS chat.ws+x://198.51.100.3:8443/route SIP/2.0",
  );
});

// --- Invalid messages, modelled on RFC 4475 §3.1.2 and §3.3 ---------------------------------

// Modelled on RFC 4475 §3.1.2.1 (badinv01): extraneous ";" and "," in Via and Contact.
const EXTRA_SEPARATORS = sip([
  "INVITE sip:sam@bad.example.org SIP/2.0",
  "To: sip:sam@bad.example.org",
  "From: sip:tess@example.net;tag=b1",
  "Max-Forwards: 70",
  "Call-ID: badinv.z1x2",
  "CSeq: 7 INVITE",
  "Via: SIP/2.0/TCP 198.51.100.33;branch=z9hG4bKb1;,;,,",
  'Contact: "Tess" <sip:tess@198.51.100.33>;;,;,',
  "l: 0",
]);

// Modelled on RFC 4475 §3.1.2.19 (bigcode): a status code of 4294967301 (2**32 + 5).
const HUGE_STATUS = sip([
  "SIP/2.0 4294967301 this code does not fit in three digits",
  "Via: SIP/2.0/TCP 192.0.2.18;branch=z9hG4bKbig",
  "To: <sip:wanda@example.org>;tag=bg2",
  "From: <sip:vern@example.net>;tag=bg1",
  "Call-ID: bigcode.k8l9",
  "CSeq: 3 OPTIONS",
  "Content-Length: 0",
]);

// Modelled on RFC 4475 §3.1.2.4 (scalar02): CSeq 2**31, the first number out of range.
const CSEQ_2_31 = sip([
  "REGISTER sip:reg.example.org SIP/2.0",
  "Via: SIP/2.0/TCP 192.0.2.40;branch=z9hG4bKsc1",
  "To: <sip:amy@reg.example.org>",
  "From: <sip:amy@reg.example.org>;tag=sc1",
  "Call-ID: scalar-1.e3r4",
  "CSeq: 2147483648 REGISTER",
  "Max-Forwards: 70",
  "Content-Length: 0",
]);

// Modelled on RFC 4475 §3.1.2.4 (scalar02): Max-Forwards 256, one beyond 0 to 255.
const MAX_FORWARDS_256 = sip([
  "OPTIONS sip:amy@reg.example.org SIP/2.0",
  "Via: SIP/2.0/TCP 192.0.2.40;branch=z9hG4bKsc2",
  "To: <sip:amy@reg.example.org>",
  "From: <sip:ben@example.net>;tag=sc2",
  "Call-ID: scalar-2.e3r4",
  "CSeq: 1 OPTIONS",
  "Max-Forwards: 256",
  "Content-Length: 0",
]);

// Modelled on RFC 4475 §3.1.2.5 (scalarlg): in a response, CSeq 2**64 and other huge numbers.
const RESPONSE_CSEQ_2_64 = sip([
  "SIP/2.0 503 Service Unavailable",
  "Via: SIP/2.0/TCP 192.0.2.40;branch=z9hG4bKsc3",
  "To: <sip:amy@reg.example.org>;tag=sc4",
  "From: <sip:ben@example.net>;tag=sc3",
  "Call-ID: scalar-3.e3r4",
  "CSeq: 18446744073709551616 OPTIONS",
  "Retry-After: 99999999999999999999",
  'Warning: 99999 reg.example.org "far too many digits"',
  "Content-Length: 0",
]);

// Modelled on RFC 4475 §3.1.2.6 (quotbal): a display name's quote never closed.
const UNCLOSED_QUOTE = sip([
  "INVITE sip:uma@example.org SIP/2.0",
  "Via: SIP/2.0/TCP 198.51.100.5;branch=z9hG4bKqb",
  'To: "Uma <sip:uma@example.org>',
  "From: <sip:cal@example.net>;tag=qb1",
  "Call-ID: quotes.f5g6",
  "CSeq: 1 INVITE",
  "Max-Forwards: 70",
  "Content-Length: 0",
]);

// Modelled on RFC 4475 §3.1.2.7 (ltgtruri): the Request-URI in < >.
const ANGLED_REQUEST_URI = sip([
  "MESSAGE <sip:vic@example.org> SIP/2.0",
  "Via: SIP/2.0/TCP 198.51.100.6;branch=z9hG4bKlt",
  "To: <sip:vic@example.org>",
  "From: <sip:cal@example.net>;tag=lt1",
  "Call-ID: angles.h7j8",
  "CSeq: 1 MESSAGE",
  "Max-Forwards: 70",
  "Content-Length: 0",
]);

// Modelled on RFC 4475 §3.1.2.8 (lwsruri): LWS inside the Request-URI.
const LWS_IN_REQUEST_URI = sip([
  "INVITE sip:wes@example.org ;transport=tcp SIP/2.0",
  "Via: SIP/2.0/TCP 198.51.100.7;branch=z9hG4bKlw",
  "To: <sip:wes@example.org>",
  "From: <sip:cal@example.net>;tag=lw1",
  "Call-ID: spaced-uri.k9l0",
  "CSeq: 1 INVITE",
  "Max-Forwards: 70",
  "Content-Length: 0",
]);

// Modelled on RFC 4475 §3.1.2.9 (lwsstart): more than one SP between the Request-Line's elements.
const SEVERAL_SPS = sip([
  "OPTIONS  sip:xia@example.org   SIP/2.0",
  "Via: SIP/2.0/TCP 198.51.100.8;branch=z9hG4bKls",
  "To: <sip:xia@example.org>",
  "From: <sip:cal@example.net>;tag=ls1",
  "Call-ID: spaced-line.m1n2",
  "CSeq: 1 OPTIONS",
  "Max-Forwards: 70",
  "Content-Length: 0",
]);

// Modelled on RFC 4475 §3.1.2.10 (trws): an SP after the SIP version.
const TRAILING_SP = sip([
  "OPTIONS sip:yan@example.org SIP/2.0 ",
  "Via: SIP/2.0/TCP 198.51.100.9;branch=z9hG4bKtw",
  "To: <sip:yan@example.org>",
  "From: <sip:cal@example.net>;tag=tw1",
  "Call-ID: trailing.p3q4",
  "CSeq: 1 OPTIONS",
  "Max-Forwards: 70",
  "Content-Length: 0",
]);

// Modelled on RFC 4475 §3.1.2.11 (escruri): escaped headers in the Request-URI.
const HEADERS_IN_REQUEST_URI = sip([
  "INVITE sip:zoe@example.org?Priority=urgent&Subject=lunch%20plans SIP/2.0",
  "Via: SIP/2.0/TCP 198.51.100.10;branch=z9hG4bKeu",
  "To: <sip:zoe@example.org>",
  "From: <sip:cal@example.net>;tag=eu1",
  "Call-ID: uri-headers.r5s6",
  "CSeq: 1 INVITE",
  "Max-Forwards: 70",
  "Content-Length: 0",
]);

// Modelled on RFC 4475 §3.1.2.13 (regbadct): a Contact addr-spec with "?" outside < >.
const BARE_CONTACT_WITH_QUERY = sip([
  "REGISTER sip:reg.example.org SIP/2.0",
  "Via: SIP/2.0/TCP 192.0.2.5;branch=z9hG4bKrc",
  "To: <sip:abe@reg.example.org>",
  "From: <sip:abe@reg.example.org>;tag=rc1",
  "Call-ID: bare-contact.t7u8",
  "CSeq: 2 REGISTER",
  "Max-Forwards: 70",
  "Contact: sip:abe@192.0.2.5?Subject=hi",
  "Content-Length: 0",
]);

// Modelled on RFC 4475 §3.1.2.14 (badaspec): SPs inside < >.
const SPS_INSIDE_ANGLES = sip([
  "OPTIONS sip:bea@example.org SIP/2.0",
  "Via: SIP/2.0/TCP 198.51.100.11;branch=z9hG4bKas",
  "To: Bea < sip:bea@example.org >",
  "From: <sip:cal@example.net>;tag=as1",
  "Call-ID: spaced-addr.v9w0",
  "CSeq: 1 OPTIONS",
  "Max-Forwards: 70",
  "Content-Length: 0",
]);

// Modelled on RFC 4475 §3.1.2.15 (baddn): a display name of non-token characters, unquoted.
const UNQUOTED_DISPLAY_NAME = sip([
  "OPTIONS sip:bea@example.org SIP/2.0",
  "Via: SIP/2.0/TCP 198.51.100.12;branch=z9hG4bKdn",
  "To: <sip:bea@example.org>",
  "From: Dr. Cyd (ret.) <sip:cyd@example.net>;tag=dn1",
  "Call-ID: display-name.x1y2",
  "CSeq: 1 OPTIONS",
  "Max-Forwards: 70",
  "Content-Length: 0",
]);

// Modelled on RFC 4475 §3.1.2.16 (badvers): a SIP version other than 2.0.
const SIP_3_1 = sip([
  "OPTIONS sip:dee@example.org SIP/3.1",
  "Via: SIP/3.1/TCP 198.51.100.13;branch=z9hG4bKbv",
  "To: <sip:dee@example.org>",
  "From: <sip:cal@example.net>;tag=bv1",
  "Call-ID: version.z3a4",
  "CSeq: 1 OPTIONS",
  "Max-Forwards: 70",
  "Content-Length: 0",
]);

// Modelled on RFC 4475 §3.1.2.17 (mismatch01): CSeq names another known method.
const CSEQ_METHOD_MISMATCH = sip([
  "SUBSCRIBE sip:eve@example.org SIP/2.0",
  "Via: SIP/2.0/TCP 198.51.100.14;branch=z9hG4bKmm1",
  "To: <sip:eve@example.org>",
  "From: <sip:cal@example.net>;tag=mm1",
  "Call-ID: mismatch-1.b5c6",
  "CSeq: 3 NOTIFY",
  "Max-Forwards: 70",
  "Event: presence",
  "Content-Length: 0",
]);

// Modelled on RFC 4475 §3.1.2.18 (mismatch02): an unknown method whose CSeq names a known one.
const UNKNOWN_METHOD_CSEQ_MISMATCH = sip([
  "FLURB sip:eve@example.org SIP/2.0",
  "Via: SIP/2.0/TCP 198.51.100.15;branch=z9hG4bKmm2",
  "To: <sip:eve@example.org>",
  "From: <sip:cal@example.net>;tag=mm2",
  "Call-ID: mismatch-2.b5c6",
  "CSeq: 4 MESSAGE",
  "Max-Forwards: 70",
  "Content-Type: text/plain",
  "Content-Length: 11",
], "Flurb it.\r\n");

// As RFC 4475 §3.1.2.17, by case only: method names are case-sensitive (RFC 3261 §7.1).
const CSEQ_METHOD_CASE = sip([
  "MESSAGE sip:eve@example.org SIP/2.0",
  "Via: SIP/2.0/TCP 198.51.100.16;branch=z9hG4bKmm3",
  "To: <sip:eve@example.org>",
  "From: <sip:cal@example.net>;tag=mm3",
  "Call-ID: mismatch-3.b5c6",
  "CSeq: 5 message",
  "Max-Forwards: 70",
  "Content-Length: 0",
]);

// RFC 3261 §7.1: a message starts with its start line; here the first line is a header.
const NO_START_LINE = sip([
  "Via: SIP/2.0/TCP 192.0.2.44;branch=z9hG4bKnostart",
  "To: <sip:fay@example.org>",
  "From: <sip:cal@example.net>;tag=ns1",
  "Call-ID: no-start.d7e8",
  "CSeq: 1 OPTIONS",
  "Content-Length: 0",
]);

// RFC 3261 §7.2: Status-Line = SIP-Version SP Status-Code SP Reason-Phrase.
const GARBLED_STATUS_LINE = sip([
  "SIP/2.0 OK 200",
  "Via: SIP/2.0/TCP 192.0.2.45;branch=z9hG4bKgarbled",
  "To: <sip:fay@example.org>;tag=gs2",
  "From: <sip:cal@example.net>;tag=gs1",
  "Call-ID: garbled.f9g0",
  "CSeq: 1 OPTIONS",
  "Content-Length: 0",
]);

// Modelled on RFC 4475 §3.3.6 (multi01): From, To, Call-ID and CSeq each given twice.
const SINGLE_HEADERS_TWICE = sip([
  "INVITE sip:max@multi.example.org SIP/2.0",
  "Via: SIP/2.0/TCP 192.0.2.71;branch=z9hG4bKmulti",
  "Max-Forwards: 70",
  "From: <sip:ned@example.net>;tag=m1",
  "To: <sip:max@multi.example.org>",
  "Call-ID: multi.a1",
  "CSeq: 1 INVITE",
  "To: <sip:other@multi.example.org>",
  "Call-ID: multi.b2",
  "CSeq: 2 INVITE",
  "From: <sip:ora@example.net>;tag=m2",
  "Content-Length: 0",
]);

Deno.test("torture, as RFC 4475 §3.1.2 and §3.3: invalid messages whose end is known are refused with their size, so the stream goes on", () => {
  const cases: [label: string, because: string, bytes: Uint8Array][] = [
    ["extra separators", "bad via", EXTRA_SEPARATORS],
    ["CSeq 2**31", "bad cseq: number too large", CSEQ_2_31],
    ["Max-Forwards 256", "bad max-forwards: not 0 to 255", MAX_FORWARDS_256],
    ["response with CSeq 2**64", "bad cseq: number too large", RESPONSE_CSEQ_2_64],
    ["unclosed quote", "bad to", UNCLOSED_QUOTE],
    ["<> around the Request-URI", "bad Request-URI", ANGLED_REQUEST_URI],
    ["LWS in the Request-URI", "bad Request-Line", LWS_IN_REQUEST_URI],
    ["several SPs in the Request-Line", "bad Request-Line", SEVERAL_SPS],
    ["trailing SP", "bad Request-Line", TRAILING_SP],
    ["headers in the Request-URI", "headers in the Request-URI", HEADERS_IN_REQUEST_URI],
    ["? in a bare Contact", "bad contact", BARE_CONTACT_WITH_QUERY],
    ["SPs inside <>", "bad to", SPS_INSIDE_ANGLES],
    ["unquoted display name", "bad from", UNQUOTED_DISPLAY_NAME],
    ["SIP/3.1", "unknown SIP version SIP/3.1", SIP_3_1],
    ["CSeq method mismatch", "bad cseq: method differs", CSEQ_METHOD_MISMATCH],
    ["unknown method, CSeq mismatch", "bad cseq: method differs", UNKNOWN_METHOD_CSEQ_MISMATCH],
    ["CSeq method of another case", "bad cseq: method differs", CSEQ_METHOD_CASE],
    ["status code 4294967301", "bad Status-Line", HUGE_STATUS],
    ["no start line", "bad Request-Line", NO_START_LINE],
    ["garbled Status-Line", "bad Status-Line", GARBLED_STATUS_LINE],
    ["single headers twice", "more than one", SINGLE_HEADERS_TWICE],
  ];
  for (const [label, because, bytes] of cases) {
    const error = refused(bytes);
    assert(error.message.includes(because), `${label}: "${error.message}" says ${because}`);
    assertEquals([error.framingLost, error.size], [false, bytes.length], label);
  }
});

// Modelled on RFC 4475 §3.1.2.3 (ncl): a negative Content-Length.
const NEGATIVE_LENGTH = sip([
  "INVITE sip:gil@example.org SIP/2.0",
  "Via: SIP/2.0/TCP 198.51.100.50;branch=z9hG4bKncl",
  "To: <sip:gil@example.org>",
  "From: <sip:hal@example.net>;tag=nc1",
  "Call-ID: negative.h1j2",
  "CSeq: 1 INVITE",
  "Max-Forwards: 70",
  "Content-Type: application/sdp",
  "Content-Length: -88",
], SDP);

// Modelled on RFC 4475 §3.3.7 (mcl01): two Content-Lengths that disagree.
const TWO_LENGTHS = sip([
  "OPTIONS sip:gil@example.org SIP/2.0",
  "Via: SIP/2.0/TCP 198.51.100.51;branch=z9hG4bKmcl",
  "Content-Length: 0",
  "To: <sip:gil@example.org>",
  "From: <sip:hal@example.net>;tag=mc1",
  "Call-ID: two-lengths.k3l4",
  "CSeq: 1 OPTIONS",
  "Max-Forwards: 70",
  "l: 31",
], "which length is the right one?\n");

Deno.test("torture, as RFC 4475 §3.1.2.3 and §3.3.7: a negative or a second Content-Length loses framing", () => {
  const cases: [string, string, Uint8Array][] = [
    ["negative", "bad Content-Length", NEGATIVE_LENGTH],
    ["twice", "more than one Content-Length", TWO_LENGTHS],
  ];
  for (const [label, because, bytes] of cases) {
    const error = refused(bytes);
    assert(error.message.includes(because), `${label}: ${error.message}`);
    assert(error.framingLost, label);
  }
});

// Modelled on RFC 4475 §3.1.2.2 (clerr): a Content-Length far beyond the bytes sent.
const SHORT_BODY = sip([
  "MESSAGE sip:kai@short.example.org SIP/2.0",
  "Via: SIP/2.0/TCP 198.51.100.60;branch=z9hG4bKshort",
  "To: <sip:kai@short.example.org>",
  "From: <sip:lou@example.net>;tag=sh0rt",
  "Call-ID: short-body.g5h6",
  "CSeq: 2 MESSAGE",
  "Max-Forwards: 70",
  "Content-Type: text/plain",
  "Content-Length: 5000",
], "This body is far shorter than its Content-Length says.\r\n");

/** What a connection double whose reads are `reads` gave, once they are used up. */
interface Got {
  /** The start lines of the messages delivered, in order. */
  readonly startLines: string[];
  /** The connection was closed by the parser's side. */
  readonly closed: boolean;
  /** `onOverflow`'s count, when it was called. */
  readonly overflow?: number;
}

async function connectionGot(reads: Uint8Array[], maxBytes = Infinity): Promise<Got> {
  let closed = false;
  const readable = new ReadableStream<Uint8Array>({
    pull(controller) {
      const next = reads.shift();
      if (closed || next === undefined) controller.close();
      else controller.enqueue(next);
    },
  });
  const conn = {
    readable,
    close() {
      closed = true;
    },
  } as unknown as Deno.TcpConn;
  const startLines: string[] = [];
  let overflow: number | undefined;
  const connection = new SipConnection(conn, (m) => startLines.push(m.startLine), maxBytes, (n) => {
    overflow = n;
  });
  await withDeadline(connection.reading, "the end of the connection's reads");
  return overflow === undefined ? { startLines, closed } : { startLines, closed, overflow };
}

Deno.test("torture, as RFC 4475 §3.1.2.2: on a stream, a Content-Length beyond the bytes sent means waiting for them, up to maxBytes", async () => {
  // The wait is bounded by the connection's maxBytes (SipUserAgentOptions.maxMessageBytes).
  assertEquals(parseSipMessage(SHORT_BODY), undefined);
  const padded = new Uint8Array(SHORT_BODY.length + 5000);
  padded.set(SHORT_BODY);
  assertEquals(parseSipMessage(padded)?.message.body.length, 5000);
  const more = new Uint8Array(2000);
  assertEquals(await connectionGot([SHORT_BODY, more], 1024), {
    startLines: [],
    closed: true,
    overflow: SHORT_BODY.length + more.length,
  });
});

// Modelled on RFC 4475 §3.1.2.12 (baddate): a Date in a zone other than GMT.
const NON_GMT_DATE = sip([
  "OPTIONS sip:ida@example.org SIP/2.0",
  "Via: SIP/2.0/TCP 198.51.100.80;branch=z9hG4bKdate",
  "To: <sip:ida@example.org>",
  "From: <sip:jon@example.net>;tag=dt1",
  "Call-ID: date.w1e2",
  "CSeq: 1 OPTIONS",
  "Max-Forwards: 70",
  "Date: Tue, 07 Mar 2023 09:30:00 PST",
  "Content-Length: 0",
]);

// Modelled on RFC 4475 §3.3.1 (insuf): no Call-ID, From or To.
const INSUFFICIENT = sip([
  "OPTIONS sip:nobody@insufficient.example.org SIP/2.0",
  "Via: SIP/2.0/TCP 192.0.2.99;branch=z9hG4bKinsuf",
  "CSeq: 4 OPTIONS",
  "Max-Forwards: 70",
  "Content-Length: 0",
]);

Deno.test("torture, as RFC 4475 §3.1.2.12 and §3.3.1: what the user agent does not read passes", () => {
  // Date is never read. Which header fields a request must have is the application layer's
  // rule (§3.3.1 wants 400): the user agent matches responses by Via branch and CSeq and
  // answers every request outside its dialogs 481, so one without Call-ID, From and To is
  // never taken for part of a call.
  assertEquals(
    headerOf(accepted(NON_GMT_DATE, "non-GMT Date"), "date"),
    "Tue, 07 Mar 2023 09:30:00 PST",
  );
  const insufficient = accepted(INSUFFICIENT, "no Call-ID, From or To");
  assertEquals(["call-id", "from", "to"].map((n) => headerOf(insufficient, n)), [
    undefined,
    undefined,
    undefined,
  ]);
});

Deno.test("a connection skips a refused message and reads on; it closes when framing is lost", async () => {
  const skipped = await connectionGot([EXTRA_SEPARATORS, HUGE_STATUS, NO_REASON]);
  assertEquals(skipped, { startLines: ["SIP/2.0 183 "], closed: false });
  const invite = accepted(TORTUOUS_INVITE, "tortuous INVITE").startLine;
  for (const lost of [NEGATIVE_LENGTH, TWO_LENGTHS]) {
    assertEquals(await connectionGot([TORTUOUS_INVITE, lost, NO_REASON]), {
      startLines: [invite],
      closed: true,
    });
  }
});

// --- What the user agent writes, against RFC 3261 -----------------------------------------

Deno.test("serializeSip writes the INVITE and BYE of RFC 3261 §4 byte for byte, Content-Length last", () => {
  const sdp = "v=0\r\no=alice 2890844526 2890844526 IN IP4 pc33.atlanta.com\r\ns=-\r\n" +
    "c=IN IP4 pc33.atlanta.com\r\nt=0 0\r\nm=audio 49172 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";
  const invite = serializeSip("INVITE sip:bob@biloxi.com SIP/2.0", [
    ["Via", "SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bK776asdhds"],
    ["Max-Forwards", "70"],
    ["To", "Bob <sip:bob@biloxi.com>"],
    ["From", "Alice <sip:alice@atlanta.com>;tag=1928301774"],
    ["Call-ID", "a84b4c76e66710@pc33.atlanta.com"],
    ["CSeq", "314159 INVITE"],
    ["Contact", "<sip:alice@pc33.atlanta.com>"],
    ["Content-Type", "application/sdp"],
  ], sdp);
  assertEquals(
    dec.decode(invite),
    "INVITE sip:bob@biloxi.com SIP/2.0\r\n" +
      "Via: SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bK776asdhds\r\n" +
      "Max-Forwards: 70\r\n" +
      "To: Bob <sip:bob@biloxi.com>\r\n" +
      "From: Alice <sip:alice@atlanta.com>;tag=1928301774\r\n" +
      "Call-ID: a84b4c76e66710@pc33.atlanta.com\r\n" +
      "CSeq: 314159 INVITE\r\n" +
      "Contact: <sip:alice@pc33.atlanta.com>\r\n" +
      "Content-Type: application/sdp\r\n" +
      `Content-Length: ${enc.encode(sdp).length}\r\n` +
      "\r\n" + sdp,
  );
  const bye = serializeSip("BYE sip:alice@pc33.atlanta.com SIP/2.0", [
    ["Via", "SIP/2.0/UDP 192.0.2.4;branch=z9hG4bKnashds10"],
    ["Max-Forwards", "70"],
    ["From", "Bob <sip:bob@biloxi.com>;tag=a6c85cf"],
    ["To", "Alice <sip:alice@atlanta.com>;tag=1928301774"],
    ["Call-ID", "a84b4c76e66710@pc33.atlanta.com"],
    ["CSeq", "231 BYE"],
  ]);
  assertEquals(
    dec.decode(bye),
    "BYE sip:alice@pc33.atlanta.com SIP/2.0\r\n" +
      "Via: SIP/2.0/UDP 192.0.2.4;branch=z9hG4bKnashds10\r\n" +
      "Max-Forwards: 70\r\n" +
      "From: Bob <sip:bob@biloxi.com>;tag=a6c85cf\r\n" +
      "To: Alice <sip:alice@atlanta.com>;tag=1928301774\r\n" +
      "Call-ID: a84b4c76e66710@pc33.atlanta.com\r\n" +
      "CSeq: 231 BYE\r\n" +
      "Content-Length: 0\r\n\r\n",
  );
  for (const bytes of [invite, bye]) assertEquals(parseSipMessage(bytes)?.size, bytes.length);
});

/** The server end of the user agent's connection: reads whole messages, writes text. */
class ScriptedServer {
  readonly #listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  #conn: Deno.TcpConn | undefined;
  #buffer = new Uint8Array(0);

  get port(): number {
    return this.#listener.addr.port;
  }

  /** The next message the user agent sends, as text. */
  async next(what: string): Promise<string> {
    this.#conn ??= await withDeadline(this.#listener.accept(), "the user agent's connection");
    while (true) {
      const framed = parseSipMessage(this.#buffer);
      if (framed) {
        const text = dec.decode(this.#buffer.subarray(0, framed.size));
        this.#buffer = this.#buffer.slice(framed.size);
        return text;
      }
      const chunk = new Uint8Array(4096);
      const n = await withDeadline(this.#conn.read(chunk), what);
      if (n === null) throw new Error(`the connection closed before ${what}`);
      const joined = new Uint8Array(this.#buffer.length + n);
      joined.set(this.#buffer);
      joined.set(chunk.subarray(0, n), this.#buffer.length);
      this.#buffer = joined;
    }
  }

  /** Sends a message given as lines (CRLFs and Content-Length are added). */
  async send(lines: string[], body = ""): Promise<void> {
    const [start, ...headers] = lines;
    const bytes = serializeSip(
      start,
      headers.map((l) => {
        const colon = l.indexOf(":");
        return [l.slice(0, colon), l.slice(colon + 2)];
      }),
      body,
    );
    for (let at = 0; at < bytes.length;) at += await this.#conn!.write(bytes.subarray(at));
  }

  close(): void {
    this.#listener.close();
    try {
      this.#conn?.close();
    } catch {
      // closed by the user agent
    }
  }
}

const CALL_ID = "a84b4c76e66710@pc33.atlanta.com";
const OFFER = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n" +
  "m=message 2855 TCP/MSRP *\r\na=path:msrp://127.0.0.1:2855/s;tcp\r\n";

/** The INVITE `ua` sent, checked byte for byte; its local address, branch and From tag. */
function checkInvite(text: string, port: number): { local: string; branch: string; tag: string } {
  const via = /^Via: SIP\/2\.0\/TCP (127\.0\.0\.1:\d+);rport;branch=(z9hG4bK[0-9a-f]{16})\r$/m
    .exec(text);
  const tag = /^From: "Alice" <sip:alice@[^>]+>;tag=([0-9a-f]{16})\r$/m.exec(text);
  assert(via && tag, text);
  const [, local, branch] = via;
  // RFC 3261 §8.1.1: Request-URI, To, From with tag, Call-ID, CSeq, Max-Forwards, a Via
  // whose branch starts z9hG4bK, and Contact (§8.1.1.8) in an INVITE.
  assertEquals(
    text,
    `INVITE sip:bob@127.0.0.1:${port} SIP/2.0\r\n` +
      `Via: SIP/2.0/TCP ${local};rport;branch=${branch}\r\n` +
      "Max-Forwards: 70\r\n" +
      `From: "Alice" <sip:alice@${local}>;tag=${tag[1]}\r\n` +
      `To: <sip:bob@127.0.0.1:${port}>\r\n` +
      `Call-ID: ${CALL_ID}\r\n` +
      "CSeq: 1 INVITE\r\n" +
      `Contact: <sip:alice@${local};transport=tcp>\r\n` +
      "Content-Type: application/sdp\r\n" +
      `Content-Length: ${enc.encode(OFFER).length}\r\n` +
      "\r\n" + OFFER,
  );
  return { local, branch, tag: tag[1] };
}

/** A response to the INVITE: its Via, From, Call-ID and CSeq, and `to` (RFC 3261 §8.2.6.2). */
function response(status: string, invite: string, to: string): string[] {
  const copied = invite.split("\r\n").filter((l) => /^(Via|From|Call-ID|CSeq): /.test(l));
  return [`SIP/2.0 ${status}`, ...copied, `To: ${to}`];
}

async function withUserAgent(
  run: (ua: SipUserAgent, server: ScriptedServer) => Promise<void>,
): Promise<void> {
  const server = new ScriptedServer();
  const ua = await SipUserAgent.connect({
    server: { hostname: "127.0.0.1", port: server.port },
    user: "alice",
    displayName: "Alice",
  });
  try {
    await run(ua, server);
  } finally {
    await ua.close();
    server.close();
  }
}

Deno.test("user agent: a failed INVITE is ACKed in its own transaction — same branch and Request-URI, the response's To (RFC 3261 §17.1.1.3)", async () => {
  await withUserAgent(async (ua, server) => {
    const port = server.port;
    const result = ua.invite({
      requestUri: `sip:bob@127.0.0.1:${port}`,
      sdp: OFFER,
      callId: CALL_ID,
    });
    const invite = await server.next("the INVITE");
    const { local, branch, tag } = checkInvite(invite, port);
    const to = `<sip:bob@127.0.0.1:${port}>;tag=8321234356`;
    await server.send(response("180 Ringing", invite, to));
    await server.send(response("486 Busy Here", invite, to));
    assertEquals(
      await server.next("the ACK"),
      `ACK sip:bob@127.0.0.1:${port} SIP/2.0\r\n` +
        `Via: SIP/2.0/TCP ${local};rport;branch=${branch}\r\n` +
        "Max-Forwards: 70\r\n" +
        `From: "Alice" <sip:alice@${local}>;tag=${tag}\r\n` +
        `To: ${to}\r\n` +
        `Call-ID: ${CALL_ID}\r\n` +
        "CSeq: 1 ACK\r\n" +
        "Content-Length: 0\r\n\r\n",
    );
    assertEquals((await withDeadline(result, "the INVITE's outcome")).status, 486);
  });
});

Deno.test("user agent: CANCEL copies the INVITE's Request-URI, Via branch, From, To, Call-ID and CSeq number, after a provisional response (RFC 3261 §9.1)", async () => {
  await withUserAgent(async (ua, server) => {
    const port = server.port;
    const abort = new AbortController();
    const result = ua.invite({
      requestUri: `sip:bob@127.0.0.1:${port}`,
      sdp: OFFER,
      callId: CALL_ID,
      signal: abort.signal,
    });
    const invite = await server.next("the INVITE");
    const { local, branch, tag } = checkInvite(invite, port);
    const to = `<sip:bob@127.0.0.1:${port}>;tag=8321234356`;
    await server.send(response("180 Ringing", invite, to));
    abort.abort();
    const cancel = await server.next("the CANCEL");
    assertEquals(
      cancel,
      `CANCEL sip:bob@127.0.0.1:${port} SIP/2.0\r\n` +
        `Via: SIP/2.0/TCP ${local};rport;branch=${branch}\r\n` +
        "Max-Forwards: 70\r\n" +
        `From: "Alice" <sip:alice@${local}>;tag=${tag}\r\n` +
        `To: <sip:bob@127.0.0.1:${port}>\r\n` +
        `Call-ID: ${CALL_ID}\r\n` +
        "CSeq: 1 CANCEL\r\n" +
        "Content-Length: 0\r\n\r\n",
    );
    const cancelCopied = cancel.split("\r\n").filter((l) =>
      /^(Via|From|To|Call-ID|CSeq): /.test(l)
    );
    await server.send(["SIP/2.0 200 OK", ...cancelCopied]);
    await server.send(response("487 Request Terminated", invite, to));
    const ack = await server.next("the ACK of the 487");
    assert(ack.startsWith(`ACK sip:bob@127.0.0.1:${port} SIP/2.0\r\n`), ack);
    assert(ack.includes(`;branch=${branch}\r\n`) && ack.includes(`To: ${to}\r\n`), ack);
    assertEquals((await withDeadline(result, "the INVITE's outcome")).status, 487);
  });
});

Deno.test("user agent: the ACK of a 2xx is a new transaction to the Contact; BYE goes there with CSeq 2; a BYE received is answered with its headers copied (RFC 3261 §13.2.2.4, §15.1.1, §8.2.6.2)", async () => {
  await withUserAgent(async (ua, server) => {
    const port = server.port;
    const result = ua.invite({
      requestUri: `sip:bob@127.0.0.1:${port}`,
      sdp: OFFER,
      callId: CALL_ID,
    });
    const invite = await server.next("the INVITE");
    const { local, branch, tag } = checkInvite(invite, port);
    const to = `<sip:bob@127.0.0.1:${port}>;tag=a6c85cf`;
    const contact = `sip:bob@127.0.0.1:${port};transport=tcp`;
    await server.send(
      [
        ...response("200 OK", invite, to),
        `Contact: <${contact}>`,
        "Content-Type: application/sdp",
      ],
      OFFER,
    );
    const ack = await server.next("the ACK of the 200");
    const ackBranch = /;branch=(z9hG4bK[0-9a-f]{16})\r\n/.exec(ack)?.[1];
    assert(ackBranch && ackBranch !== branch, `a new branch: ${ack}`);
    assertEquals(
      ack,
      `ACK ${contact} SIP/2.0\r\n` +
        `Via: SIP/2.0/TCP ${local};rport;branch=${ackBranch}\r\n` +
        "Max-Forwards: 70\r\n" +
        `From: "Alice" <sip:alice@${local}>;tag=${tag}\r\n` +
        `To: ${to}\r\n` +
        `Call-ID: ${CALL_ID}\r\n` +
        "CSeq: 1 ACK\r\n" +
        "Content-Length: 0\r\n\r\n",
    );
    const { dialog, answerSdp } = await withDeadline(result, "the INVITE's outcome");
    assert(dialog);
    assertEquals(answerSdp, OFFER);

    // A BYE of another call is not ours: 481; the dialog's own is answered 200.
    const byeHeaders = [
      `Via: SIP/2.0/TCP 127.0.0.1:${port};branch=z9hG4bKnashds10`,
      "Max-Forwards: 70",
      `From: ${to}`,
      `To: "Alice" <sip:alice@${local}>;tag=${tag}`,
    ];
    await server.send([
      `BYE sip:alice@${local} SIP/2.0`,
      ...byeHeaders,
      "Call-ID: other",
      "CSeq: 231 BYE",
    ]);
    const lowerCase = // names as parsed: header names are case-insensitive (RFC 3261 §7.3.1)
      `via: SIP/2.0/TCP 127.0.0.1:${port};branch=z9hG4bKnashds10\r\n` +
      `from: ${to}\r\n` +
      `to: "Alice" <sip:alice@${local}>;tag=${tag}\r\n`;
    assertEquals(
      await server.next("the 481"),
      "SIP/2.0 481 Call/Transaction Does Not Exist\r\n" + lowerCase +
        "call-id: other\r\ncseq: 231 BYE\r\nContent-Length: 0\r\n\r\n",
    );
    const ended = new Promise((resolve) => dialog.addEventListener("bye", resolve));
    await server.send([
      `BYE sip:alice@${local} SIP/2.0`,
      ...byeHeaders,
      `Call-ID: ${CALL_ID}`,
      "CSeq: 231 BYE",
    ]);
    assertEquals(
      await server.next("the 200 to BYE"),
      "SIP/2.0 200 OK\r\n" + lowerCase +
        `call-id: ${CALL_ID}\r\ncseq: 231 BYE\r\nContent-Length: 0\r\n\r\n`,
    );
    await withDeadline(ended, "the dialog's bye event");
  });
});

Deno.test("user agent: BYE goes to the remote target in the dialog with the next CSeq and a new branch (RFC 3261 §12.2.1.1, §15.1.1)", async () => {
  await withUserAgent(async (ua, server) => {
    const port = server.port;
    const result = ua.invite({
      requestUri: `sip:bob@127.0.0.1:${port}`,
      sdp: OFFER,
      callId: CALL_ID,
    });
    const invite = await server.next("the INVITE");
    const { local, branch, tag } = checkInvite(invite, port);
    const to = `<sip:bob@127.0.0.1:${port}>;tag=a6c85cf`;
    const contact = `sip:bob@127.0.0.1:${port};transport=tcp`;
    await server.send([...response("200 OK", invite, to), `Contact: <${contact}>`]);
    const ack = await server.next("the ACK of the 200");
    const { dialog } = await withDeadline(result, "the INVITE's outcome");
    assert(dialog);
    const status = dialog.bye();
    const bye = await server.next("the BYE");
    const byeBranch = /;branch=(z9hG4bK[0-9a-f]{16})\r\n/.exec(bye)?.[1];
    assert(byeBranch && byeBranch !== branch && !ack.includes(byeBranch), `a new branch: ${bye}`);
    assertEquals(
      bye,
      `BYE ${contact} SIP/2.0\r\n` +
        `Via: SIP/2.0/TCP ${local};rport;branch=${byeBranch}\r\n` +
        "Max-Forwards: 70\r\n" +
        `From: "Alice" <sip:alice@${local}>;tag=${tag}\r\n` +
        `To: ${to}\r\n` +
        `Call-ID: ${CALL_ID}\r\n` +
        "CSeq: 2 BYE\r\n" +
        "Content-Length: 0\r\n\r\n",
    );
    const copied = bye.split("\r\n").filter((l) => /^(Via|From|To|Call-ID|CSeq): /.test(l));
    await server.send(["SIP/2.0 200 OK", ...copied]);
    assertEquals(await withDeadline(status, "the BYE's outcome"), 200);
  });
});
