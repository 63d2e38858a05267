"""Any webhook body gets 2xx, 400 or 401, never a 500 or an unhandled exception, and a rejected
body writes nothing. Bodies are arbitrary bytes, arbitrary JSON, and JSON shaped like Telegram
updates and Slack envelopes with every field free to be the wrong type; they are verified (or
correctly signed) so that parsing is what gets exercised, and accepted ones go into a real Chat
over real (in-memory) state."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chatstate import open_local_state
from chatstate.chat.events import Inbound
from chatstate.chat.runtime import Chat
from chatstate.chat.work_index import ParentWorkIndex
from chatstate.http.client import HttpResult
from chatstate.http.messages import HttpRequest
from chatstate.local.signing import CryptographyEd25519
from chatstate.platforms.discord import DiscordPlatform
from chatstate.platforms.github import GitHubPlatform
from chatstate.platforms.slack import SlackPlatform
from chatstate.platforms.telegram import SECRET_HEADER, TelegramPlatform
from chatstate.platforms.whatsapp import WhatsAppPlatform
from chatstate.routes.webhooks import Ingress
from chatstate.state.backends.sqlite_port import SqlitePort
from chatstate.testing.payloads import (
    discord_signed_headers,
    github_signed_headers,
    slack_signed_headers,
    whatsapp_signed_headers,
)

SECRET = "fuzz-secret"
SLACK_SECRET = "fuzz-signing-secret"
GITHUB_SECRET = "fuzz-github-secret"
WHATSAPP_SECRET = "fuzz-whatsapp-secret"
DISCORD_PRIVATE_KEY = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"
DISCORD_PUBLIC_KEY = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"


class NoNetwork:
    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> HttpResult:
        return HttpResult(200, b'{"ok": true, "result": {}}')

    async def request(
        self, method: str, url: str, body: bytes, headers: dict[str, str]
    ) -> HttpResult:
        return HttpResult(201, b'{"id": 1}')


scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def shaped(fields: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[dict[str, Any]]:
    """Objects with these keys (any subset), each a plausible value or any JSON value."""
    return st.fixed_dictionaries({}, optional={k: v | json_values for k, v in fields.items()})


telegram_chat = shaped(
    {"id": st.integers(-(10**13), 10**13), "type": st.sampled_from(["private", "supergroup"])}
)
telegram_message = shaped(
    {
        "message_id": st.integers(0, 10**6),
        "chat": telegram_chat,
        "from": shaped({"id": st.integers(), "username": st.text(max_size=10)}),
        "date": st.integers(0, 2**31),
        "text": st.text(max_size=40),
        "entities": st.lists(
            shaped(
                {
                    "type": st.sampled_from(["mention", "text_mention", "bold", "bot_command"]),
                    "offset": st.integers(-5, 50),
                    "length": st.integers(-5, 50),
                }
            ),
            max_size=3,
        ),
        "message_thread_id": st.integers(0, 10**6),
        "is_topic_message": st.booleans(),
        "edit_date": st.integers(0, 2**31),
        "migrate_to_chat_id": st.integers(-(10**13), 0),
        "sticker": json_values,
    }
)
reaction_types = st.lists(
    shaped({"type": st.sampled_from(["emoji", "custom_emoji"]), "emoji": st.text(max_size=2)}),
    max_size=3,
)
telegram_member = shaped(
    {
        "chat": telegram_chat,
        "old_chat_member": shaped(
            {"status": st.sampled_from(["left", "member", "kicked"]), "user": json_values}
        ),
        "new_chat_member": shaped(
            {"status": st.sampled_from(["left", "member", "administrator"]), "user": json_values}
        ),
    }
)
telegram_updates = shaped(
    {
        "update_id": st.integers(0, 2**40),
        "message": telegram_message,
        "edited_message": telegram_message,
        "channel_post": telegram_message,
        "callback_query": shaped(
            {
                "id": st.text(max_size=10),
                "data": st.text(max_size=20),
                "message": telegram_message,
                "inline_message_id": st.text(max_size=10),
            }
        ),
        "message_reaction": shaped(
            {
                "chat": telegram_chat,
                "message_id": st.integers(0, 10**6),
                "user": json_values,
                "old_reaction": reaction_types,
                "new_reaction": reaction_types,
            }
        ),
        "my_chat_member": telegram_member,
        "chat_member": telegram_member,
        "poll": json_values,
    }
)
slack_event = shaped(
    {
        "type": st.sampled_from(
            [
                "message",
                "app_mention",
                "reaction_added",
                "reaction_removed",
                "member_joined_channel",
                "member_left_channel",
                "channel_left",
                "channel_rename",
                "app_home_opened",
            ]
        ),
        "reaction": st.text(max_size=8),
        "item": shaped(
            {
                "type": st.sampled_from(["message", "file"]),
                "channel": st.sampled_from(["C1"]) | st.text(max_size=4),
                "ts": st.sampled_from(["1718000000.000100"]) | st.text(max_size=6),
            }
        ),
        "subtype": st.sampled_from(["message_changed", "bot_message", "file_share"]),
        "user": st.text(max_size=8),
        "channel": st.sampled_from(["C1", "D1"]) | st.text(max_size=5),
        "ts": st.sampled_from(["1718000000.000100", "x"]) | st.text(max_size=8),
        "thread_ts": st.text(max_size=8),
        "text": st.text(max_size=30),
        "message": json_values,
    }
)
slack_envelopes = shaped(
    {
        "type": st.sampled_from(["event_callback", "url_verification"]),
        "event": slack_event,
        "event_id": st.text(max_size=8),
        "challenge": st.text(max_size=8),
        "authorizations": st.lists(shaped({"user_id": st.text(max_size=5)}), max_size=2),
    }
)
github_user = shaped({"login": st.sampled_from(["octocat", "bot"]) | st.text(max_size=6)})
github_subject = shaped(
    {
        "number": st.integers(-2, 10**6),
        "title": st.text(max_size=20),
        "body": st.text(max_size=30),
        "user": github_user,
        "created_at": st.sampled_from(["2026-12-01T10:00:00Z"]) | st.text(max_size=12),
    }
)
github_payloads = shaped(
    {
        "action": st.sampled_from(["created", "edited", "deleted", "opened", "closed"]),
        "repository": shaped(
            {"full_name": st.sampled_from(["octo-org/hello-world"]) | st.text(max_size=12)}
        ),
        "issue": github_subject,
        "pull_request": github_subject,
        "comment": shaped(
            {
                "id": st.integers(-2, 10**9),
                "body": st.text(max_size=30),
                "user": github_user,
                "updated_at": st.text(max_size=12),
            }
        ),
    }
)
github_events = st.sampled_from(
    ["issue_comment", "pull_request_review_comment", "issues", "pull_request", "ping", "star"]
)
whatsapp_message = shaped(
    {
        "from": st.sampled_from(["16315551181"]) | st.text(max_size=8),
        "id": st.sampled_from(["wamid.A"]) | st.text(max_size=8),
        "timestamp": st.sampled_from(["1700000000"]) | st.text(max_size=5),
        "type": st.sampled_from(
            ["text", "interactive", "button", "reaction", "image", "document", "location"]
        ),
        "text": shaped({"body": st.text(max_size=20)}),
        "interactive": shaped(
            {
                "type": st.sampled_from(["button_reply", "list_reply"]),
                "button_reply": shaped({"id": st.text(max_size=8), "title": st.text(max_size=8)}),
                "list_reply": shaped({"id": st.text(max_size=8)}),
            }
        ),
        "button": shaped({"payload": st.text(max_size=8)}),
        "reaction": shaped({"message_id": st.text(max_size=8), "emoji": st.text(max_size=2)}),
        "image": shaped({"id": st.text(max_size=8), "caption": st.text(max_size=8)}),
        "context": shaped({"id": st.text(max_size=8)}),
    }
)
whatsapp_payloads = shaped(
    {
        "object": st.sampled_from(["whatsapp_business_account", "page"]),
        "entry": st.lists(
            shaped(
                {
                    "changes": st.lists(
                        shaped(
                            {
                                "value": shaped(
                                    {
                                        "messages": st.lists(whatsapp_message, max_size=2),
                                        "contacts": json_values,
                                        "statuses": json_values,
                                    }
                                )
                            }
                        ),
                        max_size=2,
                    )
                }
            ),
            max_size=2,
        ),
    }
)
discord_payloads = shaped(
    {
        "type": st.sampled_from([1, 2, 3, 4, 5, 9]),
        "id": st.sampled_from(["1200000000000000001"]) | st.text(max_size=6),
        "channel_id": st.sampled_from(["645027906669510667"]) | st.text(max_size=6),
        "token": st.sampled_from(["aW50ZXJhY3Rpb24"]) | st.text(max_size=6),
        "guild_id": st.sampled_from(["290926798626357999"]),
        "member": shaped(
            {"user": shaped({"id": st.sampled_from(["5390823"]), "username": st.text(max_size=6)})}
        ),
        "user": shaped({"id": st.text(max_size=6)}),
        "data": shaped(
            {
                "name": st.sampled_from(["start", "remind"]) | st.text(max_size=8),
                "options": st.lists(
                    shaped(
                        {
                            "type": st.integers(1, 4),
                            "name": st.text(max_size=4),
                            "value": json_values,
                        }
                    ),
                    max_size=2,
                ),
                "custom_id": st.sampled_from(["ping", "size"]) | st.text(max_size=8),
                "values": st.lists(st.text(max_size=4), max_size=2),
                "components": json_values,
            }
        ),
        "message": shaped({"id": st.text(max_size=6)}),
    }
)
bodies = st.binary(max_size=200) | json_values.map(lambda v: json.dumps(v).encode())


def handle(platform: str, body: bytes, headers: dict[str, str]) -> tuple[int, int]:
    """The response status, and how many events reached the chat."""

    async def run() -> tuple[int, int]:
        state = open_local_state(None)
        await state.connect()
        index = SqlitePort(None)
        telegram = TelegramPlatform(bot_token="1:t", secret_token=SECRET, http=NoNetwork())
        slack = SlackPlatform(signing_secret=SLACK_SECRET, bot_token="xoxb", http=NoNetwork())
        github = GitHubPlatform(
            webhook_secret=GITHUB_SECRET, token="ghp", bot_login="bot", http=NoNetwork()
        )
        whatsapp = WhatsAppPlatform(
            verify_token="v",
            app_secret=WHATSAPP_SECRET,
            access_token="t",
            phone_number_id="1",
            http=NoNetwork(),
        )
        discord = DiscordPlatform(
            public_key=DISCORD_PUBLIC_KEY,
            application_id="1",
            bot_token=None,
            http=NoNetwork(),
            ed25519=CryptographyEd25519(),
        )
        chat = Chat(
            platforms=[telegram, slack, github, whatsapp, discord],
            state=state,
            work_index=ParentWorkIndex(index),
        )
        accepted: list[Inbound] = []

        async def accept(name: str, inbound: Inbound) -> None:
            accepted.append(inbound)
            await chat.accept(name, inbound)

        ingress = Ingress(chat.platforms, accept, state.clock)
        try:
            response = await ingress.handle(
                HttpRequest("POST", f"/webhooks/{platform}", headers, body)
            )
            await chat.stop(grace_s=5)
        finally:
            await state.disconnect()
            index.close()
        return response.status, sum(len(i.events) for i in accepted)

    return asyncio.run(run())


FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def assert_answered(status: int, events: int) -> None:
    assert status in (200, 400, 401), status
    if status != 200:
        assert events == 0


@FUZZ
@given(telegram_updates.map(lambda v: json.dumps(v).encode()) | bodies)
def test_any_verified_telegram_body_is_answered_2xx_or_400(body: bytes) -> None:
    assert_answered(*handle("telegram", body, {SECRET_HEADER: SECRET}))


@FUZZ
@given(telegram_updates.map(lambda v: json.dumps(v).encode()) | bodies, st.text(max_size=12))
def test_any_telegram_body_with_a_wrong_secret_is_401_and_writes_nothing(
    body: bytes, secret: str
) -> None:
    status, events = handle("telegram", body, {SECRET_HEADER: secret + "x"})
    assert (status, events) == (401, 0)


@FUZZ
@given(slack_envelopes.map(lambda v: json.dumps(v).encode()) | bodies)
def test_any_signed_slack_body_is_answered_2xx_or_400(body: bytes) -> None:
    headers = {**slack_signed_headers(SLACK_SECRET, body), "content-type": "application/json"}
    assert_answered(*handle("slack", body, headers))


@FUZZ
@given(st.one_of(json_values.map(lambda v: json.dumps(v)), st.text(max_size=80)))
def test_any_signed_slack_interaction_form_is_answered_2xx_or_400(payload: str) -> None:
    from urllib.parse import urlencode

    body = urlencode({"payload": payload}).encode()
    headers = {
        **slack_signed_headers(SLACK_SECRET, body, timestamp=int(time.time())),
        "content-type": "application/x-www-form-urlencoded",
    }
    assert_answered(*handle("slack", body, headers))


slash_fields = st.fixed_dictionaries(
    {"command": st.sampled_from(["/remind", "/x y", ""]) | st.text(max_size=10)},
    optional={
        "text": st.text(max_size=20),
        "channel_id": st.sampled_from(["C1", "D1"]) | st.text(max_size=5),
        "user_id": st.sampled_from(["U1"]) | st.text(max_size=5),
        "trigger_id": st.text(max_size=10),
        "response_url": st.text(max_size=10),
    },
)


@FUZZ
@given(slash_fields)
def test_any_signed_slack_slash_command_is_answered_2xx_or_400(fields: dict[str, str]) -> None:
    from urllib.parse import urlencode

    body = urlencode(fields).encode()
    headers = {
        **slack_signed_headers(SLACK_SECRET, body, timestamp=int(time.time()), form=True),
    }
    assert_answered(*handle("slack", body, headers))


@FUZZ
@given(github_payloads.map(lambda v: json.dumps(v).encode()) | bodies, github_events)
def test_any_signed_github_delivery_is_answered_2xx_or_400(body: bytes, event: str) -> None:
    assert_answered(*handle("github", body, github_signed_headers(GITHUB_SECRET, body, event)))


@FUZZ
@given(github_payloads.map(lambda v: json.dumps(v).encode()) | bodies, github_events)
def test_any_github_delivery_signed_with_another_secret_is_401_and_writes_nothing(
    body: bytes, event: str
) -> None:
    headers = github_signed_headers(GITHUB_SECRET + "x", body, event)
    assert handle("github", body, headers) == (401, 0)


@FUZZ
@given(whatsapp_payloads.map(lambda v: json.dumps(v).encode()) | bodies)
def test_any_signed_whatsapp_delivery_is_answered_2xx_or_400(body: bytes) -> None:
    assert_answered(*handle("whatsapp", body, whatsapp_signed_headers(WHATSAPP_SECRET, body)))


@FUZZ
@given(whatsapp_payloads.map(lambda v: json.dumps(v).encode()) | bodies)
def test_any_whatsapp_delivery_signed_with_another_secret_is_401_and_writes_nothing(
    body: bytes,
) -> None:
    headers = whatsapp_signed_headers(WHATSAPP_SECRET + "x", body)
    assert handle("whatsapp", body, headers) == (401, 0)


@FUZZ
@given(discord_payloads.map(lambda v: json.dumps(v).encode()) | bodies)
def test_any_signed_discord_interaction_is_answered_2xx_or_400(body: bytes) -> None:
    assert_answered(*handle("discord", body, discord_signed_headers(DISCORD_PRIVATE_KEY, body)))


@FUZZ
@given(discord_payloads.map(lambda v: json.dumps(v).encode()) | bodies, st.integers(301, 10**6))
def test_any_discord_interaction_signed_too_long_ago_is_401_and_writes_nothing(
    body: bytes, age_s: int
) -> None:
    headers = discord_signed_headers(DISCORD_PRIVATE_KEY, body, int(time.time()) - age_s)
    assert handle("discord", body, headers) == (401, 0)
