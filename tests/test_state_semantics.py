"""The reference adapter's behaviours (reference notes 2.2, 4.7, 4.8), with our decided changes.

The state contract: every case runs on the Durable Object store (SQLite shards) and on the
Workers KV backend (a KV double that keeps KV's documented rules). A case marked `kv_differs`
is one KV cannot hold; it is expected to fail there, and must.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator

import pytest

from chatstate import (
    LockLostError,
    QueueEntry,
    StateAdapter,
    StateNotConnectedError,
    open_local_state,
)
from chatstate.ports import Row, SqlValue
from chatstate.state.backends.kv import KvStateAdapter, open_kv_state
from chatstate.state.backends.sqlite_files import LocalStateAdapter
from support.clock import FakeClock
from support.kv_double import KvNamespaceDouble

KV_WRITE_WAIT = (
    "KV takes one write a second per key: a second write within 1 s waits a second, and this "
    "case's sub-second TTL lapses meanwhile"
)
CHAT = "telegram:-100123"
TOPIC = "telegram:-100123:7"


@pytest.fixture(params=["durable-objects", "kv"])
async def state(request: pytest.FixtureRequest, clock: FakeClock) -> AsyncIterator[StateAdapter]:
    adapter: StateAdapter
    if request.param == "kv":
        marker = request.node.get_closest_marker("kv_differs")
        if marker is not None:
            request.applymarker(pytest.mark.xfail(strict=True, reason=marker.args[0]))

        kv = KvNamespaceDouble(clock)
        adapter = open_kv_state(kv.location(), clock=clock, sleep=clock.sleep)
    else:
        adapter = open_local_state(clock=clock)
    await adapter.connect()
    yield adapter
    await adapter.disconnect()


async def fire_cleanup(state: StateAdapter) -> None:
    """The Durable Object's cleanup alarm; KV expires keys by itself."""
    if isinstance(state, LocalStateAdapter):
        await state.shards.fire_due_alarms()


async def pending_work(state: StateAdapter) -> list[str]:
    if isinstance(state, KvStateAdapter):
        return await state.kv_store.pending_work()
    assert isinstance(state, LocalStateAdapter)
    return await state.shards.pending_work()


def entry(clock: FakeClock, message: object, ttl_ms: int = 90_000) -> QueueEntry:
    return QueueEntry(message, clock(), clock() + ttl_ms)


# --- subscriptions ---------------------------------------------------------------------------


async def test_subscribe_is_idempotent(state: StateAdapter) -> None:
    await state.subscribe(TOPIC)
    await state.subscribe(TOPIC)
    assert await state.is_subscribed(TOPIC)


async def test_unsubscribe_removes_the_subscription(state: StateAdapter) -> None:
    await state.subscribe(TOPIC)
    await state.unsubscribe(TOPIC)
    assert not await state.is_subscribed(TOPIC)


async def test_unsubscribe_of_a_missing_subscription_is_a_no_op(state: StateAdapter) -> None:
    await state.unsubscribe(TOPIC)
    assert not await state.is_subscribed(TOPIC)


# --- locks -----------------------------------------------------------------------------------


async def test_acquire_returns_the_exact_stored_expiry(
    state: StateAdapter, clock: FakeClock
) -> None:
    lock = await state.acquire_lock(CHAT, 30_000)
    assert lock is not None
    assert (lock.thread_id, lock.expires_at) == (CHAT, clock() + 30_000)


async def test_acquire_of_a_held_lock_returns_none(state: StateAdapter) -> None:
    assert await state.acquire_lock(CHAT, 30_000) is not None
    assert await state.acquire_lock(CHAT, 30_000) is None


async def test_a_lock_is_free_again_exactly_at_its_expiry(
    state: StateAdapter, clock: FakeClock
) -> None:
    await state.acquire_lock(CHAT, 1_000)
    clock.advance(999)
    assert await state.acquire_lock(CHAT, 1_000) is None
    clock.advance(1)
    assert await state.acquire_lock(CHAT, 1_000) is not None


async def test_a_lock_taken_with_ttl_zero_is_born_expired(state: StateAdapter) -> None:
    assert await state.acquire_lock(CHAT, 0) is not None
    assert await state.acquire_lock(CHAT, 30_000) is not None


