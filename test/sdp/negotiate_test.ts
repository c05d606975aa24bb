import { MsrpError } from "../../src/msrp/status.ts";
import {
  answerDirection,
  answererRole,
  type Direction,
  intersectAcceptTypes,
  isSecureProtocol,
  isWebSocketProtocol,
  type MsrpProtocol,
  negotiatedDirection,
  offererRole,
  protocolForUri,
  SdpError,
  type SetupAttribute,
  type SetupRole,
} from "../../src/sdp/mod.ts";
import { assertEquals, assertThrows } from "../_assert.ts";

/** Offered a=setup, preferActive, our role as answerer. */
const ANSWERER: [SetupAttribute | undefined, boolean, SetupRole | undefined][] = [
  ["active", false, "passive"],
  ["active", true, "passive"],
  ["passive", false, "active"],
  ["passive", true, "active"],
  ["actpass", false, "passive"],
  ["actpass", true, "active"],
  [undefined, false, "passive"],
  [undefined, true, "passive"],
  ["holdconn", false, undefined],
];

Deno.test("answererRole: RFC 4145 §4.1 / RFC 6135 table", () => {
  for (const [offered, preferActive, expected] of ANSWERER) {
    assertEquals(answererRole(offered, preferActive), expected, `${offered} ${preferActive}`);
  }
});

Deno.test("offererRole: the opposite of the answerer, active without a=setup", () => {
  assertEquals(offererRole("actpass", "active"), "passive");
  assertEquals(offererRole("actpass", "passive"), "active");
  assertEquals(offererRole("passive", undefined), "active");
  const error = assertThrows(
    () => offererRole("active", "active"),
    SdpError,
    "both would be active",
  );
  assertEquals(error.code, "negotiation-failed");
});

/** Our types, theirs, and what both accept. */
const TYPES: [string[], string[], string[]][] = [
  [["text/plain"], ["text/plain"], ["text/plain"]],
  [["text/plain", "message/cpim"], ["*"], ["text/plain", "message/cpim"]],
  [["*"], ["text/plain", "image/png"], ["text/plain", "image/png"]],
  [["text/*"], ["text/plain", "image/png", "text/html"], ["text/plain", "text/html"]],
  [["text/plain", "image/jpeg"], ["text/*", "image/*"], ["text/plain", "image/jpeg"]],
  [["text/*"], ["text/*"], ["text/*"]],
  [["text/plain"], ["Text/Plain"], ["Text/Plain"]],
  [["text/plain"], ["image/png"], []],
  [["text/plain", "text/*"], ["text/plain"], ["text/plain"]],
  [["message/cpim"], ["message/cpim", "application/im-iscomposing+xml"], ["message/cpim"]],
];

Deno.test("intersectAcceptTypes: wildcards narrowed, duplicates dropped (RFC 4975 §8.6)", () => {
  for (const [ours, theirs, expected] of TYPES) {
    assertEquals(intersectAcceptTypes(ours, theirs), expected, `${ours} / ${theirs}`);
  }
});

/** Offered direction, answer direction (RFC 3264 §6.1). */
const DIRECTIONS: [Direction, Direction][] = [
  ["sendrecv", "sendrecv"],
  ["sendonly", "recvonly"],
  ["recvonly", "sendonly"],
  ["inactive", "inactive"],
];

Deno.test("answerDirection and negotiatedDirection mirror each other", () => {
  for (const [offered, answered] of DIRECTIONS) {
    assertEquals(answerDirection(offered), answered);
    assertEquals(negotiatedDirection(offered, answered), offered);
  }
  assertEquals(negotiatedDirection("sendrecv", "inactive"), "inactive");
});

/** URIs and the protocols they imply. */
const PROTOCOLS: [string, MsrpProtocol, boolean, boolean][] = [
  ["msrp://192.0.2.1:2855/a;tcp", "TCP/MSRP", false, false],
  ["MSRPS://192.0.2.1:2855/a;TCP", "TCP/TLS/MSRP", true, false],
  ["msrp://x.invalid/a;ws", "TCP/WS/MSRP", false, true],
  ["msrps://x.invalid/a;ws", "TCP/WSS/MSRP", true, true],
];

Deno.test("protocolForUri, isSecureProtocol, isWebSocketProtocol", () => {
  for (const [uri, protocol, secure, webSocket] of PROTOCOLS) {
    assertEquals(protocolForUri(uri), protocol, uri);
    assertEquals([isSecureProtocol(protocol), isWebSocketProtocol(protocol)], [secure, webSocket]);
  }
  assertThrows(() => protocolForUri("msrp://192.0.2.1/a;udp"), SdpError, 'transport "udp"');
  assertThrows(() => protocolForUri("msrp://192.0.2.1/a"), MsrpError, "missing transport");
});
