"""The `web` platform: the console's chat box, a direct message with the bot.

Its messages come from the signed-in console (chatstate/console), never from a webhook, and
run the bot's own handlers as Telegram's and Slack's do. Replies are kept in the thread's
history, where the chat box reads them; nothing is sent anywhere. A streamed reply shows as a
draft while it grows, files are kept (up to 1 MiB) for the console to offer as downloads, and
typing shows for a few seconds after each signal: all in the thread's own shard.
"""

from __future__ import annotations

import base64
import dataclasses
import re
import uuid
from typing import Any

from chatstate.chat.attachments import Attachment, AttachmentError, AttachmentTooLarge
from chatstate.chat.content import File, Modal, NotSupported, Reply, card_to_json, modal_to_json
from chatstate.chat.events import Action, Author, Button, Event, Inbound, Message
from chatstate.http.messages import HttpRequest, HttpResponse
from chatstate.platforms.base import LockScope, Streamer, StreamTarget, WebhookRejected
from chatstate.state.adapter import StateAdapter

WEB = "web"
BOT_AUTHOR = Author(user_id="bot", user_name="bot", full_name="Bot", is_bot=True)
MAX_WEB_TEXT_CHARS = 4096
MAX_WEB_FILE_BYTES = 1024 * 1024
FILE_TTL_MS = 7 * 24 * 3600 * 1000
DRAFT_TTL_MS = 60_000
TYPING_TTL_MS = 6_000
MODAL_TTL_MS = 3600_000


def web_thread(session_id: str) -> str:
    """The chat box's thread for one console session."""
    return f"{WEB}:{session_id}"


class WebPlatform:
    name = WEB
    lock_scope: LockScope = "thread"
    persist_history = True

    def __init__(self, state: StateAdapter) -> None:
        self._state = state

    def verify(self, request: HttpRequest, now_ms: int) -> None:
        raise WebhookRejected(
            HttpResponse.text(404, "web chats come from the console at /, not from a webhook\n")
        )

    def parse(self, request: HttpRequest) -> Inbound | HttpResponse:
        raise AssertionError("verify() refuses every web webhook")

    async def prepare(self, message: Message) -> Message:
        """`/word rest` typed in the chat box is the command `word`, as in Telegram."""
        word, _, rest = message.text.partition(" ")
        if re.fullmatch(r"/[A-Za-z0-9_]{1,32}", word):
            return dataclasses.replace(
                message, command={"name": word[1:].lower(), "args": rest.strip()}
            )
        return message

    async def acknowledge(self, action: Action) -> None:
        return None

    async def read_attachment(self, attachment: Attachment, max_bytes: int) -> bytes:
        data = await self._state.get(attachment.ref)
        if not isinstance(data, str):
            raise AttachmentError(f"{attachment.name} is no longer kept (uploads last 7 days)")
        content = base64.b64decode(data)
        if len(content) > max_bytes:
            raise AttachmentTooLarge(
                f"{attachment.name} is {len(content)} bytes, over max_bytes={max_bytes}"
            )
        return content

    async def send(self, thread_id: str, reply: Reply) -> list[Message]:
        return [await self._message(thread_id, f"b{uuid.uuid4().hex}", reply)]

    async def edit(self, sent: Message, reply: Reply) -> Message:
        return await self._message(sent.thread_id, sent.id.split(":", 1)[1], reply)

    async def delete(self, sent: Message) -> None:
        return None

    async def react(self, sent: Message, emoji: str, *, add: bool) -> None:
        return None  # kept in history with the message (chat/thread.py)

    async def show_typing(self, thread_id: str) -> None:
        await self._state.set(typing_key(thread_id), True, TYPING_TTL_MS)

    async def send_ephemeral(self, thread_id: str, user_id: str, reply: Reply) -> None:
        raise NotSupported("web (the console's chat box) has no ephemeral messages")

    async def open_dm(self, user_id: str) -> str:
        raise NotSupported("web: the console's chat box opens its own conversations")

    async def open_modal(self, trigger: Event, modal: Modal, metadata: dict[str, str]) -> None:
        """The chat box shows the form until it is sent or dismissed."""
        opened = {"modal": modal_to_json(modal), "metadata": metadata}
        await self._state.set(open_modal_key(trigger.thread_id), opened, MODAL_TTL_MS)

    def modal_answer(self, errors: dict[str, str] | None) -> HttpResponse:
        return HttpResponse.json(422 if errors else 200, {"errors": errors or {}})

    def streamer(self, thread_id: str, target: StreamTarget) -> Streamer:
        return _DraftStreamer(self, thread_id)

    async def show_draft(self, thread_id: str, text: str | None) -> None:
        if text is None:
            await self._state.delete(draft_key(thread_id))
        else:
            await self._state.set(draft_key(thread_id), text, DRAFT_TTL_MS)

    async def _message(self, thread_id: str, local_id: str, reply: Reply) -> Message:
        session_id = thread_id.split(":", 1)[1]
        id = f"{session_id}:{local_id}"
        text, form, card, file = reply.text, "markdown" if reply.markdown else "text", None, None
        if reply.card is not None:
            text, form, card = reply.card.title, "card", card_to_json(reply.card)
        elif reply.file is not None:
            text, form, file = (
                reply.file.name,
                "file",
                await self._keep_file(thread_id, id, reply.file),
            )
        elif len(text) > MAX_WEB_TEXT_CHARS * 4:
            raise ValueError(f"a console message is at most {MAX_WEB_TEXT_CHARS * 4} characters")
        return Message(
            id=id,
            thread_id=thread_id,
            channel_id=thread_id,
            platform=WEB,
            text=text,
            author=BOT_AUTHOR,
            date_ms=self._state.clock(),
            is_dm=True,
            buttons=[
                {"action_id": b.action_id, "label": b.label, "value": b.value}
                for b in reply.buttons
                if isinstance(b, Button)
            ],
            format=form,
            card=card,
            file=file,
        )

    async def _keep_file(self, thread_id: str, message_id: str, file: File) -> dict[str, Any]:
        if file.data is None:
            # A link the console offers as it is: nothing to keep.
            return {"name": file.name, "mime": file.mime, "url": file.url}
        if len(file.data) > MAX_WEB_FILE_BYTES:
            raise ValueError(
                f"file {file.name!r} is {len(file.data)} bytes; the console keeps at most "
                f"{MAX_WEB_FILE_BYTES} bytes"
            )
        data = base64.b64encode(file.data).decode()
        await self._state.set(file_key(thread_id, message_id), data, FILE_TTL_MS)
        return {"name": file.name, "mime": file.mime, "size": len(file.data)}