async def test_release_with_the_token_frees_the_lock(state: StateAdapter) -> None:
    lock = await state.acquire_lock(CHAT, 30_000)
    assert lock is not None
    await state.release_lock(lock)
    assert await state.acquire_lock(CHAT, 30_000) is not None


async def test_release_by_a_former_holder_does_not_free_the_new_holders_lock(
    state: StateAdapter, clock: FakeClock
) -> None:
    old = await state.acquire_lock(CHAT, 1_000)
    clock.advance(1_000)
    new = await state.acquire_lock(CHAT, 30_000)
    assert old is not None and new is not None
    await state.release_lock(old)
    assert await state.acquire_lock(CHAT, 30_000) is None


@pytest.mark.kv_differs(KV_WRITE_WAIT)
async def test_extend_of_a_held_lock_moves_its_expiry(
    state: StateAdapter, clock: FakeClock
) -> None:
    lock = await state.acquire_lock(CHAT, 1_000)
    assert lock is not None
    clock.advance(900)
    assert await state.extend_lock(lock, 1_000)
    clock.advance(900)
    assert await state.acquire_lock(CHAT, 1_000) is None


async def test_extend_exactly_at_expiry_fails(state: StateAdapter, clock: FakeClock) -> None:
    lock = await state.acquire_lock(CHAT, 1_000)
    assert lock is not None
    clock.advance(1_000)
    assert not await state.extend_lock(lock, 1_000)


async def test_extend_never_resurrects_a_released_lock(state: StateAdapter) -> None:
    lock = await state.acquire_lock(CHAT, 30_000)
    assert lock is not None
    await state.release_lock(lock)
    assert not await state.extend_lock(lock, 30_000)
    assert await state.acquire_lock(CHAT, 30_000) is not None


async def test_force_release_frees_a_lock_without_its_token(state: StateAdapter) -> None:
    old = await state.acquire_lock(CHAT, 30_000)
    await state.force_release_lock(CHAT)
    new = await state.acquire_lock(CHAT, 30_000)
    assert old is not None and new is not None
    await state.release_lock(old)
    assert await state.acquire_lock(CHAT, 30_000) is None


async def test_fence_grows_across_release_expiry_and_force_release(
    state: StateAdapter, clock: FakeClock
) -> None:
    fences = []
    first = await state.acquire_lock(CHAT, 1_000)
    assert first is not None
    fences.append(first.fence)
    await state.release_lock(first)
    second = await state.acquire_lock(CHAT, 1_000)
    assert second is not None
    fences.append(second.fence)
    clock.advance(1_000)
    third = await state.acquire_lock(CHAT, 1_000)
    assert third is not None
    fences.append(third.fence)
    await state.force_release_lock(CHAT)
    fourth = await state.acquire_lock(CHAT, 1_000)
    assert fourth is not None
    fences.append(fourth.fence)
    assert fences == sorted(set(fences)) and len(fences) == 4


async def test_fence_survives_the_cleanup_alarm(state: StateAdapter, clock: FakeClock) -> None:
    first = await state.acquire_lock(CHAT, 1_000)
    clock.advance(1_000)
    await fire_cleanup(state)
    second = await state.acquire_lock(CHAT, 1_000)
    assert first is not None and second is not None
    assert second.fence > first.fence


# --- cache -----------------------------------------------------------------------------------


async def test_get_of_a_missing_key_is_none(state: StateAdapter) -> None:
    assert await state.get("nothing") is None


async def test_set_then_get_round_trips_a_json_value(state: StateAdapter) -> None:
    value = {"a": [1, 2.5, "x", None, True], "b": {"c": "é"}}
    await state.set("k", value)
    assert await state.get("k") == value


async def test_a_cached_value_is_gone_exactly_at_its_expiry(
    state: StateAdapter, clock: FakeClock
) -> None:
    await state.set("k", 1, 1_000)
    clock.advance(999)
    assert await state.get("k") == 1
    clock.advance(1)
    assert await state.get("k") is None


@pytest.mark.kv_differs("on KV a value set without a TTL gets the default TTL (360 minutes)")
@pytest.mark.parametrize("ttl_ms", [None, 0, -5])
async def test_set_without_a_positive_ttl_never_expires(
    state: StateAdapter, clock: FakeClock, ttl_ms: int | None
) -> None:
    await state.set("k", 1, ttl_ms)
    clock.advance(10**12)
    assert await state.get("k") == 1


