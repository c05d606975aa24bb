/**
 * `GET /v1/events`: the events also sent as webhooks, as server-sent events
 * with the event log's sequence number as `id:`, resumable with
 * `Last-Event-ID`.
 *
 * @module
 */

import { createRoute, z } from "@hono/zod-openapi";
import { type SSEStreamingApi, streamSSE } from "hono/streaming";
import type { Bridge } from "../../bridge/mod.ts";
import type { EventRecord } from "../../store/mod.ts";
import type { ApiApp } from "../types.ts";
import { BEARER, problems } from "../responses.ts";

/** Events read from the log per query while replaying. */
const REPLAY_PAGE = 500;
/** Live events held for a slow client; past this the stream ends and the client resumes. */
const MAX_QUEUED = 10_000;
/** A comment line keeps idle connections open through proxies. */
const HEARTBEAT_MS = 15_000;

const events = createRoute({
  method: "get",
  path: "/v1/events",
  tags: ["events"],
  summary: "Server-sent events",
  description: "The events sent as webhooks (`session.started`, `session.ended`, " +
    "`message.received`, `message.delivered`, `message.failed`, `message.displayed` " +
    "(IMDN), `file.delivered`, " +
    "`file.failed`, `pager.received`, and " +
    "`session.composing` with the `is-composing` plugin): " +
    "`event:` is the type, `data:` the event JSON, `id:` its position in the event log. " +
    "With `Last-Event-ID` the stream first replays the logged events after that id, then " +
    "continues live; without it, it starts with the next event.",
  security: BEARER,
  request: {
    headers: z.object({
      "last-event-id": z.string().regex(/^[0-9]{1,15}$/, "must be an event id").optional()
        .openapi({ description: "Resume after this event id (the `id:` of an event)." }),
    }),
  },
  responses: {
    200: {
      description: "An endless event stream.",
      content: { "text/event-stream": { schema: z.string() } },
    },
    ...problems(401, 422),
  },
});

/** Streams events after `after` (replayed from the log), then live ones. */
async function feed(
  bridge: Bridge,
  stream: SSEStreamingApi,
  after: number | undefined,
): Promise<void> {
  const queue: EventRecord[] = [];
  let ended = false;
  let wake: (() => void) | undefined;
  const notify = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  const unsubscribe = bridge.subscribe({
    event(record) {
      if (queue.length >= MAX_QUEUED) ended = true;
      else queue.push(record);
      notify();
    },
    close() {
      ended = true;
      notify();
    },
  });
  stream.onAbort(() => {
    ended = true;
    notify();
  });
  let last = after ?? 0;
  const send = async (record: EventRecord) => {
    await stream.writeSSE({ id: String(record.seq), event: record.type, data: record.payload });
    last = record.seq;
  };
  try {
    await stream.write("retry: 3000\n\n");
    if (after !== undefined) {
      let page = await bridge.eventsSince(last, REPLAY_PAGE);
      while (page.length > 0 && !ended) {
        for (const record of page) await send(record);
        page = await bridge.eventsSince(last, REPLAY_PAGE);
      }
    }
    while (!ended) {
      const record = queue.shift();
      if (record) {
        if (record.seq > last) await send(record);
        continue;
      }
      let timer: ReturnType<typeof setTimeout> | undefined;
      const beat = await new Promise<boolean>((resolve) => {
        wake = () => resolve(false);
        timer = setTimeout(() => resolve(true), HEARTBEAT_MS);
      });
      clearTimeout(timer);
      if (beat && !ended) await stream.write(": keep-alive\n\n");
    }
  } finally {
    unsubscribe();
  }
}

/** Registers `GET /v1/events`. */
export function eventRoutes(app: ApiApp, bridge: Bridge): void {
  app.openapi(events, (c) => {
    const header = c.req.valid("header")["last-event-id"];
    return streamSSE(
      c,
      (stream) => feed(bridge, stream, header === undefined ? undefined : Number(header)),
    );
  });
}
