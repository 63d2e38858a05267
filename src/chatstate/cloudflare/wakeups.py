"""Scheduled posts' wake-ups on Cloudflare: a table in the parent object's own SQLite and its
one alarm, set to the earliest. The parent outlives no eviction in memory; these survive."""

from __future__ import annotations

from chatstate.cloudflare.parent_alarm import ParentAlarm
from chatstate.ports import SqlPort


class ParentWakeups:
    # The alarm, set to the earliest wake-up, calls the parent's recover().
    wakes_itself = True

    def __init__(self, sql: SqlPort, alarm: ParentAlarm) -> None:
        self._sql = sql
        self._alarm = alarm
        # The earliest wake-up, read once and then kept: this object alone writes the table.
        self._earliest: int | None = None
        self._earliest_known = False
        sql.exec(
            "CREATE TABLE IF NOT EXISTS chat_scheduled_wakeups "
            "(shard TEXT PRIMARY KEY, at INTEGER NOT NULL) WITHOUT ROWID"
        )

    async def remember(self, shard: str, at_ms: int) -> None:
        self._sql.exec(
            "INSERT INTO chat_scheduled_wakeups (shard, at) VALUES (?, ?) "
            "ON CONFLICT (shard) DO UPDATE SET at = MIN(at, excluded.at)",
            shard,
            at_ms,
        )
        earliest = self.earliest()
        self._earliest = at_ms if earliest is None else min(earliest, at_ms)
        await self._alarm.no_later_than(at_ms)

    async def forget(self, shard: str) -> None:
        self._sql.exec("DELETE FROM chat_scheduled_wakeups WHERE shard = ?", shard)
        self._earliest_known = False

    async def shards(self) -> list[tuple[str, int]]:
        rows = self._sql.exec("SELECT shard, at FROM chat_scheduled_wakeups ORDER BY shard")
        return [(str(row["shard"]), int(row["at"])) for row in rows]

    def earliest(self) -> int | None:
        if not self._earliest_known:
            rows = self._sql.exec("SELECT MIN(at) AS at FROM chat_scheduled_wakeups")
            self._earliest = None if not rows or rows[0]["at"] is None else int(rows[0]["at"])
            self._earliest_known = True
        return self._earliest
