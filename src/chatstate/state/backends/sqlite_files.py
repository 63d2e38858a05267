"""State on the local runtime: shards in one SQLite file (or a fixed number), with group commit.

Every key routes to exactly one shard, so many shards can share one file's tables without ever
holding the same row; with several files, a shard's file is chosen by a stable hash of its name.
The number of open files is therefore bounded whatever the number of chats (the first layout,
one file per shard, ran out of file descriptors at a few thousand chats and is migrated
automatically, as is the second, eight files, into one).

Each file has one writer thread. Batches that arrive while it commits wait and go into the next
transaction together: one fsync for all of them, each in its own savepoint so that it applies
all or nothing on its own. A caller resumes only after that commit, so what a call wrote is
durable when it returns. SQLite work never runs on the event loop. One file is the default
because it makes the groups largest: at 20 webhooks in flight, eight files spent 2.4 times the
CPU per webhook, most of it in fsyncs of small groups (docs/benchmark.md).

Calls cross a serialization boundary shaped like RPC, so a value that would not survive Durable
Object RPC fails here too; a shard's calls run one at a time, in order, as a Durable Object's.
"""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import json
import os
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from chatstate.ports import Clock
from chatstate.state.adapter import StateAdapter
from chatstate.state.backends.group_commit import GroupCommitWriter
from chatstate.state.backends.sqlite_port import SqlitePort
from chatstate.state.rpc_values import cross_rpc
from chatstate.state.schema import migrate
from chatstate.state.shard_host import HostedBatch, Publish, ShardHost
from chatstate.state.sharding import ShardForKey, ShardForThread, ShardRouter

SHARD_FILE_SUFFIX = ".sqlite3"
DEFAULT_FILES = 1
LAYOUT_FILE = "layout.json"
# Tables of the first layout's per-shard files, with the column their rows are routed by.
DATA_TABLES = {
    "chat_state_subscriptions": ("thread_id", "thread"),
    "chat_state_locks": ("thread_id", "thread"),
    "chat_state_queue": ("thread_id", "thread"),
    "chat_state_cache": ("key", "key"),
    "chat_state_lists": ("key", "key"),
    "chat_state_list_items": ("key", "key"),
}


# A local file holds thousands of chats, so cleanup finds expired rows by index rather than by
# scanning every table. Durable Object shards hold one chat each and go without: there each
# index entry written is billed as a row.
LOCAL_INDEXES = (
    "CREATE INDEX IF NOT EXISTS cache_expiry ON chat_state_cache (expires_at) "
    "WHERE expires_at IS NOT NULL",
    "CREATE INDEX IF NOT EXISTS locks_expiry ON chat_state_locks (expires_at) "
    "WHERE expires_at IS NOT NULL",
    "CREATE INDEX IF NOT EXISTS lists_expiry ON chat_state_lists (expires_at) "
    "WHERE expires_at IS NOT NULL",
    "CREATE INDEX IF NOT EXISTS queue_expiry ON chat_state_queue (expires_at)",
)


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


def file_of_shard(shard: str, files: int) -> int:
    """The file a shard lives in: stable across runs and machines."""
    return int.from_bytes(hashlib.sha256(shard.encode()).digest()[:8], "big") % files


def state_file_name(index: int) -> str:
    return f"state-{index:02d}{SHARD_FILE_SUFFIX}"


class LocalAlarm:
    """One wake-up per file. With the wall clock it fires by itself on an asyncio timer; with
    an injected clock the test decides when time passes and fires due alarms explicitly."""

    def __init__(self, clock: Clock, timers: bool, fire: Callable[[], None]) -> None:
        self._clock = clock
        self._timers = timers
        self._fire_alarm = fire
        self.at: int | None = None
        self._handle: asyncio.TimerHandle | None = None

    async def set(self, at_ms: int) -> None:
        self._cancel()
        self.at = at_ms
        if self._timers:
            delay = max(0.0, (at_ms - self._clock()) / 1000)
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
        self._fire_alarm()


class LocalFile:
    """One SQLite file holding many shards: its writer thread, group commit and alarm."""

    def __init__(
        self, path: Path | None, clock: Clock, timers: bool, publish: Publish | None = None
    ) -> None:
        self.clock = clock
        self.sql = SqlitePort(path)
        self.alarm = LocalAlarm(clock, timers, self.spawn_alarm)
        self.host = ShardHost(self.sql, self.alarm, clock, publish)
        self._writer = GroupCommitWriter(self.sql, "chatstate-sqlite")
        self._alarm_tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        await self._submit(self._prepare)
        await self.host.arm(await self._submit(self.host.store.earliest_expiry))

    def _prepare(self) -> None:
        migrate(self.sql, self.clock)
        for statement in LOCAL_INDEXES:
            self.sql.exec(statement)

    async def call(self, operations: list[list[Any]]) -> dict[str, Any]:
        hosted: HostedBatch = await self._submit(lambda: self.host.run(operations))
        self.host.deliver(hosted)
        alarm_at = hosted.alarm_at
        # A batch reports a wake-up only when it is earlier than the planned one; another
        # call's may have been armed meanwhile, so the alarm only ever moves earlier here.
        if alarm_at is not None and (self.alarm.at is None or alarm_at < self.alarm.at):
            await self.alarm.set(alarm_at)
        return hosted.reply

    async def run_alarm(self) -> None:
        self.alarm.at = None
        await self.host.arm(await self._submit(self.host.store.run_cleanup))

    def spawn_alarm(self) -> None:
        task = asyncio.get_running_loop().create_task(self.run_alarm())
        self._alarm_tasks.add(task)
        task.add_done_callback(self._alarm_tasks.discard)

    async def _submit(self, work: Callable[[], Any]) -> Any:
        return await self._writer.submit(work)

    def close(self) -> None:
        self.alarm._cancel()
        self._writer.close()
        self.sql.close()


