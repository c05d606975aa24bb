/**
 * Files in the operator console, in headless Chromium: a file picked in the
 * page goes into the open session as a raw body and reaches the MSRP peer
 * byte for byte; a file pushed to the bridge (RFC 5547) shows its name, size
 * and whether its hash matched; a file sent to a SIP URI goes through
 * `POST /v1/files` (the PBX played by an ESL double and a SIP UAS).
 */

import { Buffer } from "node:buffer";
import { createHash } from "node:crypto";
import { assert, assertEquals } from "../_assert.ts";
import { Random } from "../_random.ts";
import { buildOffer, type FileSelector, parseAnswer } from "../../src/sdp/mod.ts";
import type { MsrpEndpoint } from "../../src/session/mod.ts";
import { FakeFreeSwitch } from "../pbx/_fake_freeswitch.ts";
import { answeringUas } from "../pbx/_fake_uas.ts";
import { launchChromium, openConsole } from "./_browser.ts";
import {
  type Harness,
  openPeerSession,
  peerEndpoint,
  startHarness,
  TOKEN,
  waitUntil,
} from "./_harness.ts";
import { skipUnlessChromium } from "../_services.ts";

const skip = await skipUnlessChromium("console_file_test");
const random = new Random(5547_3);

/** A file name that would be markup if it were rendered as HTML. */
const HOSTILE_NAME = "<img src=x>report.bin";

function sha1Selector(bytes: Uint8Array): string {
  return createHash("sha1").update(bytes).digest("hex").toUpperCase().match(/../g)!.join(":");
}

/** Offers a file push (RFC 5547) from `peer` with `POST /v1/sessions {offer}` and sends it. */
async function pushFile(
  h: Harness,
  peer: MsrpEndpoint,
  selector: FileSelector,
  file: Uint8Array,
): Promise<string> {
  const session = peer.createSession();
  const local = {
    path: session.localPath,
    address: "127.0.0.1",
    port: peer.port,
    acceptTypes: ["application/octet-stream"],
    setup: "active" as const,
    direction: "sendonly" as const,
    fileTransfer: { selector, transferId: crypto.randomUUID().replaceAll("-", "") },
  };
  const created = await h.json("POST", "/v1/sessions", { offer: buildOffer(local) });
  assertEquals(created.status, 201);
  const { id, answer } = await created.json();
  await peer.connectSession(session, parseAnswer(answer, local).remotePath);
  await session.send(file, { contentType: "application/octet-stream" }).done;
  return id;
}

Deno.test({
  name: "api: console in Chromium: a file picked in the page reaches the MSRP peer byte for " +
    "byte with its name, and shows with its name, size and delivery tick (the name as text)",
  ignore: skip !== undefined,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await using h = await startHarness();
    await using peer = peerEndpoint();
    const browser = await launchChromium();
    try {
      const { page, problems } = await openConsole(browser, h.url, TOKEN);
      const p = await openPeerSession(h, peer);
      const item = page.locator(`#sessions button[data-id="${p.id}"]`);
      await item.locator(".state-active").waitFor({ timeout: 30_000 });
      await item.click();
      await page.locator("#chat").waitFor({ state: "visible" });

      const file = random.bytes(300 * 1024);
      await page.getByLabel("Send a file").setInputFiles({
        name: HOSTILE_NAME,
        mimeType: "application/x-test",
        buffer: Buffer.from(file),
      });
      await page.locator("#send-file").getByRole("button", { name: "Send file" }).click();
      await waitUntil(() => p.received.length === 1, "the file at the peer");
      const received = p.received[0];
      assertEquals(received.contentType, "application/x-test");
      assertEquals(received.body(), file);
      // The peer learns the name (RFC 6266 quoting), as text.
      assertEquals(
        received.info.headers.get("content-disposition"),
        `attachment; filename="${HOSTILE_NAME}"`,
      );

      const sent = page.locator('#transcript li.out[data-status="delivered"]');
      await sent.waitFor({ timeout: 30_000 });
      assertEquals(
        await sent.locator(".file").textContent(),
        `file · ${HOSTILE_NAME} · 300.0 KiB · application/x-test`,
      );
      assertEquals(await sent.locator(".tick").textContent(), "✓✓");
      assertEquals(await page.locator("#transcript img").count(), 0);
      assertEquals(await page.getByLabel("Send a file").inputValue(), "");

      // A JSON file goes as it is, with its own type (not read as a {text} request).
      const json = new TextEncoder().encode('{"text":"a file, not a request"}');
      await page.getByLabel("Send a file").setInputFiles({
        name: "data.json",
        mimeType: "application/json",
        buffer: Buffer.from(json),
      });
      await page.locator("#send-file").getByRole("button", { name: "Send file" }).click();
      await waitUntil(() => p.received.length === 2, "the JSON file at the peer");
      assertEquals(p.received[1].contentType, "application/json");
      assertEquals(p.received[1].body(), json);
      assertEquals(
        p.received[1].info.headers.get("content-disposition"),
        'attachment; filename="data.json"',
      );
      assertEquals(problems, []);
    } finally {
      await browser.close();
    }
  },
});

