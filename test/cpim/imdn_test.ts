/**
 * `src/cpim` IMDN (RFC 5438): requests in CPIM headers, the
 * `message/imdn+xml` document both ways, the CPIM wrapping of a
 * notification, and hostile XML (DTDs, entities, size, depth) refused with
 * a `CpimError`, never anything else.
 */

import { assert, assertEquals, assertThrows } from "../_assert.ts";
import { Random } from "../_random.ts";
import {
  buildImdn,
  CpimError,
  IMDN_TYPE,
  imdnRequestOf,
  isImdnNotification,
  MAX_IMDN_BYTES,
  parseCpim,
  parseDispositionNotification,
  parseImdn,
  wrapImdnNotification,
  wrapWithImdnRequest,
} from "../../src/cpim/mod.ts";

const enc = new TextEncoder();

// RFC 5438 §7.2.1.1's example document.
const DELIVERED = `<?xml version="1.0" encoding="UTF-8"?>
<imdn xmlns="urn:ietf:params:xml:ns:imdn">
  <message-id>34jk324j</message-id>
  <datetime>2008-04-04T12:16:49-05:00</datetime>
  <recipient-uri>im:bob@example.com</recipient-uri>
  <original-recipient-uri>im:bob@example.com</original-recipient-uri>
  <delivery-notification>
    <status>
      <delivered/>
    </status>
  </delivery-notification>
</imdn>`;

Deno.test("imdn: the RFC 5438 example document parses", () => {
  assertEquals(parseImdn(enc.encode(DELIVERED)), {
    messageId: "34jk324j",
    dateTime: "2008-04-04T12:16:49-05:00",
    recipientUri: "im:bob@example.com",
    originalRecipientUri: "im:bob@example.com",
    kind: "delivery",
    status: "delivered",
  });
});

Deno.test("imdn: prefixed namespaces, comments, CDATA, entities and extensions are read", () => {
  const doc = `<?xml version="1.0"?><!-- c --><n:imdn xmlns:n="urn:ietf:params:xml:ns:imdn"
    xmlns:x="urn:example"><n:message-id><![CDATA[a&b]]></n:message-id>
    <n:datetime>2008-04-04T12:16:49Z</n:datetime><x:ext a='1'>&lt;&#65;&#x42;</x:ext>
    <n:display-notification><n:status><n:displayed/></n:status></n:display-notification></n:imdn>`;
  const parsed = parseImdn(enc.encode(doc));
  assertEquals([parsed.messageId, parsed.kind, parsed.status], ["a&b", "display", "displayed"]);
});

Deno.test("imdn: build and parse round-trip every kind and status", () => {
  const statuses = {
    delivery: ["delivered", "failed", "forbidden", "error"],
    display: ["displayed", "forbidden", "error"],
    processing: ["processed", "stored", "forbidden", "error"],
  } as const;
  for (const [kind, list] of Object.entries(statuses)) {
    for (const status of list) {
      const n = {
        messageId: "m-1",
        dateTime: "2025-01-01T00:00:00Z",
        recipientUri: "sip:b@x?a=<&>",
        kind,
        status,
      } as Parameters<typeof buildImdn>[0];
      assertEquals(parseImdn(buildImdn(n)), n);
    }
  }
});

Deno.test("imdn: hostile XML is refused with a CpimError", () => {
  const wrap = (inner: string) =>
    `<imdn xmlns="urn:ietf:params:xml:ns:imdn"><message-id>a</message-id>` +
    `<datetime>2008-04-04T12:16:49Z</datetime>${inner}</imdn>`;
  const ok = "<delivery-notification><status><delivered/></status></delivery-notification>";
  const cases: [string, string][] = [
    [`<!DOCTYPE imdn [<!ENTITY x "y">]>${wrap(ok)}`, "malformed-imdn"],
    [wrap(`<x>&x;</x>${ok}`), "malformed-imdn"],
    [wrap(`<x>&amp</x>${ok}`), "malformed-imdn"],
    [wrap(`<x>&#0;</x>${ok}`), "malformed-imdn"],
    [wrap(`<x>${"<a>".repeat(20)}${"</a>".repeat(20)}</x>${ok}`), "too-large"],
    [wrap(`${"<a/>".repeat(100)}${ok}`), "too-large"],
    [wrap(ok) + " ".repeat(MAX_IMDN_BYTES), "too-large"],
    [wrap(`<p:x/>${ok}`), "malformed-imdn"],
    [wrap(`<x a="1" a="2"/>${ok}`), "malformed-imdn"],
    [wrap(`<x a="1"b="2"/>${ok}`), "malformed-imdn"],
    [wrap(`<x>${ok}`), "malformed-imdn"],
    [wrap(ok) + "<imdn/>", "malformed-imdn"],
    [wrap(ok).replace("xml:ns:imdn", "xml:ns:other"), "malformed-imdn"],
    [wrap(ok).replace("<message-id>a</message-id>", ""), "malformed-imdn"],
    [wrap(ok).replace("<message-id>a<", "<message-id>a b<"), "malformed-imdn"],
    [wrap(ok).replace("2008-04-04T12:16:49Z", "yesterday"), "malformed-imdn"],
    [
      wrap(ok + ok.replace("delivery", "display").replace("delivered", "displayed")),
      "malformed-imdn",
    ],
    [wrap(ok.replace("<delivered/>", "<delivered/><failed/>")), "malformed-imdn"],
    [wrap(`<message-id>b</message-id>${ok}`), "malformed-imdn"],
    [wrap(ok.replace("delivered", "displayed")), "malformed-imdn"],
  ];
  for (const [doc, code] of cases) {
    const error = assertThrows(() => parseImdn(enc.encode(doc)), CpimError);
    assertEquals(error.code, code, doc.slice(0, 80));
  }
  assertThrows(() => parseImdn(new Uint8Array([0xff, 0xfe])), CpimError, "not UTF-8");
});

