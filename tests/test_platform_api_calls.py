"""Platform details that need the Bot API: mentions as Telegram marks them, single-flight getMe,
retries of rate-limited and failing calls, inline-mode button presses, Slack edits."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import pytest

from chatstate.chat.content import Reply
from chatstate.chat.events import Action, Inbound, Message
from chatstate.http.client import HttpResult
from chatstate.http.messages import HttpRequest
from chatstate.platforms.base import PlatformApiError
from chatstate.platforms.slack import SlackPlatform
from chatstate.platforms.telegram import INLINE_CHANNEL, TelegramPlatform
from chatstate.testing.payloads import (
    slack_event,
    telegram_inline_callback_update,
    telegram_message_update,
)

TOKEN = "123456:SECRET-token"
BOT = {"id": 42, "is_bot": True, "first_name": "Bot", "username": "my_bot"}


def answer(status: int, payload: dict[str, Any], **headers: str) -> HttpResult:
    return HttpResult(status, json.dumps(payload).encode(), headers)


class ScriptedHttp:
    """Answers calls from a script, and getMe always; records every call's method."""

    def __init__(self, *script: HttpResult, slow_get_me: bool = False) -> None:
        self.script = list(script)
        self.methods: list[str] = []
        self.slow_get_me = slow_get_me

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> HttpResult:
        method = url.rsplit("/", 1)[1]
        self.methods.append(method)
        if method == "getMe":
            if self.slow_get_me:
                await asyncio.sleep(0.01)
            return answer(200, {"ok": True, "result": BOT})
        return self.script.pop(0)


class RecordingSleep:
    def __init__(self) -> None:
        self.slept: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.slept.append(seconds)


def telegram(http: ScriptedHttp, sleep: RecordingSleep | None = None) -> TelegramPlatform:
    return TelegramPlatform(
        bot_token=TOKEN, secret_token="s", http=http, sleep=sleep or RecordingSleep()
    )


def parse(platform: TelegramPlatform | SlackPlatform, payload: dict[str, Any]) -> Inbound:
    parsed = platform.parse(HttpRequest("POST", "/", {}, json.dumps(payload).encode()))
    assert isinstance(parsed, Inbound)
    return parsed


async def is_mention(text: str, entities: list[dict[str, Any]]) -> bool:
    platform = telegram(ScriptedHttp())
    update = telegram_message_update(-1001, text)
    update["message"]["entities"] = entities
    [message] = parse(platform, update).events
    assert isinstance(message, Message)
    return (await platform.prepare(message)).is_mention


async def test_a_mention_entity_after_an_emoji_counts_utf16_units() -> None:
    # 🎉 is one code point but two UTF-16 units: the entity starts at 3, not 2.
    assert await is_mention("🎉 @my_bot hi", [{"type": "mention", "offset": 3, "length": 7}])


async def test_a_mention_entity_at_code_point_offsets_is_not_ours() -> None:
    assert not await is_mention("🎉 @my_bot hi", [{"type": "mention", "offset": 2, "length": 7}])


async def test_a_longer_username_that_starts_with_ours_is_not_a_mention() -> None:
    assert not await is_mention("@my_bot_two hi", [{"type": "mention", "offset": 0, "length": 11}])


async def test_our_username_without_a_mention_entity_is_not_a_mention() -> None:
    assert not await is_mention("ask @my_bot later", [])


async def test_a_text_mention_of_the_bots_user_id_is_a_mention() -> None:
    entity = {"type": "text_mention", "offset": 0, "length": 3, "user": {"id": 42}}
    assert await is_mention("Bot, hi", [entity])


async def test_get_me_is_called_once_when_messages_race() -> None:
    http = ScriptedHttp(slow_get_me=True)
    platform = telegram(http)
    [message] = parse(platform, telegram_message_update(-1001, "@my_bot hi")).events
    assert isinstance(message, Message)
    await asyncio.gather(*(platform.prepare(message) for _ in range(5)))
    assert http.methods == ["getMe"]


async def test_a_telegram_429_waits_its_retry_after_then_succeeds() -> None:
    limited = {"ok": False, "error_code": 429, "parameters": {"retry_after": 3}}
    sent = {"ok": True, "result": {"message_id": 1, "chat": {"id": 5}, "date": 0, "text": "x"}}
    http = ScriptedHttp(answer(429, limited), answer(200, sent))
    sleep = RecordingSleep()
    await telegram(http, sleep).send("telegram:5", Reply("x"))
    assert (http.methods, sleep.slept) == (["sendMessage", "sendMessage"], [3.0])


