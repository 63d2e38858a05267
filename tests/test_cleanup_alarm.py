"""Lazy cleanup: one alarm per shard at the earliest expiry (reference 4.9), and at most one
cleanup a minute (CLEANUP_SPACING_MS)."""

from __future__ import annotations

from chatstate import QueueEntry
from chatstate.state.backends.sqlite_files import LocalStateAdapter
from chatstate.state.cleanup import CLEANUP_SPACING_MS
from support.clock import FakeClock

SHARD = "telegram:1"


def alarm_at(state: LocalStateAdapter, shard: str = SHARD) -> int | None:
    return state.shards.opened()[shard].alarm.at


def rows(state: LocalStateAdapter, table: str, shard: str = SHARD) -> int:
    result = state.shards.opened()[shard].sql.exec(f"SELECT COUNT(*) AS n FROM {table}")
    return int(result[0]["n"])


async def test_a_cache_write_with_ttl_arms_the_alarm_at_its_expiry(
    state: LocalStateAdapter, clock: FakeClock
) -> None:
    await state.set("thread-state:telegram:1", 1, 5_000)
    assert alarm_at(state) == clock() + 5_000


async def test_a_lock_arms_the_alarm_at_its_expiry(
    state: LocalStateAdapter, clock: FakeClock
) -> None:
    await state.acquire_lock(SHARD, 30_000)
    assert alarm_at(state) == clock() + 30_000


async def test_a_list_append_with_ttl_arms_the_alarm(
    state: LocalStateAdapter, clock: FakeClock
) -> None:
    await state.append_to_list("msg-history:telegram:1", "m", ttl_ms=7_000)
    assert alarm_at(state) == clock() + 7_000


async def test_an_enqueue_arms_the_alarm_at_the_entry_expiry(
    state: LocalStateAdapter, clock: FakeClock
) -> None:
    await state.enqueue(SHARD, QueueEntry("m", clock(), clock() + 90_000), 10)
    assert alarm_at(state) == clock() + 90_000


async def test_set_if_not_exists_arms_the_alarm(state: LocalStateAdapter, clock: FakeClock) -> None:
    await state.set_if_not_exists("dedupe:telegram:1:5", True, 600_000)
    assert alarm_at(state) == clock() + 600_000


async def test_writes_without_expiry_leave_no_alarm(state: LocalStateAdapter) -> None:
    await state.subscribe(SHARD)
    await state.set("thread-state:telegram:1", 1)
    await state.append_to_list("msg-history:telegram:1", 1)
    assert alarm_at(state) is None


async def test_a_later_expiry_keeps_the_earlier_alarm(
    state: LocalStateAdapter, clock: FakeClock
) -> None:
    await state.set("thread-state:telegram:1", 1, 1_000)
    await state.set("channel-state:telegram:1", 1, 9_000)
    assert alarm_at(state) == clock() + 1_000


async def test_an_earlier_expiry_moves_the_alarm_forward(
    state: LocalStateAdapter, clock: FakeClock
) -> None:
    await state.set("thread-state:telegram:1", 1, 9_000)
    await state.set("channel-state:telegram:1", 1, 1_000)
    assert alarm_at(state) == clock() + 1_000


async def test_the_alarm_removes_expired_rows_of_every_kind(
    state: LocalStateAdapter, clock: FakeClock
) -> None:
    await state.set("thread-state:telegram:1", 1, 1_000)
    await state.append_to_list("msg-history:telegram:1", 1, ttl_ms=1_000)
    await state.enqueue(SHARD, QueueEntry("m", clock(), clock() + 1_000), 10)
    await state.acquire_lock(SHARD, 1_000)
    clock.advance(1_000)
    assert await state.shards.fire_due_alarms() == 1
    assert rows(state, "chat_state_cache") == 0
    assert rows(state, "chat_state_lists") == 0
    assert rows(state, "chat_state_list_items") == 0
    assert rows(state, "chat_state_queue") == 0
    held = state.shards.opened()[SHARD].sql.exec(
        "SELECT COUNT(*) AS n FROM chat_state_locks WHERE token IS NOT NULL"
    )
    assert held[0]["n"] == 0


async def test_the_alarm_is_rearmed_for_the_next_expiry_after_it_runs(
    state: LocalStateAdapter, clock: FakeClock
) -> None:
    start = clock()
    await state.set("thread-state:telegram:1", 1, 1_000)
    await state.set("channel-state:telegram:1", 1, 2 * CLEANUP_SPACING_MS)
    clock.advance(1_000)
    await state.shards.fire_due_alarms()
    assert alarm_at(state) == start + 2 * CLEANUP_SPACING_MS
    assert rows(state, "chat_state_cache") == 1


async def test_a_shard_cleans_at_most_once_per_spacing(
    state: LocalStateAdapter, clock: FakeClock
) -> None:
    # Expiries a second apart, as a busy chat's dedupe keys: one wake-up a minute, not each.
    for n in range(5):
        await state.set(f"thread-state:telegram:1:{n}", n, 1_000 * (n + 1))
    clock.advance(1_000)
    await state.shards.fire_due_alarms()
    assert alarm_at(state) == clock() + CLEANUP_SPACING_MS
    await state.set("channel-state:telegram:1", 1, 1_000)
    assert alarm_at(state) == clock() + CLEANUP_SPACING_MS
    clock.advance(1_000)
    assert await state.get("thread-state:telegram:1:1") is None  # reads stay strict


async def test_the_alarm_is_cleared_when_nothing_can_expire(
    state: LocalStateAdapter, clock: FakeClock
) -> None:
    await state.set("thread-state:telegram:1", 1, 1_000)
    clock.advance(1_000)
    await state.shards.fire_due_alarms()
    assert alarm_at(state) is None


async def test_a_duplicate_alarm_changes_nothing(
    state: LocalStateAdapter, clock: FakeClock
) -> None:
    await state.set("thread-state:telegram:1", 1, 1_000)
    await state.set("channel-state:telegram:1", 2, 5_000)
    clock.advance(1_000)
    shard = state.shards.opened()[SHARD]
    await shard.run_alarm()
    written = shard.sql.rows_written
    await shard.run_alarm()
    assert shard.sql.rows_written == written
    assert await state.get("channel-state:telegram:1") == 2
    assert alarm_at(state) == clock() + CLEANUP_SPACING_MS


async def test_a_stale_alarm_rearms_and_cleans_nothing(
    state: LocalStateAdapter, clock: FakeClock
) -> None:
    await state.set("thread-state:telegram:1", 1, 5_000)
    shard = state.shards.opened()[SHARD]
    written = shard.sql.rows_written
    await shard.run_alarm()
    assert shard.sql.rows_written == written
    assert alarm_at(state) == clock() + 5_000
    assert await state.get("thread-state:telegram:1") == 1


async def test_the_alarm_is_rearmed_from_storage_on_start(
    open_disk_state: object, clock: FakeClock
) -> None:
    state = open_disk_state()  # type: ignore[operator]
    await state.connect()
    await state.set("thread-state:telegram:1", 1, 5_000)
    await state.disconnect()
    reopened = open_disk_state()  # type: ignore[operator]
    await reopened.connect()
    assert await reopened.get("thread-state:telegram:1") == 1
    assert alarm_at(reopened) == clock() + 5_000
    await reopened.disconnect()
