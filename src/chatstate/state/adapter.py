"""The state adapter: the Chat SDK state contract in Python, over sharded shard calls.

It routes each operation to its shard, JSON-encodes values, and sends the operations of one
step that share a shard as one call (one transaction). It holds no state of its own besides
the connected flag and optional lock heartbeats, so any number of adapters may share shards.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from chatstate.errors import ShardCallError, StateNotConnectedError, error_from_wire
from chatstate.ports import Clock, ShardCall
from chatstate.state.json_values import JsonValue, decode_json, decode_json_items, encode_json
from chatstate.state.sharding import ShardRouter
from chatstate.state.stores import NamespacedStore

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True)
class Lock:
    """A held lock. `fence` only grows per lock key: a later holder always has a larger one."""

    thread_id: str
    token: str
    expires_at: int
    fence: int


@dataclass(frozen=True)
class QueueEntry:
    message: JsonValue
    enqueued_at: int
    expires_at: int


@dataclass(frozen=True)
class Turn:
    """A conversation's lock, taken, with what its handler starts from."""

    lock: Lock
    entries: list[tuple[int, QueueEntry]]
    subscribed: bool
    state: JsonValue


class Pending(Generic[T]):
    """The result of one operation in a batch, available once the batch has run."""

    def __init__(self, decode: Callable[[Any], T]) -> None:
        self._decode = decode
        self._value: T | None = None
        self._done = False

    def _resolve(self, raw: Any) -> None:
        self._value = self._decode(raw)
        self._done = True

    @property
    def value(self) -> T:
        if not self._done:
            raise RuntimeError("the batch holding this operation has not run yet")
        return self._value  # type: ignore[return-value]


def _none(_: Any) -> None:
    return None


def _bool(raw: Any) -> bool:
    return bool(raw)


def _int(raw: Any) -> int:
    return int(raw)


def _lock(raw: Any) -> Lock | None:
    if raw is None:
        return None
    return Lock(str(raw["thread_id"]), str(raw["token"]), int(raw["expires_at"]), int(raw["fence"]))


def _queue_entry(text: str, thread_id: str) -> QueueEntry:
    wire = decode_json(text, f"queue entry for {thread_id}")
    return QueueEntry(wire["message"], int(wire["enqueued_at"]), int(wire["expires_at"]))


def _check_ttl(ttl_ms: int | None, *, required: bool = False) -> None:
    if ttl_ms is None and not required:
        return
    if isinstance(ttl_ms, bool) or not isinstance(ttl_ms, int):
        raise TypeError(f"ttl_ms must be an int of milliseconds, not {ttl_ms!r}")


def _check_id(value: str, what: str) -> None:
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a string, not {type(value).__name__}")


