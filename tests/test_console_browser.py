"""The web console in a real headless Chromium (Debian's package), on the local runtime and on
the Worker under workerd: signing in, the chat box, live conversations, a thread's lock,
refused sign-ins and refused cross-site posts. Screenshots of each screen land in
tests/artifacts/ (git-ignored) for a person to look at.
"""

from __future__ import annotations

import re
import shutil
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Route, expect, sync_playwright

from chatstate.testing.payloads import telegram_message_update
from support.e2e import post_telegram
from support.fake_apis import FakeApis
from support.local_server import (
    API_TOKEN,
    BOT_USERNAME,
    SLACK_TOKEN,
    TELEGRAM_SECRET,
    TELEGRAM_TOKEN,
    LocalServer,
    WranglerServer,
)

pytestmark = pytest.mark.e2e

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).parent / "artifacts"
ADMIN_TOKEN = "test-admin-token-0123456789"
# Chromium's own background traffic is refused by this machine's closed network.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WAIT_MS = 30_000


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is missing: sudo apt-get install chromium (scripts/test.sh does)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def apis() -> Iterator[FakeApis]:
    fake = FakeApis(TELEGRAM_TOKEN, SLACK_TOKEN, BOT_USERNAME).start()
    yield fake
    fake.stop()


@pytest.fixture(scope="module", params=["local", "workerd"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, apis: FakeApis
) -> Iterator[LocalServer]:
    """The bot with Telegram configured. Locally no admin token is set, so the runtime makes
    one and prints the console's URL; on workerd the secret is set, as on Cloudflare."""
    directory = tmp_path_factory.mktemp(f"console-{request.param}")
    if request.param == "workerd":
        request.getfixturevalue("workerd_ready")
        running: LocalServer = WranglerServer(
            directory / "data",
            apis.base,
            directory / "server.log",
            CHAT_ADMIN_TOKEN=ADMIN_TOKEN,
            CHAT_API_TOKEN=API_TOKEN,
        )
    else:
        running = LocalServer(
            directory / "data",
            apis.base,
            directory / "server.log",
            CHAT_ADMIN_TOKEN="",
            CHAT_API_TOKEN=API_TOKEN,
        )
    running.start()
    yield running
    running.stop()


def runtime_of(server: LocalServer) -> str:
    return "workerd" if isinstance(server, WranglerServer) else "local"


def printed_console_url(server: LocalServer) -> str:
    match = re.search(r"Bot console: (http://\S+\?token=\S+)", server.log_path.read_text())
    assert match, "the local runtime prints the console's URL with its token at start"
    return match.group(1)


def sign_in(server: LocalServer, page: Page) -> None:
    """As a user would: the printed URL locally, the sign-in form with the secret on workerd."""
    if runtime_of(server) == "local":
        page.goto(printed_console_url(server))
    else:
        page.goto(server.url + "/")
        page.get_by_label("Admin token").fill(ADMIN_TOKEN)
        page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("tab", name="Talk to the bot")).to_be_visible(timeout=WAIT_MS)
    # The form's navigation may show the tabs before the page's script has run; keys pressed
    # then would do nothing.
    page.wait_for_load_state("load")


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    fresh = browser.new_context(viewport={"width": 1280, "height": 800})
    yield fresh
    fresh.close()


@pytest.fixture
def page(server: LocalServer, context: BrowserContext) -> Page:
    opened = context.new_page()
    sign_in(server, opened)
    return opened


def screenshot(page: Page, server: LocalServer, screen: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / f"console-{runtime_of(server)}-{screen}.png", full_page=True)


def say(page: Page, text: str) -> None:
    box = page.get_by_label("Message to the bot")
    box.fill(text)
    box.press("Enter")


def test_signing_in_leaves_neither_the_token_in_the_address_nor_in_the_page(
    server: LocalServer, page: Page
) -> None:
    assert page.url == server.url + "/"
    cookie = next(c for c in page.context.cookies() if c["name"] == "chat_console")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    token = ADMIN_TOKEN if runtime_of(server) == "workerd" else printed_console_url(server)
    token = token.rsplit("=", 1)[-1]
    assert token not in page.content()
    if runtime_of(server) == "local":
        # Printed once, in the banner; the access log's line for /?token= is scrubbed.
        log = server.log_path.read_text()
        assert log.count(token) == 1 and "GET /?token=<redacted>" in log
    screenshot(page, server, "talk-empty")


