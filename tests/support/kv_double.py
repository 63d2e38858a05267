"""A Workers KV namespace as documented, for tests: its limits, and eventual consistency.

Documented behaviour kept (developers.cloudflare.com/kv): keys 1-512 bytes and not "." or
"..", values at most 25 MiB, expiration TTLs of at least 60 s, at most one write per second to
one key (HTTP 429 beyond), lists by prefix in lexicographic order, 1,000 names a page, with a
cursor. Expired keys read as absent everywhere.

Eventual consistency is modelled with locations: a location reads its own writes at once and
other locations' writes `visibility_delay_ms` after they were made. Whether Cloudflare enforces
the write rate across locations is not documented; the double enforces it per location, the
worst case for races. Every call is counted, for the cost benchmark.
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from chatstate.state.backends.kv.client import (
    LIST_PAGE_LIMIT,
    MAX_KEY_BYTES,
    MAX_VALUE_BYTES,
    MIN_EXPIRATION_TTL_S,
    SAME_KEY_WRITE_INTERVAL_MS,
    KvError,
    KvPage,
    KvRateLimitedError,
)


@dataclass(frozen=True)
class _Version:
    written_at: int
    location: str
    value: str | None  # None: deleted
    expires_at: int | None


class KvNamespaceDouble:
    def __init__(
        self,
        clock: Callable[[], int],
        *,
        visibility_delay_ms: int = 0,
        interleave: bool = True,
        enforce_write_rate: bool = True,
    ) -> None:
        self.clock = clock
        self.visibility_delay_ms = visibility_delay_ms
        # Yield to the event loop on every call, so concurrent callers interleave as over a network.
        self.interleave = interleave
        # False: a write within a second of the last one to its key is counted, not refused.
        self.enforce_write_rate = enforce_write_rate
        self.counts: Counter[str] = Counter()
        self._versions: dict[str, list[_Version]] = {}
        self._last_write: dict[tuple[str, str], int] = {}
        self._mutex = threading.Lock()  # the fake REST API serves from threads

    def location(self, name: str = "here") -> KvLocation:
        return KvLocation(self, name)

    # --- the namespace, synchronously -------------------------------------------------------

    def read(self, location: str, key: str) -> str | None:
        _check_key(key)
        with self._mutex:
            self.counts["reads"] += 1
            version = self._visible(location, key)
        return None if version is None else version.value

    def write(self, location: str, key: str, value: str | None, ttl_s: int | None) -> None:
        _check_key(key)
        if value is not None and len(value.encode()) > MAX_VALUE_BYTES:
            raise KvError(f"413: value of {len(value.encode())} bytes exceeds 25 MiB")
        if ttl_s is not None and (not isinstance(ttl_s, int) or ttl_s < MIN_EXPIRATION_TTL_S):
            raise KvError(
                f"400: Invalid expiration_ttl of {ttl_s}. Expiration TTL must be at least 60."
            )
        with self._mutex:
            now = self.clock()
            self.counts["writes" if value is not None else "deletes"] += 1
            last = self._last_write.get((location, key))
            if last is not None and now - last < SAME_KEY_WRITE_INTERVAL_MS:
                self.counts["rate_limited"] += 1
                if self.enforce_write_rate:
                    raise KvRateLimitedError(f"429: {key!r} was written {now - last} ms ago")
            self._last_write[(location, key)] = now
            expires_at = None if ttl_s is None else now + ttl_s * 1000
            self._versions.setdefault(key, []).append(_Version(now, location, value, expires_at))

    def list_names(self, location: str, prefix: str, cursor: str | None) -> KvPage:
        with self._mutex:
            self.counts["lists"] += 1
            names = sorted(
                name
                for name in self._versions
                if name.startswith(prefix) and self._visible(location, name) is not None
            )
        if cursor:
            names = [name for name in names if name > cursor]
        page = names[:LIST_PAGE_LIMIT]
        return KvPage(page, page[-1] if len(names) > LIST_PAGE_LIMIT else None)

    def names(self) -> list[str]:
        """Every key with a live value anywhere, for tests that look at the namespace itself."""
        with self._mutex:
            now = self.clock()
            return sorted(
                name
                for name, versions in self._versions.items()
                if versions[-1].value is not None
                and (versions[-1].expires_at is None or versions[-1].expires_at > now)
            )

    def expires_at(self, name: str) -> int | None:
        """When KV itself deletes the key, as its last write set it."""
        with self._mutex:
            return self._versions[name][-1].expires_at

    def _visible(self, location: str, key: str) -> _Version | None:
        now = self.clock()
        for version in reversed(self._versions.get(key, [])):
            if version.location == location or version.written_at + self.visibility_delay_ms <= now:
                if version.value is None:
                    return None
                if version.expires_at is not None and version.expires_at <= now:
                    return None
                return version
        return None


class KvLocation:
    """One location's view of the namespace: a KvClient."""

    def __init__(self, namespace: KvNamespaceDouble, name: str) -> None:
        self.namespace = namespace
        self.name = name

    async def _turn(self) -> None:
        if self.namespace.interleave:
            await asyncio.sleep(0)

    async def get(self, key: str) -> str | None:
        await self._turn()
        return self.namespace.read(self.name, key)

    async def put(self, key: str, value: str, expiration_ttl_s: int | None) -> None:
        await self._turn()
        self.namespace.write(self.name, key, value, expiration_ttl_s)

    async def delete(self, key: str) -> None:
        await self._turn()
        self.namespace.write(self.name, key, None, None)

    async def list_keys(self, prefix: str, cursor: str | None) -> KvPage:
        await self._turn()
        return self.namespace.list_names(self.name, prefix, cursor)


def _check_key(key: str) -> None:
    if not key or key in (".", ".."):
        raise KvError(f"400: invalid key {key!r}")
    if len(key.encode()) > MAX_KEY_BYTES:
        raise KvError(f"414: key of {len(key.encode())} bytes exceeds {MAX_KEY_BYTES}")
