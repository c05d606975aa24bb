import { parse as transformParse } from "./_sdp_transform.ts";
import {
  answerDirection,
  buildAnswer,
  buildOffer,
  type Direction,
  type FileTransfer,
  type LocalMsrpEndpoint,
  type LocalMsrpOffer,
  parseAnswer,
  parseSessionDescription,
} from "../../src/sdp/mod.ts";
import { assert, assertEquals } from "../_assert.ts";

/** An endpoint pair: one offers, the other answers. */
interface Pair {
  readonly name: string;
  readonly offerer: LocalMsrpOffer;
  readonly answerer: LocalMsrpEndpoint;
}

// RFC 8122 §5: a SHA-256 fingerprint is 32 bytes (shorter ones make the line unacceptable).
const FINGERPRINT_A = { hash: "SHA-256", value: Array(32).fill("AB").join(":") };
const FINGERPRINT_B = { hash: "SHA-256", value: Array(32).fill("12").join(":") };

const PAIRS: Pair[] = [
  {
    name: "TCP",
    offerer: {
      path: ["msrp://192.0.2.1:2855/off1;tcp"],
      address: "192.0.2.1",
      port: 2855,
      acceptTypes: ["text/plain", "message/cpim"],
    },
    answerer: {
      path: ["msrp://192.0.2.2:2855/ans1;tcp"],
      address: "192.0.2.2",
      port: 2855,
      acceptTypes: ["text/*"],
    },
  },
  {
    name: "TLS with fingerprints, CEMA and relays",
    offerer: {
      path: ["msrps://relay.example.net:2855/r1;tcp", "msrps://192.0.2.1:2856/off2;tcp"],
      address: "192.0.2.1",
      port: 2856,
      acceptTypes: ["message/cpim"],
      acceptWrappedTypes: ["text/plain", "image/*"],
      fingerprint: FINGERPRINT_A,
      cema: true,
    },
    answerer: {
      path: ["msrps://192.0.2.2:2856/ans2;tcp"],
      address: "192.0.2.2",
      port: 2856,
      acceptTypes: ["*"],
      acceptWrappedTypes: ["*"],
      fingerprint: FINGERPRINT_B,
      cema: true,
    },
  },
  {
    name: "IPv6, answerer without CEMA",
    offerer: {
      path: ["msrp://[2001:db8::1]:2855/off3;tcp"],
      address: "2001:db8::1",
      port: 2855,
      acceptTypes: ["text/plain"],
      cema: true,
    },
    answerer: {
      path: ["msrp://[2001:db8::2]:2855/ans3;tcp"],
      address: "2001:db8::2",
      port: 2855,
      acceptTypes: ["text/plain", "text/html"],
    },
  },
  {
    name: "WebSocket client and server",
    offerer: {
      path: ["msrps://k3j4h5.invalid:2855/off4;ws"],
      address: "192.0.2.1",
      port: 9,
      acceptTypes: ["text/plain"],
    },
    answerer: {
      path: ["msrps://bridge.example.com:443/ans4;ws"],
      address: "bridge.example.com",
      port: 443,
      acceptTypes: ["text/plain"],
    },
  },
];

const SETUPS = ["actpass", "active", "passive"] as const;

function sorted(list: readonly string[]): string[] {
  return [...list].sort();
}

for (const pair of PAIRS) {
  for (const setup of SETUPS) {
    for (const preferActive of [false, true]) {
      const webSocket = pair.name.startsWith("WebSocket");
      // A WebSocket client cannot be passive (RFC 7977); that case is refused elsewhere.
      if (webSocket && setup === "passive") continue;
      Deno.test(`round trip: ${pair.name}, offer ${setup}, preferActive ${preferActive}`, () => {
        const offerer: LocalMsrpOffer = { ...pair.offerer, setup };
        const answerer: LocalMsrpEndpoint = { ...pair.answerer, preferActive };
        const offer = buildOffer(offerer);
        const { sdp: answer, accepted: theirs } = buildAnswer(
          parseSessionDescription(offer),
          answerer,
        );
        const ours = parseAnswer(answer, offerer);

        // Exactly one side connects.
        assert(ours.setup !== theirs.setup, `${ours.setup} / ${theirs.setup}`);
        const expectedAnswerer = setup === "active" ||
            (setup === "actpass" && !(preferActive && !webSocket))
          ? "passive"
          : "active";
        assertEquals(theirs.setup, expectedAnswerer);

        // Each side's remote path is the other's local path.
        assertEquals(ours.remotePath, [...pair.answerer.path]);
        assertEquals(theirs.remotePath, [...pair.offerer.path]);
        assertEquals(ours.localPath, theirs.remotePath);
        assertEquals(theirs.localPath, ours.remotePath);

        assertEquals(sorted(ours.acceptTypes), sorted(theirs.acceptTypes));
        assertEquals(ours.cema, theirs.cema);
        assertEquals(ours.cema, pair.offerer.cema === true && pair.answerer.cema === true);
        assertEquals(ours.protocol, theirs.protocol);
        assertEquals(ours.direction, answerDirection(theirs.direction));
        assertEquals(ours.fingerprint, pair.answerer.fingerprint);
        assertEquals(theirs.fingerprint, pair.offerer.fingerprint);
        assertEquals(ours.remotePort, pair.answerer.port);
        assertEquals(theirs.remotePort, pair.offerer.port);

        // sdp-transform reads both, with our custom attributes kept verbatim.
        for (const [text, local] of [[offer, pair.offerer], [answer, pair.answerer]] as const) {
          const media = transformParse(text).media[0];
          assertEquals(media.protocol, ours.protocol);
          assert(media.invalid?.some((a) => a.value === `path:${local.path.join(" ")}`));
        }
      });
    }
  }
}

