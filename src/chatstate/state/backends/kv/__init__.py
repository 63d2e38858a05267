"""Chat state in Workers KV: the StateAdapter API over a KV binding or the KV REST API.

Durable Objects stay the default backend; KV suits development, tests and low-contention
bots. README.md ("State on Workers KV") lists what holds on KV and what does not, measured.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from chatstate.ports import Clock
from chatstate.state.adapter import StateAdapter
from chatstate.state.backends.kv.client import KvClient, KvError, KvPage, KvRateLimitedError
from chatstate.state.backends.kv.store import DEFAULT_KEY_PREFIX, DEFAULT_TTL_MS, KvStore, Sleep

__all__ = [
    "KvClient",
    "KvError",
    "KvPage",
    "KvRateLimitedError",
    "KvStateAdapter",
    "KvStore",
    "open_kv_state",
]


class KvStateAdapter(StateAdapter):
    """A StateAdapter whose every operation goes to Workers KV through `kv_store`."""

    def __init__(self, store: KvStore, **options: Any) -> None:
        super().__init__(store.call, clock=store.clock, **options)
        self.kv_store = store


def open_kv_state(
    kv: KvClient,
    *,
    clock: Clock,
    key_prefix: str = DEFAULT_KEY_PREFIX,
    default_ttl_ms: int | None = DEFAULT_TTL_MS,
    logger: logging.Logger | None = None,
    lock_heartbeat: bool = False,
    sleep: Sleep = asyncio.sleep,
) -> KvStateAdapter:
    """A state adapter over one KV namespace, every key under `key_prefix:`.

    `default_ttl_ms` is the TTL of a cache value set without one (None: never expires).
    Not connected until `await state.connect()`.
    """
    store = KvStore(
        kv,
        clock=clock,
        key_prefix=key_prefix,
        default_ttl_ms=default_ttl_ms,
        sleep=sleep,
        logger=logger,
    )
    return KvStateAdapter(store, lock_heartbeat=lock_heartbeat)
