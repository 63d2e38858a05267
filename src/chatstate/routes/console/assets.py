"""The console page's script, style and icon, served as files by the console's routes.

Kept as Python strings so they ship inside the Worker's modules with no build step and no
extra upload rules; the script uses the DOM directly and sets text only through textContent.
"""

ICON_SVG = """<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32">
<rect width="32" height="32" rx="7" fill="#1f5fbf"/>
<path d="M8 9h16a2 2 0 0 1 2 2v9a2 2 0 0 1-2 2h-9l-5 4v-4H8a2 2 0 0 1-2-2v-9a2 2 0 0 1 2-2z"
 fill="#fff"/>
</svg>
"""

CONSOLE_JS = r"""// The bot console: plain DOM, no build step. Text always goes in through textContent.
const csrf = document.querySelector('meta[name="console-csrf"]').content;
const $ = (id) => document.getElementById(id);

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (name === "text") node.textContent = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value);
  }
  for (const child of children) if (child) node.append(child);
  return node;
}

// Polling redraws nothing that did not change: `morph` updates a node in place to look like a
// freshly built one, so the nodes that stay keep keyboard focus and are not read out again.
function morph(old, fresh) {
  if (old.nodeType !== fresh.nodeType || old.nodeName !== fresh.nodeName) {
    old.replaceWith(fresh);
    return;
  }
  if (old.nodeType !== Node.ELEMENT_NODE) {
    if (old.nodeValue !== fresh.nodeValue) old.nodeValue = fresh.nodeValue;
    return;
  }
  for (const { name } of [...old.attributes]) if (!fresh.hasAttribute(name)) old.removeAttribute(name);
  for (const { name, value } of [...fresh.attributes]) {
    if (old.getAttribute(name) !== value) old.setAttribute(name, value);
  }
  const olds = [...old.childNodes];
  [...fresh.childNodes].forEach((child, i) => (i < olds.length ? morph(olds[i], child) : old.append(child)));
  for (const extra of olds.slice(fresh.childNodes.length)) extra.remove();
}

// A list's items by their data-key: kept items are morphed, new ones inserted where they
// belong (a live region announces only those), gone ones removed.
function reconcile(list, items) {
  const byKey = new Map([...list.children].map((node) => [node.dataset.key, node]));
  items.forEach((fresh, i) => {
    const old = byKey.get(fresh.dataset.key);
    byKey.delete(fresh.dataset.key);
    if (old) morph(old, fresh);
    const node = old || fresh;
    if (list.children[i] !== node) list.insertBefore(node, list.children[i] || null);
  });
  for (const gone of byKey.values()) gone.remove();
}

async function call(path, body) {
  const options = body === undefined ? {} : {
    method: "POST",
    headers: { "content-type": "application/json", "x-console-csrf": csrf },
    body: JSON.stringify(body),
  };
  const response = await fetch(`/console/api/${path}`, options);
  if (response.status === 401) { location.assign("/"); throw new Error("signed out"); }
  const answer = await response.json();
  if (!response.ok) throw new Error(answer.error ? answer.error.message : response.statusText);
  return answer;
}

const clientId = () => crypto.randomUUID().replaceAll("-", "");
const time = (ms) => new Date(ms).toLocaleTimeString();
function ago(ms) {
  const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
  return s < 60 ? `${s} s ago` : s < 3600 ? `${Math.round(s / 60)} min ago` : time(ms);
}

// --- tabs ------------------------------------------------------------------------------------
const tabs = [...document.querySelectorAll('[role="tab"]')];
const onShow = {};
function select(tab) {
  for (const other of tabs) {
    const chosen = other === tab;
    other.setAttribute("aria-selected", String(chosen));
    other.tabIndex = chosen ? 0 : -1;
    $(other.getAttribute("aria-controls")).hidden = !chosen;
  }
  const show = onShow[tab.id];
  if (show) show();
}
tabs.forEach((tab, i) => {
  tab.addEventListener("click", () => select(tab));
  tab.addEventListener("keydown", (event) => {
    const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
    if (!step) return;
    const next = tabs[(i + step + tabs.length) % tabs.length];
    next.focus();
    select(next);
  });
});
const visible = (id) => !$(id).hidden;

$("sign-out").addEventListener("click", async () => {
  await fetch("/console/sign-out", { method: "POST", headers: { "x-console-csrf": csrf } });
  location.assign("/");
});

// --- rendering messages ----------------------------------------------------------------------
// Markdown arrives rendered by the server from its own parse, every text escaped; it is copied
// here tag by tag through an allow-list all the same, so nothing else can reach the page.
const ALLOWED = { P: [], BR: [], STRONG: [], EM: [], S: [], CODE: [], PRE: [], UL: [], LI: [], A: ["href"] };
function safeHtml(markup) {
  const parsed = new DOMParser().parseFromString(markup, "text/html").body;
  const copy = (from, to) => {
    for (const node of from.childNodes) {
      if (node.nodeType === Node.TEXT_NODE) { to.append(node.textContent); continue; }
      if (node.nodeType !== Node.ELEMENT_NODE) continue;
      if (!(node.tagName in ALLOWED)) { copy(node, to); continue; }
      const clean = document.createElement(node.tagName.toLowerCase());
      for (const name of ALLOWED[node.tagName]) {
        const value = node.getAttribute(name);
        if (value && /^https?:\/\//.test(value)) clean.setAttribute(name, value);
      }
      if (clean.tagName === "A") { clean.rel = "noopener nofollow"; clean.target = "_blank"; }
      to.append(clean);
      copy(node, clean);
    }
  };
  const holder = el("div", { class: "markdown" });
  copy(parsed, holder);
  return holder;
}

function buttonRow(buttons, message, onPress) {
  const row = el("div", { class: "buttons", role: "group", "aria-label": "Buttons" });
  for (const button of buttons) {
    if (button.url) {
      row.append(el("a", { class: "link-button", href: button.url, rel: "noopener nofollow",
        target: "_blank", text: button.label }));
      continue;
    }
    row.append(el("button", {
      type: "button", text: button.label,
      onclick: onPress ? () => onPress(message, button) : null,
    }));
    if (!onPress) row.lastChild.disabled = true;
  }
  return row;
}

function cardBody(card, message, onPress) {
  const body = el("div", { class: "card-message" });
  if (card.image_url) body.append(el("img", { src: card.image_url, alt: card.title || "image" }));
  if (card.title) body.append(el("strong", { text: card.title }));
  if (card.text) body.append(el("p", { text: card.text }));
  if (card.fields.length) body.append(facts(card.fields));
  const buttons = [...card.buttons];
  if (card.select) {
    for (const [label, value] of card.select.options) {
      buttons.push({ action_id: card.select.id, label, value });
    }
  }
  if (buttons.length) body.append(buttonRow(buttons, message, onPress));
  return body;
}

function messageBody(message, onPress) {
  if (message.card) return cardBody(message.card, message, onPress);
  if (message.file) {
    const file = message.file;
    const href = file.url || `/console/api/file?thread=${encodeURIComponent(message.thread_id)}` +
      `&id=${encodeURIComponent(message.id)}&name=${encodeURIComponent(file.name)}`;
    return el("p", {}, el("a", { href, download: file.name, text: `⬇ ${file.name}` }),
      file.size ? ` (${file.size} bytes)` : "");
  }
  if (message.html) return safeHtml(message.html);
  return el("p", { text: message.text });
}

function messageItem(message, onPress) {
  const mine = !(message.author && message.author.is_bot);
  const who = mine ? (message.author.full_name || message.author.user_id) : "Bot";
  const reactions = (message.reactions || []).join(" ");
  const item = el("li", { class: mine ? "message mine" : "message bot", "data-key": message.id },
    el("span", { class: "who", text: `${who} · ${time(message.date_ms)}` }),
    messageBody(message, onPress),
    reactions ? el("span", { class: "reactions", text: reactions }) : null);
  if (!message.card && message.buttons && message.buttons.length) {
    item.append(buttonRow(message.buttons, message, onPress));
  }
  return item;
}

function lockText(lock) {
  if (!lock) return "free";
  const left = Math.max(0, Math.round((lock.expires_at - Date.now()) / 1000));
  return `held by ${lock.holder}… (fence ${lock.fence}, expires in ${left} s)`;
}

// --- talk to the bot -------------------------------------------------------------------------
const sending = [];
async function refreshTalk() {
  const thread = await call("web");
  const list = $("transcript");
  const shown = thread.messages.map((m) => messageItem(m, press));
  const seen = new Set(thread.messages.map((m) => m.text));
  for (const pending of sending) {
    if (!seen.has(pending)) shown.push(el("li", { class: "message mine pending", "data-key": `sending:${pending}` },
      el("span", { class: "who", text: "you · sending…" }), el("p", { text: pending })));
  }
  sending.splice(0, sending.length, ...sending.filter((text) => !seen.has(text)));
  if (thread.draft) {
    shown.push(el("li", { class: "message bot pending", "data-key": "draft" },
      el("span", { class: "who", text: "Bot · writing…" }), el("p", { text: thread.draft })));
  }
  const atEnd = list.scrollTop + list.clientHeight >= list.scrollHeight - 8;
  reconcile(list, shown);
  showModal(thread.modal);
  if (atEnd) list.scrollTop = list.scrollHeight;
  const busy = thread.lock || (thread.queue && thread.queue.depth);
  const status = thread.typing ? "The bot is typing…" : busy ? "The bot is working on it…" : "";
  if ($("talk-status").textContent !== status) $("talk-status").textContent = status;
}

// A modal the bot opened: a form under the transcript until it is sent or dismissed.
let shownModal = null;
function showModal(modal) {
  const holder = $("modal");
  const key = modal ? JSON.stringify(modal) : null;
  if (key === shownModal) return;  // the same form stays, with what was typed into it
  shownModal = key;
  holder.hidden = !modal;
  if (!modal) { holder.replaceChildren(); return; }
  const form = el("form", { "aria-label": modal.title },
    el("h2", { text: modal.title }));
  for (const input of modal.inputs) {
    const id = `modal-${input.id}`;
    form.append(el("label", { for: id, text: input.label || input.id }));
    if (input.type === "select") {
      const select = el("select", { id, name: input.id });
      for (const [label, value] of input.options) select.append(el("option", { value, text: label }));
      form.append(select);
    } else {
      form.append(el(input.multiline ? "textarea" : "input", { id, name: input.id,
        placeholder: input.placeholder || "" }));
    }
    form.append(el("p", { class: "error", id: `${id}-error`, role: "alert" }));
  }
  const send = async (close) => {
    const values = Object.fromEntries(new FormData(form).entries());
    const response = await fetch("/console/api/web/modal", { method: "POST",
      headers: { "content-type": "application/json", "x-console-csrf": csrf },
      body: JSON.stringify(close ? { close: true } : { values }) });
    const answer = await response.json();
    for (const node of form.querySelectorAll(".error")) node.textContent = "";
    for (const [field, error] of Object.entries(answer.errors || {})) {
      const node = $(`modal-${field}-error`);
      if (node) node.textContent = error;
    }
    if (response.ok) { shownModal = null; holder.hidden = true; holder.replaceChildren(); }
  };
  form.addEventListener("submit", (event) => { event.preventDefault(); send(false); });
  form.append(el("div", { class: "buttons" },
    el("button", { type: "submit", text: modal.submit_label }),
    el("button", { type: "button", text: "Cancel", onclick: () => send(true) })));
  holder.replaceChildren(form);
}

async function press(message, button) {
  try {
    await call("web/actions", {
      client_id: clientId(), message_id: message.id, action_id: button.action_id,
      value: button.value || "",
    });
    $("talk-status").textContent = `You pressed ${button.label}.`;
  } catch (error) {
    $("talk-status").textContent = `Could not press ${button.label}: ${error.message}`;
  }
}

function asUpload(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve({ name: file.name, mime: file.type || "application/octet-stream",
      data: String(reader.result).split(",", 2)[1] || "" });
    reader.onerror = () => reject(new Error(`could not read ${file.name}`));
    reader.readAsDataURL(file);
  });
}

$("say").addEventListener("submit", async (event) => {
  event.preventDefault();
  const input = $("say-text");
  const text = input.value.trim();
  if (!text) return;
  input.value = "";
  sending.push(text);
  const picked = $("say-file").files[0];
  try {
    const file = picked ? await asUpload(picked) : undefined;
    await call("web/messages", { client_id: clientId(), text, file });
    $("say-file").value = "";
  } catch (error) {
    sending.splice(sending.indexOf(text), 1);
    input.value = text;
    $("talk-status").textContent = `Not sent: ${error.message}`;
  }
  refreshTalk();
});

// --- conversations ---------------------------------------------------------------------------
let selected = null;
let older = null;

function conversationItem(item) {
  const current = selected && selected.id === item.id;
  const button = el("button", {
    type: "button", class: "conversation", "aria-pressed": String(Boolean(current)),
    onclick: () => { selected = item; refreshConversations(); refreshDetail(); },
  },
  el("span", { class: `platform ${item.platform}`, text: item.platform }),
  el("strong", { text: item.title || item.id }),
  el("span", { class: "when", text: `${ago(item.last_activity)} · ${item.messages} message(s)` }),
  el("span", { class: "last", text: item.last_text }),
  item.error ? el("span", { class: "badge error", text: "handler failed" }) : null);
  return el("li", { "data-key": item.id }, button);
}

async function refreshConversations() {
  const page = await call("conversations?limit=50");
  reconcile($("conversation-list"), page.items.length ? page.items.map(conversationItem)
    : [el("li", { class: "hint", "data-key": "none", text: "No conversations yet: say something to the bot." })]);
  older = page.next;
  $("older").hidden = !older;
}

$("older").addEventListener("click", async () => {
  const page = await call(`conversations?limit=50&cursor=${encodeURIComponent(older)}`);
  $("conversation-list").append(...page.items.map(conversationItem));
  older = page.next;
  $("older").hidden = !older;
});

function facts(rows) {
  const list = el("dl", { class: "facts" });
  for (const [name, value] of rows) list.append(el("dt", { text: name }), el("dd", { text: value }));
  return list;
}

async function refreshDetail() {
  if (!selected) return;
  const item = selected;
  const detail = $("detail");
  if (item.kind === "agent") {
    const found = await call(`agent-conversation?agent=${encodeURIComponent(item.detail.agent)}` +
      `&id=${encodeURIComponent(item.detail.conversation)}`);
    const c = found.conversation;
    show(detail, el("h2", { text: item.title }),
      facts([["Agent", item.detail.agent], ["Status", c.status], ["Conversation", c.id]]),
      el("h3", { text: "Recent messages" }),
      el("ol", { class: "transcript" }, ...found.messages.map((m) => el("li", {
        class: m.role === "user" ? "message mine" : "message bot" },
      el("span", { class: "who", text: `${m.role} · ${time(m.timestamp)}` }),
      el("p", { text: m.content })))));
    return;
  }
  const thread = await call(`thread?id=${encodeURIComponent(item.detail.thread_id)}` +
    `&queue=${encodeURIComponent(item.detail.queue_key)}`);
  if (selected !== item) return;
  const queue = thread.queue || { depth: 0, oldest: null };
  const oldest = queue.oldest ? `since ${time(queue.oldest.enqueued_at)}: ` +
    `${queue.oldest.message.text || queue.oldest.message.action_id || ""}` : "none";
  const error = thread.last_error;
  show(detail,
    el("h2", { text: item.title || item.id }),
    facts([
      ["Thread", thread.thread_id],
      ["Lock", lockText(thread.lock)],
      ["Queue", `${queue.depth} waiting`],
      ["Oldest waiting", oldest],
      ["Subscribed", thread.subscribed ? "yes" : "no"],
      ["Last handler error", error ? `${error.error} (${time(error.at)})` : "none"],
      ["Thread state", thread.state === null ? "none" : JSON.stringify(thread.state)],
      ["Scheduled posts", (thread.scheduled || []).length ? thread.scheduled.map((post) =>
        `${new Date(post.at).toLocaleString()}: ${post.content.text || post.content.markdown ||
          (post.content.card && post.content.card.title) || "card"}`).join("; ") : "none"],
    ]),
    el("h3", { text: "Recent messages" }),
    el("ol", { class: "transcript" }, ...thread.messages.map((m) => messageItem(m, null))));
  const lockRow = detail.querySelector("dd:nth-of-type(2)");
  lockRow.id = "lock-state";
  lockRow.className = thread.lock ? "held" : "free";
}

// The detail panel redrawn in place: only what changed since the last poll changes.
function show(panel, ...children) {
  morph(panel, el(panel.tagName, { id: panel.id, class: panel.className }, ...children));
}

// --- setup -----------------------------------------------------------------------------------
function copyable(label, text) {
  const code = el("code", { text });
  return el("div", { class: "copyable" }, el("span", { class: "label", text: label }), code,
    el("button", {
      type: "button", text: "Copy", "aria-label": `Copy ${label}`,
      onclick: (event) => navigator.clipboard.writeText(text).then(
        () => { event.target.textContent = "Copied"; },
        () => { getSelection().selectAllChildren(code); }),
    }));
}

async function refreshSetup() {
  const setup = await call("setup");
  const parts = [];
  const state = setup.state;
  parts.push(el("section", { class: `card ${state.writable ? "ok" : "bad"}` },
    el("h2", { text: `State: ${state.writable ? "writable" : "NOT writable"}` }),
    el("p", { text: `${setup.runtime} runtime, ${state.backend} state, ${setup.concurrency} ` +
      `concurrency; ${state.detail}.` })));
  const restart = setup.runtime === "local"
    ? "then restart the bot: settings are read when it starts."
    : "a secret takes effect on the next request.";
  for (const platform of setup.platforms) {
    const card = el("section", { class: `card ${platform.configured ? "ok" : "todo"}` },
      el("h2", { text: `${platform.name}: ${platform.configured ? "configured" : "not configured"}` }));
    if (platform.https_needed) {
      // First: nothing below works until the platform can reach the bot over https.
      card.append(el("p", { class: "notice" },
        `${platform.title || platform.name} delivers only to a public https:// URL. ` +
        "Deploy the bot to Cloudflare, or run a tunnel to this server (for example ",
        el("code", { text: `cloudflared tunnel --url ${location.origin}` }),
        ") and open this console on the tunnel's URL: the URLs below follow the address you opened."));
    }
    if (platform.missing.length) {
      card.append(el("p", {}, `Missing: ${platform.missing.join(", ")}. Set each with `,
        el("code", { text: `${platform.set_with} NAME` }), `, ${restart}`));
    }
    for (const note of platform.notes || []) card.append(el("p", { text: note }));
    const where = platform.loopback ? " (loopback: unreachable from the platform)" : "";
    if (platform.name === "telegram") {
      card.append(copyable(`Webhook URL${where}`, platform.webhook_url),
        copyable(`setWebhook command${where}`, platform.set_webhook));
    }
    const commands = (setup.commands || []).map((c) => `/${c.name}`).join(" ");
    if (platform.name === "telegram" && commands) {
      card.append(el("p", {}, `Commands: ${commands}. Push them to Telegram's menu with `,
        el("code", { text: "python -m chatstate telegram set-commands" }), "."));
    }
    if (platform.name === "slack" && commands) {
      card.append(el("p", { text: `Create each slash command (${commands}) with this URL:` }),
        copyable(`Slash command request URL${where}`, platform.commands_url));
    }
    for (const item of platform.copy || []) {
      card.append(copyable(`${item.label}${where}`, item.value));
    }
    if (platform.name === "slack") {
      card.append(copyable(`Event request URL${where}`, platform.request_url),
        copyable(`Interactivity request URL${where}`, platform.interactivity_url),
        copyable("Bot events", platform.events.join(" ")),
        copyable("Bot token scopes", platform.scopes.join(" ")));
    }
    parts.push(card);
  }
  $("setup").replaceChildren(...parts);
}

// --- polling ---------------------------------------------------------------------------------
// A hidden browser tab polls nothing: looking costs the bot only while someone looks.
function every(ms, work, when) {
  const tick = async () => {
    if (!document.hidden && when()) {
      try { await work(); } catch (error) { console.warn(error); }
    }
    setTimeout(tick, ms);
  };
  tick();
}
onShow["tab-setup"] = refreshSetup;
onShow["tab-conversations"] = () => { refreshConversations(); refreshDetail(); };
every(1000, refreshTalk, () => visible("panel-talk"));
// A page of the list is a call to each of the index's 65 shards: every 2 s, the index's own
// freshness, not every second.
every(2000, refreshConversations, () => visible("panel-conversations"));
every(1000, refreshDetail, () => visible("panel-conversations") && selected);
"""

