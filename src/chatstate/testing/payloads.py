"""Webhook payloads built from the Telegram Bot API and Slack Events API field definitions,
signed as the platforms sign them."""

from __future__ import annotations

import json
import time
from itertools import count
from typing import Any
from urllib.parse import urlencode

from chatstate.platforms.slack import signature

_update_ids = count(500_000)
_message_ids = count(1)


def telegram_user(
    user_id: int = 1001, first_name: str = "Ann", username: str = "ann"
) -> dict[str, Any]:
    # User: id, is_bot, first_name, last_name?, username?, language_code?
    return {
        "id": user_id,
        "is_bot": False,
        "first_name": first_name,
        "username": username,
        "language_code": "en",
    }


def telegram_message_update(
    chat_id: int,
    text: str,
    *,
    bot_username: str | None = None,
    topic: int | None = None,
    chat_type: str = "supergroup",
    update_id: int | None = None,
    message_id: int | None = None,
    user: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """An Update with a `message` (Message: message_id, from, chat, date, text, entities...)."""
    if bot_username:
        text = f"@{bot_username} {text}"
    message: dict[str, Any] = {
        "message_id": message_id if message_id is not None else next(_message_ids),
        "from": user or telegram_user(),
        "chat": {"id": chat_id, "type": chat_type, "title": "Team"}
        if chat_type != "private"
        else {"id": chat_id, "type": "private", "first_name": "Ann"},
        "date": int(time.time()),
        "text": text,
    }
    if bot_username:
        message["entities"] = [{"type": "mention", "offset": 0, "length": len(bot_username) + 1}]
    if topic is not None:
        message["message_thread_id"] = topic
        message["is_topic_message"] = True
    return {
        "update_id": update_id if update_id is not None else next(_update_ids),
        "message": message,
    }


def telegram_edited_update(original: dict[str, Any], text: str) -> dict[str, Any]:
    """An Update with `edited_message`: the same message_id, new text and an edit_date."""
    message = {**original["message"], "text": text, "edit_date": int(time.time()) + 1}
    message.pop("entities", None)
    return {"update_id": next(_update_ids), "edited_message": message}


def telegram_inline_callback_update(data: str, *, query_id: str) -> dict[str, Any]:
    """A callback_query from a button on an inline-mode message: no `message`, only
    `inline_message_id`."""
    return {
        "update_id": next(_update_ids),
        "callback_query": {
            "id": query_id,
            "from": telegram_user(),
            "inline_message_id": "AgAAAN0hAAB-dxEM4CXLcxI2mIY",
            "chat_instance": "-5843628762374",
            "data": data,
        },
    }


def telegram_callback_update(
    chat_id: int,
    data: str,
    *,
    query_id: str = "4382bfdwdsb323b2d9",
    user: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """An Update with a `callback_query` (CallbackQuery: id, from, message, chat_instance, data)."""
    return {
        "update_id": next(_update_ids),
        "callback_query": {
            "id": query_id,
            "from": user or telegram_user(),
            "message": {
                "message_id": next(_message_ids),
                "from": {"id": 42, "is_bot": True, "first_name": "Bot", "username": "my_bot"},
                "chat": {"id": chat_id, "type": "supergroup", "title": "Team"},
                "date": int(time.time()),
                "text": "Welcome! Press the button.",
            },
            "chat_instance": "-5843628762374",
            "data": data,
        },
    }


def slack_event(
    event: dict[str, Any], *, event_id: str | None = None, bot_user_id: str = "UBOT"
) -> dict[str, Any]:
    """An event_callback envelope (token, team_id, api_app_id, event, type, event_id, event_time,
    authorizations)."""
    return {
        "token": "XXYYZZ",
        "team_id": "T123ABC456",
        "api_app_id": "A123ABC456",
        "event": event,
        "type": "event_callback",
        "event_id": event_id or f"Ev{next(_message_ids):08d}",
        "event_time": int(time.time()),
        "authorizations": [
            {
                "enterprise_id": None,
                "team_id": "T123ABC456",
                "user_id": bot_user_id,
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
        "is_ext_shared_channel": False,
    }


def slack_app_mention(
    channel: str,
    text: str,
    *,
    ts: str | None = None,
    thread_ts: str | None = None,
    user: str = "U0ANN",
) -> dict[str, Any]:
    ts = ts or f"{time.time():.6f}"
    event: dict[str, Any] = {
        "type": "app_mention",
        "user": user,
        "text": f"<@UBOT> {text}",
        "ts": ts,
        "channel": channel,
        "event_ts": ts,
    }
    if thread_ts:
        event["thread_ts"] = thread_ts
    return event


def slack_message(
    channel: str,
    text: str,
    *,
    ts: str | None = None,
    thread_ts: str | None = None,
    user: str = "U0ANN",
) -> dict[str, Any]:
    """A `message` event (message.channels / message.im): no mention of the bot needed."""
    event = slack_app_mention(channel, text, ts=ts, thread_ts=thread_ts, user=user)
    return {
        **event,
        "type": "message",
        "text": text,
        "channel_type": "im" if channel.startswith("D") else "channel",
    }


def slack_block_actions(
    channel: str,
    message_ts: str,
    action_id: str,
    value: str,
    *,
    user_id: str = "U0ANN",
    username: str = "ann",
    trigger_id: str | None = None,
) -> bytes:
    """An interactivity request's form body: `payload` is a block_actions JSON object."""
    payload = {
        "type": "block_actions",
        "user": {"id": user_id, "username": username, "team_id": "T123ABC456"},
        "api_app_id": "A123ABC456",
        "token": "XXYYZZ",
        "trigger_id": trigger_id or f"{next(_message_ids)}.98765.abcdef",
        "team": {"id": "T123ABC456", "domain": "team"},
        "channel": {"id": channel, "name": "general"},
        "message": {"type": "message", "ts": message_ts, "text": "", "user": "UBOT"},
        "actions": [
            {
                "type": "button",
                "action_id": action_id,
                "block_id": "actions",
                "value": value,
                "action_ts": f"{time.time():.6f}",
            }
        ],
    }
    return urlencode({"payload": json.dumps(payload)}).encode()


def slack_signed_headers(
    signing_secret: str, body: bytes, timestamp: int | None = None, *, form: bool = False
) -> dict[str, str]:
    stamp = str(timestamp if timestamp is not None else int(time.time()))
    return {
        "content-type": "application/x-www-form-urlencoded" if form else "application/json",
        "x-slack-request-timestamp": stamp,
        "x-slack-signature": signature(signing_secret, stamp, body),
    }


def body(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload).encode()
