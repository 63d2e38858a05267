"""What a handler holds: the conversation it runs in, with its state, history and replies."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import uuid
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from chatstate.chat.content import (
    Card,
    File,
    Markdown,
    Reply,
    card_from_json,
    card_to_json,
    reply_of,
)
from chatstate.chat.events import Author, Button, Message
from chatstate.chat.history import latest_versions
from chatstate.chat.memory import ThreadMemory
from chatstate.chat.sent import SentMessage
from chatstate.chat.services import ThreadServices
from chatstate.platforms.base import Platform, PlatformApiError, StreamTarget
from chatstate.state.adapter import Lock, StateAdapter

logger = logging.getLogger("chatstate.chat")

THREAD_STATE_TTL_MS = 30 * 24 * 3600 * 1000
MAX_SCHEDULE_AHEAD = timedelta(days=365)
CUT_SHORT = " … (cut short)"


@dataclass(frozen=True)
class StateWrite:
    key: str
    replace: bool
    values: dict[str, Any]
    guard: Lock


@dataclass
class RoundState:
    """State as a locked round's handlers see it: what the shard held (read in the accept
    call, or on first use), and the writes of the handlers that finished, written with the
    round's acknowledgement in one call."""

    known: dict[str, Any] = field(default_factory=dict)
    writes: list[StateWrite] = field(default_factory=list)


def _applied(base: Any, writes: list[StateWrite]) -> Any:
    value = base
    for write in writes:
        value = (
            dict(write.values)
            if write.replace
            else {**(value if isinstance(value, dict) else {}), **write.values}
        )
    return value


class _StateHolder:
    """State and history kept under one key prefix; writes guarded by the handler's lock.

    In a handler that holds its conversation's lock, `set_state` is kept and written with the
    round's acknowledgement, in the same shard call, still guarded by the lock (a handler that
    lost it writes nothing); `state()` reads its own writes. If the handler raises, its writes
    are dropped, all of them; `await thread.flush()` writes them at once instead."""

    _state_prefix: str

    def __init__(
        self,
        state: StateAdapter,
        platform: Platform,
        id: str,
        lock: Lock | None,
        sent: list[Message] | None,
        services: ThreadServices,
        round_state: RoundState | None = None,
        writes: list[StateWrite] | None = None,
    ) -> None:
        self.id = id
        self._state = state
        self._platform = platform
        self._lock = lock
        # Replies of the running round, recorded in history with its acknowledgement (one
        # shard call for both) rather than one call per reply; None outside a handler, where
        # each is recorded at once.
        self._sent = sent
        self._services = services
        self._round = round_state
        # This handler's state writes not yet written (shared with its thread's channel).
        self._writes: list[StateWrite] = [] if writes is None else writes

    def _guard(self, key: str) -> Lock | None:
        # A handler that lost its lock must not overwrite its successor's state; the guard
        # makes the shard refuse such a write (LockLostError) in the same transaction.
        router = self._state.router
        if self._lock is None or router.for_thread(self._lock.thread_id) != router.for_key(key):
            return None
        return self._lock

    async def state(self) -> dict[str, Any] | None:
        key = self._state_prefix + self.id
        if self._round is None:
            value = await self._state.get(key)
        else:
            if key not in self._round.known:
                self._round.known[key] = await self._state.get(key)
            pending = [w for w in [*self._round.writes, *self._writes] if w.key == key]
            value = _applied(self._round.known[key], pending)
        return value if isinstance(value, dict) else None

    async def set_state(self, values: dict[str, Any], *, replace: bool = False) -> None:
        """Merge values into the state (or replace it); every write resets its 30-day TTL.

        A merge happens in the shard, so no read-then-write race either. In a handler holding
        its lock, the write goes with the round's acknowledgement (see the class)."""
        if not isinstance(values, dict):
            raise TypeError(f"state is a dict of JSON values, not {type(values).__name__}")
        key = self._state_prefix + self.id
        guard = self._guard(key)
        if self._round is None or guard is None:
            write = self._state.set if replace else self._state.merge
            await write(key, values, THREAD_STATE_TTL_MS, guard=guard)
            if self._round is not None:
                self._round.known.pop(key, None)
            return
        self._writes.append(StateWrite(key, replace, dict(values), guard))

    async def flush(self) -> None:
        """Write this handler's kept state writes now, in one call, still guarded."""
        if not self._writes:
            return
        batch = self._state.batch()
        for write in self._writes:
            operation = batch.set if write.replace else batch.merge
            operation(write.key, write.values, THREAD_STATE_TTL_MS, guard=write.guard)
        await batch.run()
        for write in self._writes:
            if self._round is not None:
                self._round.known.pop(write.key, None)
        self._writes.clear()

    def _keep_writes(self) -> None:
        """The handler finished: its writes join the round's."""
        if self._round is not None:
            self._round.writes.extend(self._writes)
        self._writes.clear()

    async def history(self, limit: int | None = None) -> list[Message]:
        """Messages seen and sent here, newest first, each at its latest version."""
        items = await self._state.get_list("msg-history:" + self.id)
        unrecorded = [
            m.to_json() for m in self._sent or [] if self.id in (m.thread_id, m.channel_id)
        ]
        merged = latest_versions([i for i in items if isinstance(i, dict)] + unrecorded)
        messages = [Message.from_json(item) for item in reversed(merged)]
        return messages if limit is None else messages[:limit]

    async def post(self, content: Any, *, buttons: list[Any] | None = None) -> SentMessage:
        """Post a str (literal text), Markdown, a Card, a File, or an async iterable of str
        (streamed as it comes). A text over the platform's limit goes out in several messages.
        Bad content is a TypeError or ValueError before any call is made."""
        if isinstance(content, AsyncIterable):
            if buttons:
                raise ValueError("a streamed reply takes no buttons")
            return await self._post_stream(content)
        reply = reply_of(content, buttons)
        try:
            parts = await self._platform.send(self.id, reply)
        except PlatformApiError as error:
            response_url = self._response_url(error)
            if response_url is None:
                raise
            # A Slack slash command in a channel the bot is not in: its response URL.
            await self._platform.send_response(response_url, reply)  # type: ignore[attr-defined]
            return SentMessage(
                [Message(**{**_NOT_KEPT, "thread_id": self.id, "text": reply.text})],
                self._platform,
                _not_recorded,
            )
        parts = [_as_sent(part, reply) for part in parts]
        for part in parts:
            await self._record(part)
        return SentMessage(parts, self._platform, self._record)

    async def _record(self, message: Message) -> None:
        stored = dataclasses.replace(message, raw=None)
        if self._sent is not None:
            self._sent.append(stored)
        else:
            await self._services.record_now(self._platform.name, [stored])

    async def _post_stream(self, chunks: AsyncIterable[str]) -> SentMessage:
        """Show the text as it grows (at most every stream interval), then post it exactly;
        if the stream fails, what came so far stays, marked as cut short, and the error goes
        on to the handler."""
        streamer = self._platform.streamer(self.id, self._stream_target())
        clock = self._state.clock
        text, shown_at = "", None
        try:
            async for chunk in chunks:
                if not isinstance(chunk, str):
                    raise TypeError(f"a stream yields str, not {type(chunk).__name__}")
                text += chunk
                due = shown_at is None or clock() - shown_at >= self._services.stream_interval_ms
                if text.strip() and due:
                    await streamer.update(text)
                    shown_at = clock()
        except Exception:
            if text.strip():
                await self._finish_stream(streamer, text + CUT_SHORT)
            raise
        if not text.strip():
            raise ValueError("the stream produced no text")
        return await self._finish_stream(streamer, text)

    async def _finish_stream(self, streamer: Any, text: str) -> SentMessage:
        parts = await streamer.finish(text)
        for part in parts:
            await self._record(part)
        return SentMessage(parts, self._platform, self._record)

    def _stream_target(self) -> StreamTarget:
        return StreamTarget()

    def _response_url(self, error: PlatformApiError) -> str | None:
        return None