def test_the_chat_box_shows_the_bots_reply_and_its_button_answers_from_the_keyboard(
    server: LocalServer, page: Page
) -> None:
    say(page, "hello there")
    transcript = page.get_by_role("list", name="Messages with the bot")
    expect(transcript).to_contain_text("hi Console user! I'm listening here.", timeout=WAIT_MS)
    say(page, "/start")
    ping = transcript.get_by_role("button", name="Ping")
    expect(ping).to_be_visible(timeout=WAIT_MS)
    ping.focus()
    page.keyboard.press("Enter")
    expect(transcript).to_contain_text("pong for Console user", timeout=WAIT_MS)
    screenshot(page, server, "talk")


def test_a_telegram_conversation_appears_and_updates_without_reloading(
    server: LocalServer, page: Page
) -> None:
    page.get_by_role("tab", name="Conversations").click()
    chat_id = -100_000 - int(time.time()) % 100_000
    update = telegram_message_update(chat_id, "first words", bot_username=BOT_USERNAME)
    assert post_telegram(server, update).status_code == 200
    item = page.get_by_role("button", name=re.compile("first words"))
    expect(item).to_be_visible(timeout=WAIT_MS)
    assert (
        post_telegram(server, telegram_message_update(chat_id, "second words")).status_code == 200
    )
    updated = page.get_by_role("button", name=re.compile("second words"))
    expect(updated).to_contain_text("2 message(s)", timeout=WAIT_MS)
    updated.click()
    detail = page.locator("#detail")
    expect(detail).to_contain_text("Subscribed", timeout=WAIT_MS)
    expect(detail.get_by_role("list")).to_contain_text("second words", timeout=WAIT_MS)
    screenshot(page, server, "conversations")


def test_an_agent_conversation_is_listed_with_its_messages(server: LocalServer, page: Page) -> None:
    with httpx.Client(
        base_url=f"{server.url}/api/agents/helper",
        headers={"authorization": f"Bearer {API_TOKEN}"},
        timeout=30,
    ) as api:
        created = api.post("/conversations", json={"user_id": "u1", "title": "Trip plans"})
        conversation = created.json()["conversation"]["id"]
        chat = api.post(f"/conversations/{conversation}/chat", json={"content": "pack list?"})
        assert chat.is_success
    page.get_by_role("tab", name="Conversations").click()
    page.get_by_role("button", name=re.compile("helper: Trip plans")).click()
    detail = page.locator("#detail")
    expect(detail).to_contain_text("pack list?", timeout=WAIT_MS)
    expect(detail.get_by_role("list")).to_contain_text("assistant")


def test_a_slow_handlers_lock_shows_while_it_runs_and_then_clears(
    server: LocalServer, page: Page
) -> None:
    page.get_by_role("tab", name="Conversations").click()
    chat_id = -200_000 - int(time.time()) % 100_000
    assert post_telegram(server, telegram_message_update(chat_id, "/slow")).status_code == 200
    page.get_by_role("button", name=re.compile(r"\bslow\b")).click()
    lock = page.locator("#lock-state")
    expect(lock).to_contain_text("held by", timeout=WAIT_MS)
    expect(lock).to_contain_text("fence")
    screenshot(page, server, "thread-lock-held")
    expect(lock).to_have_text("free", timeout=WAIT_MS)


def test_the_setup_view_shows_urls_from_the_host_and_no_secret(
    server: LocalServer, page: Page
) -> None:
    page.get_by_role("tab", name="Setup").click()
    setup = page.locator("#setup")
    expect(setup).to_contain_text("telegram: configured", timeout=WAIT_MS)
    expect(setup).to_contain_text("slack: configured")
    expect(setup).to_contain_text("State: writable")
    expect(setup).to_contain_text(f"{server.url}/webhooks/telegram")
    expect(setup).to_contain_text("secret_token=<TELEGRAM_WEBHOOK_SECRET>")
    assert TELEGRAM_SECRET not in page.content() and TELEGRAM_TOKEN not in page.content()
    expect(setup.get_by_role("button", name="Copy setWebhook command")).to_be_visible()
    screenshot(page, server, "setup")


