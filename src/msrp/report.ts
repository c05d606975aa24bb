/**
 * Which responses and REPORTs a request calls for, and how to build them
 * (RFC 4975 §7.1.2, §7.1.3, §7.2, §7.3, §9).
 *
 * Everything here is pure: builders return {@linkcode OutgoingRequest} and
 * {@linkcode OutgoingResponse} values for the serializer to encode.
 *
 * @module
 */

import {
  type ByteRange,
  formatByteRange,
  formatStatusHeader,
  type OutgoingRequest,
  type OutgoingResponse,
  parseReportRequest,
  parseStatusHeader,
  type ReportRequest,
  type RequestHead,
} from "./message.ts";
import { MsrpError, reasonPhrase, Status } from "./status.ts";

/** What the sender of a request asked for in `Success-Report` and `Failure-Report`. */
export interface ReportPolicy {
  /** True for `Success-Report: yes`: a success REPORT is due once the message is received. */
  readonly successReport: boolean;
  /** The `Failure-Report` value: which responses and failure REPORTs are due. */
  readonly failureReport: ReportRequest;
}

/** A REPORT request, as read by its receiver. */
export interface ParsedReport {
  /** `Message-ID` of the message reported on. */
  readonly messageId: string;
  /** The bytes reported on, when the REPORT says. */
  readonly byteRange: ByteRange | undefined;
  /** The status code from the `Status` header. */
  readonly status: number;
  /** The comment from the `Status` header, possibly empty. */
  readonly comment: string;
}

/** Parameters of {@linkcode buildReport}. */
export interface ReportParams {
  /** Transaction id of the REPORT (a new one, not the SEND's). */
  readonly transactionId: string;
  /** The whole `From-Path` of the SEND reported on. */
  readonly toPath: readonly string[];
  /** Our own path. */
  readonly fromPath: readonly string[];
  /** `Message-ID` of the message reported on. */
  readonly messageId: string;
  /** The bytes reported on. */
  readonly byteRange: ByteRange;
  /** The status code to report. */
  readonly status: number;
  /** The comment after the code; the RFC reason phrase when omitted. */
  readonly comment?: string;
}

/** Policy for requests that never get a response or a report. */
const NEVER: ReportPolicy = { successReport: false, failureReport: "no" };

function isSuccess(status: number): boolean {
  return status >= 200 && status < 300;
}

function checkStatus(status: number): void {
  if (!Number.isInteger(status) || status < 100 || status > 999) {
    throw new RangeError(`status must be a three-digit code, got ${status}`);
  }
}

/**
 * Reads `Success-Report` and `Failure-Report` from a request. Absent headers
 * default to `Success-Report: no` and `Failure-Report: yes` (RFC 4975 §7.1.1,
 * §7.2). A REPORT never gets a response or a report of its own (RFC 4975
 * §7.1.2), so its policy is `no`/`no` whatever it carries.
 *
 * Throws {@linkcode MsrpError} 400 for a value outside the RFC 4975 §9 grammar
 * (`Success-Report` is `yes` or `no`; `Failure-Report` also allows `partial`).
 */
export function reportPolicy(head: RequestHead): ReportPolicy {
  if (head.method === "REPORT") return NEVER;
  const success = head.headers.get("Success-Report");
  const failure = head.headers.get("Failure-Report");
  let successReport = false;
  if (success !== undefined) {
    const value = parseReportRequest(success);
    if (value === "partial") {
      throw new MsrpError(Status.BadRequest, `bad Success-Report value: ${success}`);
    }
    successReport = value === "yes";
  }
  return {
    successReport,
    failureReport: failure === undefined ? "yes" : parseReportRequest(failure),
  };
}

/**
 * True when a transaction response with `status` must be sent for a request
 * with this policy.
 *
 * RFC 4975 §7.2: a response is generated immediately when Failure-Report is
 * `yes` or absent; with `partial`, only when the receiver could not process
 * the request, so a 200 is never sent; with `no`, the sender asked for no
 * response at all, so none is sent.
 */
export function responseDue(policy: ReportPolicy, status: number): boolean {
  switch (policy.failureReport) {
    case "yes":
      return true;
    case "partial":
      return !isSuccess(status);
    case "no":
      return false;
  }
}

/**
 * True when a failure with `status` is to be reported to the sender by a
 * failure REPORT, for a failure that a transaction response cannot carry
 * (RFC 4975 §7.1.2): only for non-2xx codes, and never when the sender asked
 * for `Failure-Report: no`. A 408 (no response in time) is a failure only with
 * `Failure-Report: yes`: with `partial` a success brings no response, so
 * silence is not a failure (RFC 4975 §7.1.1, §7.2).
 */
