"""What the KV backend needs from Workers KV, and the rules of KV it must keep.

Two clients implement it: the Workers KV binding on Cloudflare (`cloudflare_io.WorkersKvClient`)
and the KV REST API for the local runtime and scripts (`rest_client.KvRestClient`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

# Workers KV's limits (developers.cloudflare.com/kv/platform/limits).
MIN_EXPIRATION_TTL_S = 60
MAX_KEY_BYTES = 512
MAX_VALUE_BYTES = 25 * 1024 * 1024
# A write to a key written less than this long ago may be refused with 429.
SAME_KEY_WRITE_INTERVAL_MS = 1_000
LIST_PAGE_LIMIT = 1_000


class KvError(RuntimeError):
    """Workers KV refused or failed a call."""


class KvRateLimitedError(KvError):
    """KV refused a write: the key was written less than a second ago (HTTP 429)."""


@dataclass(frozen=True)
class KvPage:
    names: list[str]
    # None once the listing is complete.
    cursor: str | None


class KvClient(Protocol):
    async def get(self, key: str) -> str | None:
        """The value, or None if the key is absent or expired."""
        ...

    async def put(self, key: str, value: str, expiration_ttl_s: int | None) -> None:
        """Write the value; with a TTL (at least 60 s) KV deletes the key after it."""
        ...

    async def delete(self, key: str) -> None: ...

    async def list_keys(self, prefix: str, cursor: str | None) -> KvPage:
        """One page of key names under the prefix, in lexicographic order."""
        ...
