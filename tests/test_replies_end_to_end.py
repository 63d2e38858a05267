"""What a bot can say, end to end over real HTTP, on the local runtime and on the Worker under
workerd: signed webhooks in, the replies reaching fake Bot API and Web API servers on loopback
in the documented shapes (the fakes refuse what the platforms refuse). And what its handlers'
state writes leave behind when they read them back, raise, flush or lose their lock."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from chatstate.testing.payloads import (
    slack_app_mention,
    slack_event,
    slack_message,
    slack_reaction,
    slack_signed_headers,
    slack_slash_command,
    telegram_callback_update,
    telegram_command_update,
    telegram_member_update,
    telegram_message_update,
    telegram_migration_update,
    telegram_reaction_update,
)
from support.e2e import post_slack, post_telegram
from support.fake_apis import FakeApis
from support.fake_chat_completions import FakeChatCompletions
from support.local_server import (
    API_TOKEN,
    BOT_USERNAME,
    REPO,
    SLACK_SECRET,
    SLACK_TOKEN,
    TELEGRAM_TOKEN,
    WORKERD_TOOLS,
    LocalServer,
    WranglerServer,
)

pytestmark = pytest.mark.e2e

APP = Path(__file__).parent / "support" / "replies_app"


@pytest.fixture(scope="module")
def apis() -> Iterator[FakeApis]:
    fake = FakeApis(TELEGRAM_TOKEN, SLACK_TOKEN, BOT_USERNAME).start()
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def model() -> Iterator[FakeChatCompletions]:
    fake = FakeChatCompletions(["Streamed ", "from ", "the model."])
    fake.start()
    yield fake
    fake.stop()


def replies_project(directory: Path, on_workerd: bool) -> Path:
    """An app like this repository's, with the replies bot; chatstate vendored for workerd."""
    project = directory / "app"
    (project / "src").mkdir(parents=True)
    for name in ("src/entry.py", "src/state_agent.py", "src/sharding.py", "wrangler.jsonc"):
        shutil.copy(REPO / name, project / name)
    shutil.copy(APP / "bot.py", project / "src" / "bot.py")
    if on_workerd:
        shutil.copytree(REPO / "src" / "chatstate", project / "src" / "chatstate")
        subprocess.run([WORKERD_TOOLS / "vendor-sdk.sh", project], check=True, capture_output=True)
        if (REPO / "node_modules" / "wrangler").is_dir():
            (project / "node_modules").symlink_to(REPO / "node_modules")
    return project


@pytest.fixture(scope="module", params=["local", "workerd"])
def server(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    apis: FakeApis,
    model: FakeChatCompletions,
) -> Iterator[LocalServer]:
    directory = tmp_path_factory.mktemp(f"replies-{request.param}")
    on_workerd = request.param == "workerd"
    if on_workerd:
        request.getfixturevalue("workerd_ready")
    kind = WranglerServer if on_workerd else LocalServer
    running = kind(
        directory / "data",
        apis.base,
        directory / "server.log",
        CHAT_API_TOKEN=API_TOKEN,
        CHAT_LLM_BASE_URL=model.base_url,
        CHAT_LLM_MODEL="fake-model",
        CHAT_LOG_LEVEL="DEBUG",
    )
    running.project = replies_project(directory, on_workerd)
    running.start()
    yield running
    running.stop()


def say(server: LocalServer, chat_id: int, text: str) -> None:
    """A mention of the bot in a chat of its own per test (a private chat for a positive id)."""
    kind = "private" if chat_id > 0 else "supergroup"
    update = telegram_message_update(chat_id, text, bot_username=BOT_USERNAME, chat_type=kind)
    assert post_telegram(server, update).status_code == 200