def test_tabs_move_with_the_arrow_keys_and_every_field_has_a_label(
    server: LocalServer, page: Page
) -> None:
    page.get_by_role("tab", name="Talk to the bot").focus()
    page.keyboard.press("ArrowRight")
    expect(page.get_by_role("tab", name="Conversations")).to_have_attribute("aria-selected", "true")
    expect(page.get_by_role("tab", name="Conversations")).to_be_focused()
    unlabelled = page.locator("input:not([id])").count()
    labels = [
        page.locator(f"label[for={input_id}]").count()
        for input_id in page.locator("input").evaluate_all("(xs) => xs.map((x) => x.id)")
    ]
    assert unlabelled == 0 and all(labels)


def test_a_wrong_token_is_refused(server: LocalServer, context: BrowserContext) -> None:
    page = context.new_page()
    page.goto(server.url + "/")
    screenshot(page, server, "sign-in")
    page.get_by_label("Admin token").fill("not-the-admin-token-at-all")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("That token is not the admin token.")
    assert not [c for c in context.cookies() if c["name"] == "chat_console"]
    assert httpx.get(server.url + "/console/api/setup", timeout=30).status_code == 401


class _AttackerPage(BaseHTTPRequestHandler):
    """Another origin's page that posts to the console with the victim's cookies."""

    target = ""

    def do_GET(self) -> None:
        # text/plain forms need no preflight; name + "=" + value is the JSON body it sends.
        form = (
            f'<form id="f" method="post" enctype="text/plain" action="{self.target}">'
            '<input name=\'{"client_id":"forged1","text":"forged\' value=\'"}\'>'
            '</form><script>document.getElementById("f").submit()</script>'
        )
        body = form.encode()
        self.send_response(200)
        self.send_header("content-type", "text/html")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return None


@pytest.mark.parametrize("attacker_host", ["127.0.0.1", "localhost"])
def test_a_forged_cross_site_post_is_refused(
    server: LocalServer, page: Page, attacker_host: str
) -> None:
    """From another port of the same host (same site: the cookie goes along) and from another
    site (it does not): neither posts a message."""
    _AttackerPage.target = f"{server.url}/console/api/web/messages"
    attacker = ThreadingHTTPServer(("127.0.0.1", 0), _AttackerPage)
    threading.Thread(target=attacker.serve_forever, daemon=True).start()
    try:
        forged = page.context.new_page()
        forged.goto(f"http://{attacker_host}:{attacker.server_address[1]}/")
        expect(forged.locator("body")).to_contain_text(
            re.compile("refused|sign in"), timeout=WAIT_MS
        )
    finally:
        attacker.shutdown()
        attacker.server_close()
    say(page, "after the forgery")
    transcript = page.get_by_role("list", name="Messages with the bot")
    expect(transcript).to_contain_text("after the forgery", timeout=WAIT_MS)
    expect(transcript).not_to_contain_text("forged")


def wait_for_polls(page: Page, path: str, count: int) -> None:
    """Let the page poll `path` `count` more times (each poll a completed response)."""
    for _ in range(count):
        with page.expect_response(lambda r: r.url.endswith(path), timeout=WAIT_MS):
            pass


def test_a_focused_button_keeps_focus_across_polls(server: LocalServer, page: Page) -> None:
    say(page, "/start")
    transcript = page.get_by_role("list", name="Messages with the bot")
    ping = transcript.get_by_role("button", name="Ping").last
    expect(ping).to_be_visible(timeout=WAIT_MS)
    ping.focus()
    wait_for_polls(page, "/console/api/web", 3)
    expect(ping).to_be_focused()
    page.get_by_role("tab", name="Conversations").click()
    first = page.locator("#conversation-list button").first
    expect(first).to_be_visible(timeout=WAIT_MS)
    first.focus()
    wait_for_polls(page, "/console/api/conversations?limit=50", 3)
    expect(first).to_be_focused()