async def test_set_without_ttl_removes_a_previous_ttl(
    state: StateAdapter, clock: FakeClock
) -> None:
    await state.set("k", 1, 1_000)
    await state.set("k", 2)
    clock.advance(5_000)
    assert await state.get("k") == 2


async def test_set_if_not_exists_writes_only_the_first_time(state: StateAdapter) -> None:
    assert await state.set_if_not_exists("k", 1)
    assert not await state.set_if_not_exists("k", 2)
    assert await state.get("k") == 1


async def test_set_if_not_exists_treats_an_expired_key_as_absent(
    state: StateAdapter, clock: FakeClock
) -> None:
    await state.set("k", 1, 1_000)
    clock.advance(1_000)
    assert await state.set_if_not_exists("k", 2)
    assert await state.get("k") == 2


async def test_a_stored_null_reads_as_none_but_exists(state: StateAdapter) -> None:
    await state.set("k", None)
    assert await state.get("k") is None
    assert not await state.set_if_not_exists("k", 1)


async def test_delete_touches_only_the_cache_not_a_list_of_the_same_name(
    state: StateAdapter,
) -> None:
    await state.set("k", 1)
    await state.append_to_list("k", "item")
    await state.delete("k")
    assert await state.get("k") is None
    assert await state.get_list("k") == ["item"]


# --- lists -----------------------------------------------------------------------------------


async def test_a_missing_list_is_empty(state: StateAdapter) -> None:
    assert await state.get_list("msg-history:" + TOPIC) == []


async def test_a_list_keeps_insertion_order(state: StateAdapter) -> None:
    for item in ["a", "b", "c"]:
        await state.append_to_list("l", item)
    assert await state.get_list("l") == ["a", "b", "c"]


async def test_trimming_keeps_the_newest_items(state: StateAdapter) -> None:
    for item in range(5):
        await state.append_to_list("l", item, max_length=3)
    assert await state.get_list("l") == [2, 3, 4]


@pytest.mark.parametrize("max_length", [None, 0, -1])
async def test_a_non_positive_max_length_does_not_trim(
    state: StateAdapter, max_length: int | None
) -> None:
    for item in range(4):
        await state.append_to_list("l", item, max_length=max_length)
    assert await state.get_list("l") == [0, 1, 2, 3]


async def test_an_append_with_ttl_sets_the_lists_expiry(
    state: StateAdapter, clock: FakeClock
) -> None:
    await state.append_to_list("l", 1, ttl_ms=60_000)
    clock.advance(30_000)
    await state.append_to_list("l", 2, ttl_ms=60_000)
    clock.advance(59_999)
    assert await state.get_list("l") == [1, 2]
    clock.advance(1)
    assert await state.get_list("l") == []


@pytest.mark.kv_differs(KV_WRITE_WAIT)
async def test_an_append_without_ttl_keeps_the_lists_expiry(
    state: StateAdapter, clock: FakeClock
) -> None:
    await state.append_to_list("l", 1, ttl_ms=1_000)
    await state.append_to_list("l", 2)
    clock.advance(1_000)
    assert await state.get_list("l") == []


async def test_a_later_shorter_ttl_shortens_the_list(state: StateAdapter, clock: FakeClock) -> None:
    await state.append_to_list("l", "first", ttl_ms=60_000)
    await state.append_to_list("l", "second", ttl_ms=1)
    clock.advance(5)
    assert await state.get_list("l") == []


async def test_an_expired_list_starts_fresh_without_resurrecting_items(
    state: StateAdapter, clock: FakeClock
) -> None:
    await state.append_to_list("l", 1, ttl_ms=10)
    clock.advance(20)
    await state.append_to_list("l", 2, ttl_ms=10_000)
    assert await state.get_list("l") == [2]


# --- queues ----------------------------------------------------------------------------------


async def test_a_queue_is_first_in_first_out(state: StateAdapter, clock: FakeClock) -> None:
    for message in ["a", "b", "c"]:
        await state.enqueue(CHAT, entry(clock, message), 10)
    dequeued = [await state.dequeue(CHAT) for _ in range(4)]
    assert [e.message if e else None for e in dequeued] == ["a", "b", "c", None]


async def test_enqueue_returns_the_live_depth(state: StateAdapter, clock: FakeClock) -> None:
    assert await state.enqueue(CHAT, entry(clock, "a"), 10) == 1
    assert await state.enqueue(CHAT, entry(clock, "b"), 10) == 2


