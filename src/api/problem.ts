/**
 * Problem details (RFC 9457): every error of the HTTP API is an
 * `application/problem+json` body with a stable `type` URI.
 *
 * @module
 */

/** Where problem type URIs live; a type is this base plus its name. */
export const PROBLEM_BASE = "https://msrp-bridge.dev/problems/";

const KINDS = {
  "malformed-json": { status: 400, title: "Malformed JSON" },
  "malformed-multipart": { status: 400, title: "Malformed multipart/form-data" },
  "unauthorized": { status: 401, title: "Unauthorized" },
  "forbidden-origin": { status: 403, title: "Origin not allowed" },
  "not-found": { status: 404, title: "Not found" },
  "session-closed": { status: 409, title: "Session ended" },
  "session-not-active": { status: 409, title: "Session not connected yet" },
  "not-awaiting-answer": { status: 409, title: "Session is not waiting for an answer" },
  "content-not-ready": { status: 409, title: "Content not complete yet" },
  "imdn-not-requested": { status: 409, title: "Notification not requested" },
  "not-resumable": { status: 409, title: "Transfer cannot be resumed" },
  "length-required": { status: 411, title: "Content-Length required" },
  "payload-too-large": { status: 413, title: "Payload too large" },
  "unsupported-media-type": { status: 415, title: "Unsupported media type" },
  "misdirected-request": { status: 421, title: "Misdirected request" },
  "validation": { status: 422, title: "Invalid request" },
  "invalid-sdp": { status: 422, title: "Invalid SDP" },
  "sdp-not-acceptable": { status: 422, title: "SDP not acceptable" },
  "invalid-sip-uri": { status: 422, title: "Invalid SIP URI" },
  "too-many-attempts": { status: 429, title: "Too many failed logins" },
  "internal": { status: 500, title: "Internal error" },
  "connect-failed": { status: 502, title: "MSRP connection failed" },
  "pbx-unavailable": { status: 503, title: "PBX unavailable" },
  "session-limit": { status: 503, title: "Session limit reached" },
  "connection-limit": { status: 503, title: "Connection limit reached" },
  "shutting-down": { status: 503, title: "Shutting down" },
  "instance-unavailable": { status: 503, title: "Instance unavailable" },
  "not-ready": { status: 503, title: "Not ready" },
} as const;

/** The problem types of the API, each with a fixed HTTP status and title. */
export type ProblemKind = keyof typeof KINDS;

/** One invalid field of a request. */
export interface FieldError {
  /** The field: a JSON member path such as `text`, a query parameter or a header. */
  readonly field: string;
  /** What is wrong with it. */
  readonly message: string;
}

/** Extension members and headers of a problem response. */
export interface ProblemOptions {
  /** The field at fault. */
  readonly field?: string;
  /** Every invalid field, for validation problems. */
  readonly errors?: readonly FieldError[];
  /** Other extension members (RFC 9457 §3.2). */
  readonly extensions?: Readonly<Record<string, unknown>>;
  /** Extra response headers, e.g. `WWW-Authenticate`. */
  readonly headers?: Readonly<Record<string, string>>;
}

/** An error answered with a problem response; throw it from a handler. */
export class ApiProblem extends Error {
  /** The problem type. */
  readonly kind: ProblemKind;
  /** Extension members and headers. */
  readonly options: ProblemOptions;

  /** Creates a problem; `detail` says what went wrong and names the field. */
  constructor(kind: ProblemKind, detail: string, options: ProblemOptions = {}) {
    super(detail);
    this.name = "ApiProblem";
    this.kind = kind;
    this.options = options;
  }

  /** The HTTP status of the problem type. */
  get status(): number {
    return KINDS[this.kind].status;
  }
}

/** The full type URI of a problem kind. */
export function problemType(kind: ProblemKind): string {
  return `${PROBLEM_BASE}${kind}`;
}

/** The `application/problem+json` response of a problem. */
export function problemResponse(problem: ApiProblem, instance?: string): Response {
  const { title, status } = KINDS[problem.kind];
  const o = problem.options;
  const body = {
    type: problemType(problem.kind),
    title,
    status,
    detail: problem.message,
    ...(instance === undefined ? {} : { instance }),
    ...(o.field === undefined ? {} : { field: o.field }),
    ...(o.errors === undefined ? {} : { errors: o.errors }),
    ...o.extensions,
  };
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/problem+json", ...o.headers },
  });
}
