"""The `web` platform: the console's chat box, a direct message with the bot.

Its messages come from the signed-in console (chatstate/console), never from a webhook, and
run the bot's own handlers as Telegram's and Slack's do. Replies are kept in the thread's
history, where the chat box reads them; nothing is sent anywhere.
"""

from __future__ import annotations

import uuid

from chatstate.chat.events import Action, Author, Button, Inbound, Message
from chatstate.http.messages import HttpRequest, HttpResponse
from chatstate.platforms.base import LockScope, WebhookRejected
from chatstate.ports import Clock

WEB = "web"
BOT_AUTHOR = Author(user_id="bot", user_name="bot", full_name="Bot", is_bot=True)
MAX_WEB_TEXT_CHARS = 4096


def web_thread(session_id: str) -> str:
    """The chat box's thread for one console session."""
    return f"{WEB}:{session_id}"


class WebPlatform:
    name = WEB
    lock_scope: LockScope = "thread"
    persist_history = True

    def __init__(self, clock: Clock) -> None:
        self._clock = clock

    def verify(self, request: HttpRequest, now_ms: int) -> None:
        raise WebhookRejected(
            HttpResponse.text(404, "web chats come from the console at /, not from a webhook\n")
        )

    def parse(self, request: HttpRequest) -> Inbound | HttpResponse:
        raise AssertionError("verify() refuses every web webhook")

    async def prepare(self, message: Message) -> Message:
        return message

    async def post(self, thread_id: str, text: str, buttons: list[Button] | None) -> Message:
        session_id = thread_id.split(":", 1)[1]
        return Message(
            id=f"{session_id}:b{uuid.uuid4().hex}",
            thread_id=thread_id,
            channel_id=thread_id,
            platform=WEB,
            text=text,
            author=BOT_AUTHOR,
            date_ms=self._clock(),
            is_dm=True,
        )

    async def acknowledge(self, action: Action) -> None:
        return None


def web_message(session_id: str, client_id: str, text: str, now_ms: int) -> Inbound:
    """What the console's user typed; `client_id` makes a resent message count once."""
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
