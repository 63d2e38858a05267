"""Telegram: webhook secret check, update parsing, Bot API calls.

Ids follow the reference adapter (section 3.7): thread `telegram:<chat>` or, in a forum topic,
`telegram:<chat>:<message_thread_id>`; channel `telegram:<chat>`; message `<chat>:<message_id>`.
Locks and queues are per chat (lock scope "channel"), and history is kept for chats and topics.
"""

from __future__ import annotations

import hmac
from typing import Any

from ..chat.events import Action, Author, Button, Inbound, Message
from ..http import HttpRequest, HttpResponse
from ..http_client import HttpClient
from .base import LockScope, PlatformApiError, WebhookRejected, call_json_api, parse_json_object

SECRET_HEADER = "x-telegram-bot-api-secret-token"
MESSAGE_FIELDS = ("message", "edited_message", "channel_post", "edited_channel_post")


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
    ) -> None:
        if not secret_token:
            raise ValueError("Telegram webhooks need a secret token (setWebhook secret_token)")
        self._bot_token = bot_token
        self._secret = secret_token.encode()
        self._http = http
        self._api_base = api_base.rstrip("/")
        self._bot_username: str | None = None

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
        username = await self._username()
        entities = message.raw.get("entities", []) if isinstance(message.raw, dict) else []
        mentioned = any(
            entity.get("type") == "mention"
            and message.text[entity["offset"] + 1 : entity["offset"] + entity["length"]].lower()
            == username.lower()
            for entity in entities
            if isinstance(entity, dict)
        )
        reply = message.raw.get("reply_to_message") if isinstance(message.raw, dict) else None
        replied = isinstance(reply, dict) and (reply.get("from") or {}).get("username") == username
        is_mention = mentioned or replied or f"@{username}".lower() in message.text.lower()
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

    async def _username(self) -> str:
        if self._bot_username is None:
            me = (await self._call("getMe", {}))["result"]
            self._bot_username = str(me.get("username", ""))
        return self._bot_username

    async def _call(self, method: str, payload: dict[str, Any]) -> dict[str, Any]:
        # The token is part of the URL; it must never reach a log line or an error message.
        url = f"{self._api_base}/bot{self._bot_token}/{method}"
        try:
            return await call_json_api(self._http, url, payload, {}, method)
        except PlatformApiError as error:
            raise PlatformApiError(str(error).replace(self._bot_token, "<token>")) from None


def _callback_data(button: Button) -> str:
    data = f"{button.action_id}:{button.value}" if button.value else button.action_id
    if len(data.encode()) > 64:
        raise ValueError(f"Telegram callback data is at most 64 bytes: {data!r}")
    return data


def _decode_thread(thread_id: str) -> tuple[int, int | None]:
    parts = thread_id.split(":")
    if parts[0] != "telegram" or len(parts) not in (2, 3):
        raise ValueError(f"not a Telegram thread id: {thread_id!r}")
    return int(parts[1]), int(parts[2]) if len(parts) == 3 else None


def _thread_of(message: dict[str, Any]) -> tuple[str, str]:
    chat_id = message["chat"]["id"]
    channel = f"telegram:{chat_id}"
    topic = message.get("message_thread_id")
    if message.get("is_topic_message") and topic is not None:
        return f"{channel}:{topic}", channel
    return channel, channel


def _author(user: dict[str, Any] | None) -> Author:
    user = user or {}
    full_name = " ".join(p for p in (user.get("first_name"), user.get("last_name")) if p)
    return Author(
        user_id=str(user.get("id", "")),
        user_name=str(user.get("username", "")),
        full_name=full_name,
        is_bot=bool(user.get("is_bot", False)),
    )


def _message(message: dict[str, Any], *, edited: bool) -> Message:
    try:
        thread_id, channel_id = _thread_of(message)
        chat_id, message_id = message["chat"]["id"], message["message_id"]
    except (KeyError, TypeError) as error:
        raise WebhookRejected(HttpResponse.text(400, f"message is missing {error}\n")) from error
    # An edit is a new event for the same message id: it gets its own id so dedupe keeps it.
    suffix = f":edit:{message.get('edit_date', '')}" if edited else ""
    return Message(
        id=f"{chat_id}:{message_id}{suffix}",
        thread_id=thread_id,
        channel_id=channel_id,
        platform="telegram",
        text=str(message.get("text") or message.get("caption") or ""),
        author=_author(message.get("from") or message.get("sender_chat")),
        date_ms=int(message.get("date", 0)) * 1000,
        is_dm=message["chat"].get("type") == "private",
        raw=message,
    )


def _action(query: dict[str, Any]) -> Action | None:
    message = query.get("message")
    data = query.get("data")
    if not isinstance(message, dict) or not isinstance(data, str) or "chat" not in message:
        return None  # inline-mode and game callbacks are not handled
    thread_id, channel_id = _thread_of(message)
    action_id, _, value = data.partition(":")
    return Action(
        id=str(query["id"]),
        action_id=action_id,
        value=value,
        thread_id=thread_id,
        channel_id=channel_id,
        platform="telegram",
        user=_author(query.get("from")),
        message_id=f"{message['chat']['id']}:{message.get('message_id')}",
        raw=query,
    )
