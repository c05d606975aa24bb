import { assert, assertEquals, assertThrows } from "../_assert.ts";
import {
  MsrpHeaders,
  parseByteRange,
  parsePath,
  type RequestHead,
} from "../../src/msrp/message.ts";
import {
  buildReport,
  buildResponse,
  failureReportDue,
  failureReportOf,
  parseReport,
  refusalOf,
  reportPolicy,
  responseDue,
  responseToPath,
  successReportDue,
} from "../../src/msrp/report.ts";
import { MsrpError } from "../../src/msrp/status.ts";

const ALICE = "msrp://alice.example.com:7777/iau39soe2843z;tcp";
const RELAY = "msrps://relay.example.net:2855/98cjs;tcp";
const BOB = "msrp://bob.example.com:8888/9di4eae923wzd;tcp";

/** A request head as the parser would produce it. */
function request(method: string, headers: [string, string][] = []): RequestHead {
  const all = new MsrpHeaders([["To-Path", BOB], ["From-Path", `${RELAY} ${ALICE}`], ...headers]);
  const byteRange = all.get("Byte-Range");
  return {
    kind: "request",
    transactionId: "d93kswow",
    method,
    headers: all,
    toPath: parsePath(all.get("To-Path") ?? ""),
    fromPath: parsePath(all.get("From-Path") ?? ""),
    byteRange: byteRange === undefined ? undefined : parseByteRange(byteRange),
    contentType: all.get("Content-Type"),
    messageId: all.get("Message-ID"),
  };
}

function status(fn: () => unknown): number {
  return assertThrows(fn, MsrpError).status;
}

Deno.test("report policy defaults to Success-Report no and Failure-Report yes", () => {
  assertEquals(reportPolicy(request("SEND")), { successReport: false, failureReport: "yes" });
});

Deno.test("report policy reads each Success-Report and Failure-Report value, ignoring case", () => {
  assertEquals(reportPolicy(request("SEND", [["Success-Report", "yes"]])).successReport, true);
  assertEquals(reportPolicy(request("SEND", [["Success-Report", "No"]])).successReport, false);
  for (const value of ["yes", "no", "partial"] as const) {
    assertEquals(
      reportPolicy(request("SEND", [["Failure-Report", value.toUpperCase()]])).failureReport,
      value,
    );
  }
});

Deno.test("report policy rejects malformed values with 400", () => {
  assertEquals(status(() => reportPolicy(request("SEND", [["Failure-Report", "maybe"]]))), 400);
  assertEquals(status(() => reportPolicy(request("SEND", [["Success-Report", "partial"]]))), 400);
  assertEquals(status(() => reportPolicy(request("SEND", [["Success-Report", ""]]))), 400);
});

Deno.test("a REPORT never calls for a response or a report", () => {
  const policy = reportPolicy(request("REPORT", [["Failure-Report", "yes"]]));
  assertEquals(policy, { successReport: false, failureReport: "no" });
  assert(!responseDue(policy, 200));
  assert(!responseDue(policy, 400));
});

Deno.test("Failure-Report yes: every response is sent", () => {
  const policy = { successReport: false, failureReport: "yes" } as const;
  for (const code of [200, 400, 413, 415, 481, 501]) assert(responseDue(policy, code), `${code}`);
});

Deno.test("Failure-Report partial: only failure responses are sent, never a 200", () => {
  const policy = { successReport: false, failureReport: "partial" } as const;
  assert(!responseDue(policy, 200));
  for (const code of [400, 403, 413, 415, 481, 501, 506]) {
    assert(responseDue(policy, code), `${code}`);
  }
});

Deno.test("Failure-Report no: no response is sent at all", () => {
  const policy = { successReport: false, failureReport: "no" } as const;
  for (const code of [200, 400, 413, 481]) assert(!responseDue(policy, code), `${code}`);
});

Deno.test("failure REPORT is due for failures unless Failure-Report is no", () => {
  const yes = { successReport: false, failureReport: "yes" } as const;
  const partial = { successReport: false, failureReport: "partial" } as const;
  const no = { successReport: false, failureReport: "no" } as const;
  assert(!failureReportDue(yes, 200));
  assert(failureReportDue(yes, 413));
  assert(failureReportDue(partial, 481));
  assert(!failureReportDue(no, 413));
});

Deno.test("a 408 timeout is a reportable failure only with Failure-Report yes", () => {
  assert(failureReportDue({ successReport: false, failureReport: "yes" }, 408));
  assert(!failureReportDue({ successReport: false, failureReport: "partial" }, 408));
});

Deno.test("success REPORT is due only when asked for and the message is complete", () => {
  assert(successReportDue({ successReport: true, failureReport: "yes" }, true));
  assert(!successReportDue({ successReport: true, failureReport: "yes" }, false));
  assert(!successReportDue({ successReport: false, failureReport: "yes" }, true));
});

Deno.test("a response to SEND goes to the first From-Path URI only and keeps Message-ID", () => {
  const head = request("SEND", [["Message-ID", "12339sdqwer"], ["Byte-Range", "1-10/10"]]);
  assertEquals(buildResponse(head, 200, BOB), {
    transactionId: "d93kswow",
    status: 200,
    comment: "OK",
    toPath: [RELAY],
    fromPath: [BOB],
    headers: [["Message-ID", "12339sdqwer"]],
  });
});

