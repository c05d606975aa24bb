/**
 * The operator console against a session answered through a real FreeSWITCH
 * (the shared service; `ESL_HOST`, `ESL_PORT`, `ESL_PASSWORD` and
 * `FS_SIP_URI` from its environment, defaulting to what
 * `.ci/freeswitch.sh start` prints): a SIP phone calls the `msrp`
 * extension, the bridge answers with its SDP over ESL, and the call is
 * followed, answered and hung up from the console in headless Chromium.
 */

import { nextMessage } from "../_messages.ts";
import { assert, assertEquals } from "../_assert.ts";
import { buildOffer, parseSessionDescription } from "../../src/sdp/mod.ts";
import type { SessionView } from "../../src/api/views.ts";
import { launchChromium, openConsole } from "./_browser.ts";
import { peerEndpoint, startHarness, TOKEN, waitUntil } from "./_harness.ts";
import { SipPhone } from "../pbx/_sip_phone.ts";
import { skipUnlessChromium, skipUnlessReachable } from "../_services.ts";

/** The FreeSWITCH service's settings, as `.ci/freeswitch.sh start` prints them. */
const FS = {
  ESL_HOST: Deno.env.get("ESL_HOST") ?? "127.0.0.1",
  ESL_PORT: Deno.env.get("ESL_PORT") ?? "8021",
  ESL_PASSWORD: Deno.env.get("ESL_PASSWORD") ?? "ClueCon",
  FS_SIP_URI: Deno.env.get("FS_SIP_URI") ?? "sip:127.0.0.1:5080",
};

const skip = await skipUnlessChromium("console_freeswitch_test") ??
  await skipUnlessReachable("console_freeswitch_test", Number(FS.ESL_PORT), FS.ESL_HOST);

/** Host and port of a `sip:host:port` URI. */
function sipServer(uri: string): { hostname: string; port: number } {
  const match = /^sip:(?:[^@;]*@)?([^:;]+)(?::(\d+))?/.exec(uri);
  if (!match) throw new Error(`FS_SIP_URI is not a sip: URI: ${uri}`);
  return { hostname: match[1], port: Number(match[2] ?? 5060) };
}

Deno.test({
  name: "api: operator console with a FreeSWITCH-answered call: caller shown, text both " +
    "ways, hang-up from the page sends BYE to the phone",
  ignore: skip !== undefined,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await using h = await startHarness({
      ESL_MODE: "inbound",
      ESL_HOST: FS.ESL_HOST,
      ESL_PORT: FS.ESL_PORT,
      ESL_PASSWORD: FS.ESL_PASSWORD,
    });
    await using phoneMsrp = peerEndpoint();
    const phone = await SipPhone.open({
      server: sipServer(FS.FS_SIP_URI),
      user: "console-caller",
      displayName: "Console Caller",
    });
    const browser = await launchChromium();
    try {
      await waitUntil(() => h.bridge.eslState === "connected", "the event socket");
      const { page, problems } = await openConsole(browser, h.url, TOKEN);

      // The phone calls the msrp extension; FreeSWITCH answers with the bridge's SDP.
      const alice = phoneMsrp.createSession({ acceptTypes: ["text/plain"] });
      const offer = buildOffer({
        path: alice.localPath,
        address: "127.0.0.1",
        port: phoneMsrp.port,
        acceptTypes: ["text/plain"],
        setup: "active",
        originUsername: "console-caller",
      });
      const call = await phone.invite("msrp", offer);
      const answer = parseSessionDescription(call.answerSdp).media[0];
      assert(answer.kind === "msrp", "the 200 OK answers the MSRP line");
      await phoneMsrp.connectSession(alice, answer.path);
      await alice.ready;

      // The session appears in the console with the caller's identity.
      const sessions: SessionView[] = (await (await h.request("/v1/sessions")).json()).items;
      const session = sessions.find((s) => s.callId === call.callId);
      assert(
        session,
        `the bridge recorded the call's session (Call-ID ${call.callId}; recorded: ${
          JSON.stringify(sessions.map((s) => [s.callId, s.state, s.endReason]))
        })`,
      );
      assertEquals(session.fromDisplay, "Console Caller");
      const item = page.locator(`#sessions button[data-id="${session.id}"]`);
      await item.locator(".state-active").waitFor({ timeout: 30_000 });
      const who = await item.locator(".who").textContent() ?? "";
      assert(who.includes("from Console Caller <sip:console-caller@"), who);
      assert(who.includes(" · to sip:msrp@"), who);
      await item.click();
      await page.locator("#chat-meta", { hasText: "Console Caller" }).waitFor();

      // The phone's message shows live; a reply typed in the page reaches the phone.
      await alice.send("Hello from the phone").done;
      await page.locator("#transcript li.in .body", { hasText: "Hello from the phone" })
        .waitFor({ timeout: 30_000 });
      const atPhone = nextMessage(alice);
      await page.getByLabel("Message").fill("Hello from the console");
      await page.getByLabel("Message").press("Enter");
      assertEquals((await atPhone).text(), "Hello from the console");
      await page.locator('#transcript li.out[data-status="delivered"]', {
        hasText: "Hello from the console",
      }).waitFor({ timeout: 30_000 });

      // Hang-up from the console: FreeSWITCH sends BYE to the phone, the session ends.
      await page.getByRole("button", { name: "Hang up" }).click();
      await call.remoteBye;
      await item.locator(".state-ended").waitFor({ timeout: 30_000 });
      const ended = await (await h.request(`/v1/sessions/${session.id}`)).json();
      assertEquals(ended.state, "ended");
      assertEquals(problems, []);
    } finally {
      await browser.close();
      await phone.close();
    }
  },
});
