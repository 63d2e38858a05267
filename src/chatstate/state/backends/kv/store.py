"""The state operations of chatstate.store over Workers KV: the same contract, best-effort.

KV has no transactions and no compare-and-set, and a write reaches other locations up to about
60 s later. So, as the TypeScript community adapter does, conditional writes (a lock, a dedupe
key, a queue or list update) read, write, then read back to check ownership. Within one
location and one store that holds; across locations it does not, and README.md lists, per
guarantee, the failure rates measured by tests/test_kv_guarantees.py.

How each of KV's rules is kept:
- TTLs shorter than KV's 60 s minimum (locks, short cache entries) stay exact: the expiry is
  stored in the value and checked on every read; KV's own TTL is the larger of the two.
- Keys over 512 bytes are replaced by a stable SHA-256 of their name.
- A value over 25 MiB (a long list, a full queue) is refused with ValueError.
- A write refused because the key was written less than a second ago is retried after a
  second, re-reading first, so the retry never overwrites what it did not see.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import math
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from chatstate.errors import LockLostError, ShardCallError, error_to_wire
from chatstate.ports import Clock
from chatstate.state import operands
from chatstate.state.agent_tables import OPERATIONS as AGENT_OPERATIONS
from chatstate.state.backends.kv.client import (
    MAX_KEY_BYTES,
    MAX_VALUE_BYTES,
    MIN_EXPIRATION_TTL_S,
    SAME_KEY_WRITE_INTERVAL_MS,
    KvClient,
    KvError,
    KvRateLimitedError,
)
from chatstate.state.console_tables import OPERATIONS as CONSOLE_OPERATIONS
from chatstate.state.operands import integer, key, optional_integer, text, value
from chatstate.state.scheduled_tables import OPERATIONS as SCHEDULED_OPERATIONS

DEFAULT_KEY_PREFIX = "chat-sdk"
# As the TypeScript adapter's ttlMinutes: a cache value written without a TTL lives 6 hours.
DEFAULT_TTL_MS = 360 * 60_000
WRITE_ATTEMPTS = 4
# Room left in a 512-byte key for ":kind:#" and a 64-character digest.
MAX_PREFIX_BYTES = 400
HASHED_MARK = "#"
SQLITE_ONLY_OPERATIONS = {
    *AGENT_OPERATIONS,
    *CONSOLE_OPERATIONS,
    *SCHEDULED_OPERATIONS,
    "delete_prefix",
}

Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True)
class _Step:
    """One operation with its operands checked, ready to run."""

    run: Callable[[], Awaitable[Any]]
    # [lock key, token] of a lock that must be held for the write to apply.
    guard: tuple[str, str] | None = None


def _guard(raw: Any) -> tuple[str, str] | None:
    if raw is None:
        return None
    if not (isinstance(raw, list) and len(raw) == 2):
        raise ValueError("guard must be [lock_key, token]")
    return text(raw[0], "guard lock key"), text(raw[1], "guard token")


def _live(expires_at: int | None, now: int) -> bool:
    return expires_at is None or expires_at > now


class _KeyedLocks:
    """One asyncio lock per KV key, so this store's own read-modify-writes never interleave."""

    def __init__(self) -> None:
        self._locks: dict[str, asyncio.Lock] = {}
        self._users: dict[str, int] = {}

    @contextlib.asynccontextmanager
    async def hold(self, name: str) -> AsyncIterator[None]:
        lock = self._locks.setdefault(name, asyncio.Lock())
        self._users[name] = self._users.get(name, 0) + 1
        try:
            async with lock:
                yield
        finally:
            self._users[name] -= 1
            if not self._users[name]:
                del self._users[name], self._locks[name]


