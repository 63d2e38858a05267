"""The console's reads and the chat runtime's notes, through the state adapter.

Notes go to the console's own shard after a message is recorded, off the path that answers the
webhook, and a failed note is logged, never raised: the console must not slow or stop the bot.
A thread's details are read from the one shard they live in, in one call.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from chatstate.chat.events import Action, Author, Event, Membership, Message, Reaction, Update
from chatstate.chat.history import latest_versions
from chatstate.chat.markdown import html, parse
from chatstate.chat.observers import HandlerFailure
from chatstate.platforms.web import draft_key, open_modal_key, typing_key
from chatstate.state.adapter import StateAdapter, StateBatch

logger = logging.getLogger("chatstate.routes.console")

CONSOLE_SHARD = "console"
LAST_ERROR_PREFIX = "thread-last-error:"
LAST_ERROR_TTL_MS = 30 * 24 * 3600 * 1000
DEFAULT_RECENT_MESSAGES = 30
NOTES_PER_CALL = 100


def _raw(value: Any) -> Any:
    return value


def last_error_key(thread_id: str) -> str:
    return LAST_ERROR_PREFIX + thread_id


def _title(event: Event, author: str) -> str:
    """A DM's title is its user; a group's is its name when the platform sent one (a Telegram
    message carries its chat's title); otherwise the list shows the thread id."""
    if isinstance(event, Message) and event.is_dm:
        return author
    raw = event.raw
    chat = raw.get("chat") if isinstance(raw, dict) else None
    if not isinstance(chat, dict) and isinstance(raw, dict):
        message = raw.get("message")  # a Telegram button press carries its message
        chat = message.get("chat") if isinstance(message, dict) else None
    title = chat.get("title") if isinstance(chat, dict) else None
    return title if isinstance(title, str) else ""


class ConsoleIndex:
    """The console's index of conversations; the chat runtime's observer (chat/observers.py)."""

    def __init__(self, state: StateAdapter) -> None:
        self.state = state
        # Notes made while one call is in flight go together in the next call: a busy process
        # makes one call per round trip, not one per message.
        self._waiting: list[dict[str, Any]] = []
        self._sending: asyncio.Future[None] | None = None

    async def _note(self, entry: dict[str, Any]) -> None:
        self._waiting.append(entry)
        while self._sending is not None:
            await asyncio.shield(self._sending)
            if not any(waiting is entry for waiting in self._waiting):
                return
        self._sending = asyncio.get_running_loop().create_future()
        try:
            await self._send_waiting()
        finally:
            self._sending.set_result(None)
            self._sending = None

    async def _send_waiting(self) -> None:
        entries, self._waiting = self._waiting[:NOTES_PER_CALL], self._waiting[NOTES_PER_CALL:]
        try:
            batch = self.state.batch()
            for entry in entries:
                batch.on_shard(CONSOLE_SHARD, ["console_note", entry], _raw)
            await batch.run()
        except Exception as error:
            logger.warning(
                "could not note %d conversation(s) in the console: %s", len(entries), error
            )

    async def event_accepted(self, event: Event, queue_key: str) -> None:
        """A message or button press was recorded in this thread."""
        if isinstance(event, Message):
            author, text = event.author, event.text
        elif isinstance(event, Action):
            author, text = event.user, f"pressed {event.action_id!r}"
        elif isinstance(event, Reaction):
            author, text = event.user, f"{'reacted' if event.added else 'unreacted'} {event.emoji}"
        elif isinstance(event, Membership):
            author, text = event.user, event.kind.replace("_", " ")
        else:
            author, text = (
                Author(user_id=event.platform),
                event.kind if isinstance(event, Update) else "moved",
            )
        await self._note(
            {
                "id": event.thread_id,
                "kind": "thread",
                "platform": event.platform,
                "title": _title(event, author.name),
                "text": f"{author.name}: {text}",
                "at": self.state.clock(),
                "count": 1,
                "detail": {
                    "thread_id": event.thread_id,
                    "channel_id": event.channel_id,
                    "queue_key": queue_key,
                },
            }
        )

    def round_finishing(self, batch: StateBatch, failures: list[HandlerFailure]) -> None:
        """Each thread's last failure, kept beside its state for the thread's details."""
        for failure in failures:
            batch.set(last_error_key(failure.thread_id), failure.to_json(), LAST_ERROR_TTL_MS)

    async def handler_failed(self, platform: str, failure: HandlerFailure) -> None:
        await self._note(
            {
                "id": failure.thread_id,
                "kind": "thread",
                "platform": platform,
                "at": failure.at,
                "error": failure.error,
            }
        )

    async def note_agent(self, agent: str, conversation: dict[str, Any], text: str) -> None:
        """An agent conversation was created or got a message."""
        await self._note(
            {
                "id": f"agent:{agent}/{conversation['id']}",
                "kind": "agent",
                "platform": "agent",
                # A chat turn's answer carries no title: the row keeps the one it has.
                "title": f"{agent}: {conversation.get('title') or conversation['id']}"
                if "title" in conversation
                else "",
                "text": text,
                "at": self.state.clock(),
                "count": 1 if text else 0,
                "detail": {"agent": agent, "conversation": conversation["id"]},
            }
        )

    async def page(self, before: list[Any] | None, limit: int) -> dict[str, Any]:
        """A page of conversations, newest activity first, and the next page's cursor."""
        batch = self.state.batch()
        listed = batch.on_shard(CONSOLE_SHARD, ["console_list", before, limit], _raw)
        await batch.run()
        return dict(listed.value)

    async def thread(
        self, thread_id: str, queue_key: str, recent: int = DEFAULT_RECENT_MESSAGES
    ) -> dict[str, Any]:
        """Everything the console shows of a chat thread, read in one batch (one shard call
        with the default routing): history, subscription, lock, queue, state, last error,
        scheduled posts, and the chat box's draft and typing signal."""
        router = self.state.router
        batch = self.state.batch()
        history = batch.get_list(f"msg-history:{thread_id}", recent)
        subscribed = batch.is_subscribed(thread_id)
        state = batch.get(f"thread-state:{thread_id}")
        queue_shard = router.for_thread(queue_key)
        lock = batch.on_shard(queue_shard, ["lock_holder", queue_key], _raw)
        queue = batch.on_shard(queue_shard, ["queue_summary", queue_key], _raw)
        error = batch.get(last_error_key(thread_id))
        scheduled = batch.on_shard(
            router.for_thread(thread_id), ["list_scheduled", thread_id], _raw
        )
        draft = batch.get(draft_key(thread_id))
        typing = batch.get(typing_key(thread_id))
        modal = batch.get(open_modal_key(thread_id))
        await batch.run()
        return {
            "thread_id": thread_id,
            "queue_key": queue_key,
            "messages": [_readable(m) for m in latest_versions(list(history.value))],
            "subscribed": subscribed.value,
            "state": state.value,
            "lock": lock.value,
            "queue": queue.value,
            "last_error": error.value,
            "scheduled": [
                {"id": post["id"], "at": post["at"], "content": post["content"]}
                for post in scheduled.value
            ],
            "draft": draft.value,
            "typing": bool(typing.value),
            "modal": (modal.value or {}).get("modal") if isinstance(modal.value, dict) else None,
        }


def _readable(message: dict[str, Any]) -> dict[str, Any]:
    """A stored message as the page shows it: Markdown rendered to sanitised HTML."""
    if message.get("format") == "markdown":
        return {**message, "html": html(parse(str(message.get("text", ""))))}
    return message
