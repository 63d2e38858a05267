"""What a thread needs of the chat runtime, without depending on it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from chatstate.chat.events import Message

Sleep = Callable[[float], Awaitable[None]]
# Records sent messages (or new versions of them) in their threads' history at once.
RecordNow = Callable[[str, list[Message]], Awaitable[None]]
# Told that a post was scheduled in a shard for a time, so the runtime wakes for it.
Scheduled = Callable[[str, int], Awaitable[None]]

DEFAULT_STREAM_INTERVAL_MS = 1000
TYPING_REFRESH_S = 4.0


async def _nothing_recorded(platform: str, messages: list[Message]) -> None:
    return None


async def _not_woken(shard: str, at_ms: int) -> None:
    return None


@dataclass(frozen=True)
class ThreadServices:
    sleep: Sleep = asyncio.sleep
    stream_interval_ms: int = DEFAULT_STREAM_INTERVAL_MS
    record_now: RecordNow = _nothing_recorded
    scheduled: Scheduled = _not_woken
    typing_refresh_s: float = TYPING_REFRESH_S