CONSOLE_CSS = r""":root { --ink: #1d232b; --muted: #5b6470; --line: #d5dae1; --accent: #1f5fbf;
  --ok: #1b7a3d; --bad: #b3261e; --todo: #8a5a00; font-family: system-ui, sans-serif; }
body { margin: 0; color: var(--ink); background: #f6f7f9; }
header { display: flex; align-items: center; gap: 1.5rem; padding: .75rem 1.5rem;
  background: #fff; border-bottom: 1px solid var(--line); }
header h1 { font-size: 1.15rem; margin: 0; }
[role="tablist"] { display: flex; gap: .25rem; flex: 1; }
[role="tab"] { border: 0; background: none; padding: .5rem .9rem; font: inherit;
  border-bottom: 3px solid transparent; cursor: pointer; color: var(--muted); }
[role="tab"][aria-selected="true"] { color: var(--ink); border-color: var(--accent); font-weight: 600; }
button:focus-visible, input:focus-visible { outline: 3px solid var(--accent); outline-offset: 2px; }
button { font: inherit; cursor: pointer; }
.quiet { background: none; border: 1px solid var(--line); border-radius: 6px; padding: .35rem .8rem; }
main { max-width: 1100px; margin: 0 auto; padding: 1.25rem 1.5rem; }
.hint { color: var(--muted); }
code { background: #eceff3; padding: .1rem .3rem; border-radius: 4px; }
#transcript, .transcript { list-style: none; padding: 1rem; margin: 0; background: #fff;
  border: 1px solid var(--line); border-radius: 10px; min-height: 12rem; max-height: 55vh;
  overflow-y: auto; display: flex; flex-direction: column; gap: .6rem; }
.message { max-width: 75%; padding: .5rem .8rem; border-radius: 10px; background: #eef2f7; }
.message p { margin: .15rem 0 0; white-space: pre-wrap; overflow-wrap: anywhere; }
.message.mine { align-self: flex-end; background: #dbe8fb; }
.message.pending { opacity: .6; }
.who { font-size: .8rem; color: var(--muted); }
.buttons { display: flex; gap: .4rem; margin-top: .4rem; }
.markdown p { margin: .15rem 0 0; } .markdown pre { background: #e4e8ee; padding: .4rem; overflow-x: auto; }
.card-message { display: grid; gap: .3rem; } .card-message img { max-width: 16rem; border-radius: 6px; }
.reactions { font-size: 1.1rem; } .link-button { border: 1px solid var(--accent); border-radius: 6px; padding: .3rem .9rem; }
.buttons button { border: 1px solid var(--accent); color: var(--accent); background: #fff;
  border-radius: 6px; padding: .3rem .9rem; }
#say { display: flex; gap: .5rem; align-items: center; margin-top: .5rem; }
#say label { font-weight: 600; } #say .attach { font-weight: 400; font-size: .85rem; color: var(--muted); }
#say input { flex: 1; font: inherit; padding: .55rem .7rem; border: 1px solid var(--line); border-radius: 8px; }
#say button, .sign-in button { background: var(--accent); color: #fff; border: 0;
  border-radius: 8px; padding: .55rem 1.2rem; }
#talk-status { min-height: 1.3rem; color: var(--muted); }
#modal form { display: grid; gap: .35rem; background: #fff; border: 1px solid var(--accent);
  border-radius: 10px; padding: 1rem; margin-top: .6rem; max-width: 28rem; }
#modal input, #modal textarea, #modal select { font: inherit; padding: .4rem; }
.split { display: grid; grid-template-columns: minmax(16rem, 1fr) 2fr; gap: 1.25rem; }
.list h2, .detail h2 { font-size: 1rem; margin: 0 0 .6rem; }
#conversation-list { list-style: none; margin: 0; padding: 0; display: flex; flex-direction: column; gap: .4rem; }
.conversation { width: 100%; text-align: left; background: #fff; border: 1px solid var(--line);
  border-radius: 8px; padding: .55rem .7rem; display: grid; gap: .15rem; }
.conversation[aria-pressed="true"] { border-color: var(--accent); box-shadow: 0 0 0 1px var(--accent); }
.conversation .last, .conversation .when { color: var(--muted); font-size: .85rem;
  overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.platform { font-size: .72rem; text-transform: uppercase; letter-spacing: .04em; color: var(--accent); }
.badge.error { color: #fff; background: var(--bad); border-radius: 4px; font-size: .75rem;
  padding: .05rem .35rem; justify-self: start; }
.detail { background: #fff; border: 1px solid var(--line); border-radius: 10px; padding: 1rem; }
.facts { display: grid; grid-template-columns: max-content 1fr; gap: .3rem 1rem; margin: 0 0 1rem; }
.facts dt { font-weight: 600; }
.facts dd { margin: 0; overflow-wrap: anywhere; }
dd.held { color: var(--todo); font-weight: 600; }
.card { background: #fff; border: 1px solid var(--line); border-left: 5px solid var(--line);
  border-radius: 8px; padding: .8rem 1rem; margin-bottom: 1rem; }
.card h2 { font-size: 1rem; margin: 0 0 .4rem; }
.card.ok { border-left-color: var(--ok); } .card.bad { border-left-color: var(--bad); }
.card.todo { border-left-color: var(--todo); }
.notice { background: #fff6e0; border: 1px solid #e7c87a; border-radius: 6px; padding: .5rem .7rem; }
.copyable { display: grid; grid-template-columns: 11rem 1fr auto; gap: .6rem; align-items: center; margin: .35rem 0; }
.copyable code { overflow-wrap: anywhere; }
.copyable button { border: 1px solid var(--line); background: #fff; border-radius: 6px; padding: .2rem .7rem; }
.sign-in main { max-width: 28rem; margin-top: 10vh; background: #fff; border: 1px solid var(--line);
  border-radius: 12px; padding: 1.5rem 2rem; }
.sign-in form { display: grid; gap: .5rem; }
.sign-in input { font: inherit; padding: .55rem .7rem; border: 1px solid var(--line); border-radius: 8px; }
.error { color: var(--bad); font-weight: 600; }
"""