async def test_a_slack_429_waits_its_retry_after_header() -> None:
    sleep = RecordingSleep()
    http = ScriptedHttp(
        answer(429, {"ok": False, "error": "ratelimited"}, **{"retry-after": "2"}),
        answer(200, {"ok": True, "ts": "1.5", "message": {}}),
    )
    slack = SlackPlatform(signing_secret="s", bot_token="xoxb", http=http, sleep=sleep)
    await slack.send("slack:C1:1.0", Reply("x"))
    assert sleep.slept == [2.0]


async def test_server_errors_are_retried_with_growing_waits_then_logged_and_raised(
    caplog: pytest.LogCaptureFixture,
) -> None:
    failing = answer(503, {"ok": False, "error_code": 503, "description": "down"})
    http = ScriptedHttp(*[failing] * 4)
    sleep = RecordingSleep()
    with pytest.raises(PlatformApiError, match="telegram sendMessage failed with HTTP 503"):
        await telegram(http, sleep).send("telegram:5", Reply("x"))
    assert sleep.slept == [0.5, 1.0, 2.0]
    assert "telegram sendMessage failed with HTTP 503 after 4 attempt(s)" in caplog.text
    assert TOKEN not in caplog.text


async def test_a_client_error_is_not_retried() -> None:
    http = ScriptedHttp(answer(400, {"ok": False, "error_code": 400, "description": "bad"}))
    sleep = RecordingSleep()
    with pytest.raises(PlatformApiError):
        await telegram(http, sleep).send("telegram:5", Reply("x"))
    assert (len(http.methods), sleep.slept) == (1, [])


async def test_a_retry_after_beyond_the_budget_fails_without_waiting() -> None:
    limited = {"ok": False, "error_code": 429, "parameters": {"retry_after": 3600}}
    http = ScriptedHttp(answer(429, limited))
    sleep = RecordingSleep()
    with pytest.raises(PlatformApiError, match="HTTP 429"):
        await telegram(http, sleep).send("telegram:5", Reply("x"))
    assert sleep.slept == []


async def test_a_connection_failure_is_retried() -> None:
    class FlakyHttp(ScriptedHttp):
        async def post(self, url: str, body: bytes, headers: dict[str, str]) -> HttpResult:
            if not self.methods:
                self.methods.append("refused")
                raise ConnectionRefusedError("connection refused")
            return await super().post(url, body, headers)

    sent = {"ok": True, "result": {"message_id": 1, "chat": {"id": 5}, "date": 0, "text": "x"}}
    http = FlakyHttp(answer(200, sent))
    await telegram(http).send("telegram:5", Reply("x"))
    assert http.methods == ["refused", "sendMessage"]


def test_an_inline_mode_button_press_is_an_action_of_no_chat() -> None:
    update = telegram_inline_callback_update("ping", query_id="q1")
    [action] = parse(telegram(ScriptedHttp()), update).events
    assert isinstance(action, Action)
    assert (action.id, action.action_id, action.channel_id) == ("q1", "ping", INLINE_CHANNEL)


async def test_posting_to_an_inline_press_thread_says_why_it_cannot() -> None:
    with pytest.raises(ValueError, match="inline-mode message has no chat"):
        await telegram(ScriptedHttp()).send(f"{INLINE_CHANNEL}:abc", Reply("x"))


def test_a_slack_edit_is_an_edit_event() -> None:
    event = {
        "type": "message",
        "subtype": "message_changed",
        "channel": "C1",
        "message": {
            "type": "message",
            "user": "U1",
            "text": "fixed",
            "ts": "1.000100",
            "edited": {"user": "U1", "ts": "2.000200"},
        },
    }
    [message] = parse(
        SlackPlatform(signing_secret="s", bot_token="b", http=ScriptedHttp()), slack_event(event)
    ).events
    assert isinstance(message, Message)
    assert (message.id, message.text, message.is_edit) == (
        "C1:1.000100:edit:2.000200",
        "fixed",
        True,
    )


def test_a_slack_unfurl_is_not_an_edit() -> None:
    event = {
        "type": "message",
        "subtype": "message_changed",
        "channel": "C1",
        "message": {"type": "message", "user": "U1", "text": "x", "ts": "1.0", "attachments": []},
    }
    slack = SlackPlatform(signing_secret="s", bot_token="b", http=ScriptedHttp())
    assert parse(slack, slack_event(event)).events == []


def test_the_retry_log_line_names_platform_method_and_status(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    limited = {"ok": False, "error_code": 429, "parameters": {"retry_after": 1}}
    sent = {"ok": True, "result": {"message_id": 1, "chat": {"id": 5}, "date": 0, "text": "x"}}
    http = ScriptedHttp(answer(429, limited), answer(200, sent))
    asyncio.run(telegram(http).send("telegram:5", Reply("x")))
    assert "telegram sendMessage got HTTP 429; retrying in 1.0 s" in caplog.text
