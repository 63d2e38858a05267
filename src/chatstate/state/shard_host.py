"""Hosting one shard: the store plus its alarm, the same logic on Cloudflare and locally.

The runtime glue (ChatSdkStateAgent, the local shard) only supplies the ports and forwards
calls here, so no decision lives in the glue.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from chatstate.errors import LockLostError, error_to_wire
from chatstate.ports import AlarmPort, Clock, SqlPort
from chatstate.state.schema import migrate
from chatstate.state.store import ShardStore

# Hands committed agent events (and streamed reply chunks) to the agent's live sockets.
Publish = Callable[[list[tuple[str, dict[str, Any]]]], None]


@dataclass(frozen=True)
class HostedBatch:
    reply: dict[str, Any]
    # The wake-up the batch needs armed, if earlier than the planned one.
    alarm_at: int | None = None
    broadcast: list[tuple[str, dict[str, Any]]] = field(default_factory=list)


class ShardHost:
    def __init__(
        self, sql: SqlPort, alarm: AlarmPort, clock: Clock, publish: Publish | None = None
    ) -> None:
        self.store = ShardStore(sql, clock)
        self.alarm = alarm
        self.clock = clock
        self.publish = publish

    def migrate(self) -> None:
        """Synchronous, so a Durable Object can run it in its constructor."""
        migrate(self.store.sql, self.clock)

    async def rearm(self) -> None:
        """Plan the alarm from the rows themselves: repairs an alarm lost in a crash."""
        await self.arm(self.store.earliest_expiry())

    async def call(self, operations: list[list[Any]]) -> dict[str, Any]:
        """Run one batch. Errors the caller must tell apart come back as values, not raises."""
        hosted = self.run(operations)
        # Before any await: a socket that joins meanwhile reads this change from the log, so
        # delivering it later would send it twice.
        self.deliver(hosted)
        if hosted.alarm_at is not None:
            await self.alarm.set(hosted.alarm_at)
        return hosted.reply

    def run(self, operations: list[list[Any]]) -> HostedBatch:
        """The synchronous part of call(): the reply, the alarm and the events to deliver."""
        try:
            outcome = self.store.run_batch(operations)
        except (LockLostError, ValueError, TypeError) as error:
            return HostedBatch({"error": error_to_wire(error)})
        return HostedBatch({"results": outcome.results}, outcome.alarm_at, outcome.broadcast)

    def deliver(self, hosted: HostedBatch) -> None:
        """After the commit: what the batch changed, to the live sockets."""
        if hosted.broadcast and self.publish is not None:
            self.publish(hosted.broadcast)

    async def on_alarm(self) -> None:
        await self.arm(self.store.run_cleanup())

    async def arm(self, at: int | None) -> None:
        """Set the alarm to `at`, or delete it when nothing is left to expire."""
        if at is None:
            await self.alarm.delete()
        else:
            await self.alarm.set(at)
