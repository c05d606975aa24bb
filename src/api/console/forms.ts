/**
 * The operator console's forms, the second part of its script module
 * (`GET /console/console.js`, see `script.ts`, whose functions and state it
 * uses): send a reply (optionally asking for read receipts, RFC 5438) or a
 * file into the open session, hang up, call or send a file to a SIP URI,
 * and pager messages.
 *
 * @module
 */

/** This part's source, appended to the script's. */
export const CONSOLE_FORMS_JS = String.raw`
// ---- send / hang up ----
$("send").addEventListener("submit", async (e) => {
  e.preventDefault();
  const box = $("text");
  const text = box.value;
  if (!selected || text.trim() === "") return;
  const id = selected;
  // With read receipts the IMDN delivery notification confirms it end to end, else a REPORT.
  const receipts = $("receipts").checked;
  const res = await api("/v1/sessions/" + encodeURIComponent(id) + "/messages", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(receipts ? { text, imdn: RECEIPTS } : { text, report: true }),
  });
  if (!res.ok) { status("Send: " + await problem(res)); return; }
  const { messageId, status: st } = await res.json();
  box.value = "";
  sentTexts.set(messageId, text);
  const known = messages.get(messageId); // its event may have come first
  if (selected === id && known) {
    if (known.text === undefined) known.text = text;
    if (receipts) known.view.imdn = { requested: RECEIPTS, ...known.view.imdn };
    renderTranscript();
  } else if (selected === id) {
    upsert({ id: messageId, direction: "out", status: st,
      contentType: receipts ? "message/cpim" : "text/plain",
      bytes: new TextEncoder().encode(text).length, createdAt: new Date().toISOString(),
      ...(receipts ? { imdn: { requested: RECEIPTS } } : {}) }, text);
    renderTranscript();
  }
  box.focus();
});
/** The Content-Type a file is sent with: its own, or octet-stream when unknown or too much JSON. */
function fileType(f) {
  return f.type && !(JSON_TYPE.test(f.type) && f.size > MAX_JSON_BYTES)
    ? f.type
    : "application/octet-stream";
}
/** Sends file f into session id as a raw body named by ?name= (none when withName is false). */
function sendFile(id, f, type, withName) {
  const query = new URLSearchParams({ report: "true", ...(withName ? { name: f.name } : {}) });
  return api("/v1/sessions/" + encodeURIComponent(id) + "/messages?" + query, {
    method: "POST",
    headers: { "content-type": type },
    body: f,
  });
}
// A file into the open session: the raw body (a File has a Content-Length) with its name
// (MSRP Content-Disposition), with a REPORT; unnamed when the API refuses the name.
$("send-file").addEventListener("submit", async (e) => {
  e.preventDefault();
  const input = $("file");
  const f = input.files && input.files[0];
  if (!selected || !f) return;
  const id = selected;
  const type = fileType(f);
  status("Sending " + f.name + "…");
  let res = await sendFile(id, f, type, true);
  if (res.status === 422 && (await res.clone().json().catch(() => ({}))).field === "name") {
    res = await sendFile(id, f, type, false);
  }
  if (!res.ok) { status("Send file: " + await problem(res)); return; }
  const { messageId, status: st } = await res.json();
  input.value = "";
  sentFiles.set(messageId, f.name);
  status("Sent " + f.name + ".");
  if (selected !== id) return;
  const known = messages.get(messageId); // its events may have come first
  if (known) known.view.fileName = f.name;
  else {
    upsert({ id: messageId, direction: "out", status: st, contentType: type, size: f.size,
      bytes: f.size, createdAt: new Date().toISOString() });
  }
  renderTranscript();
});
// A file to a SIP URI: POST /v1/files calls it through the PBX (RFC 5547) and pushes the file.
// It goes as a form (the browser sends its length): the API offers it under its file name,
// made safe, and with the type the browser gave it.
$("file-call").addEventListener("submit", async (e) => {
  e.preventDefault();
  const to = $("file-to").value.trim();
  const input = $("file-to-file");
  const f = input.files && input.files[0];
  if (to === "" || !f) { status("File: a SIP URI and a file are needed."); return; }
  const form = new FormData();
  form.append("to", to);
  form.append("file", f);
  status("Sending " + f.name + " to " + to + "…");
  const res = await api("/v1/files", { method: "POST", body: form });
  if (!res.ok) { status("File: " + await problem(res)); return; }
  const { id } = await res.json();
  $("file-to").value = "";
  input.value = "";
  status("Call answered; sending " + f.name + ".");
  scheduleSessions();
  select(id);
});
$("text").addEventListener("keydown", (e) => {
  if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
    e.preventDefault();
    $("send").requestSubmit();
  }
});
$("call").addEventListener("submit", async (e) => {
  e.preventDefault();
  const to = $("call-to").value.trim();
  if (to === "") return;
  status("Calling " + to + "…");
  const res = await api("/v1/sessions", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ to }),
  });
  if (!res.ok) { status("Call: " + await problem(res)); return; }
  const { id } = await res.json();
  $("call-to").value = "";
  status("Call answered.");
  scheduleSessions();
  select(id);
});
$("pager").addEventListener("submit", async (e) => {
  e.preventDefault();
  const body = { to: $("pager-to").value.trim(), from: $("pager-from").value.trim(), text: $("pager-text").value };
  if (!body.to || !body.from || !body.text) { status("Pager: to, from and text are needed."); return; }
  const res = await api("/v1/pager", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  if (!res.ok) { status("Pager: " + await problem(res)); return; }
  $("pager-text").value = "";
  status("Pager message sent to " + body.to + ".");
});
$("hangup").addEventListener("click", async () => {
  if (!selected) return;
  const res = await api("/v1/sessions/" + encodeURIComponent(selected), { method: "DELETE" });
  if (!res.ok && res.status !== 404) { status("Hang up: " + await problem(res)); return; }
  status("Hung up.");
  scheduleSessions();
});

`;
