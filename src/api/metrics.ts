/**
 * The Prometheus text exposition (format 0.0.4) of the bridge's metrics.
 *
 * @module
 */

import type { BridgeMetrics, EslState } from "../bridge/mod.ts";

/** The Content-Type of the exposition. */
export const METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

const ESL_STATES: readonly EslState[] = ["off", "connecting", "connected", "disconnected"];

type Sample = readonly [labels: string, value: number];

function family(
  name: string,
  type: "counter" | "gauge",
  help: string,
  samples: readonly Sample[],
): string {
  const lines = [`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`];
  for (const [labels, value] of samples) lines.push(`${name}${labels} ${value}`);
  return lines.join("\n");
}

/** Renders the metrics as Prometheus text. */
export function renderMetrics(m: BridgeMetrics): string {
  const backlog = m.webhookBacklog ?? { pending: 0, exhausted: 0 };
  const failures = [...m.failuresByCode].sort(([a], [b]) => a - b);
  return [
    // INSTANCE_ID is letters, digits and . _ : - only: nothing to escape.
    family("msrp_bridge_instance_info", "gauge", "This instance and its database.", [
      [`{instance="${m.instance}",database="${m.database}"}`, 1],
    ]),
    family("msrp_bridge_sessions_open", "gauge", "MSRP sessions open.", [["", m.sessionsOpen]]),
    family("msrp_bridge_msrp_connections", "gauge", "MSRP connections open.", [
      ["", m.msrpConnections],
    ]),
    family("msrp_bridge_messages_total", "counter", "Messages received or sent completely.", [
      ['{direction="in"}', m.messagesIn],
      ['{direction="out"}', m.messagesOut],
    ]),
    family("msrp_bridge_message_bytes_total", "counter", "Message body bytes received or sent.", [
      ['{direction="in"}', m.bytesIn],
      ['{direction="out"}', m.bytesOut],
    ]),
    family(
      "msrp_bridge_message_failures_total",
      "counter",
      "Sent messages that failed, by MSRP status code.",
      failures.map(([code, n]) => [`{code="${code}"}`, n]),
    ),
    family(
      "msrp_bridge_incoming_failures_total",
      "counter",
      "Received messages that ended incomplete or could not be stored.",
      [["", m.incomingFailures]],
    ),
    family("msrp_bridge_webhook_backlog", "gauge", "Webhook deliveries in the outbox.", [
      ['{state="pending"}', backlog.pending],
      ['{state="exhausted"}', backlog.exhausted],
    ]),
    family(
      "msrp_bridge_esl_state",
      "gauge",
      "State of the PBX event-socket connection (1 for the current state).",
      ESL_STATES.map((s) => [`{state="${s}"}`, s === m.esl ? 1 : 0]),
    ),
  ].join("\n") + "\n";
}