async def test_enqueue_drops_the_oldest_beyond_max_size(
    state: StateAdapter, clock: FakeClock
) -> None:
    for message in range(5):
        depth = await state.enqueue(CHAT, entry(clock, message), 3)
    assert depth == 3
    first = await state.dequeue(CHAT)
    assert first is not None and first.message == 2


async def test_enqueue_does_not_count_expired_entries(
    state: StateAdapter, clock: FakeClock
) -> None:
    await state.enqueue(CHAT, entry(clock, "old", ttl_ms=100), 10)
    clock.advance(100)
    assert await state.enqueue(CHAT, entry(clock, "new"), 10) == 1


@pytest.mark.parametrize("max_size", [0, -1])
async def test_enqueue_refuses_a_max_size_below_one(
    state: StateAdapter, clock: FakeClock, max_size: int
) -> None:
    with pytest.raises(ValueError, match="max_size"):
        await state.enqueue(CHAT, entry(clock, "a"), max_size)
    assert await state.queue_depth(CHAT) == 0


async def test_dequeue_never_returns_an_expired_entry(
    state: StateAdapter, clock: FakeClock
) -> None:
    await state.enqueue(CHAT, entry(clock, "stale", ttl_ms=100), 10)
    await state.enqueue(CHAT, entry(clock, "fresh", ttl_ms=10_000), 10)
    clock.advance(100)
    dequeued = await state.dequeue(CHAT)
    assert dequeued is not None and dequeued.message == "fresh"


@pytest.mark.kv_differs(KV_WRITE_WAIT)
async def test_queue_depth_excludes_expired_entries(state: StateAdapter, clock: FakeClock) -> None:
    await state.enqueue(CHAT, entry(clock, "a", ttl_ms=100), 10)
    await state.enqueue(CHAT, entry(clock, "b", ttl_ms=200), 10)
    clock.advance(100)
    assert await state.queue_depth(CHAT) == 1


async def test_dequeue_returns_the_entry_timestamps(state: StateAdapter, clock: FakeClock) -> None:
    sent = entry(clock, {"text": "hi"})
    await state.enqueue(CHAT, sent, 10)
    assert await state.dequeue(CHAT) == sent


# --- guarded writes --------------------------------------------------------------------------


async def test_a_guarded_write_applies_while_the_lock_is_held(state: StateAdapter) -> None:
    lock = await state.acquire_lock(CHAT, 30_000)
    await state.set(f"thread-state:{TOPIC}", {"n": 1}, guard=lock)
    assert await state.get(f"thread-state:{TOPIC}") == {"n": 1}


@pytest.mark.parametrize("operation", ["set", "set_if_not_exists", "delete", "append_to_list"])
async def test_a_guarded_write_after_the_lock_was_taken_over_writes_nothing(
    state: StateAdapter, clock: FakeClock, operation: str
) -> None:
    key = f"thread-state:{TOPIC}"
    await state.set(key, "successor's")
    await state.append_to_list(key, "successor's")
    lost = await state.acquire_lock(CHAT, 1_000)
    clock.advance(1_000)
    assert await state.acquire_lock(CHAT, 30_000) is not None
    with pytest.raises(LockLostError):
        if operation == "delete":
            await state.delete(key, guard=lost)
        elif operation == "append_to_list":
            await state.append_to_list(key, "stale", guard=lost)
        else:
            await getattr(state, operation)(key, "stale", guard=lost)
    assert await state.get(key) == "successor's"
    assert await state.get_list(key) == ["successor's"]


async def test_a_guard_from_another_shard_is_refused(state: StateAdapter) -> None:
    lock = await state.acquire_lock("telegram:999", 30_000)
    with pytest.raises(ValueError, match="shard"):
        await state.set(f"thread-state:{TOPIC}", 1, guard=lock)


# --- values and connection -------------------------------------------------------------------


@pytest.mark.parametrize(
    "value", [(1, 2), {1, 2}, b"bytes", object(), math.nan, {"a": math.inf}, {1: "int key"}]
)
async def test_a_non_json_value_is_refused_before_anything_is_written(
    state: StateAdapter, value: object
) -> None:
    with pytest.raises(TypeError):
        await state.set("k", value)
    with pytest.raises(TypeError):
        await state.append_to_list("k", value)
    assert await state.get("k") is None
    assert await state.get_list("k") == []