Deno.test("imdn: property: random bytes, truncations and mutations of a document throw only CpimError", () => {
  const random = new Random(0x1d_0c);
  const valid = enc.encode(DELIVERED);
  const tryParse = (bytes: Uint8Array) => {
    try {
      parseImdn(bytes);
    } catch (e) {
      assert(e instanceof CpimError, `unexpected ${e}`);
    }
  };
  for (let i = 0; i < 2000; i++) {
    tryParse(random.bytes(random.int(0, 200)));
    tryParse(valid.subarray(0, random.int(0, valid.length)));
    const mutated = valid.slice();
    for (let k = random.int(1, 4); k > 0; k--) {
      mutated[random.int(0, mutated.length - 1)] = random.pick(
        [...enc.encode("<>/&;!?[]\"' =:x#")],
      );
    }
    tryParse(mutated);
  }
});

Deno.test("imdn: a request round-trips through CPIM; a notification is CPIM around the document", () => {
  assertEquals(parseDispositionNotification("Display, positive-delivery;x=1, bogus"), [
    "positive-delivery",
    "display",
  ]);
  const request = wrapWithImdnRequest({
    from: { uri: "im:alice@example.com" },
    to: { uri: "im:bob@example.com" },
    messageId: "34jk324j",
    dateTime: new Date("2025-05-04T10:00:00Z"),
    dispositions: ["display", "negative-delivery"],
    contentType: "text/plain",
    body: "Hello",
  });
  const cpim = parseCpim(request.body);
  assertEquals(imdnRequestOf(cpim), {
    messageId: "34jk324j",
    dateTime: "2025-05-04T10:00:00.000Z",
    dispositions: ["negative-delivery", "display"],
  });
  assertEquals(isImdnNotification(cpim), false);

  const notification = parseCpim(
    wrapImdnNotification({
      from: { uri: "im:bob@example.com" },
      to: { uri: "im:alice@example.com" },
      messageId: "n1",
      dateTime: new Date(),
      notification: {
        messageId: "34jk324j",
        dateTime: "2025-05-04T10:00:00.000Z",
        kind: "delivery",
        status: "delivered",
      },
    }).body,
  );
  assertEquals([notification.contentType, isImdnNotification(notification)], [IMDN_TYPE, true]);
  assertEquals(imdnRequestOf(notification)?.dispositions, [], "a notification asks for none");
  assertEquals(parseImdn(notification.body).status, "delivered");
  // A message id that is not a token never reaches a header or a document.
  for (const messageId of ["a b", "a\r\nX: y", "<x>", ""]) {
    assertThrows(
      () =>
        wrapWithImdnRequest({
          from: { uri: "im:a@x" },
          to: { uri: "im:b@x" },
          messageId,
          dateTime: new Date(),
          dispositions: [],
          contentType: "text/plain",
          body: "",
        }),
      CpimError,
    );
  }
  // A Message-ID header that is not a token is no request at all.
  const hostile = parseCpim(
    enc.encode(
      "NS: imdn <urn:ietf:params:imdn>\r\nimdn.Message-ID: <script>\r\n" +
        "imdn.Disposition-Notification: display\r\n\r\nContent-Type: text/plain\r\n\r\n",
    ),
  );
  assertEquals(imdnRequestOf(hostile), undefined);
});
