"""Pacing of outbound messages within the platforms' documented rates, so a burst is delayed,
not refused: each key (a chat, a group, the whole bot) allows `count` sends per `window_ms`.

Pacing is per process (per parent object on Cloudflare, where each chat has its own): a bot's
chats spread over many objects cannot share one counter without a shared object, which every
message would then touch.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

Clock = Callable[[], int]
Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True)
class Rate:
    count: int
    window_ms: int


class Pacer:
    def __init__(self, clock: Clock, sleep: Sleep) -> None:
        self._clock = clock
        self._sleep = sleep
        self._sent: dict[str, deque[int]] = {}

    async def wait(self, limits: list[tuple[str, Rate]]) -> None:
        """Return when one more send fits every (key, rate) given, and count it. The last
        check and the count happen with no await between them, so no two sends take one slot."""
        while (delay := self._delay_ms(limits)) > 0:
            await self._sleep(delay / 1000)
        now = self._clock()
        for key, _ in limits:
            self._sent.setdefault(key, deque()).append(now)

    def _delay_ms(self, limits: list[tuple[str, Rate]]) -> int:
        now = self._clock()
        delay = 0
        for key, rate in limits:
            sent = self._sent.setdefault(key, deque())
            while sent and sent[0] <= now - rate.window_ms:
                sent.popleft()
            if len(sent) >= rate.count:
                delay = max(delay, sent[0] + rate.window_ms - now)
        return delay
