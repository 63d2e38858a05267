"""The few small interfaces through which the core talks to a runtime.

Cloudflare implements them over `ctx.storage.sql`, the Durable Object alarm and RPC stubs;
the local runtime over sqlite3 files, asyncio timers and direct calls.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol, TypeVar

T = TypeVar("T")

SqlValue = str | int | float | bytes | None
Row = Mapping[str, Any]

# Epoch milliseconds. Injectable so tests advance time instead of sleeping.
Clock = Callable[[], int]


class SqlPort(Protocol):
    def exec(self, sql: str, *params: SqlValue) -> list[Row]:
        """Run one statement with positional `?` bindings and return every row at once."""
        ...

    def transaction(self, fn: Callable[[], T]) -> T:
        """Run fn atomically: all its statements apply, or none do if it raises."""
        ...


class AlarmPort(Protocol):
    """One wake-up time per shard, in epoch milliseconds."""

    async def set(self, at_ms: int) -> None: ...

    async def get(self) -> int | None: ...

    async def delete(self) -> None: ...


# "Run these operations on shard S": one RPC on Cloudflare, a direct call locally. The
# operations and the reply are plain values that survive Durable Object RPC.
ShardCall = Callable[[str, list[list[Any]]], Awaitable[dict[str, Any]]]
