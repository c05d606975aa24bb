/**
 * Instant Message Disposition Notification (RFC 5438) over CPIM: the
 * `imdn.*` headers that ask for notifications (§6), the
 * `message/imdn+xml` document that carries one (§7.2), and the CPIM
 * message around it (§7.1.1).
 *
 * @module
 */

import { type CpimAddress, type CpimMessage, namespacedHeaders, wrapCpim } from "./cpim.ts";
import { CpimError } from "./error.ts";
import { escapeXml, parseXml, type XmlElement } from "./xml.ts";

/** The CPIM header namespace of IMDN (RFC 5438 §6.1; prefix `imdn` by convention). */
export const IMDN_NS = "urn:ietf:params:imdn";
/** The XML namespace of IMDN documents (RFC 5438 §7.2.1). */
export const IMDN_XML_NS = "urn:ietf:params:xml:ns:imdn";
/** The media type of IMDN documents. */
export const IMDN_TYPE = "message/imdn+xml";
/** Most bytes of an IMDN document we read. */
export const MAX_IMDN_BYTES = 16 * 1024;
/** Most characters of an `imdn.Message-ID` (a token, RFC 5438 §6.3). */
export const MAX_IMDN_ID_CHARS = 256;

/** A notification a sender can ask for (RFC 5438 §6.2; `processing` is for intermediaries). */
export type ImdnDisposition = "positive-delivery" | "negative-delivery" | "display";

/** The dispositions in the order they are written. */
export const IMDN_DISPOSITIONS: readonly ImdnDisposition[] = [
  "positive-delivery",
  "negative-delivery",
  "display",
];

/** A delivery notification's status (RFC 5438 §7.2.1.1). */
export type DeliveryStatus = "delivered" | "failed" | "forbidden" | "error";
/** A display notification's status (RFC 5438 §7.2.1.2). */
export type DisplayStatus = "displayed" | "forbidden" | "error";
/** A processing notification's status (RFC 5438 §7.2.1.3). */
export type ProcessingStatus = "processed" | "stored" | "forbidden" | "error";

/** What an IMDN document says about one message. */
export type ImdnNotification =
  & ImdnCommon
  & (
    | { readonly kind: "delivery"; readonly status: DeliveryStatus }
    | { readonly kind: "display"; readonly status: DisplayStatus }
    | { readonly kind: "processing"; readonly status: ProcessingStatus }
  );

/** The fields every IMDN document has (RFC 5438 §7.2.1). */
export interface ImdnCommon {
  /** The `imdn.Message-ID` of the message it is about. */
  readonly messageId: string;
  /** The `DateTime` of that message (RFC 3339). */
  readonly dateTime: string;
  /** Who the notification is from. */
  readonly recipientUri?: string;
  /** Whom the message was first addressed to. */
  readonly originalRecipientUri?: string;
}

/** What a received CPIM message asks for (RFC 5438 §6). */
export interface ImdnRequest {
  /** Its `imdn.Message-ID`. */
  readonly messageId: string;
  /** Its `DateTime`, which notifications repeat. */
  readonly dateTime?: string;
  /** The notifications asked for, in {@linkcode IMDN_DISPOSITIONS} order; may be empty. */
  readonly dispositions: readonly ImdnDisposition[];
}