class StateBatch:
    """Operations collected for one pipeline step: one call per shard, shards in parallel.

    Atomic per shard: the operations bound for one shard all apply or none do.
    """

    def __init__(self, adapter: StateAdapter) -> None:
        self._adapter = adapter
        self._groups: dict[str, list[tuple[list[Any], Pending[Any]]]] = {}
        self._condition: Pending[Any] | None = None

    def only_if(self, condition: Pending[Any]) -> StateBatch:
        """The same batch, for one operation that runs only if `condition`'s result is truthy.

        The condition must be an earlier operation on the same shard; a skipped operation's
        result is None. Example: `batch.only_if(fresh).enqueue(...)`.
        """
        view = StateBatch(self._adapter)
        view._groups = self._groups  # shared: the view adds to this batch
        view._condition = condition
        return view

    def _add(self, shard: str, operation: list[Any], decode: Callable[[Any], T]) -> Pending[T]:
        group = self._groups.setdefault(shard, [])
        if self._condition is not None:
            positions = [i for i, (_, pending) in enumerate(group) if pending is self._condition]
            if not positions:
                raise ValueError(f"only_if needs an earlier operation on shard {shard!r}")
            operation = ["when", positions[0], operation]
            skippable = decode

            def decode(raw: Any) -> Any:
                return None if raw is None else skippable(raw)

        pending: Pending[T] = Pending(decode)
        group.append((operation, pending))
        return pending

    def _thread_op(self, thread_id: str, decode: Callable[[Any], T], *op: Any) -> Pending[T]:
        _check_id(thread_id, "thread_id")
        return self._add(self._adapter.router.for_thread(thread_id), list(op), decode)

    def _key_op(
        self, key: str, guard: Lock | None, decode: Callable[[Any], T], *op: Any
    ) -> Pending[T]:
        _check_id(key, "key")
        shard = self._adapter.router.for_key(key)
        wire_guard = None
        if guard is not None:
            guard_shard = self._adapter.router.for_thread(guard.thread_id)
            if guard_shard != shard:
                raise ValueError(
                    f"guard lock {guard.thread_id!r} lives in shard {guard_shard!r} but key "
                    f"{key!r} lives in shard {shard!r}; a guarded write needs both in one shard"
                )
            wire_guard = [guard.thread_id, guard.token]
        return self._add(shard, [*op, wire_guard], decode)

    def on_shard(self, shard: str, operation: list[Any], decode: Callable[[Any], T]) -> Pending[T]:
        """A wire operation on a named shard: for stores and agents, which pick their shard."""
        _check_id(shard, "shard")
        return self._add(shard, operation, decode)

    def subscribe(self, thread_id: str) -> Pending[None]:
        return self._thread_op(thread_id, _none, "subscribe", thread_id)

    def unsubscribe(self, thread_id: str) -> Pending[None]:
        return self._thread_op(thread_id, _none, "unsubscribe", thread_id)

    def is_subscribed(self, thread_id: str) -> Pending[bool]:
        return self._thread_op(thread_id, _bool, "is_subscribed", thread_id)

    def acquire_lock(self, thread_id: str, ttl_ms: int) -> Pending[Lock | None]:
        _check_ttl(ttl_ms, required=True)
        return self._thread_op(thread_id, _lock, "acquire_lock", thread_id, ttl_ms)

    def release_lock(self, lock: Lock) -> Pending[None]:
        return self._thread_op(lock.thread_id, _none, "release_lock", lock.thread_id, lock.token)

    def release_lock_if_idle(self, lock: Lock) -> Pending[bool]:
        """Release the lock unless live entries wait in its queue: True when released, False
        when still held. A lock no longer held raises LockLostError from run()."""
        return self._thread_op(
            lock.thread_id, _bool, "release_lock_if_idle", lock.thread_id, lock.token
        )

    def begin_turn(
        self, queue_key: str, ttl_ms: int, *, thread_id: str, state_key: str | None = None
    ) -> Pending[Turn | None]:
        """Take the conversation's lock and, if taken, its live queue entries, whether
        `thread_id` is subscribed and the value at `state_key`, all in one statement. They
        must share the lock's shard; None when the lock is busy."""
        _check_ttl(ttl_ms, required=True)
        router = self._adapter.router
        shard = router.for_thread(queue_key)
        spread = {router.for_thread(thread_id)}
        if state_key is not None:
            spread.add(router.for_key(state_key))
        if spread != {shard}:
            raise ValueError(f"a turn needs {thread_id!r} and its state in shard {shard!r}")

        def decode(raw: Any) -> Turn | None:
            if raw is None:
                return None
            lock = _lock(raw["lock"])
            assert lock is not None
            state = raw["state"]
            return Turn(
                lock,
                [(int(seq), _queue_entry(text, queue_key)) for seq, text in raw["entries"]],
                bool(raw["subscribed"]),
                None if state is None else decode_json(state, f"cache key {state_key}"),
            )

        return self._add(shard, ["begin_turn", queue_key, ttl_ms, thread_id, state_key], decode)

    def extend_lock(self, lock: Lock, ttl_ms: int) -> Pending[bool]:
        _check_ttl(ttl_ms, required=True)
        return self._thread_op(
            lock.thread_id, _bool, "extend_lock", lock.thread_id, lock.token, ttl_ms
        )

    def force_release_lock(self, thread_id: str) -> Pending[None]:
        return self._thread_op(thread_id, _none, "force_release_lock", thread_id)

    def get(self, key: str) -> Pending[JsonValue]:
        _check_id(key, "key")

        def decode(raw: Any) -> JsonValue:
            return None if raw is None else decode_json(raw, f"cache key {key}")

        return self._add(self._adapter.router.for_key(key), ["get", key], decode)

    def set(
        self, key: str, value: JsonValue, ttl_ms: int | None = None, *, guard: Lock | None = None
    ) -> Pending[None]:
        _check_ttl(ttl_ms)
        return self._key_op(key, guard, _none, "set", key, encode_json(value, key), ttl_ms)

    def merge(
        self,
        key: str,
        values: dict[str, JsonValue],
        ttl_ms: int | None = None,
        *,
        guard: Lock | None = None,
    ) -> Pending[None]:
        """Shallow-merge `values` into the JSON object at `key` (absent counts as {})."""
        _check_ttl(ttl_ms)
        return self._key_op(key, guard, _none, "merge", key, encode_json(values, key), ttl_ms)

    def set_if_not_exists(
        self, key: str, value: JsonValue, ttl_ms: int | None = None, *, guard: Lock | None = None
    ) -> Pending[bool]:
        _check_ttl(ttl_ms)
        return self._key_op(
            key, guard, _bool, "set_if_not_exists", key, encode_json(value, key), ttl_ms
        )

    def delete(self, key: str, *, guard: Lock | None = None) -> Pending[None]:
        return self._key_op(key, guard, _none, "delete", key)

    def append_to_list(
        self,
        key: str,
        value: JsonValue,
        *,
        max_length: int | None = None,
        ttl_ms: int | None = None,
        guard: Lock | None = None,
    ) -> Pending[None]:
        _check_ttl(ttl_ms)
        if max_length is not None and (
            isinstance(max_length, bool) or not isinstance(max_length, int)
        ):
            raise TypeError(f"max_length must be an int, not {max_length!r}")
        return self._key_op(
            key, guard, _none, "append_to_list", key, encode_json(value, key), max_length, ttl_ms
        )

    def get_list(self, key: str, newest: int | None = None) -> Pending[list[JsonValue]]:
        """The list, oldest first; with `newest`, only that many of the latest items."""
        _check_id(key, "key")

        def decode(raw: Any) -> list[JsonValue]:
            return decode_json_items(raw, f"list entry for {key}")

        operation: list[Any] = ["get_list", key] if newest is None else ["get_list", key, newest]
        return self._add(self._adapter.router.for_key(key), operation, decode)

    def enqueue(
        self, thread_id: str, entry: QueueEntry, max_size: int, *, drop_newest: bool = False
    ) -> Pending[int]:
        if not isinstance(entry, QueueEntry):
            raise TypeError(f"entry must be a QueueEntry, not {type(entry).__name__}")
        for name in ("enqueued_at", "expires_at"):
            stamp = getattr(entry, name)
            if isinstance(stamp, bool) or not isinstance(stamp, int):
                raise TypeError(f"QueueEntry.{name} must be epoch milliseconds, not {stamp!r}")
        if isinstance(max_size, bool) or not isinstance(max_size, int):
            raise TypeError(f"max_size must be an int, not {max_size!r}")
        if max_size < 1:
            raise ValueError(f"max_size must be at least 1, not {max_size}")
        wire = {
            "message": entry.message,
            "enqueued_at": entry.enqueued_at,
            "expires_at": entry.expires_at,
        }
        return self._thread_op(
            thread_id,
            _int,
            "enqueue",
            thread_id,
            encode_json(wire, f"queue entry for {thread_id}"),
            entry.expires_at,
            max_size,
            drop_newest,
        )

    def peek_queue(self, thread_id: str) -> Pending[list[tuple[int, QueueEntry]]]:
        """Every live entry with its sequence number, oldest first; nothing is removed."""

        def decode(raw: Any) -> list[tuple[int, QueueEntry]]:
            return [(int(seq), _queue_entry(text, thread_id)) for seq, text in raw]

        return self._thread_op(thread_id, decode, "peek_queue", thread_id)

    def mark_pending(self, thread_id: str) -> Pending[None]:
        """Record that the conversation has queued work (the local runtime's work index)."""
        return self._thread_op(thread_id, _none, "mark_pending", thread_id)

    def clear_pending_if_idle(self, thread_id: str) -> Pending[bool]:
        """Forget the conversation's mark if its queue has no live entry left."""
        return self._thread_op(thread_id, _bool, "clear_pending_if_idle", thread_id)

    def ack_queue(
        self, thread_id: str, seqs: list[int], *, guard: Lock | None = None
    ) -> Pending[None]:
        """Remove the entries with these sequence numbers (handled), if `guard` is still held."""
        return self._thread_op(
            thread_id,
            _none,
            "ack_queue",
            thread_id,
            list(seqs),
            None if guard is None else [guard.thread_id, guard.token],
        )

    def dequeue(self, thread_id: str) -> Pending[QueueEntry | None]:
        def decode(raw: Any) -> QueueEntry | None:
            return None if raw is None else _queue_entry(raw, thread_id)

        return self._thread_op(thread_id, decode, "dequeue", thread_id)

    def queue_depth(self, thread_id: str) -> Pending[int]:
        return self._thread_op(thread_id, _int, "queue_depth", thread_id)

    async def run(self) -> None:
        """Send each shard its operations as one call. Raises the first shard's error."""
        self._adapter._check_connected()
        groups = list(self._groups.items())
        self._groups = {}
        replies: list[dict[str, Any] | BaseException]
        if len(groups) == 1:  # the usual case, without gather's tasks
            shard, group = groups[0]
            try:
                replies = [await self._adapter.call_shard(shard, [op for op, _ in group])]
            except Exception as error:
                replies = [error]
        else:
            replies = await asyncio.gather(
                *(self._adapter.call_shard(s, [op for op, _ in g]) for s, g in groups),
                return_exceptions=True,
            )
        for (shard, group), reply in zip(groups, replies, strict=True):
            if isinstance(reply, BaseException):
                raise reply
            if "error" in reply:
                raise error_from_wire(reply["error"])
            results = reply.get("results")
            if not isinstance(results, list) or len(results) != len(group):
                raise ShardCallError(f"shard {shard!r} answered {reply!r}")
            for (_, pending), raw in zip(group, results, strict=True):
                pending._resolve(raw)


