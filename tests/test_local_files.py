"""The local runtime's storage: many shards per file, group commit, bounded open files, and the
automatic migrations of the first layout (one file per shard) and the second (eight files)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import random
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from chatstate import LockLostError, open_local_state
from chatstate.state.adapter import QueueEntry
from chatstate.state.backends.sqlite_files import LAYOUT_FILE, LocalStateAdapter, state_file_name
from chatstate.state.backends.sqlite_port import SqlitePort
from chatstate.state.schema import migrate
from chatstate.state.store import ShardStore
from support.clock import FakeClock


def count_commits(state: LocalStateAdapter, shard: str) -> list[int]:
    """Record how many works each group commit of the shard's file carried."""
    sql = state.shards.opened()[shard].sql
    real = sql.run_group
    groups: list[int] = []

    def counting(works: list[Any]) -> list[tuple[bool, Any]]:
        groups.append(len(works))
        return real(works)

    sql.run_group = counting  # type: ignore[method-assign]
    return groups


async def test_concurrent_batches_share_one_commit(
    open_disk_state: Callable[..., LocalStateAdapter],
) -> None:
    state = open_disk_state(files=1)
    await state.connect()
    await state.set("thread-state:telegram:0", 0)
    groups = count_commits(state, "telegram:0")
    await asyncio.gather(*(state.set(f"thread-state:telegram:{n}", n) for n in range(50)))
    assert sum(groups) == 50
    assert len(groups) <= 3
    assert [await state.get(f"thread-state:telegram:{n}") for n in range(50)] == list(range(50))
    await state.disconnect()


async def test_a_failing_batch_in_a_group_applies_nothing_and_the_others_apply(
    open_disk_state: Callable[..., LocalStateAdapter], clock: FakeClock
) -> None:
    state = open_disk_state(files=1)
    await state.connect()
    lost = await state.acquire_lock("telegram:9", 1_000)
    assert lost is not None
    clock.advance(1_000)
    await state.acquire_lock("telegram:9", 1_000)
    groups = count_commits(state, "telegram:9")

    async def guarded() -> None:
        batch = state.batch()
        batch.set("thread-state:telegram:9", "half")
        batch.set("channel-state:telegram:9", "refused", guard=lost)
        await batch.run()

    outcomes = await asyncio.gather(
        state.set("thread-state:telegram:1", "a"),
        guarded(),
        state.set("thread-state:telegram:2", "b"),
        return_exceptions=True,
    )
    assert groups == [3]
    assert isinstance(outcomes[1], LockLostError)
    assert await state.get("thread-state:telegram:9") is None
    assert (
        await state.get("thread-state:telegram:1"),
        await state.get("thread-state:telegram:2"),
    ) == ("a", "b")
    await state.disconnect()


def open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


async def test_ten_thousand_chats_keep_the_open_files_bounded(
    open_disk_state: Callable[..., LocalStateAdapter], tmp_path: Path
) -> None:
    before = open_descriptors()
    state = open_disk_state()
    await state.connect()
    for start in range(0, 10_000, 500):
        await asyncio.gather(
            *(state.subscribe(f"telegram:{-100_000 - n}") for n in range(start, start + 500))
        )
    assert await state.is_subscribed("telegram:-109999")
    # One file, with its WAL and shared-memory file.
    assert open_descriptors() - before <= 3
    assert len(list((tmp_path / "state").iterdir())) <= 3 + 2  # and the layout, its lock
    await state.disconnect()


def first_layout_file(directory: Path, shard: str, clock: FakeClock, operations: list[Any]) -> None:
    """A shard file as the first layout wrote it: one SQLite file per shard, named by it."""
    name = quote(shard, safe="-_.")
    if len(name) > 120:
        name = "sha256-" + hashlib.sha256(shard.encode()).hexdigest()
    sql = SqlitePort(directory / f"{name}.sqlite3")
    migrate(sql, clock)
    ShardStore(sql, clock).run_batch(operations)
    sql.close()


async def test_the_first_layout_is_migrated_on_first_use(tmp_path: Path, clock: FakeClock) -> None:
    directory = tmp_path / "shards"
    directory.mkdir()
    long_chat = "telegram:" + "9" * 150  # its file name was a hash
    first_layout_file(
        directory,
        "telegram:-100123",
        clock,
        [
            ["set", "thread-state:telegram:-100123", '{"step":2}', None],
            ["subscribe", "telegram:-100123:7"],
            ["append_to_list", "msg-history:telegram:-100123", '"hi"', 100, None],
            ["acquire_lock", "telegram:-100123", 1_000],
        ],
    )
    first_layout_file(directory, long_chat, clock, [["subscribe", long_chat]])
    state = open_local_state(directory, clock=clock)
    await state.connect()
    assert await state.get("thread-state:telegram:-100123") == {"step": 2}
    assert await state.is_subscribed("telegram:-100123:7")
    assert await state.get_list("msg-history:telegram:-100123") == ["hi"]
    assert await state.is_subscribed(long_chat)
    # The lock's fencing number moved with it: a new holder gets a larger one.
    assert await state.acquire_lock("telegram:-100123", 1_000) is None
    clock.advance(1_000)
    lock = await state.acquire_lock("telegram:-100123", 1_000)
    assert lock is not None and lock.fence == 2
    leftovers = {p.name for p in directory.iterdir() if not p.name.startswith("state-")}
    assert leftovers == {LAYOUT_FILE, f"{LAYOUT_FILE}.lock"}
    await state.disconnect()


