"""Flow state in Redis (`pip install redis`): one string per conversation, with a key prefix and
an optional TTL that every save renews. Not for the Worker: Redis is reached over TCP."""

from __future__ import annotations

from typing import Any


class RedisStorage:
    def __init__(
        self, client: Any, *, key_prefix: str = "conversation:", ttl_s: int | None = None
    ) -> None:
        """`client` is a `redis.asyncio.Redis` (for instance `Redis.from_url(url)`)."""
        if ttl_s is not None and ttl_s <= 0:
            raise ValueError("ttl_s must be positive, or None for no expiry")
        self._redis = client
        self.key_prefix = key_prefix
        self.ttl_s = ttl_s

    def key_of(self, conversation_id: str) -> str:
        return self.key_prefix + conversation_id

    async def load(self, conversation_id: str) -> str | None:
        value = await self._redis.get(self.key_of(conversation_id))
        if value is None:
            return None
        return value.decode() if isinstance(value, bytes) else str(value)

    async def save(self, conversation_id: str, document: str) -> None:
        await self._redis.set(self.key_of(conversation_id), document, ex=self.ttl_s)

    async def delete(self, conversation_id: str) -> None:
        await self._redis.delete(self.key_of(conversation_id))