class StateAdapter:
    """Subscriptions, locks, cache, lists and queues, each routed to its shard."""

    def __init__(
        self,
        call_shard: ShardCall,
        *,
        router: ShardRouter | None = None,
        clock: Clock,
        lock_heartbeat: bool = False,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.call_shard = call_shard
        self.router = router or ShardRouter()
        self.clock = clock
        self.lock_heartbeat = lock_heartbeat
        self._sleep = sleep
        self._connected = False
        self._heartbeats: dict[str, asyncio.Task[None]] = {}
        # Computations of `store.cached` in flight in this process, by key: callers share one.
        self.in_flight: dict[str, asyncio.Future[JsonValue]] = {}

    @property
    def connected(self) -> bool:
        return self._connected

    async def connect(self) -> None:
        self._connected = True

    async def disconnect(self) -> None:
        """Stop heartbeats and refuse further calls. Never deletes data."""
        self._connected = False
        for task in self._heartbeats.values():
            task.cancel()
        self._heartbeats.clear()

    def _check_connected(self) -> None:
        if not self._connected:
            raise StateNotConnectedError(
                "StateAdapter is not connected: call `await state.connect()` first"
            )

    def batch(self) -> StateBatch:
        return StateBatch(self)

    def store(self, store_id: str, *, shard: str | None = None) -> NamespacedStore:
        """A key-value store whose keys live under `store_id:` in one shard (by default the
        shard `store_id:` routes to), beside other stores and the chat state."""
        return NamespacedStore(self, store_id, shard)

    async def _one(self, build: Callable[[StateBatch], Pending[T]]) -> T:
        self._check_connected()
        batch = StateBatch(self)
        pending = build(batch)
        await batch.run()
        return pending.value

    async def subscribe(self, thread_id: str) -> None:
        await self._one(lambda b: b.subscribe(thread_id))

    async def unsubscribe(self, thread_id: str) -> None:
        await self._one(lambda b: b.unsubscribe(thread_id))

    async def is_subscribed(self, thread_id: str) -> bool:
        return await self._one(lambda b: b.is_subscribed(thread_id))

    async def acquire_lock(self, thread_id: str, ttl_ms: int) -> Lock | None:
        lock = await self._one(lambda b: b.acquire_lock(thread_id, ttl_ms))
        if lock is not None and self.lock_heartbeat and ttl_ms > 0:
            self._heartbeats[lock.token] = asyncio.create_task(self._heartbeat(lock, ttl_ms))
        return lock

    async def release_lock(self, lock: Lock) -> None:
        task = self._heartbeats.pop(lock.token, None)
        if task is not None:
            task.cancel()
        await self._one(lambda b: b.release_lock(lock))

    async def extend_lock(self, lock: Lock, ttl_ms: int) -> bool:
        return await self._one(lambda b: b.extend_lock(lock, ttl_ms))

    async def force_release_lock(self, thread_id: str) -> None:
        await self._one(lambda b: b.force_release_lock(thread_id))

    async def get(self, key: str) -> JsonValue:
        return await self._one(lambda b: b.get(key))

    async def set(
        self, key: str, value: JsonValue, ttl_ms: int | None = None, *, guard: Lock | None = None
    ) -> None:
        await self._one(lambda b: b.set(key, value, ttl_ms, guard=guard))

    async def merge(
        self,
        key: str,
        values: dict[str, JsonValue],
        ttl_ms: int | None = None,
        *,
        guard: Lock | None = None,
    ) -> None:
        await self._one(lambda b: b.merge(key, values, ttl_ms, guard=guard))

    async def set_if_not_exists(
        self, key: str, value: JsonValue, ttl_ms: int | None = None, *, guard: Lock | None = None
    ) -> bool:
        return await self._one(lambda b: b.set_if_not_exists(key, value, ttl_ms, guard=guard))

    async def delete(self, key: str, *, guard: Lock | None = None) -> None:
        await self._one(lambda b: b.delete(key, guard=guard))

    async def append_to_list(
        self,
        key: str,
        value: JsonValue,
        *,
        max_length: int | None = None,
        ttl_ms: int | None = None,
        guard: Lock | None = None,
    ) -> None:
        await self._one(
            lambda b: b.append_to_list(
                key, value, max_length=max_length, ttl_ms=ttl_ms, guard=guard
            )
        )

    async def get_list(self, key: str, newest: int | None = None) -> list[JsonValue]:
        return await self._one(lambda b: b.get_list(key, newest))

    async def enqueue(self, thread_id: str, entry: QueueEntry, max_size: int) -> int:
        return await self._one(lambda b: b.enqueue(thread_id, entry, max_size))

    async def dequeue(self, thread_id: str) -> QueueEntry | None:
        return await self._one(lambda b: b.dequeue(thread_id))

    async def queue_depth(self, thread_id: str) -> int:
        return await self._one(lambda b: b.queue_depth(thread_id))

    async def _heartbeat(self, lock: Lock, ttl_ms: int) -> None:
        # Reference 4.4: extend every ttl/3 with the original TTL; stop on a false extend, on
        # release or on disconnect; an error is retried at the next tick.
        while True:
            await self._sleep(ttl_ms / 3 / 1000)
            if not self._connected:
                break
            try:
                if not await self.extend_lock(lock, ttl_ms):
                    break
            except Exception:
                continue
        with contextlib.suppress(KeyError):
            del self._heartbeats[lock.token]