def test_the_transcript_announces_only_new_messages(server: LocalServer, page: Page) -> None:
    say(page, "count me")
    transcript = page.get_by_role("list", name="Messages with the bot")
    expect(transcript).to_contain_text("You said: count me", timeout=WAIT_MS)
    page.evaluate(
        """() => {
            window.added = 0;
            new MutationObserver((changes) => {
                for (const change of changes) window.added += change.addedNodes.length;
            }).observe(document.getElementById("transcript"), { childList: true });
        }"""
    )
    wait_for_polls(page, "/console/api/web", 3)
    assert page.evaluate("window.added") == 0


def test_loading_the_console_makes_no_failed_request(
    server: LocalServer, context: BrowserContext
) -> None:
    fresh = context.new_page()
    failed: list[str] = []
    fresh.on("requestfailed", lambda request: failed.append(f"failed {request.url}"))
    fresh.on(
        "response",
        lambda response: (
            failed.append(f"{response.status} {response.url}") if response.status >= 400 else None
        ),
    )
    sign_in(server, fresh)
    wait_for_polls(fresh, "/console/api/web", 2)
    assert failed == []
    assert httpx.get(server.url + "/favicon.ico", timeout=30).headers["content-type"] == (
        "image/svg+xml"
    )


def test_the_setup_view_says_first_that_platforms_need_public_https(
    server: LocalServer, page: Page
) -> None:
    page.get_by_role("tab", name="Setup").click()
    telegram = page.locator("section.card", has_text="telegram: configured")
    expect(telegram.locator("p").first).to_contain_text(
        "Telegram delivers only to a public https:// URL", timeout=WAIT_MS
    )
    expect(telegram.locator("p").first).to_contain_text("cloudflared tunnel --url")
    expect(
        telegram.get_by_role(
            "button", name="Copy Webhook URL (loopback: unreachable from the platform)"
        )
    ).to_be_visible()


def test_the_github_card_offers_its_payload_url(server: LocalServer, page: Page) -> None:
    page.get_by_role("tab", name="Setup").click()
    github = page.locator("section.card", has_text="github: configured")
    expect(github.locator("p").first).to_contain_text(
        "GitHub delivers only to a public https:// URL", timeout=WAIT_MS
    )
    expect(
        github.get_by_role(
            "button",
            name="Copy Payload URL (content type application/json) "
            "(loopback: unreachable from the platform)",
        )
    ).to_be_visible()


def test_missing_settings_name_the_command_and_the_restart(server: LocalServer, page: Page) -> None:
    def without_slack(route: Route) -> None:
        answer = route.fetch().json()
        slack = next(p for p in answer["platforms"] if p["name"] == "slack")
        slack.update(configured=False, missing=["SLACK_SIGNING_SECRET", "SLACK_BOT_TOKEN"])
        route.fulfill(json=answer)

    page.route("**/console/api/setup", without_slack)
    page.get_by_role("tab", name="Setup").click()
    slack = page.locator("section.card", has_text="slack: not configured")
    missing = slack.locator("p", has_text="Missing")
    expect(missing).to_contain_text(
        "Missing: SLACK_SIGNING_SECRET, SLACK_BOT_TOKEN. Set each with", timeout=WAIT_MS
    )
    expect(missing).not_to_contain_text("`")
    how = "export NAME" if runtime_of(server) == "local" else "npx wrangler secret put NAME"
    expect(missing.locator("code")).to_have_text(how)
    restart = "restart the bot" if runtime_of(server) == "local" else "next request"
    expect(missing).to_contain_text(restart)


# --- what a bot says, as the console's chat box shows it ----------------------------------------


@pytest.fixture(scope="module", params=["local", "workerd"])
def replies_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, apis: FakeApis
) -> Iterator[LocalServer]:
    """The end-to-end replies bot (tests/support/replies_app), with the console on."""
    from test_replies_end_to_end import replies_project

    directory = tmp_path_factory.mktemp(f"console-replies-{request.param}")
    on_workerd = request.param == "workerd"
    if on_workerd:
        request.getfixturevalue("workerd_ready")
    kind = WranglerServer if on_workerd else LocalServer
    token = ADMIN_TOKEN if on_workerd else ""
    running = kind(directory / "data", apis.base, directory / "server.log", CHAT_ADMIN_TOKEN=token)
    running.project = replies_project(directory, on_workerd)
    running.start()
    yield running
    running.stop()