Deno.test("a response to a non-SEND request goes to the whole From-Path", () => {
  const response = buildResponse(request("AUTH"), 401, BOB, "Authenticate");
  assertEquals(response.toPath, [RELAY, ALICE]);
  assertEquals(response.fromPath, [BOB]);
  assertEquals(response.comment, "Authenticate");
  assertEquals(response.headers, undefined);
});

Deno.test("a response comment defaults to the reason phrase", () => {
  assertEquals(buildResponse(request("SEND"), 413, BOB).comment, "Request Entity Too Large");
});

Deno.test("a response to a request without From-Path is refused with 400", () => {
  const head = { ...request("SEND"), fromPath: [] };
  assertEquals(status(() => buildResponse(head, 200, BOB)), 400);
});

Deno.test("a REPORT has Message-ID, Byte-Range and Status 000 <code> <comment> in that order", () => {
  const report = buildReport({
    transactionId: "dkei38sd",
    toPath: [RELAY, ALICE],
    fromPath: [BOB],
    messageId: "12339sdqwer",
    byteRange: { start: 1, end: 106, total: 106 },
    status: 200,
  });
  assertEquals(report, {
    transactionId: "dkei38sd",
    method: "REPORT",
    toPath: [RELAY, ALICE],
    fromPath: [BOB],
    headers: [
      ["Message-ID", "12339sdqwer"],
      ["Byte-Range", "1-106/106"],
      ["Status", "000 200 OK"],
    ],
  });
  assertEquals(report.body, undefined);
});

Deno.test("a failure REPORT carries its code and comment after the 000 namespace", () => {
  const report = buildReport({
    transactionId: "t1",
    toPath: [ALICE],
    fromPath: [BOB],
    messageId: "m1",
    byteRange: { start: 1, end: 50, total: "*" },
    status: 413,
    comment: "too big",
  });
  assertEquals(report.headers?.[1], ["Byte-Range", "1-50/*"]);
  assertEquals(report.headers?.[2], ["Status", "000 413 too big"]);
});

Deno.test("building with a status that is not three digits throws RangeError", () => {
  assertThrows(() => buildResponse(request("SEND"), 20, BOB), RangeError);
  assertThrows(
    () =>
      buildReport({
        transactionId: "t",
        toPath: [ALICE],
        fromPath: [BOB],
        messageId: "m",
        byteRange: { start: 1, end: 1, total: 1 },
        status: 2000,
      }),
    RangeError,
  );
});

Deno.test("parseReport reads a built REPORT back", () => {
  const built = buildReport({
    transactionId: "dkei38sd",
    toPath: [ALICE],
    fromPath: [BOB],
    messageId: "12339sdqwer",
    byteRange: { start: 1, end: 106, total: 106 },
    status: 200,
  });
  const head = request("REPORT", built.headers?.map(([n, v]) => [n, v]));
  assertEquals(parseReport(head), {
    messageId: "12339sdqwer",
    byteRange: { start: 1, end: 106, total: 106 },
    status: 200,
    comment: "OK",
  });
});

Deno.test("parseReport accepts a REPORT without Byte-Range or comment", () => {
  const head = request("REPORT", [["Message-ID", "m1"], ["Status", "000 481"]]);
  assertEquals(parseReport(head), {
    messageId: "m1",
    byteRange: undefined,
    status: 481,
    comment: "",
  });
});

Deno.test("parseReport rejects a missing Message-ID or Status with 400", () => {
  assertEquals(status(() => parseReport(request("REPORT", [["Status", "000 200 OK"]]))), 400);
  assertEquals(status(() => parseReport(request("REPORT", [["Message-ID", "m1"]]))), 400);
});

Deno.test("parseReport rejects a malformed Status, including the swapped 200 000 form, with 400", () => {
  for (const value of ["200 000 OK", "000 2000 OK", "OK", "000"]) {
    const head = request("REPORT", [["Message-ID", "m1"], ["Status", value]]);
    assertEquals(status(() => parseReport(head)), 400, value);
  }
});

Deno.test("responseToPath: a SEND's response goes to the previous hop only, other methods' to the whole From-Path (RFC 4975 §7.2)", () => {
  assertEquals(responseToPath("SEND", [RELAY, ALICE]), [RELAY]);
  assertEquals(responseToPath("AUTH", [RELAY, ALICE]), [RELAY, ALICE]);
});

Deno.test("failureReportOf: the request's Failure-Report, REPORT's no, and yes when the header is malformed", () => {
  assertEquals(failureReportOf(request("SEND")), "yes");
  assertEquals(failureReportOf(request("SEND", [["Failure-Report", "partial"]])), "partial");
  assertEquals(failureReportOf(request("REPORT")), "no");
  assertEquals(failureReportOf(request("SEND", [["Failure-Report", "maybe"]])), "yes");
});

Deno.test("refusalOf: refuses from the first To-Path URI, and not at all when no response is due", () => {
  const refusal = refusalOf(request("SEND"), 403, "msrp://us.example:2855/x;tcp", "no");
  assertEquals(refusal, {
    transactionId: "d93kswow",
    status: 403,
    comment: "no",
    toPath: [RELAY],
    fromPath: [BOB],
  });
  assertEquals(refusalOf(request("SEND", [["Failure-Report", "no"]]), 403, BOB), undefined);
  assertEquals(refusalOf(request("REPORT"), 403, BOB), undefined);
  const toNobody = { ...request("NICKNAME"), toPath: [] };
  assertEquals(refusalOf(toNobody, 501, BOB)?.fromPath, [BOB]);
  assertEquals(refusalOf(toNobody, 501, BOB)?.comment, "Not Implemented");
});
