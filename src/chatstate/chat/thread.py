"""What a handler holds: the conversation it runs in, with its state, history and replies."""

from __future__ import annotations

import dataclasses
from typing import Any

from chatstate.chat.events import Button, Message
from chatstate.chat.memory import ThreadMemory
from chatstate.platforms.base import Platform
from chatstate.state.adapter import Lock, StateAdapter

THREAD_STATE_TTL_MS = 30 * 24 * 3600 * 1000


class _StateHolder:
    """State and history kept under one key prefix; writes guarded by the handler's lock."""

    _state_prefix: str

    def __init__(
        self,
        state: StateAdapter,
        platform: Platform,
        id: str,
        lock: Lock | None,
        sent: list[Message],
    ) -> None:
        self.id = id
        self._state = state
        self._platform = platform
        self._lock = lock
        # Replies of the running round, recorded in history with its acknowledgement (one
        # shard call for both) rather than one call per reply.
        self._sent = sent

    def _guard(self, key: str) -> Lock | None:
        # A handler that lost its lock must not overwrite its successor's state; the guard
        # makes the shard refuse such a write (LockLostError) in the same transaction.
        router = self._state.router
        if self._lock is None or router.for_thread(self._lock.thread_id) != router.for_key(key):
            return None
        return self._lock

    async def state(self) -> dict[str, Any] | None:
        value = await self._state.get(self._state_prefix + self.id)
        return value if isinstance(value, dict) else None

    async def set_state(self, values: dict[str, Any], *, replace: bool = False) -> None:
        """Merge values into the state (or replace it); every write resets its 30-day TTL.

        A merge happens in the shard, in one call, so no read-then-write race either."""
        key = self._state_prefix + self.id
        write = self._state.set if replace else self._state.merge
        await write(key, values, THREAD_STATE_TTL_MS, guard=self._guard(key))

    async def history(self, limit: int | None = None) -> list[Message]:
        """Messages seen and sent here, newest first."""
        items = await self._state.get_list("msg-history:" + self.id, limit)
        stored = [Message.from_json(item) for item in reversed(items) if isinstance(item, dict)]
        unrecorded = [m for m in reversed(self._sent) if self.id in (m.thread_id, m.channel_id)]
        messages = unrecorded + stored
        return messages if limit is None else messages[:limit]

    async def post(self, text: str, *, buttons: list[Button] | None = None) -> Message:
        sent = await self._platform.post(self.id, text, buttons)
        if buttons:
            sent = dataclasses.replace(sent, buttons=[b.to_json() for b in buttons])
        self._sent.append(sent)
        return sent


class Channel(_StateHolder):
    _state_prefix = "channel-state:"


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
        sent: list[Message],
    ) -> None:
        super().__init__(state, platform, id, lock, sent)
        self.channel_id = channel_id
        self.is_dm = is_dm
        self.platform = platform.name

    @property
    def channel(self) -> Channel:
        return Channel(self._state, self._platform, self.channel_id, self._lock, self._sent)

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
