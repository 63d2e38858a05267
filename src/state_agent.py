"""ChatSdkStateAgent: one shard of chat state, a SQLite-backed Durable Object.

Thin glue: it adapts `ctx.storage` to the core's SQL and alarm ports and forwards to the same
ShardHost the local runtime uses. Every decision lives in chatstate.store / chatstate.cleanup.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

from workers import DurableObject

from chatstate.ports import Row, SqlValue
from chatstate.shard_host import ShardHost

T = TypeVar("T")
logger = logging.getLogger("chatstate.state_agent")

# Alarms are retried up to 6 times after a failure; on the last tries the agent re-arms itself
# instead of failing again, so cleanup is postponed, never abandoned.
LAST_ALARM_RETRY = 5
ALARM_REARM_DELAY_MS = 60_000


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


def _bindable(value: SqlValue) -> SqlValue:
    # Durable Object SQL binds only null, string, number and bytes; a bool would be coerced.
    return int(value) if isinstance(value, bool) else value


class DurableObjectSql:
    """The core's SQL port over `ctx.storage.sql` and `transactionSync`."""

    def __init__(self, storage: Any) -> None:
        self._storage = storage

    def exec(self, sql: str, *params: SqlValue) -> list[Row]:
        # Read the cursor at once: a cursor left open keeps its statement open, and holding it
        # across an await has no snapshot isolation.
        cursor = self._storage.sql.exec(sql, *(_bindable(p) for p in params))
        return [dict(row) for row in cursor.toArray()]

    def transaction(self, fn: Callable[[], T]) -> T:
        result: T = self._storage.transactionSync(fn)
        return result


class DurableObjectAlarm:
    """The core's alarm port over the object's single alarm."""

    def __init__(self, storage: Any) -> None:
        self._storage = storage

    async def set(self, at_ms: int) -> None:
        await self._storage.setAlarm(at_ms)

    async def get(self) -> int | None:
        at = await self._storage.getAlarm()
        return None if at is None else int(at)

    async def delete(self) -> None:
        await self._storage.deleteAlarm()


class ChatSdkStateAgent(DurableObject):  # type: ignore[misc]
    def __init__(self, ctx: Any, env: Any) -> None:
        super().__init__(ctx, env)
        self._host = ShardHost(
            DurableObjectSql(ctx.storage), DurableObjectAlarm(ctx.storage), wall_clock_ms
        )
        # SQL is synchronous, so migrations finish before any request is delivered.
        self._host.migrate()
        self._rearmed = False

    async def _ensure_alarm(self) -> None:
        if not self._rearmed:
            await self._host.rearm()
            self._rearmed = True

    async def run_batch(self, operations: list[list[Any]]) -> dict[str, Any]:
        """RPC: run these operations in one transaction; `{"results": [...]}` or `{"error": ...}`."""
        await self._ensure_alarm()
        return await self._host.call(operations)

    async def alarm(self, alarm_info: Any = None) -> None:
        self._rearmed = True
        try:
            await self._host.on_alarm()
        except Exception:
            retry_count = int(getattr(alarm_info, "retryCount", 0) or 0)
            if retry_count < LAST_ALARM_RETRY:
                raise
            logger.exception("cleanup alarm failed on retry %d; re-arming", retry_count)
            await self._host.alarm.set(wall_clock_ms() + ALARM_REARM_DELAY_MS)
