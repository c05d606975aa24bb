/**
 * The bridge's use cases behind one facade, {@linkcode Bridge}: SDP
 * offer/answer and connecting (`media.ts`), messages (`messaging.ts`), calls
 * through the PBX (`calls.ts`), files we push (`files.ts`), pager mode
 * (`pager.ts`), the event log and webhook replies (`events.ts`), readiness
 * and metrics (`health.ts`), and several instances on one database
 * (`cluster.ts`).
 *
 * @module
 */

export { Bridge } from "./bridge.ts";
export { BridgeError, type BridgeErrorCode } from "./errors.ts";
export type { EslState } from "./calls.ts";
export type { SessionLocation } from "./cluster.ts";
export type { EventSubscriber } from "./events.ts";
export type { FileSendRequest, OfferedFile } from "./files.ts";
export { type FileUpload, offerableName, offerableType } from "./_upload.ts";
export type { BridgeMetrics, Readiness } from "./health.ts";
export type { AnsweredSession, OfferedSession } from "./media.ts";
export {
  type BridgeSendOptions,
  contentUrl,
  type MessageCounters,
  type SentMessage,
} from "./messaging.ts";
export type { PagerMessage } from "./pager.ts";
export type { SessionQuery } from "./_sessions.ts";
