"""The console's reads and the chat runtime's notes, through the state adapter.

No object takes every message: the index of conversations is spread over INDEX_SHARDS shards
by a hash of each conversation's id, and a page is read from all of them and merged. A
conversation is noted at most once per NOTE_INTERVAL_MS by its parent: the first message at
once, those within the interval together in one trailing note at its end, so a busy chat costs
the index one call per interval, and a quiet one a call per message to one of many shards.

Notes are sent after a message is recorded, off the path that answers the webhook, and a failed
note is logged, never raised: the console must not slow or stop the bot. A thread's details are
read from the one shard they live in, in one call.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

from chatstate.chat.events import Action, Author, Event, Membership, Message, Reaction, Update
from chatstate.chat.history import latest_versions
from chatstate.chat.markdown import html, parse
from chatstate.chat.observers import HandlerFailure
from chatstate.platforms.web import draft_key, open_modal_key, typing_key
from chatstate.state.adapter import StateAdapter, StateBatch

logger = logging.getLogger("chatstate.routes.console")

# The index's shards: each conversation's rows in one, chosen by a hash of its id.
INDEX_SHARDS = 64
# Where the index lived before it was spread: still read, so nothing noted there is lost.
LEGACY_SHARD = "console"
NOTE_INTERVAL_MS = 2_000
# Conversations whose last note time a parent remembers; the oldest are forgotten beyond it.
REMEMBERED_NOTES = 10_000
LAST_ERROR_PREFIX = "thread-last-error:"
LAST_ERROR_TTL_MS = 30 * 24 * 3600 * 1000
DEFAULT_RECENT_MESSAGES = 30


def index_shard(conversation_id: str) -> str:
    digest = hashlib.sha256(conversation_id.encode()).digest()
    return f"console:{int.from_bytes(digest[:4], 'big') % INDEX_SHARDS:02d}"


def index_shards() -> list[str]:
    return [LEGACY_SHARD, *(f"console:{n:02d}" for n in range(INDEX_SHARDS))]


def _merged(earlier: dict[str, Any] | None, later: dict[str, Any]) -> dict[str, Any]:
    """Two notes of one conversation as one, as the index would apply them in turn."""
    if earlier is None:
        return dict(later)
    merged = {**earlier, **{k: v for k, v in later.items() if v not in ("", None)}}
    merged["count"] = int(earlier.get("count", 0)) + int(later.get("count", 0))
    merged["at"] = max(int(earlier.get("at", 0)), int(later.get("at", 0)))
    return merged


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

    def __init__(
        self, state: StateAdapter, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    ) -> None:
        self.state = state
        self._sleep = sleep
        # Per conversation: what is waiting to be noted, and when it was last noted.
        self._waiting: dict[str, dict[str, Any]] = {}
        self._noted_at: OrderedDict[str, int] = OrderedDict()
        self._trailing: set[str] = set()

    async def _note(self, entry: dict[str, Any]) -> None:
        conversation = str(entry["id"])
        self._waiting[conversation] = _merged(self._waiting.get(conversation), entry)
        if conversation in self._trailing:
            return  # the trailing note already planned carries this one
        last = self._noted_at.get(conversation)
        now = self.state.clock()
        if last is not None and now - last < NOTE_INTERVAL_MS:
            self._trailing.add(conversation)
            try:
                await self._sleep((last + NOTE_INTERVAL_MS - now) / 1000)
            finally:
                self._trailing.discard(conversation)
        await self._send(conversation)

    async def _send(self, conversation: str) -> None:
        entry = self._waiting.pop(conversation, None)
        if entry is None:
            return
        self._noted_at[conversation] = self.state.clock()
        self._noted_at.move_to_end(conversation)
        while len(self._noted_at) > REMEMBERED_NOTES:
            self._noted_at.popitem(last=False)
        try:
            batch = self.state.batch()
            batch.on_shard(index_shard(conversation), ["console_note", entry], _raw)
            await batch.run()
        except Exception as error:
            logger.warning("could not note a conversation in the console: %s", error)

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
        """A page of conversations, newest activity first, and the next page's cursor: each
        index shard's page, merged (one batch; a shard call each, made in parallel)."""
        batch = self.state.batch()
        pages = [
            batch.on_shard(shard, ["console_list", before, limit], _raw) for shard in index_shards()
        ]
        await batch.run()
        # Locally every shard shares one file, whose index table each of them reads whole.
        unique = {item["id"]: item for page in pages for item in page.value["items"]}
        items = list(unique.values())
        items.sort(key=lambda item: (item["last_activity"], item["id"]), reverse=True)
        more = len(items) > limit or any(page.value["next"] for page in pages)
        shown = items[:limit]
        cursor = [shown[-1]["last_activity"], shown[-1]["id"]] if more and shown else None
        return {"items": shown, "next": cursor}

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