async def test_a_directory_opened_with_another_number_of_files_is_refused(
    open_disk_state: Callable[..., LocalStateAdapter], tmp_path: Path
) -> None:
    state = open_disk_state(files=4)
    await state.connect()
    await state.subscribe("telegram:1")
    await state.disconnect()
    assert json.loads((tmp_path / "state" / LAYOUT_FILE).read_text()) == {"files": 4}
    other = open_disk_state(files=8)
    await other.connect()
    with pytest.raises(ValueError, match="holds state in 4 files, not 8"):
        await other.subscribe("telegram:1")
    await other.disconnect()


async def test_kills_in_the_middle_of_group_commits_lose_no_returned_batch_and_split_none(
    tmp_path: Path,
) -> None:
    directory = tmp_path / "s"
    returned: set[int] = set()
    written: list[range] = []  # what each run may have written: up to its last gather
    for run in range(5):
        first = run * 100_000
        worker = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "support.group_commit_worker",
            str(directory),
            str(first),
            stdout=asyncio.subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": os.pathsep.join(["src", "tests"])},
        )
        assert worker.stdout is not None
        for _ in range(100 + random.randrange(200)):
            returned.add(int(await worker.stdout.readline()))
        worker.kill()
        rest, _ = await worker.communicate()
        returned.update(int(n) for n in rest.split())
        written.append(range(first, max(returned) + 40))

    state = open_local_state(directory)
    await state.connect()

    async def check(number: int) -> None:
        chat = f"telegram:{-1000 - number % 50}"
        thread = await state.get(f"thread-state:{chat}:{number}")
        channel = await state.get(f"channel-state:{chat}:{number}")
        assert thread == channel, f"batch {number} was split"
        if number in returned:
            assert thread == number, f"batch {number} returned but was lost"

    await asyncio.gather(*(check(n) for numbers in written for n in numbers))
    histories = [await state.get_list(f"msg-history:telegram:{-1000 - c}") for c in range(50)]
    assert returned <= {n for items in histories for n in items}
    await state.disconnect()


async def test_cleanup_finds_expired_rows_by_index_in_a_local_file(
    open_disk_state: Callable[..., LocalStateAdapter],
) -> None:
    state = open_disk_state(files=1)
    await state.connect()
    await state.subscribe("telegram:1")
    sql = state.shards.opened()["telegram:1"].sql
    for table in ("chat_state_cache", "chat_state_locks", "chat_state_lists", "chat_state_queue"):
        plan = sql.exec(f"EXPLAIN QUERY PLAN DELETE FROM {table} WHERE expires_at <= 5")
        assert any("_expiry" in str(row["detail"]) for row in plan), (table, plan)
    await state.disconnect()


async def eight_file_directory(
    open_disk_state: Callable[..., LocalStateAdapter], chats: list[str], clock: FakeClock
) -> None:
    """State as the second layout wrote it: the shards spread over eight files."""
    state = open_disk_state(files=8)
    await state.connect()
    for chat in chats:
        batch = state.batch()
        batch.subscribe(chat)
        batch.set(f"thread-state:{chat}", {"chat": chat})
        batch.set(f"cache:{chat}", "short-lived", ttl_ms=5_000)
        batch.append_to_list(f"msg-history:{chat}", "hi", max_length=10)
        batch.append_to_list(f"msg-history:{chat}", "again", max_length=10)
        batch.enqueue(chat, QueueEntry({"text": chat}, clock(), clock() + 60_000), max_size=10)
        batch.mark_pending(chat)
        await batch.run()
        assert await state.acquire_lock(chat, 1_000) is not None
    await state.disconnect()


CHATS = [f"telegram:{-500 - n}" for n in range(40)]


async def test_a_directory_in_eight_files_is_merged_into_one_on_first_use(
    open_disk_state: Callable[..., LocalStateAdapter], tmp_path: Path, clock: FakeClock
) -> None:
    await eight_file_directory(open_disk_state, CHATS, clock)
    directory = tmp_path / "state"
    assert len(list(directory.glob("state-*.sqlite3"))) == 8
    state = open_disk_state()
    await state.connect()
    for chat in CHATS:
        assert await state.is_subscribed(chat)
        assert await state.get(f"thread-state:{chat}") == {"chat": chat}
        assert await state.get_list(f"msg-history:{chat}") == ["hi", "again"]
        assert await state.queue_depth(chat) == 1
    assert await state.shards.pending_work() == sorted(CHATS)
    entry = await state.dequeue(CHATS[0])
    assert entry is not None and entry.message == {"text": CHATS[0]}
    assert [p.name for p in directory.glob("state-*.sqlite3")] == [state_file_name(0)]
    assert json.loads((directory / LAYOUT_FILE).read_text()) == {"files": 1}
    # Locks kept their fencing numbers, and expiries still expire.
    assert await state.acquire_lock(CHATS[0], 1_000) is None
    clock.advance(5_000)
    lock = await state.acquire_lock(CHATS[0], 1_000)
    assert lock is not None and lock.fence == 2
    assert await state.get(f"cache:{CHATS[0]}") is None
    await state.disconnect()


async def test_a_merge_repeated_after_a_crash_copies_nothing_twice(
    open_disk_state: Callable[..., LocalStateAdapter], tmp_path: Path, clock: FakeClock
) -> None:
    await eight_file_directory(open_disk_state, CHATS, clock)
    directory = tmp_path / "state"
    # A crash after one file's move committed, before the file was removed.
    target = SqlitePort(directory / state_file_name(0))
    target.copy_tables_from(directory / state_file_name(3), ["chat_state_list_items"])
    target.close()
    state = open_disk_state()
    await state.connect()
    for chat in CHATS:
        assert await state.get_list(f"msg-history:{chat}") == ["hi", "again"]
        assert await state.queue_depth(chat) == 1
    await state.disconnect()
