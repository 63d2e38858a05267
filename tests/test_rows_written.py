"""Rows written per operation: the unit Durable Object SQLite bills writes by."""

from __future__ import annotations

from chatstate import QueueEntry
from chatstate.state.backends.sqlite_files import LocalStateAdapter
from support.clock import FakeClock

HISTORY = "msg-history:telegram:1"


def written(state: LocalStateAdapter) -> int:
    return state.shards.rows_written()


async def test_a_history_append_at_full_length_writes_at_most_three_rows(
    state: LocalStateAdapter, clock: FakeClock
) -> None:
    for n in range(150):
        await state.append_to_list(HISTORY, {"n": n}, max_length=100, ttl_ms=604_800_000)
        clock.advance(10)
    before = written(state)
    await state.append_to_list(HISTORY, {"n": "next"}, max_length=100, ttl_ms=604_800_000)
    assert written(state) - before <= 3
    assert len(await state.get_list(HISTORY)) == 100


async def test_a_dedupe_claim_writes_one_row_once_an_earlier_alarm_is_planned(
    state: LocalStateAdapter,
) -> None:
    await state.acquire_lock("telegram:1", 30_000)
    before = written(state)
    await state.set_if_not_exists("dedupe:telegram:1:5", True, 600_000)
    assert written(state) - before == 1


async def test_a_lock_acquire_and_release_write_one_row_each(state: LocalStateAdapter) -> None:
    await state.set("thread-state:telegram:1", 1, 1_000)
    before = written(state)
    lock = await state.acquire_lock("telegram:1", 30_000)
    assert written(state) - before == 1
    assert lock is not None
    await state.release_lock(lock)
    assert written(state) - before == 2


async def test_reads_write_nothing(state: LocalStateAdapter, clock: FakeClock) -> None:
    await state.append_to_list(HISTORY, 1, ttl_ms=1_000)
    await state.enqueue("telegram:1", QueueEntry(1, clock(), clock() + 1_000), 10)
    clock.advance(2_000)
    before = written(state)
    await state.get_list(HISTORY)
    await state.get("thread-state:telegram:1")
    await state.queue_depth("telegram:1")
    await state.dequeue("telegram:1")
    await state.is_subscribed("telegram:1")
    assert written(state) == before