class Channel(_StateHolder):
    _state_prefix = "channel-state:"


class ScheduledPost:
    """A post waiting for its time in the thread's shard; `cancel()` before then stops it."""

    def __init__(self, id: str, thread_id: str, at_ms: int, state: StateAdapter) -> None:
        self.id = id
        self.thread_id = thread_id
        self.at_ms = at_ms
        self._state = state

    async def cancel(self) -> bool:
        """Whether it was still waiting (a post already sent, or cancelled, is not)."""
        batch = self._state.batch()
        shard = self._state.router.for_thread(self.thread_id)
        cancelled = batch.on_shard(shard, ["cancel_scheduled", self.id], bool)
        await batch.run()
        return cancelled.value


class Thread(_StateHolder):
    _state_prefix = "thread-state:"

    def __init__(
        self,
        state: StateAdapter,
        platform: Platform,
        id: str,
        *,
        channel_id: str,
        is_dm: bool,
        lock: Lock | None,
        sent: list[Message] | None,
        services: ThreadServices | None = None,
        answering: Message | None = None,
        round_state: RoundState | None = None,
    ) -> None:
        super().__init__(state, platform, id, lock, sent, services or ThreadServices(), round_state)
        self.channel_id = channel_id
        self.is_dm = is_dm
        self.platform = platform.name
        # The message being handled: whom a streamed reply answers (Slack streams need it).
        self._answering = answering

    @property
    def channel(self) -> Channel:
        return Channel(
            self._state,
            self._platform,
            self.channel_id,
            self._lock,
            self._sent,
            self._services,
            self._round,
            self._writes,
        )

    @property
    def memory(self) -> ThreadMemory:
        """Facts remembered in this thread: `await thread.memory.add("likes tea")`, `.facts()`;
        the same facts agents' conversations keep."""
        return ThreadMemory(self._state, self.id)

    async def subscribe(self) -> None:
        await self._state.subscribe(self.id)

    async def unsubscribe(self) -> None:
        await self._state.unsubscribe(self.id)

    async def is_subscribed(self) -> bool:
        return await self._state.is_subscribed(self.id)

    @contextlib.asynccontextmanager
    async def typing(self) -> AsyncIterator[None]:
        """Show that the bot is typing while the block runs (renewed every few seconds)."""

        async def show() -> None:
            try:
                await self._platform.show_typing(self.id)
            except Exception as error:
                logger.warning("%s typing signal failed: %s", self.platform, error)

        async def keep_showing() -> None:
            while True:
                await self._services.sleep(self._services.typing_refresh_s)
                await show()

        # The first signal before the block starts: a quick block still shows it.
        await show()
        shown = asyncio.ensure_future(keep_showing())
        try:
            yield
        finally:
            shown.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await shown

    async def post_ephemeral(self, user: Author | str, content: Any) -> None:
        """A message only `user` sees (Slack); elsewhere NotSupported, naming the platform."""
        user_id = user.user_id if isinstance(user, Author) else user
        await self._platform.send_ephemeral(self.id, user_id, reply_of(content))

    async def schedule(
        self,
        content: str | Markdown | Card,
        *,
        at: datetime | None = None,
        after: timedelta | None = None,
    ) -> ScheduledPost:
        """Post `content` here later: at a time, or after a delay (up to a year ahead). Kept in
        the thread's shard, so it survives restarts; sent at least once."""
        if isinstance(content, File) or not isinstance(content, str | Markdown | Card):
            raise TypeError("a scheduled post is a str, Markdown or a Card")
        reply_of(content)
        at_ms = _when(self._state.clock(), at, after)
        id = f"s{uuid.uuid4().hex}"
        shard = self._state.router.for_thread(self.id)
        batch = self._state.batch()
        batch.on_shard(
            shard, ["schedule_post", id, self.id, at_ms, content_to_json_text(content)], _raw
        )
        await batch.run()
        await self._services.scheduled(shard, at_ms)
        return ScheduledPost(id, self.id, at_ms, self._state)

    def _response_url(self, error: PlatformApiError) -> str | None:
        raw = self._answering.raw if self._answering is not None else None
        url = raw.get("response_url") if isinstance(raw, dict) else None
        refused = any(reason in str(error) for reason in ("not_in_channel", "channel_not_found"))
        return (
            url
            if isinstance(url, str) and refused and hasattr(self._platform, "send_response")
            else None
        )

    def _stream_target(self) -> StreamTarget:
        message = self._answering
        if message is None:
            return StreamTarget()
        raw = message.raw if isinstance(message.raw, dict) else {}
        return StreamTarget(message.author.user_id, str(raw.get("team") or ""))