def new_calls(
    apis: FakeApis, before: int, method: str, count: int, chat: int | str | None = None
) -> list[dict[str, Any]]:
    """The calls of `method` (to `chat`, if given) made after the first `before` calls, once
    there are `count`."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with apis.lock:
            found = [
                payload
                for name, payload in apis.calls[before:]
                if name == method
                and chat
                in (None, payload.get("chat_id"), payload.get("channel"), payload.get("channel_id"))
            ]
        if len(found) >= count:
            return found
        time.sleep(0.05)
    raise AssertionError(f"expected {count} {method} after call {before}: {apis.calls[before:]}")


def mark(apis: FakeApis) -> int:
    with apis.lock:
        return len(apis.calls)


def test_markdown_reaches_telegram_as_html(server: LocalServer, apis: FakeApis) -> None:
    before = mark(apis)
    say(server, 2001, "/md")
    [sent] = new_calls(apis, before, "sendMessage", 1, 2001)
    assert sent["parse_mode"] == "HTML"
    assert sent["text"] == (
        "<b>bold</b> &lt;tag&gt; &amp; <code>x&lt;y</code> "
        '<a href="https://e.com/?a=1&amp;b=2">docs</a>'
    )


def test_a_long_reply_arrives_in_order_in_several_messages(
    server: LocalServer, apis: FakeApis
) -> None:
    before = mark(apis)
    say(server, 2002, "/long")
    # Six paragraphs of about 2,000 characters: two to a message under Telegram's 4,096.
    sent = new_calls(apis, before, "sendMessage", 3, 2002)
    assert [s["text"].count("part") for s in sent] == [2, 2, 2]
    assert [s["text"].split()[1] for s in sent] == ["0", "2", "4"]


def test_a_card_and_a_select_choice(server: LocalServer, apis: FakeApis) -> None:
    before = mark(apis)
    say(server, 2003, "/card")
    [card] = new_calls(apis, before, "sendMessage", 1, 2003)
    assert card["reply_markup"]["inline_keyboard"][1] == [
        {"text": "Good", "callback_data": "rating:good"}
    ]
    before = mark(apis)
    assert post_telegram(server, telegram_callback_update(2003, "rating:good")).status_code == 200
    [rated] = new_calls(apis, before, "sendMessage", 1, 2003)
    assert rated["text"] == "rated good"


def said(server: LocalServer, apis: FakeApis, chat_id: int, text: str) -> str:
    before = mark(apis)
    say(server, chat_id, text)
    [reply] = new_calls(apis, before, "sendMessage", 1, chat_id)
    return str(reply["text"])


def test_a_handler_reads_back_its_own_state_write(server: LocalServer, apis: FakeApis) -> None:
    assert said(server, apis, 2090, "/count") == "count 1"
    assert said(server, apis, 2090, "/count") == "count 2"


def test_a_handler_that_raises_after_set_state_writes_none_of_it(
    server: LocalServer, apis: FakeApis
) -> None:
    assert said(server, apis, 2091, "/count") == "count 1"
    say(server, 2091, "/fail")
    # The queue runs the chat's messages in order: this one follows the failed handler.
    assert said(server, apis, 2091, "/show") == "count=1"


def test_a_flush_is_written_at_once_and_kept_when_the_handler_raises_later(
    server: LocalServer, apis: FakeApis
) -> None:
    say(server, 2092, "/flushfail")
    assert said(server, apis, 2092, "/show") == "flushed=True"


def test_a_handler_that_lost_its_lock_writes_no_state(server: LocalServer, apis: FakeApis) -> None:
    assert said(server, apis, 2093, "/takeover") == "taken over"
    assert said(server, apis, 2093, "/show") == "empty"


def test_a_card_on_slack_is_block_kit(server: LocalServer, apis: FakeApis) -> None:
    before = mark(apis)
    event = slack_event(slack_app_mention("C0REPLY", "/card", ts=f"{time.time():.6f}"))
    assert post_slack(server, event).status_code == 200
    [card] = new_calls(apis, before, "chat.postMessage", 1, "C0REPLY")
    assert [b["type"] for b in card["blocks"]] == ["header", "section", "section", "actions"]


def test_a_file_reaches_telegram_as_a_multipart_upload(server: LocalServer, apis: FakeApis) -> None:
    before = mark(apis)
    say(server, 2005, "/file")
    [sent] = new_calls(apis, before, "sendDocument", 1, 2005)
    assert sent["document"] == b"a,b\n1,2\n" and sent["chat_id"] == 2005


def test_a_file_reaches_slack_through_the_external_upload(
    server: LocalServer, apis: FakeApis
) -> None:
    before = mark(apis)
    event = slack_event(slack_app_mention("C0REPLY", "/file", ts=f"{time.time():.6f}"))
    assert post_slack(server, event).status_code == 200
    [complete] = new_calls(apis, before, "files.completeUploadExternal", 1, "C0REPLY")
    assert complete["channel_id"] == "C0REPLY"
    assert new_calls(apis, before, "upload", 1)


def test_a_stream_in_a_private_chat_is_a_draft_then_the_message(
    server: LocalServer, apis: FakeApis
) -> None:
    before = mark(apis)
    say(server, 2007, "/stream")
    [final] = new_calls(apis, before, "sendMessage", 1, 2007)
    assert final["text"] == "Hello, streamed world"
    assert new_calls(apis, before, "sendMessageDraft", 1, 2007)[0]["text"].startswith("Hello")


def test_a_stream_in_a_group_is_posted_then_edited(server: LocalServer, apis: FakeApis) -> None:
    before = mark(apis)
    say(server, -100321, "/stream")
    [first] = new_calls(apis, before, "sendMessage", 1, -100321)
    edits = new_calls(apis, before, "editMessageText", 1, -100321)
    assert first["text"] == "Hello" and edits[-1]["text"] == "Hello, streamed world"


def test_an_ai_reply_streams_from_the_chat_completions_server(
    server: LocalServer, apis: FakeApis, model: FakeChatCompletions
) -> None:
    before = mark(apis)
    say(server, 2009, "/ai hello model")
    [final] = new_calls(apis, before, "sendMessage", 1, 2009)
    assert final["text"] == "Streamed from the model."
    request = model.requests[-1][1]
    assert request["stream"] is True and request["messages"][-1]["content"].endswith("hello model")


def test_a_sent_message_is_edited_reacted_to_and_deleted(
    server: LocalServer, apis: FakeApis
) -> None:
    before = mark(apis)
    say(server, 2010, "/edit")
    [edited] = new_calls(apis, before, "editMessageText", 1, 2010)
    assert edited["text"] == "<b>second</b> version"
    [reaction] = new_calls(apis, before, "setMessageReaction", 1, 2010)
    assert reaction["reaction"] == [{"type": "emoji", "emoji": "👍"}]
    assert (
        new_calls(apis, before, "deleteMessage", 1, 2010)[0]["message_id"] == edited["message_id"]
    )


def test_typing_shows_while_the_handler_works(server: LocalServer, apis: FakeApis) -> None:
    before = mark(apis)
    say(server, 2011, "/typing")
    assert new_calls(apis, before, "sendChatAction", 1, 2011)[0]["action"] == "typing"
    assert new_calls(apis, before, "sendMessage", 1, 2011)[0]["text"] == "typed"


def test_an_ephemeral_message_on_slack(server: LocalServer, apis: FakeApis) -> None:
    before = mark(apis)
    event = slack_event(slack_app_mention("C0REPLY", "/ephemeral", ts=f"{time.time():.6f}"))
    assert post_slack(server, event).status_code == 200
    [sent] = new_calls(apis, before, "chat.postEphemeral", 1, "C0REPLY")
    assert sent["user"] == "U0ANN" and sent["text"] == "only you see this"


def test_a_post_over_http_reaches_the_thread(server: LocalServer, apis: FakeApis) -> None:
    before = mark(apis)
    answer = httpx.post(
        f"{server.url}/api/threads/telegram:-100555/messages",
        json={"text": "**deployed** v2", "markdown": True},
        headers={"authorization": f"Bearer {API_TOKEN}"},
        timeout=30,
    )
    assert answer.status_code == 201, answer.text
    assert answer.json()["message"]["thread_id"] == "telegram:-100555"
    [sent] = new_calls(apis, before, "sendMessage", 1, -100555)
    assert sent == {"chat_id": -100555, "text": "<b>deployed</b> v2", "parse_mode": "HTML"}


@pytest.mark.parametrize(
    ("path", "body", "headers", "status"),
    [
        ("/api/threads/telegram:-1/messages", {"text": "x"}, {}, 401),
        ("/api/threads/telegram:-1/messages", {"text": ""}, None, 422),
        ("/api/threads/telegram:-1/messages", {"text": "x", "extra": 1}, None, 422),
        ("/api/threads/nowhere:-1/messages", {"text": "x"}, None, 404),
    ],
)
def test_bad_posts_over_http_are_refused(
    server: LocalServer,
    path: str,
    body: dict[str, Any],
    headers: dict[str, str] | None,
    status: int,
) -> None:
    auth = {"authorization": f"Bearer {API_TOKEN}"} if headers is None else headers
    answer = httpx.post(f"{server.url}{path}", json=body, headers=auth, timeout=30)
    assert answer.status_code == status, answer.text
    assert "error" in answer.json()


def test_a_scheduled_post_arrives_once(server: LocalServer, apis: FakeApis) -> None:
    before = mark(apis)
    say(server, -100777, "/remind")
    [scheduled, reminder] = new_calls(apis, before, "sendMessage", 2, -100777)
    assert (scheduled["text"], reminder["text"]) == ("scheduled", "reminder time")
    time.sleep(2)
    assert len(new_calls(apis, before, "sendMessage", 2, -100777)) == 2


def test_replies_in_one_chat_are_paced(server: LocalServer, apis: FakeApis) -> None:
    before = mark(apis)
    say(server, -100888, "/burst")
    new_calls(apis, before, "sendMessage", 3, -100888)
    with apis.lock:
        times = [
            t
            for (name, _), t in zip(apis.calls[before:], apis.call_times[before:], strict=True)
            if name == "sendMessage"
        ]
    # About a second apart: Telegram's pace for one chat.
    assert times[2] - times[0] >= 1.5


@pytest.mark.parametrize("runtime", ["local", "workerd"])
def test_a_scheduled_post_survives_a_restart_and_is_sent_once(
    runtime: str, tmp_path: Path, apis: FakeApis, request: pytest.FixtureRequest
) -> None:
    on_workerd = runtime == "workerd"
    if on_workerd:
        request.getfixturevalue("workerd_ready")
    kind = WranglerServer if on_workerd else LocalServer
    project = replies_project(tmp_path, on_workerd)
    before = mark(apis)
    first = kind(tmp_path / "data", apis.base, tmp_path / "first.log")
    first.project = project
    first.start()
    try:
        say(first, -100999, "/remind")
        new_calls(apis, before, "sendMessage", 1, -100999)
    finally:
        first.stop()
    second = kind(tmp_path / "data", apis.base, tmp_path / "second.log")
    second.project = project
    second.start()
    try:
        # Locally the start finds the post in the shard files; on workerd the parent's alarm
        # wakes it (a request to the parent, or the alarm itself).
        say(second, -100999, "/md")
        sent = new_calls(apis, before, "sendMessage", 3, -100999)
        time.sleep(2)
        sent = new_calls(apis, before, "sendMessage", 3, -100999)
        assert sorted(s["text"] for s in sent if "<b>" not in s["text"]) == [
            "reminder time",
            "scheduled",
        ]
    finally:
        second.stop()


# --- what a bot can hear ------------------------------------------------------------------------


def post_update(server: LocalServer, update: dict[str, Any]) -> None:
    assert post_telegram(server, update).status_code == 200


def test_a_telegram_command_for_this_bot_and_not_for_another(
    server: LocalServer, apis: FakeApis
) -> None:
    before = mark(apis)
    post_update(server, telegram_command_update(-100601, "echo", "one", addressed_to="other_bot"))
    post_update(server, telegram_command_update(-100601, "echo", "two", addressed_to=BOT_USERNAME))
    [sent] = new_calls(apis, before, "sendMessage", 1, -100601)
    assert sent["text"] == "echo: two"


def test_a_slack_slash_command_is_acknowledged_empty_and_answered_in_the_channel(
    server: LocalServer, apis: FakeApis
) -> None:
    before = mark(apis)
    body = slack_slash_command("echo", "hi there", "C0SLASH")
    answer = httpx.post(
        f"{server.url}/webhooks/slack",
        content=body,
        headers=slack_signed_headers(SLACK_SECRET, body, form=True),
        timeout=30,
    )
    assert (answer.status_code, answer.content) == (200, b"")
    [sent] = new_calls(apis, before, "chat.postMessage", 1, "C0SLASH")
    assert sent["text"] == "echo: hi there"


def test_reactions_on_telegram_and_slack(server: LocalServer, apis: FakeApis) -> None:
    before = mark(apis)
    post_update(server, telegram_reaction_update(-100602, 9, old=[], new=["👍"]))
    [sent] = new_calls(apis, before, "sendMessage", 1, -100602)
    assert sent["text"] == "added 👍"
    event = slack_event(slack_reaction("C0REACT", "1700000000.000100", "eyes", added=False))
    assert post_slack(server, event).status_code == 200
    [slack] = new_calls(apis, before, "chat.postMessage", 1, "C0REACT")
    assert slack["text"] == "removed eyes"


def test_membership_migration_and_other_updates(server: LocalServer, apis: FakeApis) -> None:
    before = mark(apis)
    post_update(
        server,
        telegram_member_update(-4603, "my_chat_member", old_status="left", new_status="member"),
    )
    assert new_calls(apis, before, "sendMessage", 1, -4603)[0]["text"] == "hello, everyone"
    joined = {"id": 77, "is_bot": False, "first_name": "Bo"}
    post_update(
        server,
        telegram_member_update(
            -4603, "chat_member", old_status="left", new_status="member", user=joined
        ),
    )
    assert new_calls(apis, before, "sendMessage", 2, -4603)[1]["text"] == "welcome 77"
    # The group becomes a supergroup: the subscription made on joining moves with it.
    post_update(server, telegram_migration_update(-4603, -1004603))
    post_update(server, telegram_message_update(-1004603, "/echo after"))
    time.sleep(1)
    post_update(server, {"update_id": 987_654_321, "poll": {"id": "p", "question": "?"}})
    post_update(server, telegram_command_update(-1004603, "echo", "moved"))
    assert new_calls(apis, before, "sendMessage", 1, -1004603)[0]["text"] == "echo: moved"


def test_files_sent_to_the_bot_are_read_and_their_urls_never_logged(
    server: LocalServer, apis: FakeApis
) -> None:
    before = mark(apis)
    apis.apis.telegram_files["doc-e2e"] = b"from telegram"
    update = telegram_message_update(-100701, "")
    update["message"].pop("text")
    update["message"]["document"] = {"file_id": "doc-e2e", "file_name": "t.txt", "file_size": 13}
    post_update(server, update)
    assert (
        new_calls(apis, before, "sendMessage", 1, -100701)[0]["text"] == "read t.txt: from telegram"
    )
    url = apis.apis.add_slack_file("s.txt", b"from slack")
    event = slack_message("C0FILES", "", ts=f"{time.time():.6f}")
    event |= {
        "subtype": "file_share",
        "files": [
            {"id": "F9", "name": "s.txt", "mimetype": "text/plain", "size": 10, "url_private": url}
        ],
    }
    assert post_slack(server, slack_event(event)).status_code == 200
    [slack] = new_calls(apis, before, "chat.postMessage", 1, "C0FILES")
    assert slack["text"] == "read s.txt: from slack"
    log = server.log_path.read_text()
    assert "DEBUG" in log
    assert TELEGRAM_TOKEN not in log and "/file/bot" not in log and "files-pri" not in log


def test_a_slack_modal_from_a_slash_command_with_field_errors(
    server: LocalServer, apis: FakeApis
) -> None:
    before = mark(apis)
    body = slack_slash_command("order", "", "C0MODAL")
    headers = slack_signed_headers(SLACK_SECRET, body, form=True)
    assert (
        httpx.post(f"{server.url}/webhooks/slack", content=body, headers=headers).status_code == 200
    )
    [opened] = new_calls(apis, before, "views.open", 1)
    view = opened["view"]

    def submit(item: str) -> httpx.Response:
        state = {"values": {"item": {"item": {"type": "plain_text_input", "value": item}}}}
        payload = {
            "type": "view_submission",
            "user": {"id": "U0ANN", "username": "ann"},
            "view": {**view, "id": "V1", "state": state},
        }
        form = urlencode({"payload": json.dumps(payload)}).encode()
        signed = slack_signed_headers(SLACK_SECRET, form, form=True)
        return httpx.post(f"{server.url}/webhooks/slack", content=form, headers=signed, timeout=30)

    refused = submit("")
    assert refused.json() == {"response_action": "errors", "errors": {"item": "say what to order"}}
    accepted = submit("tea")
    assert (accepted.status_code, accepted.content) == (200, b"")
    [sent] = new_calls(apis, before, "chat.postMessage", 1, "C0MODAL")
    assert sent["text"] == "ordered tea (via command)"