async def test_an_oversized_value_is_refused(state: StateAdapter) -> None:
    with pytest.raises(ValueError, match="limit"):
        await state.set("k", "x" * (1024 * 1024 + 1))
    assert await state.get("k") is None


async def test_calls_before_connect_raise_not_connected(clock: FakeClock) -> None:
    state = open_local_state(clock=clock)
    with pytest.raises(StateNotConnectedError):
        await state.get("k")


async def test_calls_after_disconnect_raise_not_connected(clock: FakeClock) -> None:
    state = open_local_state(clock=clock)
    await state.connect()
    await state.disconnect()
    with pytest.raises(StateNotConnectedError):
        await state.subscribe(TOPIC)


# --- batches ---------------------------------------------------------------------------------


async def test_a_batch_returns_results_in_order(state: StateAdapter) -> None:
    batch = state.batch()
    first = batch.set_if_not_exists("dedupe:telegram:-100123:1", True, 600_000)
    second = batch.set_if_not_exists("dedupe:telegram:-100123:1", True, 600_000)
    subscribed = batch.is_subscribed(TOPIC)
    await batch.run()
    assert (first.value, second.value, subscribed.value) == (True, False, False)


async def test_a_batch_on_one_shard_is_one_shard_call(state: StateAdapter) -> None:
    calls: list[str] = []
    real_call = state.call_shard

    async def counting(shard: str, operations: list[list[object]]) -> dict[str, object]:
        calls.append(shard)
        return await real_call(shard, operations)

    state.call_shard = counting
    batch = state.batch()
    batch.set_if_not_exists("dedupe:telegram:-100123:1", True, 600_000)
    batch.acquire_lock(CHAT, 30_000)
    batch.append_to_list(f"msg-history:{TOPIC}", "m", max_length=100, ttl_ms=1_000)
    await batch.run()
    assert calls == [CHAT]


async def test_a_failing_operation_applies_none_of_its_batch(
    state: StateAdapter, clock: FakeClock
) -> None:
    lost = await state.acquire_lock(CHAT, 1_000)
    clock.advance(1_000)
    batch = state.batch()
    batch.set(f"thread-state:{TOPIC}", "first")
    batch.subscribe(TOPIC)
    batch.set(f"channel-state:{CHAT}", "guarded", guard=lost)
    with pytest.raises(LockLostError):
        await batch.run()
    assert await state.get(f"thread-state:{TOPIC}") is None
    assert not await state.is_subscribed(TOPIC)


# --- conditional operations and acknowledged queues ------------------------------------------


async def test_only_if_runs_the_operation_when_the_condition_held(
    state: StateAdapter, clock: FakeClock
) -> None:
    batch = state.batch()
    fresh = batch.set_if_not_exists("dedupe:telegram:-100123:1", True, 600_000)
    depth = batch.only_if(fresh).enqueue(CHAT, entry(clock, "m"), 10)
    await batch.run()
    assert depth.value == 1


async def test_only_if_skips_the_operation_when_the_condition_failed(
    state: StateAdapter, clock: FakeClock
) -> None:
    await state.set_if_not_exists("dedupe:telegram:-100123:1", True, 600_000)
    batch = state.batch()
    fresh = batch.set_if_not_exists("dedupe:telegram:-100123:1", True, 600_000)
    depth = batch.only_if(fresh).enqueue(CHAT, entry(clock, "m"), 10)
    await batch.run()
    assert depth.value is None
    assert await state.queue_depth(CHAT) == 0


async def test_only_if_refuses_a_condition_on_another_shard(state: StateAdapter) -> None:
    batch = state.batch()
    other = batch.is_subscribed("telegram:999")
    with pytest.raises(ValueError, match="only_if"):
        batch.only_if(other).subscribe(CHAT)


async def test_peek_leaves_entries_until_they_are_acknowledged(
    state: StateAdapter, clock: FakeClock
) -> None:
    for message in ["a", "b"]:
        await state.enqueue(CHAT, entry(clock, message), 10)
    batch = state.batch()
    peeked = batch.peek_queue(CHAT)
    await batch.run()
    assert [e.message for _, e in peeked.value] == ["a", "b"]
    assert await state.queue_depth(CHAT) == 2
    batch = state.batch()
    batch.ack_queue(CHAT, [peeked.value[0][0]])
    await batch.run()
    remaining = await state.dequeue(CHAT)
    assert remaining is not None and remaining.message == "b"


