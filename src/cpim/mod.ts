/**
 * CPIM (RFC 3862) and IMDN (RFC 5438), pure: bytes and strings in, typed
 * values out and back, no I/O. Parsers are bounded and throw only
 * {@linkcode CpimError}.
 *
 * @example Ask for notifications, read the answer
 * ```ts
 * import { imdnRequestOf, parseCpim, wrapWithImdnRequest } from "./mod.ts";
 *
 * const { body } = wrapWithImdnRequest({
 *   from: { uri: "im:alice@example.com" },
 *   to: { uri: "im:bob@example.com" },
 *   messageId: "34jk324j",
 *   dateTime: new Date("2025-05-04T10:00:00Z"),
 *   dispositions: ["positive-delivery", "display"],
 *   contentType: "text/plain",
 *   body: "Hello",
 * });
 * console.log(imdnRequestOf(parseCpim(body))?.dispositions); // ["positive-delivery", "display"]
 * ```
 *
 * @module
 */

export { CpimError, type CpimErrorCode } from "./error.ts";
export {
  CPIM_TYPE,
  type CpimAddress,
  type CpimInit,
  type CpimMessage,
  type CpimNamespace,
  type CpimSubject,
  MAX_CPIM_HEAD_BYTES,
  MAX_CPIM_HEADERS,
  namespacedHeaders,
  parseCpim,
  wrapCpim,
} from "./cpim.ts";
export {
  buildImdn,
  type DeliveryStatus,
  type DisplayStatus,
  IMDN_DISPOSITIONS,
  IMDN_NS,
  IMDN_TYPE,
  IMDN_XML_NS,
  type ImdnCommon,
  type ImdnDisposition,
  type ImdnNotification,
  type ImdnNotificationInit,
  type ImdnRequest,
  type ImdnRequestInit,
  imdnRequestOf,
  isImdnMessageId,
  isImdnNotification,
  MAX_IMDN_BYTES,
  MAX_IMDN_ID_CHARS,
  newImdnMessageId,
  parseDispositionNotification,
  parseImdn,
  type ProcessingStatus,
  wrapImdnNotification,
  wrapWithImdnRequest,
} from "./imdn.ts";