export function failureReportDue(policy: ReportPolicy, status: number): boolean {
  if (isSuccess(status) || policy.failureReport === "no") return false;
  return status !== Status.RequestTimeout || policy.failureReport === "yes";
}

/**
 * True when a success REPORT is due: the sender asked for
 * `Success-Report: yes` and the whole message was received (RFC 4975 §7.1.3).
 */
export function successReportDue(policy: ReportPolicy, complete: boolean): boolean {
  return policy.successReport && complete;
}

/**
 * Builds the transaction response to a request (RFC 4975 §7.2).
 *
 * A response to SEND goes back one hop only: its To-Path is the first URI of
 * the request's From-Path. For other methods the To-Path is the request's
 * whole From-Path. The From-Path is `ownUri`. A `Message-ID` of the request is
 * kept, as relays in the field do. The comment defaults to the reason phrase.
 *
 * Throws {@linkcode MsrpError} 400 when the request has no From-Path and
 * `RangeError` for a status that is not a three-digit code.
 */
export function buildResponse(
  head: RequestHead,
  status: number,
  ownUri: string,
  comment?: string,
): OutgoingResponse {
  checkStatus(status);
  if (head.fromPath.length === 0) {
    throw new MsrpError(Status.BadRequest, "the request has no From-Path to answer", {
      transactionId: head.transactionId,
    });
  }
  return {
    transactionId: head.transactionId,
    status,
    comment: comment ?? reasonPhrase(status),
    toPath: responseToPath(head.method, head.fromPath),
    fromPath: [ownUri],
    ...(head.messageId === undefined ? {} : { headers: [["Message-ID", head.messageId]] }),
  };
}

/**
 * Builds a success or failure REPORT (RFC 4975 §7.1.2): method REPORT, no
 * body, headers `Message-ID`, `Byte-Range` and `Status: 000 <code> <comment>`
 * in that order (the namespace `000` comes first, RFC 4975 §9). The comment
 * defaults to the reason phrase.
 *
 * Throws `RangeError` for a status that is not a three-digit code.
 */
export function buildReport(p: ReportParams): OutgoingRequest {
  checkStatus(p.status);
  return {
    transactionId: p.transactionId,
    method: "REPORT",
    toPath: [...p.toPath],
    fromPath: [...p.fromPath],
    headers: [
      ["Message-ID", p.messageId],
      ["Byte-Range", formatByteRange(p.byteRange)],
      ["Status", formatStatusHeader(p.status, p.comment ?? reasonPhrase(p.status))],
    ],
  };
}

/**
 * Reads a received REPORT (RFC 4975 §7.3.2). Throws {@linkcode MsrpError} 400
 * when `Message-ID` or `Status` is missing or malformed, or when the status
 * namespace is not `000`, the only one RFC 4975 §9 defines.
 */
export function parseReport(head: RequestHead): ParsedReport {
  const messageId = head.messageId?.trim();
  if (!messageId) {
    throw new MsrpError(Status.BadRequest, "REPORT without Message-ID", {
      transactionId: head.transactionId,
    });
  }
  const value = head.headers.get("Status");
  if (value === undefined) {
    throw new MsrpError(Status.BadRequest, "REPORT without Status", {
      transactionId: head.transactionId,
    });
  }
  const status = parseStatusHeader(value);
  if (status.namespace !== "000") {
    throw new MsrpError(Status.BadRequest, `unknown Status namespace: ${status.namespace}`, {
      transactionId: head.transactionId,
    });
  }
  return { messageId, byteRange: head.byteRange, status: status.code, comment: status.comment };
}

/**
 * The To-Path of a response (RFC 4975 §7.2): the first From-Path URI of the
 * request for SEND, its whole From-Path for other methods.
 */
export function responseToPath(method: string, fromPath: readonly string[]): readonly string[] {
  return method === "SEND" ? [fromPath[0]] : fromPath;
}

/**
 * The Failure-Report of a request (RFC 4975 §7.1.2: `no` for a REPORT); a
 * malformed one counts as the default, `yes`.
 */
export function failureReportOf(head: RequestHead): ReportRequest {
  try {
    return reportPolicy(head).failureReport;
  } catch {
    return "yes";
  }
}

/**
 * The response refusing `head` with `status`, from the first To-Path URI
 * (`ownUri` when there is none), or `undefined` when none is due: REPORTs
 * are never answered and `Failure-Report: no` asks for no response (RFC 4975
 * §7.2).
 */
export function refusalOf(
  head: RequestHead,
  status: number,
  ownUri: string,
  comment?: string,
): OutgoingResponse | undefined {
  if (failureReportOf(head) === "no") return undefined;
  return {
    transactionId: head.transactionId,
    status,
    comment: comment ?? reasonPhrase(status),
    toPath: responseToPath(head.method, head.fromPath),
    fromPath: [head.toPath[0] ?? ownUri],
  };
}