const STATUSES = {
  delivery: ["delivered", "failed", "forbidden", "error"],
  display: ["displayed", "forbidden", "error"],
  processing: ["processed", "stored", "forbidden", "error"],
} as const;
const TOKEN = /^[A-Za-z0-9!#$%&'*+\-.^_`|~]+$/;
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;
/** Characters XML 1.0 cannot carry, and line breaks: never in an IMDN value we write. */
// deno-lint-ignore no-control-regex
const XML_CONTROL = /[\x00-\x1f\x7f]/;
const decoder = new TextDecoder("utf-8", { fatal: true });
const encoder = new TextEncoder();

function bad(reason: string): CpimError {
  return new CpimError("malformed-imdn", `malformed IMDN: ${reason}`);
}

/** Whether `id` can be an `imdn.Message-ID`: a token of at most {@linkcode MAX_IMDN_ID_CHARS}. */
export function isImdnMessageId(id: string): boolean {
  return id.length <= MAX_IMDN_ID_CHARS && TOKEN.test(id);
}

/**
 * The known dispositions of an `imdn.Disposition-Notification` value
 * (RFC 5438 §6.2: comma-separated, parameters after `;` ignored); unknown
 * ones are skipped.
 */
export function parseDispositionNotification(value: string): ImdnDisposition[] {
  const asked = new Set(value.split(",").map((v) => v.split(";")[0].trim().toLowerCase()));
  return IMDN_DISPOSITIONS.filter((d) => asked.has(d));
}

/**
 * What `cpim` asks for: `undefined` unless it has an `imdn.Message-ID`
 * (RFC 5438 §6.3) that is a token; dispositions from
 * `imdn.Disposition-Notification`, empty without one.
 */
export function imdnRequestOf(cpim: CpimMessage): ImdnRequest | undefined {
  const [messageId] = namespacedHeaders(cpim, IMDN_NS, "Message-ID").map((v) => v.trim());
  if (messageId === undefined || !isImdnMessageId(messageId)) return undefined;
  const dispositions = parseDispositionNotification(
    namespacedHeaders(cpim, IMDN_NS, "Disposition-Notification").join(","),
  );
  return { messageId, ...(cpim.dateTime ? { dateTime: cpim.dateTime } : {}), dispositions };
}

/** Whether `cpim` carries a notification (its inner type is `message/imdn+xml`). */
export function isImdnNotification(cpim: CpimMessage): boolean {
  return cpim.contentType.split(";")[0].trim().toLowerCase() === IMDN_TYPE;
}

/** The one IMDN child `local` of `parent`; more than one is malformed. */
function child(parent: XmlElement, local: string): XmlElement | undefined {
  const found = parent.children.filter((c) => c.ns === IMDN_XML_NS && c.local === local);
  if (found.length > 1) throw bad(`more than one ${local}`);
  return found[0];
}

/**
 * Parses an IMDN document (RFC 5438 §7.2.1): `message-id` and `datetime`,
 * optional `recipient-uri` and `original-recipient-uri`, and exactly one
 * delivery, display or processing notification with its status. Unknown
 * elements (extensions) are ignored. No DTD, no entities beyond XML's five.
 *
 * @throws {CpimError} `malformed-imdn`, or `too-large` past {@linkcode MAX_IMDN_BYTES}.
 */
export function parseImdn(bytes: Uint8Array): ImdnNotification {
  if (bytes.length > MAX_IMDN_BYTES) {
    throw new CpimError("too-large", `IMDN document over ${MAX_IMDN_BYTES} bytes`);
  }
  let source: string;
  try {
    source = decoder.decode(bytes);
  } catch {
    throw bad("not UTF-8");
  }
  const root = parseXml(source, { maxChars: MAX_IMDN_BYTES, maxDepth: 8, maxElements: 64 });
  if (root.ns !== IMDN_XML_NS || root.local !== "imdn") throw bad("the root is not imdn");
  const messageId = child(root, "message-id")?.text.trim();
  if (!messageId || !isImdnMessageId(messageId)) throw bad("no valid message-id");
  const dateTime = child(root, "datetime")?.text.trim();
  if (!dateTime || !RFC3339.test(dateTime)) throw bad("no RFC 3339 datetime");
  const recipientUri = child(root, "recipient-uri")?.text.trim();
  const originalRecipientUri = child(root, "original-recipient-uri")?.text.trim();
  const common: ImdnCommon = {
    messageId,
    dateTime,
    ...(recipientUri ? { recipientUri } : {}),
    ...(originalRecipientUri ? { originalRecipientUri } : {}),
  };
  const kinds = (["delivery", "display", "processing"] as const).filter((k) =>
    child(root, `${k}-notification`)
  );
  if (kinds.length !== 1) throw bad("not exactly one notification");
  const kind = kinds[0];
  const status = child(child(root, `${kind}-notification`)!, "status");
  const values = (status?.children ?? []).filter((c) => c.ns === IMDN_XML_NS)
    .map((c) => c.local)
    .filter((l) => (STATUSES[kind] as readonly string[]).includes(l));
  if (values.length !== 1) throw bad(`the ${kind} notification has no single known status`);
  return { ...common, kind, status: values[0] } as ImdnNotification;
}

function element(name: string, value: string | undefined): string {
  if (value === undefined) return "";
  if (XML_CONTROL.test(value)) {
    throw new CpimError("invalid-field", `IMDN ${name} holds a control character`);
  }
  return `<${name}>${escapeXml(value)}</${name}>`;
}

/**
 * Builds the IMDN document of `notification` (RFC 5438 §7.2.1).
 *
 * @throws {CpimError} `invalid-field` for a message id that is not a token, a
 * datetime that is not RFC 3339, or a value with control characters.
 */
export function buildImdn(notification: ImdnNotification): Uint8Array {
  if (!isImdnMessageId(notification.messageId)) {
    throw new CpimError("invalid-field", "the IMDN message-id must be a token");
  }
  if (!RFC3339.test(notification.dateTime)) {
    throw new CpimError("invalid-field", "the IMDN datetime must be RFC 3339");
  }
  if (!(STATUSES[notification.kind] as readonly string[]).includes(notification.status)) {
    throw new CpimError("invalid-field", `no ${notification.kind} status ${notification.status}`);
  }
  const kind = `${notification.kind}-notification`;
  return encoder.encode(
    `<?xml version="1.0" encoding="UTF-8"?>\r\n<imdn xmlns="${IMDN_XML_NS}">` +
      element("message-id", notification.messageId) +
      element("datetime", notification.dateTime) +
      element("recipient-uri", notification.recipientUri) +
      element("original-recipient-uri", notification.originalRecipientUri) +
      `<${kind}><status><${notification.status}/></status></${kind}></imdn>\r\n`,
  );
}

/** A fresh `imdn.Message-ID`: 128 random bits, hex (RFC 5438 §6.3 asks for at least 32). */
export function newImdnMessageId(): string {
  return crypto.randomUUID().replaceAll("-", "");
}

/** What {@linkcode wrapWithImdnRequest} wraps. */
export interface ImdnRequestInit {
  /** The sender. */
  readonly from: CpimAddress;
  /** The recipient. */
  readonly to: CpimAddress;
  /** The `imdn.Message-ID`; see {@linkcode newImdnMessageId}. */
  readonly messageId: string;
  /** The `DateTime`. */
  readonly dateTime: Date;
  /** The notifications asked for; none writes no `imdn.Disposition-Notification`. */
  readonly dispositions: readonly ImdnDisposition[];
  /** Content-Type of the inner message. */
  readonly contentType: string;
  /** The inner body. */
  readonly body: string | Uint8Array;
}

/**
 * A CPIM message asking for notifications (RFC 5438 §6.3): `NS: imdn
 * <urn:ietf:params:imdn>`, `imdn.Message-ID`, `DateTime` and
 * `imdn.Disposition-Notification` around the inner message.
 *
 * @throws {CpimError} `invalid-field` (see `wrapCpim`), also for a message id that is not a token.
 */
export function wrapWithImdnRequest(
  init: ImdnRequestInit,
): { contentType: string; body: Uint8Array } {
  if (!isImdnMessageId(init.messageId)) {
    throw new CpimError("invalid-field", "the imdn.Message-ID must be a token");
  }
  const asked = IMDN_DISPOSITIONS.filter((d) => init.dispositions.includes(d));
  return wrapCpim({
    from: init.from,
    to: [init.to],
    dateTime: init.dateTime,
    ns: [{ prefix: "imdn", uri: IMDN_NS }],
    headers: [
      ["imdn.Message-ID", init.messageId],
      ...(asked.length ? [["imdn.Disposition-Notification", asked.join(", ")] as const] : []),
    ],
    contentType: init.contentType,
    body: init.body,
  });
}

/** What {@linkcode wrapImdnNotification} wraps. */
export interface ImdnNotificationInit {
  /** The notifier: the recipient of the message it is about. */
  readonly from: CpimAddress;
  /** The sender of the message it is about. */
  readonly to: CpimAddress;
  /** The notification's own `imdn.Message-ID`. */
  readonly messageId: string;
  /** When it is sent. */
  readonly dateTime: Date;
  /** The notification. */
  readonly notification: ImdnNotification;
}

/**
 * A notification as a CPIM message (RFC 5438 §7.1.1.1): From the notifier,
 * To the sender, its own `imdn.Message-ID` and no request for notifications
 * of its own, `Content-Disposition: notification` and the IMDN document.
 *
 * @throws {CpimError} `invalid-field` for values that would make bad lines or XML.
 */
export function wrapImdnNotification(
  init: ImdnNotificationInit,
): { contentType: string; body: Uint8Array } {
  if (!isImdnMessageId(init.messageId)) {
    throw new CpimError("invalid-field", "the imdn.Message-ID must be a token");
  }
  return wrapCpim({
    from: init.from,
    to: [init.to],
    dateTime: init.dateTime,
    ns: [{ prefix: "imdn", uri: IMDN_NS }],
    headers: [["imdn.Message-ID", init.messageId]],
    contentType: IMDN_TYPE,
    contentHeaders: [["Content-Disposition", "notification"]],
    body: buildImdn(init.notification),
  });
}
