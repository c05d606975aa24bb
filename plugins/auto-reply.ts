/**
 * `auto-reply`: answers received text messages from rules and, outside
 * business hours, with an out-of-hours text. Each rule (and the out-of-hours
 * text) answers at most once per session per cooldown; every message passes on
 * unchanged, so agents and webhooks still see it.
 *
 * Configuration (`PLUGIN_AUTO_REPLY_*`):
 * - `RULES`: JSON list of `{"match": …, "reply": …}`, tried in order, the
 *   first match answers. `match` is a keyword (matched as a whole word,
 *   ignoring case) or a regular expression written `/pattern/flags`.
 * - `OUT_OF_HOURS`: the reply outside business hours; without it there are no
 *   business hours. Outside them only this text is sent, not the rules.
 * - `TIMEZONE`: IANA time zone of the business hours; `UTC` by default.
 * - `DAYS`: business days, names or ranges: `mon-fri` (default), `mon,wed,sat-sun`.
 * - `HOURS`: `HH:MM-HH:MM`, `09:00-17:00` by default; `22:00-06:00` spans
 *   midnight (the night belongs to the day it starts on).
 * - `COOLDOWN_MINUTES`: minimum time between two replies of the same rule in
 *   one session; 60 by default.
 *
 * @example
 * ```sh
 * PLUGINS=auto-reply \
 * PLUGIN_AUTO_REPLY_RULES='[{"match":"price","reply":"See https://example.com/prices"},
 *   {"match":"/^(hi|hello)\\b/i","reply":"Hello! An agent will be with you shortly."}]' \
 * PLUGIN_AUTO_REPLY_OUT_OF_HOURS="We are closed; we answer Mon-Fri 9-17 (Berlin time)." \
 * PLUGIN_AUTO_REPLY_TIMEZONE=Europe/Berlin deno task start
 * ```
 *
 * @module
 */

import { mediaType } from "../src/msrp/mod.ts";
import { type PluginConfig, PluginConfigError, type PluginFactory } from "../src/plugins/mod.ts";

/** One reply rule. */
export interface AutoReplyRule {
  /** Tests a message's text. */
  readonly pattern: RegExp;
  /** The reply text. */
  readonly reply: string;
}

/** When the business is open. */
export interface BusinessHours {
  /** IANA time zone. */
  readonly timeZone: string;
  /** Open days, 0 = Sunday … 6 = Saturday. */
  readonly days: ReadonlySet<number>;
  /** Opening time, minutes after midnight. */
  readonly open: number;
  /** Closing time, minutes after midnight; before `open` when the hours span midnight. */
  readonly close: number;
}

const DAY_NAMES = ["sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"];
const OUT_OF_HOURS = "out-of-hours";
const formats = new Map<string, Intl.DateTimeFormat>();

/**
 * Parses `RULES` JSON into rules; throws {@linkcode PluginConfigError} naming
 * `variable` and the rule at fault.
 */
export function parseRules(value: unknown, variable: string): AutoReplyRule[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) {
    throw new PluginConfigError(`${variable} must be a JSON list of {"match","reply"}`);
  }
  return value.map((rule, i) => {
    const { match, reply } = (rule ?? {}) as { match?: unknown; reply?: unknown };
    if (typeof match !== "string" || match === "" || typeof reply !== "string" || reply === "") {
      throw new PluginConfigError(
        `${variable}[${i}] must have a non-empty string "match" and "reply"`,
      );
    }
    const regex = /^\/(.+)\/([a-z]*)$/s.exec(match);
    if (regex === null) {
      const keyword = match.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
      return {
        pattern: new RegExp(`(?<![\\p{L}\\p{N}_])${keyword}(?![\\p{L}\\p{N}_])`, "iu"),
        reply,
      };
    }
    try {
      // "g" and "y" would make test() stateful between messages.
      return { pattern: new RegExp(regex[1], regex[2].replace(/[gy]/g, "")), reply };
    } catch (e) {
      throw new PluginConfigError(
        `${variable}[${i}] has an invalid regex: ${(e as Error).message}`,
      );
    }
  });
}

function parseDays(value: string, variable: string): Set<number> {
  const days = new Set<number>();
  const index = (name: string): number => {
    const lower = name.toLowerCase();
    const i = lower.length < 3 ? -1 : DAY_NAMES.findIndex((day) => day.startsWith(lower));
    if (i < 0) {
      throw new PluginConfigError(`${variable}: "${name}" is not a day (mon … sun)`);
    }
    return i;
  };
  for (const item of value.split(/[\s,]+/).filter(Boolean)) {
    const [from, to] = item.split("-");
    const first = index(from);
    const last = to === undefined ? first : index(to);
    for (let d = first;; d = (d + 1) % 7) {
      days.add(d);
      if (d === last) break;
    }
  }
  return days;
}

