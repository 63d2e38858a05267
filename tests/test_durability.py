"""State survives close and reopen; a crash mid-batch leaves nothing half-applied."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from chatstate import QueueEntry, open_local_state
from chatstate.state.backends.sqlite_files import LocalStateAdapter
from chatstate.state.backends.sqlite_port import SqlitePort
from chatstate.state.schema import LATEST_VERSION, migrate, schema_version
from support.clock import FakeClock

TESTS = Path(__file__).parent


def worker_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), str(TESTS.parent / "src")])}


async def test_everything_is_there_after_reopening_from_disk(
    open_disk_state: Callable[..., LocalStateAdapter], clock: FakeClock
) -> None:
    state = open_disk_state()
    await state.connect()
    await state.subscribe("telegram:1:2")
    lock = await state.acquire_lock("telegram:1", 60_000)
    await state.set("thread-state:telegram:1:2", {"step": 3}, 60_000)
    await state.append_to_list("msg-history:telegram:1", "hello", max_length=10, ttl_ms=60_000)
    await state.enqueue("telegram:1", QueueEntry("queued", clock(), clock() + 60_000), 10)
    await state.disconnect()

    reopened = open_disk_state()
    await reopened.connect()
    assert await reopened.is_subscribed("telegram:1:2")
    assert await reopened.acquire_lock("telegram:1", 60_000) is None
    assert lock is not None and await reopened.extend_lock(lock, 60_000)
    assert await reopened.get("thread-state:telegram:1:2") == {"step": 3}
    assert await reopened.get_list("msg-history:telegram:1") == ["hello"]
    queued = await reopened.dequeue("telegram:1")
    assert queued is not None and queued.message == "queued"
    await reopened.disconnect()


def test_migrations_run_once_and_record_the_version(tmp_path: Path, clock: FakeClock) -> None:
    sql = SqlitePort(tmp_path / "shard.sqlite3")
    assert migrate(sql, clock) == list(range(1, LATEST_VERSION + 1))
    assert migrate(sql, clock) == []
    assert schema_version(sql) == LATEST_VERSION
    sql.close()


@pytest.mark.parametrize("statements_before_death", [1, 3, 5, 6])
async def test_a_crash_in_the_middle_of_a_batch_leaves_nothing_half_applied(
    tmp_path: Path, statements_before_death: int
) -> None:
    directory = tmp_path / "state"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "support.crash_worker",
            str(directory),
            str(statements_before_death),
        ],
        env=worker_env(),
        capture_output=True,
        timeout=60,
    )
    assert result.returncode == 17, result.stderr.decode()
    state = open_local_state(directory)
    await state.connect()
    assert await state.get("thread-state:telegram:1") == "before"
    assert not await state.is_subscribed("telegram:1:2")
    assert await state.get_list("msg-history:telegram:1") == []
    assert await state.queue_depth("telegram:1") == 0
    await state.disconnect()


async def test_racing_processes_win_each_lock_exactly_once_and_lose_no_write(
    tmp_path: Path,
) -> None:
    directory, rounds, workers = tmp_path / "state", 40, 4
    start_at = time.time() + 1.5
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "support.race_worker",
                str(directory),
                str(rounds),
                str(w),
                str(start_at),
            ],
            env=worker_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for w in range(workers)
    ]
    wins: list[int] = []
    for process in processes:
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err.decode()
        wins += [int(line) for line in out.split()]
    assert sorted(wins) == list(range(rounds))
    state = open_local_state(directory)
    await state.connect()
    items = await state.get_list("msg-history:telegram:race")
    assert sorted(items) == sorted(f"{w}:{r}" for w in range(workers) for r in range(rounds))
    await state.disconnect()
