/**
 * What the file-transfer tests read of a bridge: the `file.*` events of a
 * transfer and the files waiting in its spool directory.
 *
 * @module
 */

import type { FileTransferData, WebhookEvent } from "../../src/webhooks/mod.ts";
import { type Harness, waitUntil } from "./_harness.ts";

/** The data of the `type` event of transfer `id` in the event log, waiting for it. */
export async function fileEvent(h: Harness, type: string, id: string): Promise<FileTransferData> {
  const find = async () => {
    for (const e of await h.bridge.eventsSince(0, 1000)) {
      if (e.type !== type) continue;
      const data = (JSON.parse(e.payload) as WebhookEvent).data as FileTransferData;
      if (data.id === id) return data;
    }
    return undefined;
  };
  await waitUntil(async () => await find() !== undefined, `${type} of ${id}`);
  return (await find())!;
}

/** The files waiting in the spool directory (`DATA_DIR/outgoing`). */
export function spooled(h: Harness): string[] {
  try {
    return [...Deno.readDirSync(`${h.config.dataDir}/outgoing`)].map((e) => e.name);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return [];
    throw e;
  }
}