async def test_an_acknowledgement_never_removes_a_later_entry(
    state: StateAdapter, clock: FakeClock
) -> None:
    await state.enqueue(CHAT, entry(clock, "old", ttl_ms=100), 10)
    batch = state.batch()
    peeked = batch.peek_queue(CHAT)
    await batch.run()
    clock.advance(100)
    await fire_cleanup(state)
    await state.enqueue(CHAT, entry(clock, "new"), 10)
    batch = state.batch()
    batch.ack_queue(CHAT, [seq for seq, _ in peeked.value])
    await batch.run()
    assert await state.queue_depth(CHAT) == 1


async def test_an_acknowledgement_guarded_by_a_lost_lock_removes_nothing(
    state: StateAdapter, clock: FakeClock
) -> None:
    lost = await state.acquire_lock(CHAT, 1_000)
    await state.enqueue(CHAT, entry(clock, "m", ttl_ms=60_000), 10)
    clock.advance(1_000)
    batch = state.batch()
    peeked = batch.peek_queue(CHAT)
    await batch.run()
    batch = state.batch()
    batch.ack_queue(CHAT, [seq for seq, _ in peeked.value], guard=lost)
    with pytest.raises(LockLostError):
        await batch.run()
    assert await state.queue_depth(CHAT) == 1


async def test_drop_newest_keeps_a_full_queue_as_it_is(
    state: StateAdapter, clock: FakeClock
) -> None:
    batch = state.batch()
    for message in ["a", "b", "c"]:
        batch.enqueue(CHAT, entry(clock, message), 2, drop_newest=True)
    await batch.run()
    first = await state.dequeue(CHAT)
    assert first is not None and first.message == "a"
    assert await state.queue_depth(CHAT) == 1


async def test_merge_adds_keys_to_the_stored_object_and_keeps_the_others(
    state: StateAdapter,
) -> None:
    await state.set("thread-state:t:1", {"a": 1, "b": 2})
    await state.merge("thread-state:t:1", {"b": 3, "c": 4})
    assert await state.get("thread-state:t:1") == {"a": 1, "b": 3, "c": 4}


async def test_merge_into_an_expired_value_starts_from_empty(
    state: StateAdapter, clock: FakeClock
) -> None:
    await state.set("thread-state:t:1", {"old": True}, 1_000)
    clock.advance(1_000)
    await state.merge("thread-state:t:1", {"new": True}, 5_000)
    assert await state.get("thread-state:t:1") == {"new": True}
    clock.advance(5_000)
    assert await state.get("thread-state:t:1") is None


async def test_merge_of_a_non_object_is_refused_and_writes_nothing(
    state: StateAdapter,
) -> None:
    await state.set("k", {"a": 1})
    with pytest.raises(TypeError, match="JSON object"):
        await state.merge("k", [1, 2])  # type: ignore[arg-type]
    assert await state.get("k") == {"a": 1}


async def test_a_guarded_merge_after_the_lock_was_taken_over_writes_nothing(
    state: StateAdapter, clock: FakeClock
) -> None:
    lost = await state.acquire_lock("telegram:1", 1_000)
    assert lost is not None
    clock.advance(1_000)
    assert await state.acquire_lock("telegram:1", 1_000) is not None
    with pytest.raises(LockLostError):
        await state.merge("thread-state:telegram:1", {"x": 1}, guard=lost)
    assert await state.get("thread-state:telegram:1") is None


async def test_get_list_with_newest_returns_the_latest_items_oldest_first(
    state: StateAdapter,
) -> None:
    for n in range(10):
        await state.append_to_list("l", n)
    assert await state.get_list("l", newest=3) == [7, 8, 9]
    assert await state.get_list("l", newest=0) == []
    assert await state.get_list("l", newest=50) == list(range(10))


