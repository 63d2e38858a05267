"""The adapter against a plain in-memory model of the semantics, over random operation runs."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from chatstate import Lock, LockLostError, QueueEntry, open_local_state
from chatstate.state.cleanup import CLEANUP_SPACING_MS
from chatstate.state.sharding import ShardRouter
from support.clock import FakeClock

THREADS = ["telegram:1", "telegram:1:5", "telegram:2"]
KEYS = [
    "thread-state:telegram:1:5",
    "channel-state:telegram:1",
    "chat:callback:a",
    "msg-history:telegram:2",
]
TTLS = st.sampled_from([None, -10, 0, 1, 300, 1_000, 5_000])
LOCK_TTLS = st.sampled_from([-10, 0, 1, 300, 1_000, 5_000])
ROUTER = ShardRouter()


@dataclass
class ModelLock:
    token: str | None = None
    expires_at: int = 0
    fences: list[int] = field(default_factory=list)


@dataclass
class Model:
    now: int
    subscriptions: set[str] = field(default_factory=set)
    locks: dict[str, ModelLock] = field(default_factory=dict)
    cache: dict[str, tuple[Any, int | None]] = field(default_factory=dict)
    lists: dict[str, tuple[list[Any], int | None]] = field(default_factory=dict)
    queues: dict[str, list[tuple[Any, int]]] = field(default_factory=dict)

    def live(self, expires_at: int | None) -> bool:
        return expires_at is None or expires_at > self.now

    def expiry(self, ttl: int | None) -> int | None:
        return self.now + ttl if ttl is not None and ttl > 0 else None

    def holds(self, lock: Lock) -> bool:
        held = self.locks.get(lock.thread_id)
        return held is not None and held.token == lock.token and held.expires_at > self.now

    def live_queue(self, thread_id: str) -> list[tuple[Any, int]]:
        queue = [item for item in self.queues.get(thread_id, []) if item[1] > self.now]
        self.queues[thread_id] = queue
        return queue


class StateMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.clock = FakeClock()
        self.state = open_local_state(clock=self.clock)
        self.run(self.state.connect())
        self.model = Model(now=self.clock())
        self.obtained: list[Lock] = []

    def run(self, awaitable: Any) -> Any:
        return self.loop.run_until_complete(awaitable)

    def teardown(self) -> None:
        self.run(self.state.disconnect())
        self.loop.close()

    def guarded(self, key: str, guard: Lock | None, write: Any) -> Any:
        """Run a guarded write against the adapter; apply it to the model if it should apply."""
        if guard is not None and ROUTER.for_thread(guard.thread_id) != ROUTER.for_key(key):
            try:
                self.run(write())
            except ValueError:
                return None
            raise AssertionError("a guard from another shard was accepted")
        if guard is not None and not self.model.holds(guard):
            try:
                self.run(write())
            except LockLostError:
                return None
            raise AssertionError("a write guarded by a lost lock was applied")
        return self.run(write())

    def pick_guard(self, data: st.DataObject) -> Lock | None:
        if not self.obtained or not data.draw(st.booleans()):
            return None
        return data.draw(st.sampled_from(self.obtained))

    @rule(ms=st.integers(0, 2_000))
    def advance_clock(self, ms: int) -> None:
        self.clock.advance(ms)
        self.model.now = self.clock()

    @rule()
    def fire_due_alarms(self) -> None:
        self.run(self.state.shards.fire_due_alarms())

    @rule(thread=st.sampled_from(THREADS))
    def subscribe(self, thread: str) -> None:
        self.run(self.state.subscribe(thread))
        self.model.subscriptions.add(thread)

    @rule(thread=st.sampled_from(THREADS))
    def unsubscribe(self, thread: str) -> None:
        self.run(self.state.unsubscribe(thread))
        self.model.subscriptions.discard(thread)

    @rule(thread=st.sampled_from(THREADS))
    def is_subscribed(self, thread: str) -> None:
        assert self.run(self.state.is_subscribed(thread)) == (thread in self.model.subscriptions)

    @rule(thread=st.sampled_from(THREADS), ttl=LOCK_TTLS)
    def acquire_lock(self, thread: str, ttl: int) -> None:
        lock = self.run(self.state.acquire_lock(thread, ttl))
        held = self.model.locks.setdefault(thread, ModelLock())
        free = held.token is None or held.expires_at <= self.model.now
        assert (lock is not None) == free
        if lock is not None:
            assert lock.expires_at == self.model.now + ttl
            assert all(lock.fence > fence for fence in held.fences)
            held.token, held.expires_at = lock.token, lock.expires_at
            held.fences.append(lock.fence)
            self.obtained.append(lock)

    @precondition(lambda self: self.obtained)
    @rule(data=st.data())
    def release_lock(self, data: st.DataObject) -> None:
        lock = data.draw(st.sampled_from(self.obtained))
        self.run(self.state.release_lock(lock))
        held = self.model.locks[lock.thread_id]
        if held.token == lock.token:
            held.token = None

    @precondition(lambda self: self.obtained)
    @rule(data=st.data(), ttl=LOCK_TTLS)
    def extend_lock(self, data: st.DataObject, ttl: int) -> None:
        lock = data.draw(st.sampled_from(self.obtained))
        expected = self.model.holds(lock)
        assert self.run(self.state.extend_lock(lock, ttl)) == expected
        if expected:
            self.model.locks[lock.thread_id].expires_at = self.model.now + ttl

    @rule(thread=st.sampled_from(THREADS))
    def force_release_lock(self, thread: str) -> None:
        self.run(self.state.force_release_lock(thread))
        if thread in self.model.locks:
            self.model.locks[thread].token = None

    @rule(key=st.sampled_from(KEYS))
    def get(self, key: str) -> None:
        value, expires_at = self.model.cache.get(key, (None, None))
        expected = value if self.model.live(expires_at) else None
        assert self.run(self.state.get(key)) == expected

    @rule(key=st.sampled_from(KEYS), value=st.integers(), ttl=TTLS, data=st.data())
    def set(self, key: str, value: int, ttl: int | None, data: st.DataObject) -> None:
        guard = self.pick_guard(data)
        self.guarded(key, guard, lambda: self.state.set(key, value, ttl, guard=guard))
        if guard is None or (
            ROUTER.for_thread(guard.thread_id) == ROUTER.for_key(key) and self.model.holds(guard)
        ):
            self.model.cache[key] = (value, self.model.expiry(ttl))

    @rule(key=st.sampled_from(KEYS), value=st.integers(), ttl=TTLS, data=st.data())
    def set_if_not_exists(self, key: str, value: int, ttl: int | None, data: st.DataObject) -> None:
        guard = self.pick_guard(data)
        applies = guard is None or (
            ROUTER.for_thread(guard.thread_id) == ROUTER.for_key(key) and self.model.holds(guard)
        )
        result = self.guarded(
            key, guard, lambda: self.state.set_if_not_exists(key, value, ttl, guard=guard)
        )
        if not applies:
            return
        existing = self.model.cache.get(key)
        expected = existing is None or not self.model.live(existing[1])
        assert result == expected
        if expected:
            self.model.cache[key] = (value, self.model.expiry(ttl))

    @rule(key=st.sampled_from(KEYS), data=st.data())
    def delete(self, key: str, data: st.DataObject) -> None:
        guard = self.pick_guard(data)
        self.guarded(key, guard, lambda: self.state.delete(key, guard=guard))
        if guard is None or (
            ROUTER.for_thread(guard.thread_id) == ROUTER.for_key(key) and self.model.holds(guard)
        ):
            self.model.cache.pop(key, None)

    @rule(
        key=st.sampled_from(KEYS),
        value=st.integers(),
        max_length=st.sampled_from([None, 0, -1, 1, 2, 3]),
        ttl=TTLS,
        data=st.data(),
    )
    def append_to_list(
        self, key: str, value: int, max_length: int | None, ttl: int | None, data: st.DataObject
    ) -> None:
        guard = self.pick_guard(data)
        applies = guard is None or (
            ROUTER.for_thread(guard.thread_id) == ROUTER.for_key(key) and self.model.holds(guard)
        )
        self.guarded(
            key,
            guard,
            lambda: self.state.append_to_list(
                key, value, max_length=max_length, ttl_ms=ttl, guard=guard
            ),
        )
        if not applies:
            return
        items, expires_at = self.model.lists.get(key, ([], None))
        if not self.model.live(expires_at):
            items, expires_at = [], None
        items = [*items, value]
        if max_length is not None and max_length > 0:
            items = items[-max_length:]
        new_expiry = self.model.expiry(ttl)
        self.model.lists[key] = (items, expires_at if new_expiry is None else new_expiry)

    @rule(key=st.sampled_from(KEYS))
    def get_list(self, key: str) -> None:
        items, expires_at = self.model.lists.get(key, ([], None))
        assert self.run(self.state.get_list(key)) == (items if self.model.live(expires_at) else [])

    @rule(
        thread=st.sampled_from(THREADS),
        message=st.integers(),
        ttl=st.sampled_from([0, 1, 300, 2_000]),
        max_size=st.integers(1, 3),
    )
    def enqueue(self, thread: str, message: int, ttl: int, max_size: int) -> None:
        now = self.model.now
        depth = self.run(self.state.enqueue(thread, QueueEntry(message, now, now + ttl), max_size))
        queue = self.model.live_queue(thread)
        if now + ttl > now:
            queue.append((message, now + ttl))
        self.model.queues[thread] = queue[-max_size:]
        assert depth == len(self.model.queues[thread])

    @rule(thread=st.sampled_from(THREADS))
    def dequeue(self, thread: str) -> None:
        entry = self.run(self.state.dequeue(thread))
        queue = self.model.live_queue(thread)
        if not queue:
            assert entry is None
        else:
            message, expires_at = queue.pop(0)
            assert entry is not None and (entry.message, entry.expires_at) == (message, expires_at)

    @rule(thread=st.sampled_from(THREADS))
    def queue_depth(self, thread: str) -> None:
        assert self.run(self.state.queue_depth(thread)) == len(self.model.live_queue(thread))

    @invariant()
    def every_alarm_is_at_most_a_cleanup_spacing_after_the_earliest_expiry(self) -> None:
        for shard in self.state.shards.opened().values():
            earliest = shard.sql.exec(
                """SELECT MIN(e) AS e FROM (
                     SELECT MIN(expires_at) AS e FROM chat_state_locks
                     UNION ALL SELECT MIN(expires_at) FROM chat_state_cache
                     UNION ALL SELECT MIN(expires_at) FROM chat_state_queue
                     UNION ALL SELECT MIN(expires_at) FROM chat_state_lists)"""
            )[0]["e"]
            if earliest is not None:
                # A shard cleans at most once per spacing, so a wake-up may wait that long.
                assert shard.alarm.at is not None
                assert shard.alarm.at <= max(earliest, self.model.now + CLEANUP_SPACING_MS)


TestStateAgainstModel = StateMachine.TestCase
TestStateAgainstModel.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)