class LocalShards:
    """Shards by name, in their files (opened on first use), through an RPC-shaped boundary."""

    def __init__(
        self,
        directory: Path | None,
        clock: Clock,
        timers: bool,
        router: ShardRouter,
        files: int = DEFAULT_FILES,
    ) -> None:
        self.directory = directory
        self.clock = clock
        self.files = files
        self._timers = timers
        self._router = router
        self._open: dict[int, LocalFile] = {}
        self._opening: dict[int, asyncio.Future[LocalFile]] = {}
        # Each shard's file, hashed once per name.
        self._shard_files: dict[str, int] = {}
        self._layout_checked = False
        # Where agents' committed events go: the runtime's live sockets, once it has any.
        self.publish: Publish | None = None

    def _publish(self, broadcast: list[tuple[str, dict[str, Any]]]) -> None:
        if self.publish is not None:
            self.publish(broadcast)

    async def shard(self, name: str) -> LocalFile:
        index = self._shard_files.get(name)
        if index is None:
            index = self._shard_files[name] = file_of_shard(name, self.files)
        return await self._file(index)

    async def _file(self, index: int) -> LocalFile:
        if index in self._open:
            return self._open[index]
        if index not in self._opening:
            self._opening[index] = asyncio.ensure_future(self._open_file(index))
        return await asyncio.shield(self._opening[index])

    async def _open_file(self, index: int) -> LocalFile:
        path = None
        if self.directory is not None:
            self._check_layout()
            path = self.directory / state_file_name(index)
        try:
            opened = LocalFile(path, self.clock, self._timers, self._publish)
            try:
                await opened.start()
            except BaseException:
                opened.close()
                raise
        except BaseException:
            # Opening failed (a full disk, say): the next call tries again.
            del self._opening[index]
            raise
        self._open[index] = opened
        del self._opening[index]
        return opened

    def _check_layout(self) -> None:
        """Create the directory's layout on first use, migrating the first layout's files."""
        if self._layout_checked:
            return
        assert self.directory is not None
        self.directory.mkdir(parents=True, exist_ok=True)
        layout = self.directory / LAYOUT_FILE
        # Processes may open one directory at once: one checks and migrates, the others wait.
        with (self.directory / f"{LAYOUT_FILE}.lock").open("a") as guard:
            fcntl.flock(guard, fcntl.LOCK_EX)
            if layout.exists():
                recorded = json.loads(layout.read_text()).get("files")
                if isinstance(recorded, int) and recorded > 1 and self.files == 1:
                    merge_into_one_file(self.directory, recorded, self.clock)
                    _write_layout(layout, self.files)
                elif recorded != self.files:
                    raise ValueError(
                        f"{self.directory} holds state in {recorded} files, not {self.files}; "
                        "open it with the same number of files"
                    )
            else:
                migrate_per_shard_files(self.directory, self.files, self._router, self.clock)
                _write_layout(layout, self.files)
        self._layout_checked = True

    async def call(self, name: str, operations: list[list[Any]]) -> dict[str, Any]:
        sent = cross_rpc(operations, "operations")
        reply: dict[str, Any] = await (await self.shard(name)).call(sent)
        crossed: dict[str, Any] = cross_rpc(reply, "reply")
        return crossed

    def _existing_files(self) -> list[int]:
        """The indexes of the files that exist (in memory: those opened)."""
        if self.directory is None:
            return list(self._open)
        self._check_layout()
        return [i for i in range(self.files) if (self.directory / state_file_name(i)).exists()]

    async def pending_work(self) -> list[str]:
        """Every conversation marked as having queued work, in every file."""
        keys: list[str] = []
        for index in self._existing_files():
            opened = await self._file(index)
            reply = await opened.call([["pending_work"]])
            keys.extend(reply["results"][0])
        return sorted(keys)

    async def scheduled(self) -> list[tuple[str, int]]:
        """For each file with scheduled posts, a shard name that reaches it and when its first
        post is due: a file's table holds every post of its shards, so one name serves."""
        found = []
        for index in self._existing_files():
            name = next(
                f"scheduled-{n}"
                for n in range(10_000)
                if file_of_shard(f"scheduled-{n}", self.files) == index
            )
            reply = await (await self._file(index)).call([["next_scheduled"]])
            at = reply["results"][0]
            if at is not None:
                found.append((name, int(at)))
        return found

    def opened(self) -> dict[str, LocalFile]:
        """Every shard used so far, with the file that holds it."""
        return {name: self._open[i] for name, i in self._shard_files.items() if i in self._open}

    async def fire_due_alarms(self) -> int:
        """Run every alarm that is due by the clock; return how many ran."""
        due = [
            f for f in self._open.values() if f.alarm.at is not None and f.alarm.at <= self.clock()
        ]
        for opened in due:
            await opened.run_alarm()
        return len(due)

    def rows_written(self) -> int:
        return sum(opened.sql.rows_written for opened in self._open.values())

    def close(self) -> None:
        for opened in self._open.values():
            opened.close()
        self._open.clear()


