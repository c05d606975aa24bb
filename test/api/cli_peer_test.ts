/**
 * The API with the command-line tool as the MSRP peer, each in its own
 * process: a CLI `listen` endpoint answers the bridge's offer, and a CLI
 * `send` delivers into a session created from an offer.
 */

import { assertEquals } from "../_assert.ts";
import { buildAnswer, buildOffer } from "../../src/sdp/mod.ts";
import type { MessageEventData } from "../../src/webhooks/mod.ts";
import { randomStream, SECRET, sha256Of, startHarness, WebhookReceiver } from "./_harness.ts";
import { freePort } from "../_service_process.ts";

const CLI = new URL("../../src/cli.ts", import.meta.url).pathname;
const MiB = 1024 * 1024;

/** Reads a child's stdout line by line. */
function lines(stream: ReadableStream<Uint8Array>): () => Promise<string> {
  const reader = stream.pipeThrough(new TextDecoderStream()).getReader();
  let buffered = "";
  return async () => {
    while (!buffered.includes("\n")) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`stream ended: ${buffered}`);
      buffered += value;
    }
    const i = buffered.indexOf("\n");
    const line = buffered.slice(0, i);
    buffered = buffered.slice(i + 1);
    return line;
  };
}

Deno.test("api+cli: a CLI listen endpoint answers the bridge's offer and receives text and 100 MiB", async () => {
  await using receiver = new WebhookReceiver();
  await using h = await startHarness({ WEBHOOK_URL: receiver.url, WEBHOOK_SECRET: SECRET });
  const dir = await Deno.makeTempDir();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CLI, "listen", "--port", "0", "--dir", dir],
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const next = lines(child.stdout);
  try {
    const cliUri = await next();
    const { id, offer } = await (await h.json("POST", "/v1/sessions", { createOffer: true }))
      .json();
    const port = Number(/:(\d+)\//.exec(cliUri)![1]);
    const { sdp: answer } = buildAnswer(offer, {
      path: [cliUri],
      address: "127.0.0.1",
      port,
      acceptTypes: ["*"],
      preferActive: false,
    });
    assertEquals((await h.json("PUT", `/v1/sessions/${id}/answer`, { answer })).status, 200);

    const text = await h.json("POST", `/v1/sessions/${id}/messages`, {
      text: "hello cli",
      report: true,
    });
    const { messageId: textId } = await text.json();
    const file = randomStream(100 * MiB);
    const upload = await h.upload(
      `/v1/sessions/${id}/messages?report=true`,
      file.stream,
      100 * MiB,
      "application/octet-stream",
    );
    const { messageId: fileId } = await upload.json();
    for (const messageId of [textId, fileId]) {
      const delivered = await receiver.waitFor(
        "delivered",
        (e) => e.type === "message.delivered" && e.data.messageId === messageId,
      );
      assertEquals((delivered.data as MessageEventData).status, "delivered");
    }
    const saved = [JSON.parse(await next()), JSON.parse(await next())];
    assertEquals(saved.map((s) => s.bytes), [9, 100 * MiB]);
    assertEquals(saved[1].sha256, file.sha256());
  } finally {
    child.kill("SIGTERM");
    await child.status;
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("api+cli: a CLI send into a session created from an offer gives message.received and the content", async () => {
  await using receiver = new WebhookReceiver();
  await using h = await startHarness({ WEBHOOK_URL: receiver.url, WEBHOOK_SECRET: SECRET });
  const dir = await Deno.makeTempDir();
  try {
    // The offer names the CLI's URI: the bridge binds only that peer (RFC 4975 §14).
    const cliPort = freePort();
    const offer = buildOffer({
      path: [`msrp://127.0.0.1:${cliPort}/cli-sender;tcp`],
      address: "127.0.0.1",
      port: cliPort,
      acceptTypes: ["*"],
      setup: "active",
    });
    const created = await (await h.json("POST", "/v1/sessions", { offer })).json();
    const bridgePath = /a=path:(.*)/.exec(created.answer)![1].trim();
    const content = crypto.getRandomValues(new Uint8Array(65536));
    const body = new Uint8Array(10 * MiB);
    for (let at = 0; at < body.length; at += content.length) body.set(content, at);
    await Deno.writeFile(`${dir}/f.bin`, body);
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        ...["run", "-A", CLI, "send", "--to", bridgePath, "--file", `${dir}/f.bin`, "--report"],
        ...["--from-port", String(cliPort), "--session-id", "cli-sender"],
      ],
      stdout: "piped",
      stderr: "null",
    }).output();
    assertEquals(out.code, 0);
    const got = await receiver.waitFor("message.received", (e) => e.type === "message.received");
    const data = got.data as MessageEventData;
    assertEquals(data.size ?? data.bytes, 10 * MiB);
    const download = await h.request(data.contentUrl!);
    assertEquals(await sha256Of(download.body!), await sha256Of(body));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