Deno.test("round trip: RFC 5547 file push and pull", () => {
  const fileTransfer: FileTransfer = {
    selector: {
      name: "holiday photo.jpg",
      type: "image/jpeg",
      size: 1048576,
      hash: { algorithm: "sha-1", value: "72:24:5F:E8:65:3D:DA:F3" },
    },
    transferId: "aCQYuBRVoUPGVsFZkCK98vzcX2FXDIk2",
    disposition: "render",
    date: { creation: "Mon, 15 May 2006 15:01:31 +0300", read: "Tue, 16 May 2006 09:00:00 +0300" },
    icon: "cid:icon1@example.com",
  };
  const cases: [Direction, Direction, Direction][] = [
    ["sendonly", "recvonly", "sendonly"],
    ["recvonly", "sendonly", "recvonly"],
  ];
  for (const [offered, answered, ours] of cases) {
    const offerer: LocalMsrpOffer = { ...PAIRS[0].offerer, fileTransfer, direction: offered };
    const offer = buildOffer(offerer);
    const { sdp: answer, accepted: theirs } = buildAnswer(offer, PAIRS[0].answerer);
    assertEquals([theirs.direction, theirs.fileTransfer], [answered, fileTransfer]);
    const echoed = parseSessionDescription(answer).media[0];
    assert(echoed.kind === "msrp");
    assertEquals(echoed.fileTransfer, {
      selector: fileTransfer.selector,
      transferId: fileTransfer.transferId,
    });
    const accepted = parseAnswer(answer, offerer);
    assertEquals([accepted.direction, accepted.fileTransfer], [ours, fileTransfer]);
  }
});

Deno.test("round trip: a resumed push (RFC 5547 §8) offers a=file-range, and the part the answer takes is what parseAnswer gives back", () => {
  const selector = { name: "a.bin", type: "application/octet-stream", size: 1000 };
  const offerer: LocalMsrpOffer = {
    ...PAIRS[0].offerer,
    fileTransfer: { selector, transferId: "t2", range: { start: 401, end: 1000 } },
    direction: "sendonly",
  };
  const offer = buildOffer(offerer);
  assert(offer.includes("a=file-range:401-1000"), offer);
  const narrowed = buildAnswer(offer, {
    ...PAIRS[0].answerer,
    fileRange: { start: 501, end: 1000 },
  });
  assert(narrowed.sdp.includes("a=file-range:501-1000"), narrowed.sdp);
  assertEquals(parseAnswer(narrowed.sdp, offerer).fileTransfer?.range, { start: 501, end: 1000 });
  // An answerer that does not know the attribute answers without it: the whole file.
  const plain = buildAnswer(offer, PAIRS[0].answerer).sdp.replace(/a=file-range:[^\r\n]*\r\n/, "");
  assertEquals(parseAnswer(plain, offerer).fileTransfer?.range, undefined);
});

Deno.test("round trip: a re-offer keeps the o= session id and raises the version", () => {
  const first = parseSessionDescription(
    buildOffer({ ...PAIRS[0].offerer, originSessionId: "9000" }),
  );
  const second = parseSessionDescription(
    buildOffer({ ...PAIRS[0].offerer, originSessionId: "9000", originVersion: 1 }),
  );
  assertEquals(
    [first.origin?.sessionId, first.origin?.sessionVersion, second.origin?.sessionVersion],
    ["9000", "0", "1"],
  );
});
