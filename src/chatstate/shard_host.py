"""Hosting one shard: the store plus its alarm, the same logic on Cloudflare and locally.

The runtime glue (ChatSdkStateAgent, the local shard) only supplies the ports and forwards
calls here, so no decision lives in the glue.
"""

from __future__ import annotations

from typing import Any

from .errors import LockLostError, error_to_wire
from .ports import AlarmPort, Clock, SqlPort
from .schema import migrate
from .store import ShardStore


class ShardHost:
    def __init__(self, sql: SqlPort, alarm: AlarmPort, clock: Clock) -> None:
        self.store = ShardStore(sql, clock)
        self.alarm = alarm
        self.clock = clock

    def migrate(self) -> None:
        """Synchronous, so a Durable Object can run it in its constructor."""
        migrate(self.store.sql, self.clock)

    async def rearm(self) -> None:
        """Plan the alarm from the rows themselves: repairs an alarm lost in a crash."""
        await self.arm(self.store.earliest_expiry())

    async def call(self, operations: list[list[Any]]) -> dict[str, Any]:
        """Run one batch. Errors the caller must tell apart come back as values, not raises."""
        reply, alarm_at = self.run(operations)
        if alarm_at is not None:
            await self.alarm.set(alarm_at)
        return reply

    def run(self, operations: list[list[Any]]) -> tuple[dict[str, Any], int | None]:
        """The synchronous part of call(): the reply, and the wake-up the batch needs armed."""
        try:
            outcome = self.store.run_batch(operations)
        except (LockLostError, ValueError, TypeError) as error:
            return {"error": error_to_wire(error)}, None
        return {"results": outcome.results}, outcome.alarm_at

    async def on_alarm(self) -> None:
        await self.arm(self.store.run_cleanup())

    async def arm(self, at: int | None) -> None:
        """Set the alarm to `at`, or delete it when nothing is left to expire."""
        if at is None:
            await self.alarm.delete()
        else:
            await self.alarm.set(at)