def _write_layout(layout: Path, files: int) -> None:
    written = layout.with_suffix(".tmp")
    written.write_text(json.dumps({"files": files}) + "\n")
    os.replace(written, layout)


# What a merge leaves behind: the target keeps its own schema history, and the cleanup plan is
# re-made from the rows when the file opens.
NOT_MERGED = {"chat_state_schema", "chat_state_metadata"}


def merge_into_one_file(directory: Path, files: int, clock: Clock) -> None:
    """Merge a directory laid out in `files` files into one: every shard maps to the first
    file then, so the others' rows move into it. Each file's move is one transaction, and the
    file is removed only after it committed: a crash in between repeats the move, which
    replaces rows with themselves."""
    target = SqlitePort(directory / state_file_name(0))
    try:
        migrate(target, clock)
        for index in range(1, files):
            old = directory / state_file_name(index)
            if not old.exists():
                continue
            # Opening it brings its schema up to date, and closing it folds its WAL in.
            settled = SqlitePort(old)
            try:
                migrate(settled, clock)
                tables = [
                    row["name"]
                    for row in settled.exec(
                        "SELECT name FROM sqlite_master WHERE type = 'table' "
                        "AND name NOT LIKE 'sqlite%'"
                    )
                    if row["name"] not in NOT_MERGED
                ]
            finally:
                settled.close()
            target.copy_tables_from(old, tables)
            for leftover in (old, Path(f"{old}-wal"), Path(f"{old}-shm")):
                leftover.unlink(missing_ok=True)
    finally:
        target.close()


def migrate_per_shard_files(directory: Path, files: int, router: ShardRouter, clock: Clock) -> int:
    """Move every file of the first layout (one per shard) into the file its shard now lives
    in; return how many were moved. Each move is one transaction, and the old file is removed
    only after it committed: a crash in between repeats the move, which replaces rows with
    themselves."""
    moved = 0
    for old in sorted(directory.glob(f"*{SHARD_FILE_SUFFIX}")):
        if old.name.startswith("state-"):
            continue
        connection = sqlite3.connect(f"{old.as_uri()}?mode=ro", uri=True)
        try:
            shard = _shard_of(connection, old, router)
        finally:
            connection.close()
        if shard is not None:
            target = SqlitePort(directory / state_file_name(file_of_shard(shard, files)))
            try:
                migrate(target, clock)
                target.copy_tables_from(old, list(DATA_TABLES))
            finally:
                target.close()
            moved += 1
        for leftover in (old, Path(f"{old}-wal"), Path(f"{old}-shm")):
            leftover.unlink(missing_ok=True)
    return moved


def _shard_of(connection: sqlite3.Connection, path: Path, router: ShardRouter) -> str | None:
    """Which shard a first-layout file held: its name, or (when the name was hashed) the
    route of any row in it; None when it holds nothing."""
    if not path.stem.startswith("sha256-"):
        return unquote(path.stem)
    tables = {r[0] for r in connection.execute("SELECT name FROM sqlite_master")}
    for table, (column, kind) in DATA_TABLES.items():
        if table in tables:
            row = connection.execute(f"SELECT {column} FROM {table} LIMIT 1").fetchone()
            if row is not None:
                if kind == "thread":
                    return router.for_thread(str(row[0]))
                return router.for_key(str(row[0]))
    return None


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
    files: int = DEFAULT_FILES,
) -> LocalStateAdapter:
    """A state adapter over `files` SQLite files under `path` (None: in memory).

    `clock` returns epoch milliseconds; with one injected, alarms fire only through
    `state.shards.fire_due_alarms()`. Not connected until `await state.connect()`.
    """
    router = ShardRouter(name=name, shard_key=shard_key, key_shard=key_shard)
    shards = LocalShards(
        None if path is None else Path(path),
        clock or wall_clock_ms,
        timers=clock is None,
        router=router,
        files=files,
    )
    return LocalStateAdapter(shards, router=router, lock_heartbeat=lock_heartbeat)