def _raw(value: Any) -> Any:
    return value


async def _not_recorded(message: Message) -> None:
    return None


# A reply through a Slack response URL: no message id to edit or keep.
_NOT_KEPT: dict[str, Any] = {
    "id": "",
    "channel_id": "",
    "platform": "slack",
    "author": Author(user_id="", is_bot=True),
    "date_ms": 0,
}


def _as_sent(part: Message, reply: Reply) -> Message:
    """The sent message as history keeps it: its buttons, format, card."""
    return dataclasses.replace(
        part,
        buttons=[b.to_json() for b in reply.buttons if isinstance(b, Button)] or part.buttons,
        format="card"
        if reply.card
        else "file"
        if reply.file
        else "markdown"
        if reply.markdown
        else "text",
        card=card_to_json(reply.card) if reply.card else part.card,
        text=reply.text if reply.markdown and not part.text else part.text,
    )


def _when(now_ms: int, at: datetime | None, after: timedelta | None) -> int:
    if (at is None) == (after is None):
        raise TypeError("schedule takes at= (a datetime) or after= (a timedelta)")
    if after is not None:
        if not isinstance(after, timedelta):
            raise TypeError(f"after= is a timedelta, not {type(after).__name__}")
        delay = after
    else:
        if not isinstance(at, datetime):
            raise TypeError(f"at= is a datetime, not {type(at).__name__}")
        moment = at if at.tzinfo else at.replace(tzinfo=UTC)
        delay = moment - datetime.fromtimestamp(now_ms / 1000, UTC)
    if delay <= timedelta(0):
        raise ValueError("a scheduled post must be in the future")
    if delay > MAX_SCHEDULE_AHEAD:
        raise ValueError("a scheduled post is at most a year ahead")
    return now_ms + int(delay.total_seconds() * 1000)


def content_to_json_text(content: str | Markdown | Card) -> str:
    if isinstance(content, Card):
        return json.dumps({"card": card_to_json(content)})
    if isinstance(content, Markdown):
        return json.dumps({"markdown": content.text})
    return json.dumps({"text": content})


def content_from_json(data: dict[str, Any]) -> str | Markdown | Card:
    if "card" in data:
        return card_from_json(data["card"])
    if "markdown" in data:
        return Markdown(data["markdown"])
    return str(data["text"])
