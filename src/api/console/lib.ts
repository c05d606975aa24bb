/**
 * The operator console's helper module (`GET /console/lib.js`), imported by
 * its script: formatting, elements made with textContent only, the reader of
 * `GET /v1/events`, and what a received CPIM message (RFC 3862) holds.
 * Plain browser JavaScript that touches no page state.
 *
 * @module
 */

/** The module's source. */
export const CONSOLE_LIB_JS = String.raw`
/** A new element with a class and text (as text, never HTML). */
export function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = String(text);
  return node;
}
/** An ISO time in the browser's locale, or "" when it is not one. */
export function when(iso) {
  const d = new Date(iso);
  return isNaN(d) ? "" : d.toLocaleString();
}
/** A byte count for people. */
export function size(n) {
  if (n === null || n === undefined) return "?";
  if (n < 1024) return n + " B";
  if (n < 1048576) return (n / 1024).toFixed(1) + " KiB";
  return (n / 1048576).toFixed(1) + " MiB";
}
/** A file's name (when known) and size, as text. */
export function fileLabel(name, bytes) {
  return (name ? name + " · " : "") + size(bytes);
}
/** Plain text, which the transcript shows inline. */
export function isText(type) { return /^text\/plain\b/i.test(type || ""); }

const BLANK_LINE = /\r?\n\r?\n/;
/**
 * What a CPIM message (RFC 3862) holds: message headers, a blank line, the
 * inner MIME headers, a blank line, the body. Returns { type, text } (the
 * inner Content-Type, and the body when it is UTF-8 text/plain), or
 * undefined when it is not CPIM in UTF-8.
 */
export function cpimInner(bytes) {
  let s;
  try { s = new TextDecoder("utf-8", { fatal: true }).decode(bytes); } catch { return undefined; }
  const head = BLANK_LINE.exec(s);
  if (!head) return undefined;
  const rest = s.slice(head.index + head[0].length);
  const mime = BLANK_LINE.exec(rest);
  if (!mime) return undefined;
  const header = /^content-type:[ \t]*([^\r\n]*)/im.exec(rest.slice(0, mime.index));
  const type = header ? header[1].trim() : "";
  const charset = /charset="?([^";\s]+)/i.exec(type);
  const utf8 = !charset || /^(utf-?8|us-ascii)$/i.test(charset[1]);
  return { type, text: isText(type) && utf8 ? rest.slice(mime.index + mime[0].length) : undefined };
}

/**
 * Reads a server-sent event stream to its end: onEvent(type, data) for each
 * event with JSON data (the event's data member), onId(id) for each id.
 */
export async function readEvents(body, onEvent, onId) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return;
    buffer += value.replace(/\r\n?/g, "\n");
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let type = "message", data = [], id = null;
      for (const line of block.split("\n")) {
        const colon = line.indexOf(":");
        if (colon <= 0) continue;
        const name = line.slice(0, colon);
        const value = line.slice(colon + 1).replace(/^ /, "");
        if (name === "event") type = value;
        else if (name === "data") data.push(value);
        else if (name === "id") id = value;
      }
      if (id) onId(id);
      if (data.length === 0) continue;
      let payload;
      try { payload = JSON.parse(data.join("\n")); } catch { continue; }
      onEvent(type, payload.data);
    }
  }
}
`;
