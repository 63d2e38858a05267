"""The console's two HTML pages. Their script and style are served from assets.py."""

from __future__ import annotations

from html import escape

_HEAD = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="stylesheet" href="/console/console.css">
<link rel="icon" href="/console/icon.svg" type="image/svg+xml">
{extra}
</head>
"""


def sign_in_page(error: str | None = None) -> str:
    alert = f'<p class="error" role="alert">{escape(error)}</p>' if error else ""
    return (
        _HEAD.format(title="Sign in · bot console", extra="")
        + f"""<body class="sign-in">
<main>
<h1>Bot console</h1>
{alert}
<form method="post" action="/console/sign-in">
  <label for="token">Admin token</label>
  <input id="token" name="token" type="password" autocomplete="current-password" required
         autofocus>
  <button type="submit">Sign in</button>
</form>
<p class="hint">Running locally? Open the URL the bot printed when it started: it signs you
in. On Cloudflare, the token is the <code>CHAT_ADMIN_TOKEN</code> secret
(<code>npx wrangler secret put CHAT_ADMIN_TOKEN</code>).</p>
</main>
</body>
</html>
"""
    )


def console_page(csrf_token: str) -> str:
    meta = (
        f'<meta name="console-csrf" content="{escape(csrf_token)}">\n'
        '<script type="module" src="/console/console.js"></script>'
    )
    return (
        _HEAD.format(title="Bot console", extra=meta)
        + """<body>
<header>
  <h1>Bot console</h1>
  <div role="tablist" aria-label="Console sections">
    <button type="button" role="tab" id="tab-talk" aria-controls="panel-talk"
            aria-selected="true">Talk to the bot</button>
    <button type="button" role="tab" id="tab-conversations" aria-controls="panel-conversations"
            aria-selected="false" tabindex="-1">Conversations</button>
    <button type="button" role="tab" id="tab-setup" aria-controls="panel-setup"
            aria-selected="false" tabindex="-1">Setup</button>
  </div>
  <button type="button" id="sign-out" class="quiet">Sign out</button>
</header>
<main>
<section id="panel-talk" role="tabpanel" aria-labelledby="tab-talk">
  <p class="hint">This chat box is the built-in <code>web</code> platform: a direct message
  that runs the bot's own handlers, as a Telegram or Slack message would. Try
  <code>/start</code> for a button, or <code>/slow</code> and watch its lock under
  Conversations.</p>
  <ol id="transcript" aria-label="Messages with the bot" aria-live="polite"></ol>
  <div id="modal" hidden></div>
  <p id="talk-status" role="status"></p>
  <form id="say">
    <label for="say-text">Message to the bot</label>
    <input id="say-text" name="text" autocomplete="off" required maxlength="4096">
    <label for="say-file" class="attach">Attach a file (up to 256 KiB)</label>
    <input id="say-file" name="file" type="file">
    <button type="submit">Send</button>
  </form>
</section>
<section id="panel-conversations" role="tabpanel" aria-labelledby="tab-conversations" hidden>
  <div class="split">
    <div class="list">
      <h2 id="list-heading">Newest activity first</h2>
      <ul id="conversation-list" aria-labelledby="list-heading"></ul>
      <button type="button" id="older" hidden>Older conversations</button>
    </div>
    <div id="detail" class="detail">
      <p class="hint">Select a conversation to see its messages, lock and queue.</p>
    </div>
  </div>
</section>
<section id="panel-setup" role="tabpanel" aria-labelledby="tab-setup" hidden>
  <div id="setup"><p class="hint">Loading…</p></div>
</section>
</main>
</body>
</html>
"""
    )
