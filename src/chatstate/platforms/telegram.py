"""Telegram: webhook secret check, update parsing, Bot API calls.

Ids follow the reference adapter (section 3.7): thread `telegram:<chat>` or, in a forum topic,
`telegram:<chat>:<message_thread_id>`; channel `telegram:<chat>`; message `<chat>:<message_id>`.
Locks and queues are per chat (lock scope "channel"), and history is kept for chats and topics.
"""

from __future__ import annotations

import asyncio
import hmac
import secrets
import time
from collections.abc import Sequence
from typing import Any

from chatstate.chat.attachments import Attachment, AttachmentError, AttachmentTooLarge
from chatstate.chat.content import (
    Card,
    File,
    LinkButton,
    Markdown,
    Modal,
    NotSupported,
    Reply,
    Select,
)
from chatstate.chat.events import (
    Action,
    Author,
    Button,
    Event,
    Inbound,
    Membership,
    Message,
    Migration,
    Reaction,
    Update,
)
from chatstate.chat.markdown import (
    BOLD,
    Block,
    Run,
    parse,
    plain_blocks,
    split,
    telegram_html,
    utf16_length,
    visible,
)
from chatstate.http.client import HttpClient
from chatstate.http.messages import HttpRequest, HttpResponse
from chatstate.platforms.base import (
    DEFAULT_RETRY,
    EditingStreamer,
    LockScope,
    RetryPolicy,
    Sleep,
    Streamer,
    StreamTarget,
    WebhookRejected,
    call_api,
    call_json_api,
    multipart,
    parse_json_object,
    read_file,
)
from chatstate.platforms.emoji import as_emoji
from chatstate.platforms.pacing import Pacer, Rate

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
        pacer: Pacer | None = None,
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
        self._pacer = pacer or Pacer(lambda: time.monotonic_ns() // 1_000_000, sleep)
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
        delivery = f"u{update_id}"
        for field_name in MESSAGE_FIELDS:
            if isinstance(update.get(field_name), dict):
                raw = update[field_name]
                migrated = raw.get("migrate_to_chat_id")
                if migrated is not None:
                    return Inbound([_migration(raw, migrated, delivery)], delivery)
                message = _message(raw, edited=field_name.startswith("edited"))
                return Inbound([message], delivery)
        if isinstance(update.get("callback_query"), dict):
            action = _action(update["callback_query"])
            return Inbound([] if action is None else [action], delivery)
        if isinstance(update.get("message_reaction"), dict):
            return Inbound(_reactions(update["message_reaction"], delivery), delivery)
        for field_name in ("my_chat_member", "chat_member"):
            if isinstance(update.get(field_name), dict):
                change = _membership(update[field_name], field_name, delivery)
                return Inbound([] if change is None else [change], delivery)
        kinds = [key for key in update if key != "update_id"]
        if len(kinds) == 1 and isinstance(update[kinds[0]], dict):
            return Inbound([_update(kinds[0], update[kinds[0]], delivery)], delivery)
        return Inbound([], delivery)

    async def prepare(self, message: Message) -> Message:
        me = await self._bot_user()
        raw = message.raw if isinstance(message.raw, dict) else {}
        reply = raw.get("reply_to_message")
        replied = isinstance(reply, dict) and (reply.get("from") or {}).get("id") == me.get("id")
        username = str(me.get("username", ""))
        is_mention = replied or _mentions(raw, username, me.get("id"))
        command, for_another_bot = _command(raw, username)
        return Message(
            **{
                **message.__dict__,
                "is_mention": is_mention,
                "command": command,
                "for_another_bot": for_another_bot,
            }
        )

    async def acknowledge(self, action: Action) -> None:
        await self._call("answerCallbackQuery", {"callback_query_id": action.id})

    async def read_attachment(self, attachment: Attachment, max_bytes: int) -> bytes:
        """getFile, then the file itself: its URL holds the bot token, so neither it nor the
        file's path goes anywhere but into the request."""
        found = (await self._call("getFile", {"file_id": attachment.ref}))["result"]
        size = found.get("file_size") if isinstance(found, dict) else None
        if isinstance(size, int) and size > max_bytes:
            raise AttachmentTooLarge(
                f"{attachment.name} is {size} bytes, over max_bytes={max_bytes}"
            )
        path = found.get("file_path") if isinstance(found, dict) else None
        if not isinstance(path, str):
            raise AttachmentError(f"telegram gave no file for {attachment.name} (over 20 MB?)")
        return await read_file(
            self._http,
            f"{self._api_base}/file/bot{self._bot_token}/{path}",
            {},
            attachment,
            max_bytes,
        )

    # --- what the bot says ------------------------------------------------------------------

    async def send(self, thread_id: str, reply: Reply) -> list[Message]:
        chat_id, topic = _decode_thread(thread_id)
        where: dict[str, Any] = {"chat_id": chat_id}
        if topic is not None:
            where["message_thread_id"] = topic
        if reply.file is not None:
            return [await self._send_file(where, reply.file)]
        if reply.card is not None:
            method, payload = _card_call(reply.card)
            return [await self._send(method, {**where, **payload}, chat_id)]
        parts = _text_parts(reply)
        keyboard = _keyboard(reply.buttons, None)
        sent = []
        for index, (text, parse_mode) in enumerate(parts):
            payload = {**where, "text": text}
            if parse_mode:
                payload["parse_mode"] = parse_mode
            if keyboard and index == len(parts) - 1:
                payload["reply_markup"] = keyboard
            sent.append(await self._send("sendMessage", payload, chat_id))
        return sent

    async def edit(self, sent: Message, reply: Reply) -> Message:
        chat_id, message_id = _message_ids(sent)
        where = {"chat_id": chat_id, "message_id": message_id}
        if reply.file is not None:
            raise NotSupported("telegram cannot turn a message into a file: delete it, post anew")
        if reply.card is not None:
            method, payload = _card_call(reply.card)
            has_photo = isinstance(sent.raw, dict) and "photo" in sent.raw
            if (method == "sendPhoto") != has_photo:
                raise NotSupported("telegram cannot add or remove a message's photo by an edit")
            if has_photo:
                payload.pop("photo")
                answer = await self._call("editMessageCaption", {**where, **payload})
            else:
                answer = await self._call("editMessageText", {**where, **payload})
        else:
            [(text, parse_mode)] = _text_parts(reply, single=True)
            payload = {**where, "text": text, **({"parse_mode": parse_mode} if parse_mode else {})}
            keyboard = _keyboard(reply.buttons, None)
            if keyboard:
                payload["reply_markup"] = keyboard
            answer = await self._call("editMessageText", payload)
        result = answer["result"]
        return _message(result, edited=False) if isinstance(result, dict) else sent

    async def delete(self, sent: Message) -> None:
        chat_id, message_id = _message_ids(sent)
        await self._call("deleteMessage", {"chat_id": chat_id, "message_id": message_id})

    async def react(self, sent: Message, emoji: str, *, add: bool) -> None:
        chat_id, message_id = _message_ids(sent)
        # A bot sets at most one reaction per message: adding replaces, removing clears.
        reaction = [{"type": "emoji", "emoji": as_emoji(emoji)}] if add else []
        await self._call(
            "setMessageReaction",
            {"chat_id": chat_id, "message_id": message_id, "reaction": reaction},
        )

    async def show_typing(self, thread_id: str) -> None:
        chat_id, topic = _decode_thread(thread_id)
        payload: dict[str, Any] = {"chat_id": chat_id, "action": "typing"}
        if topic is not None:
            payload["message_thread_id"] = topic
        await self._call("sendChatAction", payload)

    async def send_ephemeral(self, thread_id: str, user_id: str, reply: Reply) -> None:
        raise NotSupported("telegram has no ephemeral messages: every member sees what a bot posts")

    async def open_modal(self, trigger: Event, modal: Modal, metadata: dict[str, str]) -> None:
        raise NotSupported("telegram has no modals: ask with buttons or messages instead")

    def modal_answer(self, errors: dict[str, str] | None) -> HttpResponse:
        return HttpResponse.text(200, "ok\n")

    async def open_dm(self, user_id: str) -> str:
        if not user_id.isdigit():
            raise ValueError(f"a Telegram user id is a number, not {user_id!r}")
        # A private chat's id is the user's id; Telegram delivers once the user started the bot.
        return f"telegram:{user_id}"

    def streamer(self, thread_id: str, target: StreamTarget) -> Streamer:
        chat_id, _ = _decode_thread(thread_id)
        if chat_id > 0:  # a private chat: Telegram animates a draft, then the final message
            return _DraftStreamer(self, thread_id)
        return EditingStreamer(self, thread_id, _plain_parts)

    async def _send(self, method: str, payload: dict[str, Any], chat_id: int) -> Message:
        await self._pace(chat_id)
        return _message((await self._call(method, payload))["result"], edited=False)

    async def _pace(self, chat_id: int) -> None:
        limits = [(f"chat:{chat_id}", PER_CHAT)]
        if chat_id < 0:
            limits.append((f"group:{chat_id}", PER_GROUP))
        await self._pacer.wait([*limits, ("bot", PER_BOT)])

    async def _send_file(self, where: dict[str, Any], file: File) -> Message:
        photo = file.is_image and (file.size or 0) <= PHOTO_LIMIT_BYTES
        method, field = ("sendPhoto", "photo") if photo else ("sendDocument", "document")
        if file.size is not None and file.size > DOCUMENT_LIMIT_BYTES:
            raise ValueError(
                f"file {file.name!r} is {file.size} bytes; Telegram bots upload at most "
                f"{DOCUMENT_LIMIT_BYTES} bytes"
            )
        await self._pace(int(where["chat_id"]))
        if file.data is None:
            answer = await self._call(method, {**where, field: file.url})
        else:
            body, content_type = multipart(
                {k: str(v) for k, v in where.items()}, field, file.name, file.mime, file.data
            )
            answer = await call_api(
                self._http,
                f"{self._api_base}/bot{self._bot_token}/{method}",
                body,
                {"content-type": content_type},
                platform=self.name,
                method=method,
                sleep=self._sleep,
                retry=self._retry,
                secret=self._bot_token,
            )
        return _message(answer["result"], edited=False)

    async def send_draft(self, thread_id: str, draft_id: int, text: str) -> None:
        chat_id, topic = _decode_thread(thread_id)
        payload: dict[str, Any] = {"chat_id": chat_id, "draft_id": draft_id, "text": text}
        if topic is not None:
            payload["message_thread_id"] = topic
        await self._call("sendMessageDraft", payload)

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


def _command(message: dict[str, Any], username: str) -> tuple[dict[str, str] | None, bool]:
    """A bot_command entity at the start: ({"name", "args"}, False) when it is for this bot
    (`/remind` or `/remind@our_bot`), (None, True) for another bot's, (None, False) if none."""
    text = str(message.get("text") or "")
    for entity in message.get("entities") or []:
        if not isinstance(entity, dict) or entity.get("type") != "bot_command":
            continue
        if entity.get("offset") != 0 or not isinstance(entity.get("length"), int):
            continue
        word = text[: entity["length"]]
        name, _, addressee = word[1:].partition("@")
        if addressee and addressee.lower() != username.lower():
            return None, True
        return {"name": name.lower(), "args": text[entity["length"] :].strip()}, False
    return None, False


def _chat_thread(chat: Any, field: str) -> tuple[str, str]:
    chat_id = _integer(_object(chat, field).get("id"), f"{field}.id")
    return f"telegram:{chat_id}", f"telegram:{chat_id}"


def _reactions(update: dict[str, Any], delivery: str) -> list[Event]:
    """message_reaction: the emoji added and removed, from the old and new lists."""
    thread_id, channel_id = _chat_thread(update.get("chat"), "message_reaction.chat")
    message_id = _integer(update.get("message_id"), "message_reaction.message_id")
    chat_id = channel_id.split(":", 1)[1]

    def emojis(field: str) -> set[str]:
        listed = update.get(field) or []
        if not isinstance(listed, list):
            raise _rejected(f"message_reaction.{field}", "a list")
        return {
            str(r.get("emoji")) for r in listed if isinstance(r, dict) and r.get("type") == "emoji"
        }

    old, new = emojis("old_reaction"), emojis("new_reaction")
    user = _author(update.get("user") or update.get("actor_chat"))
    changes = [(emoji, True) for emoji in sorted(new - old)] + [
        (e, False) for e in sorted(old - new)
    ]
    return [
        Reaction(
            id=f"{delivery}:{index}",
            thread_id=thread_id,
            channel_id=channel_id,
            platform="telegram",
            user=user,
            emoji=emoji,
            added=added,
            message_id=f"{chat_id}:{message_id}",
            raw=update,
        )
        for index, (emoji, added) in enumerate(changes)
    ]


IN_CHAT = {"member", "administrator", "creator", "restricted"}


def _membership(update: dict[str, Any], field: str, delivery: str) -> Membership | None:
    """my_chat_member: the bot added or removed; chat_member: someone else joined."""
    thread_id, channel_id = _chat_thread(update.get("chat"), f"{field}.chat")
    old = _object(update.get("old_chat_member"), f"{field}.old_chat_member")
    new = _object(update.get("new_chat_member"), f"{field}.new_chat_member")
    was_in, is_in = old.get("status") in IN_CHAT, new.get("status") in IN_CHAT
    if was_in == is_in:
        return None  # a promotion, a restriction: no one came or went
    if field == "my_chat_member":
        kind = "bot_added" if is_in else "bot_removed"
    elif is_in:
        kind = "member_joined"
    else:
        return None
    return Membership(
        id=delivery,
        thread_id=thread_id,
        channel_id=channel_id,
        platform="telegram",
        kind=kind,
        user=_author(new.get("user")),
        raw=update,
    )


def _migration(message: dict[str, Any], to_chat: Any, delivery: str) -> Migration:
    thread_id, channel_id = _chat_thread(message.get("chat"), "message.chat")
    new_id = _integer(to_chat, "message.migrate_to_chat_id")
    return Migration(delivery, thread_id, channel_id, "telegram", f"telegram:{new_id}", message)


def _update(kind: str, body: dict[str, Any], delivery: str) -> Update:
    """Anything else (a poll, a join request...): in its chat's queue when it names one."""
    chat = body.get("chat") or (body.get("message") or {}).get("chat")
    chat_id = chat.get("id") if isinstance(chat, dict) else None
    channel = f"telegram:{chat_id}" if isinstance(chat_id, int) else f"telegram:{kind}"
    return Update(delivery, channel, channel, "telegram", kind, body)


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
        attachments=_attachments(message),
    )


