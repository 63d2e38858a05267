"""ChatSdkStateAgent: one shard of chat state, a SQLite-backed Durable Object.

Thin glue: it adapts `ctx.storage` to the core's SQL and alarm ports and forwards to the same
ShardHost the local runtime uses. Every decision lives in chatstate.store / chatstate.cleanup.
"""

from __future__ import annotations

import logging
from typing import Any

from workers import DurableObject

from chatstate.shard_host import ShardHost
from cloudflare_io import DurableObjectAlarm, DurableObjectSql, wall_clock_ms

logger = logging.getLogger("chatstate.state_agent")

# Alarms are retried up to 6 times after a failure; on the last tries the agent re-arms itself
# instead of failing again, so cleanup is postponed, never abandoned.
LAST_ALARM_RETRY = 5
ALARM_REARM_DELAY_MS = 60_000


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