class KvStore:
    """Runs batches of state operations against one KV namespace. Usable as a ShardCall."""

    def __init__(
        self,
        kv: KvClient,
        *,
        clock: Clock,
        key_prefix: str = DEFAULT_KEY_PREFIX,
        default_ttl_ms: int | None = DEFAULT_TTL_MS,
        sleep: Sleep = asyncio.sleep,
        logger: logging.Logger | None = None,
    ) -> None:
        if not key_prefix or len(key_prefix.encode()) > MAX_PREFIX_BYTES:
            raise ValueError(f"key_prefix must be 1 to {MAX_PREFIX_BYTES} bytes")
        if default_ttl_ms is not None and default_ttl_ms <= 0:
            raise ValueError("default_ttl_ms must be positive, or None for no default TTL")
        self.kv = kv
        self.clock = clock
        self.key_prefix = key_prefix
        self.default_ttl_ms = default_ttl_ms
        self._sleep = sleep
        self._logger = logger or logging.getLogger("chatstate.state.backends.kv")
        self._keys = _KeyedLocks()
        self._parsers: dict[str, Callable[..., _Step]] = {
            "subscribe": self._subscribe,
            "unsubscribe": self._unsubscribe,
            "is_subscribed": self._is_subscribed,
            "acquire_lock": self._acquire_lock,
            "release_lock": self._release_lock,
            "extend_lock": self._extend_lock,
            "force_release_lock": self._force_release_lock,
            "get": self._get,
            "set": self._set,
            "merge": self._merge,
            "set_if_not_exists": self._set_if_not_exists,
            "delete": self._delete,
            "get_many": self._get_many,
            "take": self._take,
            "append_to_list": self._append_to_list,
            "get_list": self._get_list,
            "enqueue": self._enqueue,
            "dequeue": self._dequeue,
            "queue_depth": self._queue_depth,
            "peek_queue": self._peek_queue,
            "begin_turn": self._begin_turn,
            "release_lock_if_idle": self._release_lock_if_idle,
            "ack_queue": self._ack_queue,
            "mark_pending": self._mark_pending,
            "clear_pending_if_idle": self._clear_pending_if_idle,
        }

    async def call(self, shard: str, operations: list[list[Any]]) -> dict[str, Any]:
        """Run a batch in order. Not atomic: every operand and guard lock is checked before the
        first write, so bad input or a lost lock applies nothing, but a KV failure midway leaves
        the operations before it applied."""
        try:
            steps = self._parse(operations)
            await self._check_guards([step.guard for _, step in steps if step.guard])
            results: list[Any] = []
            for condition, step in steps:
                if condition is not None and not results[condition]:
                    results.append(None)
                else:
                    results.append(await self._with_retries(step.run))
            return {"results": results}
        except (ValueError, TypeError, LockLostError) as error:
            return {"error": error_to_wire(error)}
        except KvError as error:
            raise ShardCallError(f"Workers KV failed: {error}") from error

    async def pending_work(self) -> list[str]:
        """Every conversation marked as having queued work (the local runtime's work index)."""
        prefix = f"{self.key_prefix}:pending:"
        threads: list[str] = []
        cursor: str | None = None
        while True:
            page = await self.kv.list_keys(prefix, cursor)
            for name in page.names:
                ident = name[len(prefix) :]
                if ident.startswith(HASHED_MARK):
                    # A hashed name does not give the thread back; the value holds it.
                    stored = await self.kv.get(name)
                    if stored is None:
                        continue
                    ident = stored
                threads.append(ident)
            if page.cursor is None:
                return sorted(threads)
            cursor = page.cursor

    # --- running ------------------------------------------------------------------------------

    def _parse(self, operations: Any) -> list[tuple[int | None, _Step]]:
        if not isinstance(operations, list) or not operations:
            raise ValueError("a batch is a non-empty list of operations")
        steps: list[tuple[int | None, _Step]] = []
        for index, operation in enumerate(operations):
            condition = None
            if isinstance(operation, list) and operation and operation[0] == "when":
                if len(operation) != 3:
                    raise ValueError("a conditional operation is ['when', index, operation]")
                condition = integer(operation[1], "condition index")
                if not 0 <= condition < index:
                    raise ValueError(f"operation {index} can only depend on an earlier operation")
                operation = operation[2]
            if not isinstance(operation, list) or not operation or operation[0] == "when":
                raise ValueError(f"an operation is [name, *args], not {operation!r}")
            name, *args = operation
            parser = self._parsers.get(name) if isinstance(name, str) else None
            if parser is None and name in SQLITE_ONLY_OPERATIONS:
                raise ValueError(
                    f"{name!r} needs transactions Workers KV does not have: agents and a "
                    "store's clear() run on the SQLite state (CHAT_STATE=sqlite)"
                )
            if parser is None:
                raise ValueError(f"unknown operation {name!r}")
            steps.append((condition, parser(*args)))
        return steps

    async def _check_guards(self, guards: list[tuple[str, str]]) -> None:
        now = self.clock()
        for lock_key, token in dict.fromkeys(guards):
            record = await self._read_lock(lock_key)
            if record["token"] != token or not (record["expires_at"] or 0) > now:
                raise LockLostError(f"lock {lock_key!r} is no longer held with this token")

    async def _with_retries(self, run: Callable[[], Awaitable[Any]]) -> Any:
        for attempt in range(1, WRITE_ATTEMPTS + 1):
            try:
                return await run()
            except KvRateLimitedError:
                if attempt == WRITE_ATTEMPTS:
                    raise
                self._logger.debug("KV write rate-limited; retrying in 1 s (attempt %d)", attempt)
                await self._sleep(SAME_KEY_WRITE_INTERVAL_MS / 1000)
        raise AssertionError("unreachable")

    # --- KV keys and values -------------------------------------------------------------------

    def kv_key(self, kind: str, ident: str) -> str:
        """The KV key of one record; names too long for KV are hashed, stably."""
        name = f"{self.key_prefix}:{kind}:{ident}"
        if len(name.encode()) <= MAX_KEY_BYTES and not ident.startswith(HASHED_MARK):
            return name
        digest = hashlib.sha256(ident.encode()).hexdigest()
        return f"{self.key_prefix}:{kind}:{HASHED_MARK}{digest}"

    async def _read(self, name: str) -> Any:
        raw = await self.kv.get(name)
        return None if raw is None else json.loads(raw)

    async def _write(self, name: str, record: Any, expires_at: int | None, now: int) -> None:
        encoded = json.dumps(record, separators=(",", ":"), ensure_ascii=False)
        size = len(encoded.encode())
        if size > MAX_VALUE_BYTES:
            raise ValueError(
                f"{name!r} would hold {size} bytes; a Workers KV value is at most "
                f"{MAX_VALUE_BYTES} bytes (trim the list or lower the queue's max size)"
            )
        ttl_s = None
        if expires_at is not None:
            ttl_s = max(MIN_EXPIRATION_TTL_S, math.ceil((expires_at - now) / 1000))
        await self.kv.put(name, encoded, ttl_s)

    def _expiry(self, ttl_ms: int | None, now: int, *, default: bool = False) -> int | None:
        if ttl_ms is not None and ttl_ms > 0:
            return now + ttl_ms
        if default and self.default_ttl_ms is not None:
            return now + self.default_ttl_ms
        return None

    # --- subscriptions ------------------------------------------------------------------------

    def _subscribe(self, thread_id: Any) -> _Step:
        name = self.kv_key("sub", key(thread_id))
        return _Step(lambda: self.kv.put(name, "1", None))

    def _unsubscribe(self, thread_id: Any) -> _Step:
        name = self.kv_key("sub", key(thread_id))
        return _Step(lambda: self.kv.delete(name))

    def _is_subscribed(self, thread_id: Any) -> _Step:
        name = self.kv_key("sub", key(thread_id))

        async def run() -> bool:
            return await self.kv.get(name) is not None

        return _Step(run)

    # --- locks --------------------------------------------------------------------------------

    async def _read_lock(self, lock_key: str) -> dict[str, Any]:
        record = await self._read(self.kv_key("lock", lock_key))
        return record or {"token": None, "expires_at": None, "fence": 0}

    def _acquire_lock(self, thread_id: Any, ttl_ms: Any) -> _Step:
        lock_key = key(thread_id)
        ttl = integer(ttl_ms, "ttl_ms")
        name = self.kv_key("lock", lock_key)

        async def run() -> dict[str, Any] | None:
            async with self._keys.hold(name):
                now = self.clock()
                record = await self._read_lock(lock_key)
                if record["token"] is not None and record["expires_at"] > now:
                    return None
                # As the reference, the TTL applies literally: ttl <= 0 is born expired.
                taken = {"token": str(uuid.uuid4()), "expires_at": now + ttl}
                taken["fence"] = record["fence"] + 1
                await self._write(name, taken, None, now)
                if (await self._read_lock(lock_key))["token"] != taken["token"]:
                    self._logger.info("lock %r was taken by another writer meanwhile", lock_key)
                    return None
                return {"thread_id": lock_key, **taken}

        return _Step(run)

    def _change_lock(
        self, lock_key: str, change: Callable[[dict[str, Any], int], dict[str, Any] | None]
    ) -> Callable[[], Awaitable[bool]]:
        name = self.kv_key("lock", lock_key)

        async def run() -> bool:
            async with self._keys.hold(name):
                now = self.clock()
                changed = change(await self._read_lock(lock_key), now)
                if changed is None:
                    return False
                await self._write(name, changed, None, now)
                return True

        return run

    def _release_lock(self, thread_id: Any, token: Any) -> _Step:
        lock_key, checked = key(thread_id), text(token, "token")

        def release(record: dict[str, Any], now: int) -> dict[str, Any] | None:
            if record["token"] != checked:
                return None  # someone else took it over: a no-op, as the reference
            return {"token": None, "expires_at": None, "fence": record["fence"]}

        # The adapter reads no result from a release; whether it changed anything is dropped.
        return _Step(self._change_lock(lock_key, release))

    def _release_lock_if_idle(self, thread_id: Any, token: Any) -> _Step:
        lock_key, checked = key(thread_id), text(token, "token")
        queue = self.kv_key("queue", lock_key)

        def release(record: dict[str, Any], now: int) -> dict[str, Any] | None:
            if record["token"] != checked or not (record["expires_at"] or 0) > now:
                raise LockLostError(f"lock {lock_key!r} is no longer held with this token")
            return {"token": None, "expires_at": None, "fence": record["fence"]}

        async def run() -> bool:
            if await self._live_entries(queue, self.clock()):
                await self._check_guards([(lock_key, checked)])
                return False
            return await self._change_lock(lock_key, release)()

        return _Step(run)

    def _begin_turn(
        self, queue_key: Any, ttl_ms: Any, thread_id: Any, state_key: Any = None
    ) -> _Step:
        acquire = self._acquire_lock(queue_key, ttl_ms)
        peek = self._peek_queue(queue_key)
        subscribed = self._is_subscribed(thread_id)
        state = None if state_key is None else self._get(state_key)

        async def run() -> dict[str, Any] | None:
            lock = await acquire.run()
            if lock is None:
                return None
            return {
                "lock": lock,
                "entries": await peek.run(),
                "subscribed": await subscribed.run(),
                "state": None if state is None else await state.run(),
            }

        return _Step(run)

    def _extend_lock(self, thread_id: Any, token: Any, ttl_ms: Any) -> _Step:
        lock_key, checked = key(thread_id), text(token, "token")
        ttl = integer(ttl_ms, "ttl_ms")

        def extend(record: dict[str, Any], now: int) -> dict[str, Any] | None:
            if record["token"] != checked or not record["expires_at"] > now:
                return None  # never creates or resurrects
            return {**record, "expires_at": now + ttl}

        return _Step(self._change_lock(lock_key, extend))

    def _force_release_lock(self, thread_id: Any) -> _Step:
        lock_key = key(thread_id)

        def force(record: dict[str, Any], now: int) -> dict[str, Any] | None:
            if record["token"] is None:
                return None
            return {"token": None, "expires_at": None, "fence": record["fence"]}

        return _Step(self._change_lock(lock_key, force))

    # --- cache --------------------------------------------------------------------------------

    async def _read_cached(self, name: str, now: int) -> dict[str, Any] | None:
        record = await self._read(name)
        if record is None or not _live(record["e"], now):
            return None
        return dict(record)

    def _get(self, cache_key: Any) -> _Step:
        name = self.kv_key("cache", key(cache_key))

        async def run() -> str | None:
            record = await self._read_cached(name, self.clock())
            return None if record is None else str(record["v"])

        return _Step(run)

    async def _store(self, name: str, encoded: str, ttl: int | None, now: int) -> str:
        write_id = str(uuid.uuid4())
        expires_at = self._expiry(ttl, now, default=True)
        await self._write(name, {"v": encoded, "e": expires_at, "w": write_id}, expires_at, now)
        return write_id

    def _cache_write(self, cache_key: Any, raw: Any, ttl_ms: Any) -> tuple[str, str, int | None]:
        """(KV key, value JSON, TTL) of a cache write, each checked."""
        checked = key(cache_key)
        encoded = value(raw, checked)
        return self.kv_key("cache", checked), encoded, optional_integer(ttl_ms, "ttl_ms")

    def _set(self, cache_key: Any, raw: Any, ttl_ms: Any = None, guard: Any = None) -> _Step:
        name, encoded, ttl = self._cache_write(cache_key, raw, ttl_ms)

        async def run() -> None:
            async with self._keys.hold(name):
                await self._store(name, encoded, ttl, self.clock())

        return _Step(run, _guard(guard))

    def _merge(self, cache_key: Any, raw: Any, ttl_ms: Any = None, guard: Any = None) -> _Step:
        checked = key(cache_key)
        patch = json.loads(value(raw, checked))
        if not isinstance(patch, dict):
            raise TypeError(f"merge into {checked!r} takes a JSON object")
        ttl = optional_integer(ttl_ms, "ttl_ms")
        name = self.kv_key("cache", checked)

        async def run() -> None:
            async with self._keys.hold(name):
                now = self.clock()
                current = await self._read_cached(name, now)
                base = json.loads(current["v"]) if current is not None else {}
                merged = {**(base if isinstance(base, dict) else {}), **patch}
                encoded = json.dumps(merged, separators=(",", ":"), ensure_ascii=False)
                await self._store(name, value(encoded, checked), ttl, now)

        return _Step(run, _guard(guard))

    def _set_if_not_exists(
        self, cache_key: Any, raw: Any, ttl_ms: Any = None, guard: Any = None
    ) -> _Step:
        name, encoded, ttl = self._cache_write(cache_key, raw, ttl_ms)

        async def run() -> bool:
            async with self._keys.hold(name):
                now = self.clock()
                if await self._read_cached(name, now) is not None:
                    return False
                write_id = await self._store(name, encoded, ttl, now)
                after = await self._read(name)
                return after is not None and after.get("w") == write_id

        return _Step(run, _guard(guard))

    def _get_many(self, cache_keys: Any) -> _Step:
        if not isinstance(cache_keys, list):
            raise TypeError(f"keys must be a list, not {type(cache_keys).__name__}")
        reads = [self._get(k) for k in cache_keys]

        async def run() -> list[Any]:
            return [await read.run() for read in reads]

        return _Step(run)

    def _take(self, cache_key: Any) -> _Step:
        name = self.kv_key("cache", key(cache_key))

        async def run() -> str | None:
            async with self._keys.hold(name):
                record = await self._read_cached(name, self.clock())
                await self.kv.delete(name)
                return None if record is None else str(record["v"])

        return _Step(run)

    def _delete(self, cache_key: Any, guard: Any = None) -> _Step:
        name = self.kv_key("cache", key(cache_key))
        return _Step(lambda: self.kv.delete(name), _guard(guard))

    # --- lists --------------------------------------------------------------------------------

    async def _read_list(self, name: str, now: int) -> dict[str, Any]:
        record = await self._read(name)
        if record is None or not _live(record["e"], now):
            return {"items": [], "e": None}
        return dict(record)

    def _append_to_list(
        self,
        list_key: Any,
        raw: Any,
        max_length: Any = None,
        ttl_ms: Any = None,
        guard: Any = None,
    ) -> _Step:
        checked = key(list_key)
        encoded = value(raw, checked)
        limit = optional_integer(max_length, "max_length")
        ttl = optional_integer(ttl_ms, "ttl_ms")
        name = self.kv_key("list", checked)

        async def run() -> None:
            async with self._keys.hold(name):
                now = self.clock()
                record = await self._read_list(name, now)
                items = [*record["items"], encoded]
                if limit is not None and 0 < limit < len(items):
                    items = items[-limit:]
                # An append with a TTL sets the list's expiry; one without keeps it.
                expires_at = self._expiry(ttl, now) or record["e"]
                await self._write(name, {"items": items, "e": expires_at}, expires_at, now)

        return _Step(run, _guard(guard))

    def _get_list(self, list_key: Any, newest: Any = None) -> _Step:
        checked = key(list_key)
        limit = optional_integer(newest, "newest")
        if limit is not None and limit < 0:
            raise ValueError(f"newest must be at least 0, not {limit}")
        name = self.kv_key("list", checked)

        async def run() -> list[str]:
            items: list[str] = (await self._read_list(name, self.clock()))["items"]
            if limit is None:
                return items
            return items[len(items) - limit :] if limit else []

        return _Step(run)

    # --- queues -------------------------------------------------------------------------------

    async def _live_entries(self, name: str, now: int) -> list[list[Any]]:
        """[seq, value, expires_at] of every live entry, oldest first."""
        record = await self._read(name)
        entries = [] if record is None else record["entries"]
        return [entry for entry in entries if entry[2] > now]

    async def _write_queue(self, name: str, entries: list[list[Any]], now: int) -> None:
        if not entries:
            await self.kv.delete(name)
            return
        # Every entry expires, so the whole queue can go once the last one has.
        await self._write(name, {"entries": entries}, max(entry[2] for entry in entries), now)

    def _enqueue(
        self,
        thread_id: Any,
        entry: Any,
        expires_at: Any,
        max_size: Any,
        drop_newest: Any = False,
    ) -> _Step:
        queue_key, encoded, expiry, size = operands.enqueue(thread_id, entry, expires_at, max_size)
        name = self.kv_key("queue", queue_key)

        async def run() -> int:
            async with self._keys.hold(name):
                now = self.clock()
                entries = await self._live_entries(name, now)
                # Sequence numbers never go back: an empty queue restarts from the clock.
                seq = entries[-1][0] + 1 if entries else now * 1000
                if expiry > now and not (drop_newest and len(entries) >= size):
                    entries.append([seq, encoded, expiry])
                entries = entries[-size:]  # drop-oldest beyond max_size
                await self._write_queue(name, entries, now)
                return len(entries)

        return _Step(run)

    def _dequeue(self, thread_id: Any) -> _Step:
        name = self.kv_key("queue", key(thread_id, "thread_id"))

        async def run() -> str | None:
            async with self._keys.hold(name):
                now = self.clock()
                entries = await self._live_entries(name, now)
                if not entries:
                    return None
                await self._write_queue(name, entries[1:], now)
                return str(entries[0][1])

        return _Step(run)

    def _peek_queue(self, thread_id: Any) -> _Step:
        name = self.kv_key("queue", key(thread_id, "thread_id"))

        async def run() -> list[list[Any]]:
            entries = await self._live_entries(name, self.clock())
            return [[seq, encoded] for seq, encoded, _ in entries]

        return _Step(run)

    def _ack_queue(self, thread_id: Any, seqs: Any, guard: Any = None) -> _Step:
        name = self.kv_key("queue", key(thread_id, "thread_id"))
        if not isinstance(seqs, list):
            raise TypeError("seqs must be a list of sequence numbers")
        handled = {integer(seq, "seq") for seq in seqs}

        async def run() -> None:
            async with self._keys.hold(name):
                now = self.clock()
                entries = await self._live_entries(name, now)
                kept = [entry for entry in entries if entry[0] not in handled]
                if len(kept) != len(entries):
                    await self._write_queue(name, kept, now)

        return _Step(run, _guard(guard))

    def _queue_depth(self, thread_id: Any) -> _Step:
        name = self.kv_key("queue", key(thread_id, "thread_id"))

        async def run() -> int:
            return len(await self._live_entries(name, self.clock()))

        return _Step(run)

    def _mark_pending(self, thread_id: Any) -> _Step:
        queue_key = key(thread_id, "thread_id")
        name = self.kv_key("pending", queue_key)
        return _Step(lambda: self.kv.put(name, queue_key, None))

    def _clear_pending_if_idle(self, thread_id: Any) -> _Step:
        queue_key = key(thread_id, "thread_id")
        name = self.kv_key("pending", queue_key)
        queue = self.kv_key("queue", queue_key)

        async def run() -> bool:
            if await self.kv.get(name) is None:
                return False
            if await self._live_entries(queue, self.clock()):
                return False
            await self.kv.delete(name)
            return True

        return _Step(run)