class _DraftStreamer:
    """The chat box polls the thread's draft: the text so far shows live, then the message."""

    def __init__(self, platform: WebPlatform, thread_id: str) -> None:
        self._platform = platform
        self._thread_id = thread_id

    async def update(self, text: str) -> None:
        await self._platform.show_draft(self._thread_id, text)

    async def finish(self, text: str) -> list[Message]:
        sent = await self._platform.send(self._thread_id, Reply(text))
        await self._platform.show_draft(self._thread_id, None)
        return sent


def open_modal_key(thread_id: str) -> str:
    return f"thread-state:{thread_id}:open-modal"


def draft_key(thread_id: str) -> str:
    return f"thread-state:{thread_id}:draft"


def typing_key(thread_id: str) -> str:
    return f"thread-state:{thread_id}:typing"


def file_key(thread_id: str, message_id: str) -> str:
    return f"thread-state:{thread_id}:file:{message_id}"


def web_message(
    session_id: str,
    client_id: str,
    text: str,
    now_ms: int,
    attachments: list[Attachment] | None = None,
) -> Inbound:
    """What the console's user typed (and uploaded); `client_id` makes a resent message count
    once."""
    thread = web_thread(session_id)
    event = Message(
        id=f"{session_id}:{client_id}",
        thread_id=thread,
        channel_id=thread,
        platform=WEB,
        text=text,
        author=_console_user(session_id),
        date_ms=now_ms,
        is_dm=True,
        attachments=attachments or [],
    )
    return Inbound([event])


def web_press(session_id: str, client_id: str, button: Button, message_id: str) -> Inbound:
    """A press of a button the bot sent to the chat box."""
    thread = web_thread(session_id)
    action = Action(
        id=f"{session_id}:{client_id}",
        action_id=button.action_id,
        value=button.value,
        thread_id=thread,
        channel_id=thread,
        platform=WEB,
        user=_console_user(session_id),
        message_id=message_id,
    )
    return Inbound([action])


def _console_user(session_id: str) -> Author:
    return Author(user_id=f"console-{session_id[:8]}", user_name="you", full_name="Console user")
