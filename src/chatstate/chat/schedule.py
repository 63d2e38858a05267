"""When to wake for scheduled posts: the runtime remembers, per shard, the earliest one.

The posts themselves wait in their thread's shard (state/scheduled_tables.py). A runtime keeps
timers while it runs; what must survive a restart or an eviction is kept by a `Wakeups` of its
own: the parent object's table and alarm on Cloudflare, the shard files themselves locally.
"""

from __future__ import annotations

from typing import Protocol


class Wakeups(Protocol):
    # True when the runtime itself wakes at the remembered time (a Durable Object's alarm),
    # so no timer of the process is needed (one would not outlive the request anyway).
    wakes_itself: bool

    async def remember(self, shard: str, at_ms: int) -> None:
        """A post in `shard` is due at `at_ms` (the earliest one counts)."""
        ...

    async def forget(self, shard: str) -> None:
        """Nothing is left to send in `shard`."""
        ...

    async def shards(self) -> list[tuple[str, int]]:
        """Every shard with posts to send, and when the first is due (for recovery)."""
        ...


class MemoryWakeups:
    """Within one process only: enough where the posts' shards are listed on start anyway."""

    wakes_itself = False

    def __init__(self) -> None:
        self._due: dict[str, int] = {}

    async def remember(self, shard: str, at_ms: int) -> None:
        self._due[shard] = min(at_ms, self._due.get(shard, at_ms))

    async def forget(self, shard: str) -> None:
        self._due.pop(shard, None)

    async def shards(self) -> list[tuple[str, int]]:
        return sorted(self._due.items())
