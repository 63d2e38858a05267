"""Namespaced key-value stores: several stores share a shard, each under its own key prefix.

`state.store("profile")` keeps its keys as `profile:<key>` rows of the shard's cache table,
so TTLs are strict on read and expired rows go with the shard's one cleanup alarm, like every
other key. `cached()` runs a computation once per key while its entry lives, even when
callers race: callers in one process share one computation, and processes take a lock in the
shard before computing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, Protocol, TypeVar

from chatstate.state.json_values import JsonValue, decode_json, encode_json
from chatstate.state.sharding import ShardRouter

T = TypeVar("T")
# How long one process may hold a key's computation before another may take it over.
COMPUTE_LOCK_TTL_MS = 60_000
COMPUTE_POLL_S = 0.05
MAX_STORE_ID_BYTES = 128
_MISSING: Any = object()


def _raw(value: Any) -> Any:
    return value


def _check_ttl(ttl_ms: int | None) -> None:
    if ttl_ms is not None and (isinstance(ttl_ms, bool) or not isinstance(ttl_ms, int)):
        raise TypeError(f"ttl_ms must be an int of milliseconds, not {ttl_ms!r}")


class _State(Protocol):
    """What a store needs of the state adapter (which makes stores: `state.store(id)`)."""

    router: ShardRouter
    in_flight: dict[str, asyncio.Future[JsonValue]]

    def batch(self) -> Any: ...

    def _check_connected(self) -> None: ...


class NamespacedStore:
    """get / get_many / set / set_many / remove / clear / cached, within one namespace."""

    def __init__(self, state: _State, store_id: str, shard: str | None) -> None:
        if not isinstance(store_id, str) or not store_id:
            raise ValueError("a store id is a non-empty string")
        if ":" in store_id or len(store_id.encode()) > MAX_STORE_ID_BYTES:
            # With a colon, store "a" key "b:c" and store "a:b" key "c" would be one row.
            raise ValueError(
                f"store id {store_id!r} must have no ':' and at most {MAX_STORE_ID_BYTES} bytes"
            )
        self.store_id = store_id
        self._state = state
        self._prefix = f"{store_id}:"
        self.shard = shard if shard is not None else state.router.for_key(self._prefix)

    def _key(self, key: str) -> str:
        if not isinstance(key, str):
            raise TypeError(f"a store key is a string, not {type(key).__name__}")
        return self._prefix + key

    async def _run(self, *operations: list[Any]) -> list[Any]:
        batch = self._state.batch()
        pending = [batch.on_shard(self.shard, operation, _raw) for operation in operations]
        self._state._check_connected()
        await batch.run()
        return [p.value for p in pending]

    def _decode(self, raw: Any, key: str, default: Any) -> Any:
        return default if raw is None else decode_json(raw, f"store {self.store_id} key {key}")

    async def get(self, key: str, default: JsonValue = None) -> JsonValue:
        """The value, or `default` when the key is absent or expired (a stored null is null)."""
        [raw] = await self._run(["get", self._key(key)])
        return self._decode(raw, key, default)

    async def get_many(self, keys: Iterable[str]) -> dict[str, JsonValue]:
        """The live keys among `keys` with their values, in one call; absent keys are left out."""
        wanted = list(keys)
        [raws] = await self._run(["get_many", [self._key(k) for k in wanted]])
        return {
            k: self._decode(raw, k, None)
            for k, raw in zip(wanted, raws, strict=True)
            if raw is not None
        }

    async def set(self, key: str, value: JsonValue, ttl_ms: int | None = None) -> None:
        _check_ttl(ttl_ms)
        full = self._key(key)
        await self._run(["set", full, encode_json(value, full), ttl_ms, None])

    async def set_many(self, values: Mapping[str, JsonValue], ttl_ms: int | None = None) -> None:
        """Every value, all or none (one transaction in the shard)."""
        _check_ttl(ttl_ms)
        operations = []
        for key, value in values.items():
            full = self._key(key)
            operations.append(["set", full, encode_json(value, full), ttl_ms, None])
        if operations:
            await self._run(*operations)

    async def remove(self, key: str) -> None:
        await self._run(["delete", self._key(key), None])

    async def clear(self) -> int:
        """Delete this store's keys, and only them; returns how many rows went."""
        [removed] = await self._run(["delete_prefix", self._prefix])
        return int(removed)

    async def cached(
        self, key: str, compute: Callable[[], Awaitable[JsonValue]], ttl_ms: int
    ) -> JsonValue:
        """The value at `key`, computing and storing it first if absent or expired.

        `compute` runs once per key while the entry lives: concurrent callers of this process
        await the same run, and other processes wait for it through a lock in the shard. If it
        raises, nothing is stored and every waiting caller gets the error.
        """
        _check_ttl(ttl_ms)
        found = await self.get(key, _MISSING)
        if found is not _MISSING:
            return found
        full = self._key(key)
        flights = self._state.in_flight
        if full in flights:
            return await asyncio.shield(flights[full])
        flight: asyncio.Future[JsonValue] = asyncio.get_running_loop().create_future()
        flights[full] = flight
        try:
            value = await self._compute_once(key, compute, ttl_ms)
        except BaseException as error:
            flight.set_exception(error)
            flight.exception()  # retrieved: only waiters, if any, re-raise it
            raise
        finally:
            del flights[full]
        flight.set_result(value)
        return value

    async def _compute_once(
        self, key: str, compute: Callable[[], Awaitable[JsonValue]], ttl_ms: int
    ) -> JsonValue:
        full = self._key(key)
        lock_id = f"{full}#computing"
        while True:
            raw, lock = await self._run(
                ["get", full], ["acquire_lock", lock_id, COMPUTE_LOCK_TTL_MS]
            )
            if raw is not None:
                if lock is not None:
                    await self._run(["release_lock", lock_id, lock["token"]])
                return self._decode(raw, key, None)
            if lock is not None:
                break
            await asyncio.sleep(COMPUTE_POLL_S)
        try:
            value = await compute()
        except BaseException:
            await self._run(["release_lock", lock_id, lock["token"]])
            raise
        await self._run(
            ["set", full, encode_json(value, full), ttl_ms, None],
            ["release_lock", lock_id, lock["token"]],
        )
        return value