@pytest.fixture
def replies_page(replies_server: LocalServer, context: BrowserContext) -> Page:
    opened = context.new_page()
    sign_in(replies_server, opened)
    return opened


def test_the_chat_box_renders_markdown_as_formatting(
    replies_server: LocalServer, replies_page: Page
) -> None:
    say(replies_page, "/md")
    transcript = replies_page.get_by_role("list", name="Messages with the bot")
    bold = transcript.locator(".markdown strong", has_text="bold")
    expect(bold).to_be_visible(timeout=WAIT_MS)
    expect(transcript.locator(".markdown code")).to_have_text("x<y")
    link = transcript.locator(".markdown a", has_text="docs")
    expect(link).to_have_attribute("href", "https://e.com/?a=1&b=2")
    assert transcript.locator("script, tag").count() == 0


def test_the_chat_box_renders_a_card_and_its_select_answers(
    replies_server: LocalServer, replies_page: Page
) -> None:
    say(replies_page, "/card")
    transcript = replies_page.get_by_role("list", name="Messages with the bot")
    card = transcript.locator(".card-message").last
    expect(card).to_contain_text("Order 42", timeout=WAIT_MS)
    expect(card).to_contain_text("12 EUR")
    expect(card.get_by_role("link", name="Track")).to_have_attribute("href", "https://e.com/42")
    card.get_by_role("button", name="Good").click()
    expect(transcript).to_contain_text("rated good", timeout=WAIT_MS)
    screenshot(replies_page, replies_server, "card")


def test_the_chat_box_offers_a_posted_file_as_a_download(
    replies_server: LocalServer, replies_page: Page
) -> None:
    say(replies_page, "/file")
    link = replies_page.get_by_role("link", name=re.compile("report.csv"))
    expect(link).to_be_visible(timeout=WAIT_MS)
    with replies_page.expect_download() as download:
        link.click()
    assert Path(download.value.path()).read_bytes() == b"a,b\n1,2\n"


def test_the_chat_box_shows_a_stream_while_it_grows(
    replies_server: LocalServer, replies_page: Page
) -> None:
    say(replies_page, "/slowstream")
    transcript = replies_page.get_by_role("list", name="Messages with the bot")
    draft = transcript.locator(".pending", has_text="Slowly")
    expect(draft).to_be_visible(timeout=WAIT_MS)
    expect(
        transcript.locator(".bot:not(.pending)", has_text="Slowly the words come in")
    ).to_be_visible(timeout=WAIT_MS)
    expect(draft).to_have_count(0)


def test_the_chat_box_shows_typing(replies_server: LocalServer, replies_page: Page) -> None:
    say(replies_page, "/typing")
    transcript = replies_page.get_by_role("list", name="Messages with the bot")
    expect(transcript).to_contain_text("typed", timeout=WAIT_MS)
    # The signal lasts a few seconds after the last one: the status says so meanwhile.
    expect(replies_page.locator("#talk-status")).to_contain_text("typing", timeout=WAIT_MS)


def test_the_chat_box_shows_a_modal_as_a_form_with_its_errors(
    replies_server: LocalServer, replies_page: Page
) -> None:
    say(replies_page, "/order")
    form = replies_page.get_by_role("form", name="New order")
    expect(form).to_be_visible(timeout=WAIT_MS)
    form.get_by_role("button", name="Submit").click()
    expect(form.get_by_role("alert")).to_have_text("say what to order", timeout=WAIT_MS)
    form.get_by_label("What to order").fill("tea")
    form.get_by_role("button", name="Submit").click()
    transcript = replies_page.get_by_role("list", name="Messages with the bot")
    expect(transcript).to_contain_text("ordered tea (via command)", timeout=WAIT_MS)
    expect(form).to_have_count(0)