function parseHours(value: string, variable: string): [number, number] {
  const m = /^(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})$/.exec(value.trim());
  const minutes = m?.slice(1).map(Number);
  if (!minutes || minutes[0] > 24 || minutes[1] > 59 || minutes[2] > 24 || minutes[3] > 59) {
    throw new PluginConfigError(`${variable} must look like 09:00-17:00, got "${value}"`);
  }
  const open = minutes[0] * 60 + minutes[1];
  const close = minutes[2] * 60 + minutes[3];
  if (open === close || open > 1440 || close > 1440) {
    throw new PluginConfigError(`${variable} must be a non-empty range within a day`);
  }
  return [open, close];
}

/** Reads the business hours from `config`; `undefined` when no `OUT_OF_HOURS` text is set. */
export function parseBusinessHours(config: PluginConfig): BusinessHours | undefined {
  if (config.string("OUT_OF_HOURS") === undefined) return undefined;
  const timeZone = config.string("TIMEZONE", "UTC");
  try {
    new Intl.DateTimeFormat("en-US", { timeZone });
  } catch {
    throw new PluginConfigError(
      `${config.variable("TIMEZONE")} must be an IANA time zone, got "${timeZone}"`,
    );
  }
  const [open, close] = parseHours(config.string("HOURS", "09:00-17:00"), config.variable("HOURS"));
  return {
    timeZone,
    days: parseDays(config.string("DAYS", "mon-fri"), config.variable("DAYS")),
    open,
    close,
  };
}

/** True when `time` falls within `hours`, in their time zone. */
export function isBusinessTime(time: Date, hours: BusinessHours): boolean {
  let format = formats.get(hours.timeZone);
  if (format === undefined) {
    format = new Intl.DateTimeFormat("en-US", {
      timeZone: hours.timeZone,
      weekday: "short",
      hour: "2-digit",
      minute: "2-digit",
      hourCycle: "h23",
    });
    formats.set(hours.timeZone, format);
  }
  const parts = format.formatToParts(time);
  const part = (type: string): string => parts.find((p) => p.type === type)?.value ?? "";
  const weekday = part("weekday").toLowerCase();
  const day = DAY_NAMES.findIndex((name) => name.startsWith(weekday));
  const minute = Number(part("hour")) * 60 + Number(part("minute"));
  if (hours.open < hours.close) {
    return hours.days.has(day) && minute >= hours.open && minute < hours.close;
  }
  // Spans midnight: the evening of an open day, or the early morning after one.
  return (hours.days.has(day) && minute >= hours.open) ||
    (hours.days.has((day + 6) % 7) && minute < hours.close);
}

/** Creates the auto-reply plugin. */
export const plugin: PluginFactory = (ctx) => {
  const { config } = ctx;
  const rules = parseRules(config.json("RULES"), config.variable("RULES"));
  const outOfHours = config.string("OUT_OF_HOURS");
  const hours = parseBusinessHours(config);
  const cooldownMs = config.int("COOLDOWN_MINUTES", 60) * 60_000;
  // session id → rule key → time of the last reply
  const lastReplies = new Map<string, Map<string, number>>();

  const allowed = (sessionId: string, key: string, now: number): boolean => {
    let sent = lastReplies.get(sessionId);
    if (sent === undefined) lastReplies.set(sessionId, sent = new Map());
    const last = sent.get(key);
    if (last !== undefined && now - last < cooldownMs) return false;
    sent.set(key, now);
    return true;
  };

  return {
    onMessage(message, actions): "pass" {
      if (
        message.direction !== "in" || !message.hasBody ||
        !mediaType(message.contentType).startsWith("text/")
      ) {
        return "pass";
      }
      const now = ctx.now();
      if (hours && outOfHours !== undefined && !isBusinessTime(new Date(now), hours)) {
        if (allowed(message.sessionId, OUT_OF_HOURS, now)) actions.reply(outOfHours);
        return "pass";
      }
      const text = message.text();
      const index = rules.findIndex((rule) => rule.pattern.test(text));
      if (index >= 0 && allowed(message.sessionId, String(index), now)) {
        actions.reply(rules[index].reply);
      }
      return "pass";
    },
    onSessionEnded(session): void {
      lastReplies.delete(session.id);
    },
  };
};
