"""Per-user transcripts across threads and platforms (the reference's `chat.history.user`)."""

from __future__ import annotations

import uuid
from typing import Any

from chatstate.state.adapter import StateAdapter

TOMBSTONE = "__chatSdkTombstone"


class Transcripts:
    def __init__(
        self, state: StateAdapter, *, max_per_user: int = 200, retention_ms: int | None = None
    ) -> None:
        self._state = state
        self.max_per_user = max_per_user
        self.retention_ms = retention_ms

    async def append(
        self, user_key: str, *, role: str, text: str, platform: str, thread_id: str, timestamp: int
    ) -> dict[str, Any]:
        entry = {
            "id": str(uuid.uuid4()),
            "userKey": user_key,
            "role": role,
            "text": text,
            "platform": platform,
            "threadId": thread_id,
            "timestamp": timestamp,
        }
        await self._state.append_to_list(
            f"transcripts:user:{user_key}",
            entry,
            max_length=self.max_per_user,
            ttl_ms=self.retention_ms,
        )
        return entry

    async def list(self, user_key: str, limit: int = 50) -> list[dict[str, Any]]:
        """The newest `limit` entries, oldest first."""
        items = await self._state.get_list(f"transcripts:user:{user_key}")
        entries = [i for i in items if isinstance(i, dict) and not i.get(TOMBSTONE)]
        return entries[-limit:] if limit > 0 else []

    async def delete(self, user_key: str) -> None:
        # A tombstone with max_length 1 trims everything else away, as the reference does.
        await self._state.append_to_list(
            f"transcripts:user:{user_key}", {TOMBSTONE: True}, max_length=1
        )