# Message fields that carry a file, and the kind each is.
FILE_FIELDS = {
    "document": "document",
    "voice": "voice",
    "audio": "voice",
    "video": "video",
    "video_note": "video",
    "animation": "video",
}


def _attachments(message: dict[str, Any]) -> list[Attachment]:
    found = []
    photo = message.get("photo")
    if isinstance(photo, list) and photo and isinstance(photo[-1], dict):
        largest = photo[-1]  # Telegram lists a photo's sizes smallest first
        found.append(_attachment("photo", largest, "photo.jpg", "image/jpeg"))
    for field_name, kind in FILE_FIELDS.items():
        item = message.get(field_name)
        if isinstance(item, dict):
            found.append(_attachment(kind, item, f"{field_name}", "application/octet-stream"))
    return found


def _attachment(kind: str, item: dict[str, Any], name: str, mime: str) -> Attachment:
    file_id = item.get("file_id")
    if not isinstance(file_id, str) or not file_id:
        raise _rejected(f"{kind}.file_id", "a string")
    size = item.get("file_size")
    return Attachment(
        kind=kind,
        name=str(item.get("file_name") or name),
        size=size if isinstance(size, int) and not isinstance(size, bool) else None,
        mime=str(item.get("mime_type") or mime),
        ref=file_id,
        platform="telegram",
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


TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
MAX_BUTTONS = 100
BUTTONS_PER_ROW = 3
PHOTO_LIMIT_BYTES = 10 * 1024 * 1024
DOCUMENT_LIMIT_BYTES = 50 * 1024 * 1024
# Telegram's documented pace: about one message a second in a chat, 20 a minute in a group,
# 30 a second for the whole bot.
PER_CHAT = Rate(1, 1000)
PER_GROUP = Rate(20, 60_000)
PER_BOT = Rate(30, 1000)


def _plain_parts(text: str) -> list[str]:
    if utf16_length(text) <= TEXT_LIMIT:
        return [text]
    return [visible(part) for part in split(plain_blocks(text), TEXT_LIMIT, utf16_length)]


def _text_parts(reply: Reply, *, single: bool = False) -> list[tuple[str, str | None]]:
    """(text, parse_mode) per message: HTML for Markdown, nothing (literal text) for a str."""
    if reply.markdown:
        parts = split(parse(reply.text), TEXT_LIMIT, utf16_length)
        rendered: list[tuple[str, str | None]] = [(telegram_html(p), "HTML") for p in parts]
    else:
        rendered = [(part, None) for part in _plain_parts(reply.text)]
    if single and len(rendered) > 1:
        raise ValueError(f"an edit must fit one Telegram message ({TEXT_LIMIT} characters)")
    return rendered


def _keyboard(
    buttons: tuple[Button | LinkButton, ...] | Sequence[Button | LinkButton], select: Select | None
) -> dict[str, Any] | None:
    rows: list[list[dict[str, str]]] = []
    row: list[dict[str, str]] = []
    for button in buttons:
        if isinstance(button, LinkButton):
            row.append({"text": button.label, "url": button.url})
        else:
            row.append({"text": button.label, "callback_data": _callback_data(button)})
        if len(row) == BUTTONS_PER_ROW:
            rows.append(row)
            row = []
    if row:
        rows.append(row)
    if select is not None:
        # No menus on Telegram: each option is a button, one per row, under the select's id.
        rows.extend(
            [{"text": label, "callback_data": _callback_data(Button(select.id, label, value))}]
            for label, value in select.options
        )
    count = sum(len(r) for r in rows)
    if count > MAX_BUTTONS:
        raise ValueError(f"a Telegram message holds at most {MAX_BUTTONS} buttons, not {count}")
    return {"inline_keyboard": rows} if rows else None


def _card_call(card: Card) -> tuple[str, dict[str, Any]]:
    """sendPhoto with a caption when the card has an image, else sendMessage; HTML."""
    blocks = []
    if card.title:
        blocks.append(Block("heading", (Run(card.title, frozenset({BOLD})),)))
    if isinstance(card.text, Markdown):
        blocks.extend(parse(card.text.text))
    elif card.text:
        blocks.extend(plain_blocks(card.text))
    for label, value in card.fields:
        blocks.append(Block("paragraph", (Run(label, frozenset({BOLD})), Run(f": {value}"))))
    text = telegram_html(blocks)
    limit = CAPTION_LIMIT if card.image_url else TEXT_LIMIT
    if utf16_length(visible(blocks)) > limit:
        raise ValueError(f"a Telegram card's text is at most {limit} characters")
    payload: dict[str, Any] = {"parse_mode": "HTML"}
    keyboard = _keyboard(card.buttons, card.select)
    if keyboard:
        payload["reply_markup"] = keyboard
    if card.image_url:
        return "sendPhoto", {**payload, "photo": card.image_url, "caption": text}
    return "sendMessage", {**payload, "text": text}


def _message_ids(sent: Message) -> tuple[int, int]:
    chat, _, message = sent.id.partition(":")
    return int(chat), int(message.split(":")[0])


class _DraftStreamer:
    """Private chats: the text so far as an animated draft, then the final message."""

    def __init__(self, platform: TelegramPlatform, thread_id: str) -> None:
        self._platform = platform
        self._thread_id = thread_id
        self._draft_id = secrets.randbelow(2**31 - 1) + 1

    async def update(self, text: str) -> None:
        # A draft shows at most one message's worth: the latest of a longer text.
        shown = text if utf16_length(text) <= TEXT_LIMIT else _plain_parts(text)[-1]
        await self._platform.send_draft(self._thread_id, self._draft_id, shown)

    async def finish(self, text: str) -> list[Message]:
        return await self._platform.send(self._thread_id, Reply(text))
