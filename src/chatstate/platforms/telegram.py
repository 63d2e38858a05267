"""Telegram: webhook secret check, update parsing, Bot API calls.

Ids follow the reference adapter (section 3.7): thread `telegram:<chat>` or, in a forum topic,
`telegram:<chat>:<message_thread_id>`; channel `telegram:<chat>`; message `<chat>:<message_id>`.
Locks and queues are per chat (lock scope "channel"), and history is kept for chats and topics.
"""

from __future__ import annotations

import asyncio
import hmac
from typing import Any

from chatstate.chat.events import Action, Author, Button, Inbound, Message
from chatstate.http.client import HttpClient
from chatstate.http.messages import HttpRequest, HttpResponse
from chatstate.platforms.base import (
    DEFAULT_RETRY,
    LockScope,
    RetryPolicy,
    Sleep,
    WebhookRejected,
    call_json_api,
    parse_json_object,
)

SECRET_HEADER = "x-telegram-bot-api-secret-token"
MESSAGE_FIELDS = ("message", "edited_message", "channel_post", "edited_channel_post")
# Where presses of buttons on inline-mode messages queue: they belong to no chat.
INLINE_CHANNEL = "telegram:inline"


class TelegramPlatform:
    name = "telegram"
    lock_scope: LockScope = "channel"
    persist_history = True

    def __init__(
        self,
        *,
        bot_token: str,
        secret_token: str,
        http: HttpClient,
        api_base: str = "https://api.telegram.org",
        retry: RetryPolicy = DEFAULT_RETRY,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if not secret_token:
            raise ValueError("Telegram webhooks need a secret token (setWebhook secret_token)")
        self._bot_token = bot_token
        self._secret = secret_token.encode()
        self._http = http
        self._api_base = api_base.rstrip("/")
        self._retry = retry
        self._sleep = sleep
        self._me: dict[str, Any] | None = None
        # Single flight: updates racing at a parent's wake share one getMe call.
        self._me_lock = asyncio.Lock()

    def verify(self, request: HttpRequest, now_ms: int) -> None:
        given = request.header(SECRET_HEADER)
        if given is None or not hmac.compare_digest(given.encode(), self._secret):
            raise WebhookRejected(HttpResponse.text(401, "invalid or missing secret token\n"))

    def parse(self, request: HttpRequest) -> Inbound | HttpResponse:
        update = parse_json_object(request.body)
        update_id = update.get("update_id")
        if isinstance(update_id, bool) or not isinstance(update_id, int):
            raise WebhookRejected(HttpResponse.text(400, "update_id must be an integer\n"))
        for field_name in MESSAGE_FIELDS:
            if isinstance(update.get(field_name), dict):
                message = _message(update[field_name], edited=field_name.startswith("edited"))
                return Inbound([message], f"u{update_id}")
        if isinstance(update.get("callback_query"), dict):
            action = _action(update["callback_query"])
            return Inbound([] if action is None else [action], f"u{update_id}")
        return Inbound([], f"u{update_id}")

    async def prepare(self, message: Message) -> Message:
        me = await self._bot_user()
        raw = message.raw if isinstance(message.raw, dict) else {}
        reply = raw.get("reply_to_message")
        replied = isinstance(reply, dict) and (reply.get("from") or {}).get("id") == me.get("id")
        is_mention = replied or _mentions(raw, str(me.get("username", "")), me.get("id"))
        return Message(**{**message.__dict__, "is_mention": is_mention})

    async def post(self, thread_id: str, text: str, buttons: list[Button] | None) -> Message:
        chat_id, topic = _decode_thread(thread_id)
        payload: dict[str, Any] = {"chat_id": chat_id, "text": text}
        if topic is not None:
            payload["message_thread_id"] = topic
        if buttons:
            payload["reply_markup"] = {
                "inline_keyboard": [
                    [{"text": b.label, "callback_data": _callback_data(b)} for b in buttons]
                ]
            }
        sent = (await self._call("sendMessage", payload))["result"]
        return _message(sent, edited=False)

    async def acknowledge(self, action: Action) -> None:
        await self._call("answerCallbackQuery", {"callback_query_id": action.id})

    async def _bot_user(self) -> dict[str, Any]:
        async with self._me_lock:
            if self._me is None:
                me = (await self._call("getMe", {}))["result"]
                self._me = me if isinstance(me, dict) else {}
            return self._me

    async def _call(self, method: str, payload: dict[str, Any]) -> dict[str, Any]:
        # The token is part of the URL; it must never reach a log line or an error message.
        return await call_json_api(
            self._http,
            f"{self._api_base}/bot{self._bot_token}/{method}",
            payload,
            {},
            platform=self.name,
            method=method,
            sleep=self._sleep,
            retry=self._retry,
            secret=self._bot_token,
        )


def _mentions(message: dict[str, Any], username: str, user_id: object) -> bool:
    """Whether a mention entity names this bot: `@username` whole (a longer name that starts
    with ours is someone else), or a text_mention of its user id. Offsets and lengths count
    UTF-16 code units, as Telegram does, so text after an emoji lines up."""
    text = str(message.get("text") or message.get("caption") or "")
    entities = message.get("entities") or message.get("caption_entities") or []
    encoded = text.encode("utf-16-le")
    for entity in entities if isinstance(entities, list) else []:
        if not isinstance(entity, dict):
            continue
        if entity.get("type") == "text_mention":
            if (entity.get("user") or {}).get("id") == user_id:
                return True
            continue
        offset, length = entity.get("offset"), entity.get("length")
        if entity.get("type") != "mention" or not isinstance(offset, int):
            continue
        if not isinstance(length, int):
            continue
        named = encoded[offset * 2 : (offset + length) * 2].decode("utf-16-le", errors="replace")
        if username and named.lower() == f"@{username}".lower():
            return True
    return False


def _callback_data(button: Button) -> str:
    data = f"{button.action_id}:{button.value}" if button.value else button.action_id
    if len(data.encode()) > 64:
        raise ValueError(f"Telegram callback data is at most 64 bytes: {data!r}")
    return data


def _decode_thread(thread_id: str) -> tuple[int, int | None]:
    parts = thread_id.split(":")
    if thread_id.startswith(INLINE_CHANNEL):
        raise ValueError("a button press on an inline-mode message has no chat to post to")
    if parts[0] != "telegram" or len(parts) not in (2, 3):
        raise ValueError(f"not a Telegram thread id: {thread_id!r}")
    return int(parts[1]), int(parts[2]) if len(parts) == 3 else None


def _rejected(field: str, expected: str) -> WebhookRejected:
    return WebhookRejected(HttpResponse.text(400, f"{field} must be {expected}\n"))


def _integer(value: Any, field: str, *, required: bool = True) -> int | None:
    if value is None and not required:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise _rejected(field, "an integer")
    return value


def _object(value: Any, field: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _rejected(field, "an object")
    return value


def _thread_of(message: dict[str, Any]) -> tuple[str, str]:
    chat_id = _integer(_object(message.get("chat"), "message.chat").get("id"), "message.chat.id")
    channel = f"telegram:{chat_id}"
    topic = _integer(message.get("message_thread_id"), "message_thread_id", required=False)
    if message.get("is_topic_message") is True and topic is not None:
        return f"{channel}:{topic}", channel
    return channel, channel


def _author(user: Any) -> Author:
    user = user if isinstance(user, dict) else {}
    names = (user.get("first_name"), user.get("last_name"))
    return Author(
        user_id=str(user.get("id", "")),
        user_name=str(user.get("username", "")),
        full_name=" ".join(str(n) for n in names if n),
        is_bot=user.get("is_bot") is True,
    )


def _message(message: dict[str, Any], *, edited: bool) -> Message:
    thread_id, channel_id = _thread_of(message)
    chat = message["chat"]
    message_id = _integer(message.get("message_id"), "message.message_id")
    date = _integer(message.get("date", 0), "message.date")
    text = message.get("text") or message.get("caption") or ""
    if not isinstance(text, str):
        raise _rejected("message.text", "a string")
    # An edit is a new event for the same message id: it gets its own id so dedupe keeps it.
    suffix = f":edit:{message.get('edit_date', '')}" if edited else ""
    return Message(
        id=f"{chat['id']}:{message_id}{suffix}",
        thread_id=thread_id,
        channel_id=channel_id,
        platform="telegram",
        text=text,
        author=_author(message.get("from") or message.get("sender_chat")),
        date_ms=(date or 0) * 1000,
        is_dm=chat.get("type") == "private",
        is_edit=edited,
        raw=message,
    )


def _action(query: dict[str, Any]) -> Action | None:
    if not isinstance(query.get("id"), str | int) or isinstance(query.get("id"), bool):
        return None
    message = query.get("message")
    # Game callbacks carry no data; they are still answered, under action id "".
    data = query.get("data")
    action_id, _, value = (data if isinstance(data, str) else "").partition(":")
    if isinstance(message, dict) and "chat" in message:
        thread_id, channel_id = _thread_of(message)
        message_id: str | None = f"{message['chat']['id']}:{message.get('message_id')}"
    else:
        # Inline mode: the button is on a message sent through the bot, in a chat the bot may
        # not be in. There is no chat to post to, but the press must still be answered.
        channel_id = INLINE_CHANNEL
        thread_id = f"{INLINE_CHANNEL}:{str(query.get('inline_message_id', ''))[:64]}"
        message_id = None
    return Action(
        id=str(query["id"]),
        action_id=action_id,
        value=value,
        thread_id=thread_id,
        channel_id=channel_id,
        platform="telegram",
        user=_author(query.get("from")),
        message_id=message_id,
        raw=query,
    )
