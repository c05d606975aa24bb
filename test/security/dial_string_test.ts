/**
 * Issue 14, item 2: nothing a client sends reaches a FreeSWITCH dial string
 * unchecked. The service runs as its own process; a fake SIP server plays the
 * PBX profile of `SIP_URI` and records every INVITE, and the ESL double
 * records every command (the pager's `chat`). A `to` or `from` that is not a
 * dialable SIP URI gets 422 `invalid-sip-uri` and neither sees anything; a
 * valid one, in the same service, does reach them (the traps work).
 */

import { assert, assertEquals } from "../_assert.ts";
import { until } from "../_until.ts";
import { freePorts, type ServiceProcess, startService } from "../_service_process.ts";
import { headerOf } from "../../src/pbx/_sip_message.ts";
import { FakeFreeSwitch } from "../pbx/_fake_freeswitch.ts";
import { FakeUas } from "../pbx/_fake_uas.ts";

/** Largest wait for the ESL connection: a hang guard, not a timing check. */
const HANG_GUARD_MS = 30_000;

/** Targets a client could use to add legs, channel variables, headers or a route. */
const HOSTILE_TARGETS = [
  "sip:a@127.0.0.1,[api_on_answer=system]sofia/internal/sip:b@127.0.0.1",
  "sip:a@127.0.0.1|sofia/internal/sip:b@127.0.0.1",
  "{api_on_answer=system}sofia/internal/sip:b@127.0.0.1",
  "sip:a@127.0.0.1,[origination_caller_id_number=1]sip:b@127.0.0.1",
  "sip:${system(id)}@127.0.0.1",
  "sip:a$${hostname}@127.0.0.1",
  "sip:a@127.0.0.1\r\nX-Injected: yes",
  "sip:a@127.0.0.1 sip:b@127.0.0.1",
  "sip:a@127.0.0.1?X-Injected=yes",
  "sip:a@127.0.0.1;fs_path=sip:198.51.100.7",
  "sip:a;fs_path=sip:198.51.100.7@127.0.0.1",
  "sip:a@[::1]:5060",
  "sip:o'neil@127.0.0.1",
  "sip:a:secret@127.0.0.1",
  "tel:+15551234567",
];

interface Problem {
  type: string;
  status: number;
  field?: string;
  detail: string;
}

async function problemOf(response: Response): Promise<Problem> {
  assertEquals(response.headers.get("content-type"), "application/problem+json");
  return await response.json();
}

async function assertInvalidSipUri(response: Response, field: string, what: string) {
  const problem = await problemOf(response);
  assertEquals(
    [problem.status, problem.type, problem.field],
    [422, "https://msrp-bridge.dev/problems/invalid-sip-uri", field],
    `${what}: ${problem.detail}`,
  );
}

/** The service process with its PBX doubles. */
async function withService(
  eslMode: "inbound" | "off",
  body: (t: { service: ServiceProcess; uas: FakeUas; fs: FakeFreeSwitch }) => Promise<void>,
): Promise<void> {
  const fs = new FakeFreeSwitch();
  fs.setApi("chat", "Sent");
  // The callee is busy: enough to see the INVITE and its X-Msrp-Target.
  const uas = new FakeUas(() => ({ status: 486, reason: "Busy Here" }));
  const dir = await Deno.makeTempDir({ prefix: "msrp-bridge-dial-" });
  const [httpPort, msrpPort] = freePorts(2);
  try {
    await using service = await startService({
      HTTP_PORT: String(httpPort),
      MSRP_PORT: String(msrpPort),
      DATA_DIR: dir,
      ESL_MODE: eslMode,
      ESL_HOST: "127.0.0.1",
      ESL_PORT: String(fs.port),
      SIP_URI: `sip:127.0.0.1:${uas.port};transport=tcp`,
    });
    if (eslMode === "inbound") {
      await until(
        async () => (await (await service.request("/readyz")).json()).checks?.esl === "connected",
        "the service to connect to the ESL double",
        { timeoutMs: HANG_GUARD_MS, intervalMs: 50 },
      );
    }
    await body({ service, uas, fs });
  } finally {
    await uas.close();
    await fs.close();
    await Deno.remove(dir, { recursive: true });
  }
}

function invites(uas: FakeUas) {
  return uas.requests.filter((r) => r.startLine.startsWith("INVITE "));
}

function chats(fs: FakeFreeSwitch): string[] {
  return fs.commands.map((c) => c.command.line).filter((line) => line.includes("chat "));
}

Deno.test("dial string: a hostile `to` of POST /v1/sessions gets 422 invalid-sip-uri and no INVITE reaches the PBX; a valid one does", async () => {
  await withService("inbound", async ({ service, uas }) => {
    for (const to of HOSTILE_TARGETS) {
      await assertInvalidSipUri(await service.json("POST", "/v1/sessions", { to }), "to", to);
    }
    assertEquals(invites(uas).length, 0, "no INVITE for a refused target");

    // The trap works: a valid target is dialed, with exactly that X-Msrp-Target.
    const valid = "sip:bob@127.0.0.1:5090;transport=tcp";
    const busy = await problemOf(await service.json("POST", "/v1/sessions", { to: valid }));
    assertEquals(busy.status, 503, busy.detail);
    assert(busy.detail.includes("486"), busy.detail);
    const seen = invites(uas);
    assertEquals(seen.length, 1);
    assertEquals(headerOf(seen[0], "x-msrp-target"), valid);
    assertEquals(seen[0].startLine, `INVITE sip:out@127.0.0.1:${uas.port} SIP/2.0`);
  });
});

Deno.test("dial string: pager `to` and `from` are checked the same way; only the valid MESSAGE reaches the chat API", async () => {
  await withService("inbound", async ({ service, fs }) => {
    const valid = { to: "sip:bob@127.0.0.1:5090", from: "sip:bridge@127.0.0.1", text: "hi" };
    for (const target of HOSTILE_TARGETS) {
      await assertInvalidSipUri(
        await service.json("POST", "/v1/pager", { ...valid, to: target }),
        "to",
        target,
      );
      await assertInvalidSipUri(
        await service.json("POST", "/v1/pager", { ...valid, from: target }),
        "from",
        target,
      );
    }
    const text = await problemOf(
      await service.json("POST", "/v1/pager", { ...valid, text: "a|sofia/internal/x" }),
    );
    assertEquals([text.status, text.field], [422, "text"]);
    assertEquals(chats(fs), [], "no chat command for a refused message");

    const sent = await service.json("POST", "/v1/pager", valid);
    assertEquals(sent.status, 202, await sent.text());
    assertEquals(chats(fs), [
      "bgapi chat sip|bridge@127.0.0.1|internal/sip:bob@127.0.0.1:5090|hi|text/plain",
    ]);
  });
});

Deno.test("dial string: with the PBX integration off, a hostile `to` is still 422 invalid-sip-uri, not 503", async () => {
  await withService("off", async ({ service, uas }) => {
    const to = HOSTILE_TARGETS[0];
    await assertInvalidSipUri(await service.json("POST", "/v1/sessions", { to }), "to", to);
    await assertInvalidSipUri(
      await service.json("POST", "/v1/pager", { to, from: "sip:a@127.0.0.1", text: "x" }),
      "to",
      to,
    );
    const off = await problemOf(
      await service.json("POST", "/v1/sessions", { to: "sip:bob@127.0.0.1" }),
    );
    assertEquals(off.status, 503, "a valid target needs the PBX");
    assertEquals(invites(uas).length, 0);
  });
});
