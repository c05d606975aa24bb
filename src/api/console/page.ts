/**
 * The operator console's static files: one HTML page, its stylesheet and its
 * script modules, kept as strings so the service needs no build step and loads
 * nothing from elsewhere.
 *
 * @module
 */

/** `GET /console`: the page. No inline script or style (the CSP forbids both). */
export const CONSOLE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>msrp-bridge console</title>
<link rel="icon" href="/console/icon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/console/console.css">
<script type="module" src="/console/console.js"></script>
</head>
<body>
<header><h1>msrp-bridge console</h1><p id="status" role="status" aria-live="polite"></p></header>
<main>
<form id="login" autocomplete="off">
  <label for="token">API token</label>
  <input id="token" name="token" type="password" autocomplete="off" spellcheck="false">
  <button type="submit">Log in</button>
  <p id="login-error" class="error" role="alert"></p>
</form>
<div id="app" hidden>
  <section id="sessions-pane" aria-labelledby="sessions-title">
    <div class="bar"><h2 id="sessions-title">Sessions</h2>
      <button id="logout" type="button">Log out</button></div>
    <ul id="sessions" aria-label="sessions"></ul>
    <p id="no-sessions" class="muted">No sessions yet.</p>
    <form id="call" autocomplete="off">
      <label for="call-to">New chat to SIP URI</label>
      <input id="call-to" name="to" type="text" placeholder="sip:1000@pbx.example.com" spellcheck="false">
      <button type="submit">Call</button>
    </form>
    <form id="file-call" autocomplete="off">
      <label for="file-to">File to SIP URI</label>
      <input id="file-to" name="to" type="text" placeholder="sip:1000@pbx.example.com" spellcheck="false">
      <input id="file-to-file" name="file" type="file" aria-label="File to send">
      <button type="submit">Send file</button>
    </form>
    <form id="pager" autocomplete="off">
      <label for="pager-to">Pager to SIP URI</label>
      <input id="pager-to" name="to" type="text" placeholder="sip:1000@pbx.example.com" spellcheck="false">
      <input id="pager-from" name="from" type="text" placeholder="sip:operator@pbx.example.com" spellcheck="false" aria-label="From">
      <input id="pager-text" name="text" type="text" placeholder="Text" aria-label="Text">
      <button type="submit">Page</button>
    </form>
  </section>
  <section id="chat" aria-labelledby="chat-title" hidden>
    <div class="bar"><h2 id="chat-title">Transcript</h2>
      <button id="hangup" type="button" class="danger">Hang up</button></div>
    <p id="chat-meta" class="muted"></p>
    <ol id="transcript" aria-live="polite" aria-label="transcript"></ol>
    <p id="typing" class="muted" role="status" hidden>The peer is typing…</p>
    <form id="send" autocomplete="off">
      <label for="text" class="sr-only">Message</label>
      <textarea id="text" name="text" rows="2" placeholder="Type a reply; Enter sends, Shift+Enter for a new line"></textarea>
      <button type="submit">Send</button>
      <label class="receipts"><input id="receipts" name="receipts" type="checkbox"> Ask for read receipts</label>
    </form>
    <form id="send-file" autocomplete="off">
      <label for="file">Send a file</label>
      <input id="file" name="file" type="file">
      <button type="submit">Send file</button>
    </form>
  </section>
</div>
</main>
</body>
</html>
`;

/** `GET /console/icon.svg`: a small icon, so browsers do not ask for a missing favicon. */
export const CONSOLE_ICON =
  `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" height="16" rx="3" fill="#0b4fa8"/><path d="M3 4h10v6H7l-3 3v-3H3z" fill="#fff"/></svg>`;

