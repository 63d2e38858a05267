"""State on the local runtime: one SQLite database per shard under a directory.

Each shard behaves like its Durable Object: one call at a time, its own alarm, and calls that
cross a serialization boundary shaped like RPC, so a value that would not survive RPC fails here
too.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sharding import ShardForKey, ShardForThread, ShardRouter

from .adapter import StateAdapter
from .ports import Clock
from .rpc_values import cross_rpc
from .shard_host import ShardHost
from .sqlite_port import SqlitePort

SHARD_FILE_SUFFIX = ".sqlite3"


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


def shard_file_name(shard: str) -> str:
    """A file name for any shard name: readable when it can be, hashed when too long."""
    quoted = quote(shard, safe="-_.")
    if not quoted or len(quoted) > 120 or quoted.startswith("."):
        quoted = "sha256-" + hashlib.sha256(shard.encode()).hexdigest()
    return quoted + SHARD_FILE_SUFFIX


class LocalAlarm:
    """One wake-up per shard. With the wall clock it fires by itself on an asyncio timer; with
    an injected clock the test decides when time passes and fires due alarms explicitly."""

    def __init__(self, shard: LocalShard, timers: bool) -> None:
        self._shard = shard
        self._timers = timers
        self.at: int | None = None
        self._handle: asyncio.TimerHandle | None = None

    async def set(self, at_ms: int) -> None:
        self._cancel()
        self.at = at_ms
        if self._timers:
            delay = max(0.0, (at_ms - self._shard.clock()) / 1000)
            self._handle = asyncio.get_running_loop().call_later(delay, self._fire)

    async def get(self) -> int | None:
        return self.at

    async def delete(self) -> None:
        self._cancel()
        self.at = None

    def _cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _fire(self) -> None:
        self._handle = None
        self._shard.spawn_alarm()


class LocalShard:
    """One shard: its database, its alarm, and an input gate admitting one call at a time."""

    def __init__(self, name: str, path: Path | None, clock: Clock, timers: bool) -> None:
        self.name = name
        self.clock = clock
        self.sql = SqlitePort(path)
        self.alarm = LocalAlarm(self, timers)
        self.host = ShardHost(self.sql, self.alarm, clock)
        self._gate = asyncio.Lock()
        self._alarm_tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        async with self._gate:
            self.host.migrate()
            await self.host.rearm()

    async def call(self, operations: list[list[Any]]) -> dict[str, Any]:
        async with self._gate:
            return await self.host.call(operations)

    async def run_alarm(self) -> None:
        async with self._gate:
            self.alarm.at = None
            await self.host.on_alarm()

    def spawn_alarm(self) -> None:
        task = asyncio.get_running_loop().create_task(self.run_alarm())
        self._alarm_tasks.add(task)
        task.add_done_callback(self._alarm_tasks.discard)

    def close(self) -> None:
        self.alarm._cancel()
        self.sql.close()


class LocalShards:
    """Shards by name, opened on first use, reached through an RPC-shaped boundary."""

    def __init__(self, directory: Path | None, clock: Clock, timers: bool) -> None:
        self.directory = directory
        self.clock = clock
        self._timers = timers
        self._shards: dict[str, LocalShard] = {}
        self._opening: dict[str, asyncio.Future[LocalShard]] = {}
        if directory is not None:
            directory.mkdir(parents=True, exist_ok=True)

    async def shard(self, name: str) -> LocalShard:
        if name in self._shards:
            return self._shards[name]
        if name not in self._opening:
            self._opening[name] = asyncio.ensure_future(self._open(name))
        return await asyncio.shield(self._opening[name])

    async def _open(self, name: str) -> LocalShard:
        path = None if self.directory is None else self.directory / shard_file_name(name)
        shard = LocalShard(name, path, self.clock, self._timers)
        await shard.start()
        self._shards[name] = shard
        del self._opening[name]
        return shard

    async def call(self, name: str, operations: list[list[Any]]) -> dict[str, Any]:
        sent = cross_rpc(operations, "operations")
        reply: dict[str, Any] = await (await self.shard(name)).call(sent)
        crossed: dict[str, Any] = cross_rpc(reply, "reply")
        return crossed

    def opened(self) -> dict[str, LocalShard]:
        return dict(self._shards)

    async def fire_due_alarms(self) -> int:
        """Run every alarm that is due by the clock; return how many ran."""
        due = [
            s
            for s in self._shards.values()
            if s.alarm.at is not None and s.alarm.at <= self.clock()
        ]
        for shard in due:
            await shard.run_alarm()
        return len(due)

    def rows_written(self) -> int:
        return sum(shard.sql.rows_written for shard in self._shards.values())

    def close(self) -> None:
        for shard in self._shards.values():
            shard.close()
        self._shards.clear()


class LocalStateAdapter(StateAdapter):
    """A StateAdapter over local shards; `shards` exposes them to tests and the benchmark."""

    def __init__(self, shards: LocalShards, **options: Any) -> None:
        super().__init__(shards.call, clock=shards.clock, **options)
        self.shards = shards

    async def disconnect(self) -> None:
        await super().disconnect()
        self.shards.close()


def open_local_state(
    path: str | Path | None = None,
    *,
    clock: Clock | None = None,
    name: str = "default",
    shard_key: ShardForThread | None = None,
    key_shard: ShardForKey | None = None,
    lock_heartbeat: bool = False,
) -> LocalStateAdapter:
    """A state adapter over one SQLite database per shard under `path` (None: in memory).

    `clock` returns epoch milliseconds; with one injected, alarms fire only through
    `state.shards.fire_due_alarms()`. Not connected until `await state.connect()`.
    """
    shards = LocalShards(
        None if path is None else Path(path), clock or wall_clock_ms, timers=clock is None
    )
    return LocalStateAdapter(
        shards,
        router=ShardRouter(name=name, shard_key=shard_key, key_shard=key_shard),
        lock_heartbeat=lock_heartbeat,
    )