async def test_get_list_with_newest_reads_only_those_rows(clock: FakeClock) -> None:
    # Durable Objects only: a KV list is one value, always read whole.
    state = open_local_state(clock=clock)
    await state.connect()
    for n in range(200):
        await state.append_to_list("l", n)
    statements: list[str] = []
    shard = state.shards.opened()[state.router.for_key("l")]
    real = shard.sql.exec

    def counting(sql: str, *params: SqlValue) -> list[Row]:
        rows = real(sql, *params)
        statements.append(f"{len(rows)} rows: {sql[:40]}")
        return rows

    shard.sql.exec = counting  # type: ignore[method-assign]
    assert await state.get_list("l", newest=2) == [198, 199]
    assert max(int(s.split()[0]) for s in statements) <= 2


async def test_a_pending_mark_is_cleared_only_when_no_live_entry_is_left(
    state: StateAdapter, clock: FakeClock
) -> None:
    batch = state.batch()
    batch.enqueue("telegram:1", QueueEntry("m", clock(), clock() + 1_000), 10)
    batch.mark_pending("telegram:1")
    await batch.run()
    assert await pending_work(state) == ["telegram:1"]
    busy = state.batch()
    kept = busy.clear_pending_if_idle("telegram:1")
    await busy.run()
    assert (kept.value, await pending_work(state)) == (False, ["telegram:1"])
    clock.advance(1_000)  # the entry expired: nothing live is left to handle
    idle = state.batch()
    cleared = idle.clear_pending_if_idle("telegram:1")
    await idle.run()
    assert (cleared.value, await pending_work(state)) == (True, [])


# --- a conversation's turn: ours, the runtime's hot path ------------------------------------


async def run_one(state: StateAdapter, build: object) -> object:
    batch = state.batch()
    pending = build(batch)  # type: ignore[operator]
    await batch.run()
    return pending.value


async def test_a_turn_takes_the_lock_with_the_queue_the_subscription_and_the_state(
    state: StateAdapter, clock: FakeClock
) -> None:
    await state.subscribe(TOPIC)
    await state.set(f"thread-state:{TOPIC}", {"step": 2})
    now = clock()
    await state.enqueue(CHAT, QueueEntry("first", now, now + 60_000), 10)
    await state.enqueue(CHAT, QueueEntry("second", now, now + 60_000), 10)
    turn = await run_one(
        state,
        lambda b: b.begin_turn(CHAT, 30_000, thread_id=TOPIC, state_key=f"thread-state:{TOPIC}"),
    )
    assert turn is not None
    assert [entry.message for _, entry in turn.entries] == ["first", "second"]  # type: ignore[attr-defined]
    assert turn.subscribed and turn.state == {"step": 2}  # type: ignore[attr-defined]
    assert await state.acquire_lock(CHAT, 30_000) is None  # the turn holds it


async def test_a_turn_on_a_busy_conversation_takes_nothing(state: StateAdapter) -> None:
    assert await state.acquire_lock(CHAT, 30_000) is not None
    turn = await run_one(state, lambda b: b.begin_turn(CHAT, 30_000, thread_id=TOPIC))
    assert turn is None


async def test_release_if_idle_frees_a_conversation_with_nothing_waiting(
    state: StateAdapter,
) -> None:
    lock = await state.acquire_lock(CHAT, 30_000)
    assert lock is not None
    assert await run_one(state, lambda b: b.release_lock_if_idle(lock)) is True
    assert await state.acquire_lock(CHAT, 30_000) is not None


async def test_release_if_idle_keeps_the_lock_while_entries_wait(
    state: StateAdapter, clock: FakeClock
) -> None:
    lock = await state.acquire_lock(CHAT, 30_000)
    assert lock is not None
    await state.enqueue(CHAT, QueueEntry("waiting", clock(), clock() + 60_000), 10)
    assert await run_one(state, lambda b: b.release_lock_if_idle(lock)) is False
    assert await state.acquire_lock(CHAT, 30_000) is None
    assert await state.extend_lock(lock, 30_000)


async def test_release_if_idle_of_a_lost_lock_undoes_the_guarded_writes_before_it(
    state: StateAdapter, clock: FakeClock
) -> None:
    key = f"thread-state:{TOPIC}"
    await state.set(key, "successor's")
    lost = await state.acquire_lock(CHAT, 1_000)
    assert lost is not None
    clock.advance(1_000)
    assert await state.acquire_lock(CHAT, 30_000) is not None
    batch = state.batch()
    batch.set(key, "stale", guard=lost)
    batch.release_lock_if_idle(lost)
    with pytest.raises(LockLostError):
        await batch.run()
    assert await state.get(key) == "successor's"