/** `GET /console/console.css`: simple responsive layout, readable on a phone. */
export const CONSOLE_CSS = `
* { box-sizing: border-box; }
body { font: 16px/1.45 system-ui, sans-serif; margin: 0; color: #1d2330; background: #fff; }
header { padding: .5rem 1rem; border-bottom: 1px solid #d5d9e0; display: flex; flex-wrap: wrap;
  align-items: baseline; gap: 0 1rem; }
h1 { font-size: 1.2rem; margin: 0; } h2 { font-size: 1.05rem; margin: 0; }
#status { margin: 0; color: #5b6474; font-size: .9rem; }
main { padding: 1rem; max-width: 72rem; margin: 0 auto; }
#login { display: flex; flex-wrap: wrap; gap: .5rem; align-items: center; max-width: 32rem; }
#login label { width: 100%; font-weight: 600; }
#login input { flex: 1 1 12rem; }
input, textarea, button { font: inherit; padding: .45rem .6rem; border: 1px solid #8a93a3;
  border-radius: 6px; }
button { background: #0b4fa8; color: #fff; border-color: #0b4fa8; cursor: pointer; }
button.danger { background: #a31919; border-color: #a31919; }
button:disabled { opacity: .5; cursor: not-allowed; }
:focus-visible { outline: 3px solid #f0a500; outline-offset: 2px; }
#app { display: grid; grid-template-columns: minmax(16rem, 1fr) 2fr; gap: 1rem; }
[hidden] { display: none !important; }
@media (max-width: 48rem) { #app { grid-template-columns: 1fr; } }
.bar { display: flex; justify-content: space-between; align-items: center; gap: .5rem;
  margin-bottom: .5rem; }
#sessions { list-style: none; margin: 0; padding: 0; }
#sessions button { width: 100%; text-align: left; background: #f4f6f9; color: #1d2330;
  border-color: #d5d9e0; margin-bottom: .35rem; display: grid; gap: 0 .5rem;
  grid-template-columns: 1fr auto; }
#sessions button[aria-current="true"] { border-color: #0b4fa8; background: #e6eefb; }
.sid { font-family: ui-monospace, monospace; font-size: .85rem; overflow-wrap: anywhere; }
.who, #chat-meta { overflow-wrap: anywhere; }
.counts { grid-column: 1 / -1; }
.state-active { color: #0a6b2d; font-weight: 600; } .state-ended { color: #5b6474; }
.muted { color: #5b6474; font-size: .9rem; }
#transcript { list-style: none; padding: 0; margin: 0 0 .75rem; max-height: 60vh; overflow: auto;
  border: 1px solid #d5d9e0; border-radius: 6px; min-height: 6rem; }
#transcript li { padding: .4rem .6rem; border-bottom: 1px solid #eef0f3; }
#transcript li.out { background: #f4f8ff; }
#transcript li.failed { background: #fdecec; }
.meta { font-size: .8rem; color: #5b6474; }
.body { white-space: pre-wrap; overflow-wrap: anywhere; }
.fail { color: #a31919; font-weight: 600; }
.tick { font-weight: 600; letter-spacing: -.15em; }
.tick-delivered { color: #0a6b2d; } .tick-failed { color: #a31919; }
#typing { margin: -.5rem 0 .5rem; font-style: italic; }
#send { display: flex; flex-wrap: wrap; gap: .5rem; }
.receipts { width: 100%; font-size: .9rem; }
.read { color: #0a6b2d; font-weight: 600; }
#call, #pager, #file-call { display: flex; flex-wrap: wrap; gap: .4rem; margin-top: 1rem; }
#call label, #pager label, #file-call label { width: 100%; font-weight: 600; }
#call input, #pager input, #file-call input { flex: 1 1 12rem; min-width: 0; }
#send-file { display: flex; flex-wrap: wrap; gap: .5rem; align-items: center; margin-top: .5rem; }
#send-file input { flex: 1 1 12rem; min-width: 0; }
.file { overflow-wrap: anywhere; }
.verified { color: #0a6b2d; font-weight: 600; }
#send textarea { flex: 1 1 12rem; min-width: 0; resize: vertical; }
.error { color: #a31919; width: 100%; margin: 0; min-height: 1.2em; }
.sr-only { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); }
`;