Deno.test({
  name: "api: console in Chromium: pushed files (RFC 5547) show name, size and a verified " +
    "mark, or 'hash mismatch'",
  ignore: skip !== undefined,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await using h = await startHarness();
    await using peer = peerEndpoint();
    const browser = await launchChromium();
    try {
      const { page, problems } = await openConsole(browser, h.url, TOKEN);
      const file = random.bytes(2 * 1024 * 1024);
      const good = await pushFile(h, peer, {
        name: "photo.jpg",
        type: "image/jpeg",
        size: file.length,
        hash: { algorithm: "sha-1", value: sha1Selector(file) },
      }, file);
      const bad = await pushFile(h, peer, {
        name: "tampered.bin",
        type: "application/octet-stream",
        size: file.length,
        hash: { algorithm: "sha-1", value: sha1Selector(random.bytes(8)) },
      }, file);

      const goodItem = page.locator(`#sessions button[data-id="${good}"]`);
      await goodItem.locator(".state-ended").waitFor({ timeout: 30_000 });
      assertEquals(await goodItem.locator(".file").textContent(), "file photo.jpg · 2.0 MiB");
      await goodItem.click();
      await page.locator("#chat-meta", { hasText: "file photo.jpg · 2.0 MiB" }).waitFor();
      const in1 = page.locator("#transcript li.in");
      await in1.locator(".verified").waitFor({ timeout: 30_000 });
      assertEquals(
        await in1.locator("a.file").textContent(),
        "Download file · photo.jpg · 2.0 MiB · application/octet-stream",
      );
      assertEquals((await in1.locator(".verified").textContent())?.trim(), "✔ verified");

      const badItem = page.locator(`#sessions button[data-id="${bad}"]`);
      await badItem.locator(".state-ended").waitFor({ timeout: 30_000 });
      await badItem.click();
      const in2 = page.locator("#transcript li.in.failed");
      await in2.waitFor({ timeout: 30_000 });
      assert((await in2.textContent())!.includes("tampered.bin"), await in2.textContent() ?? "");
      assertEquals((await in2.locator("span.fail").textContent())?.trim(), "✗ hash mismatch");
      assertEquals(await in2.locator(".verified").count(), 0);
      assertEquals(problems, []);
    } finally {
      await browser.close();
    }
  },
});

Deno.test({
  name: "api: console in Chromium: a file sent to a SIP URI goes through POST /v1/files and " +
    "reaches the callee byte for byte",
  ignore: skip !== undefined,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await using peer = peerEndpoint();
    const callee = peer.createSession();
    const uas = answeringUas(peer, callee);
    const esl = new FakeFreeSwitch();
    const browser = await launchChromium();
    try {
      await using h = await startHarness({
        ESL_MODE: "inbound",
        ESL_PORT: String(esl.port),
        SIP_URI: `sip:127.0.0.1:${uas.port};transport=tcp`,
      });
      await waitUntil(() => h.bridge.eslState === "connected", "the event socket");
      const { page, problems } = await openConsole(browser, h.url, TOKEN);
      const file = random.bytes(1024 * 1024 + 17);
      const received = callee.messages()[Symbol.asyncIterator]().next();
      await page.fill("#file-to", "sip:bob@127.0.0.1:5090");
      await page.getByLabel("File to send").setInputFiles({
        name: "minutes.pdf",
        mimeType: "application/pdf",
        buffer: Buffer.from(file),
      });
      await page.locator("#file-call").getByRole("button", { name: "Send file" }).click();

      const message = (await received).value!;
      assertEquals(message.contentType, "application/pdf");
      assertEquals(message.body(), file);
      const invite = await uas.request("INVITE");
      assert(invite.body.includes(`a=file-selector:name:"minutes.pdf" type:application/pdf`));
      await page.locator("#status", { hasText: "File minutes.pdf delivered to sip:bob@" })
        .waitFor({ timeout: 30_000 });
      await page.locator("#chat-meta", { hasText: "file minutes.pdf · 1.0 MiB" }).waitFor();
      await page.locator('#transcript li.out[data-status="delivered"] .file', {
        hasText: "minutes.pdf",
      }).waitFor({ timeout: 30_000 });
      assertEquals(problems, []);
    } finally {
      await browser.close();
      await uas.close();
      await esl.close();
    }
  },
});
