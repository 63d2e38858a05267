"""Which conversations have accepted work not yet handled, so a restart re-drives them.

Two ways to keep it, one per runtime:

- ParentWorkIndex, on Cloudflare: a table in the parent object's own SQLite. After an eviction
  the parent must find its pending work without knowing which shards hold it. A mark is written
  before the accept batch (so a crash between the two still finds the entry) and again after
  it; a clear names the version it saw, so a mark made since survives it.
- ShardWorkIndex, locally: a table in the shards' own files, written by the same transactions
  as the queue. The mark commits with the enqueue and the clear ("only if no live entry is
  left") with the acknowledgement, so neither costs a write of its own, and recovery lists the
  table of the few local files.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from chatstate.ports import SqlPort
from chatstate.state.adapter import Pending, StateBatch


class WorkIndex(Protocol):
    def accepting(self, key: str) -> Any:
        """Before an accept batch; returns what accepted() needs."""
        ...

    def add_to_accept(self, batch: StateBatch, key: str, queued: Pending[Any]) -> None: ...

    def accepted(self, key: str, before: Any, queued: bool) -> None: ...

    def finishing(self, key: str) -> Any:
        """Before a batch that may leave the conversation idle; returns what finished() needs."""
        ...

    def add_to_finish(self, batch: StateBatch, key: str) -> None: ...

    def finished(self, key: str, before: Any, idle: bool) -> None: ...

    async def pending(self) -> list[str]: ...


class ParentWorkIndex:
    def __init__(self, sql: SqlPort) -> None:
        self._sql = sql
        sql.exec(
            "CREATE TABLE IF NOT EXISTS chat_pending_work "
            "(queue_key TEXT PRIMARY KEY, version INTEGER NOT NULL) WITHOUT ROWID"
        )

    def accepting(self, key: str) -> int:
        # Marked before the batch too: if we crash after it commits but before answering, the
        # platform's retry is deduped, and only this mark leads back to the queued entry.
        return self._mark(key)

    def add_to_accept(self, batch: StateBatch, key: str, queued: Pending[Any]) -> None:
        return None

    def accepted(self, key: str, before: int, queued: bool) -> None:
        if queued:
            self._mark(key)
        elif before == 1:
            # Nothing was queued: forget the mark unless it predates us or was renewed since.
            self._clear(key, before)

    def finishing(self, key: str) -> int | None:
        return self._version(key)

    def add_to_finish(self, batch: StateBatch, key: str) -> None:
        return None

    def finished(self, key: str, before: int | None, idle: bool) -> None:
        if idle:
            self._clear(key, before)

    async def pending(self) -> list[str]:
        return self.pending_now()

    def pending_now(self) -> list[str]:
        rows = self._sql.exec("SELECT queue_key FROM chat_pending_work ORDER BY queue_key")
        return [str(row["queue_key"]) for row in rows]

    def _mark(self, key: str) -> int:
        """Record pending work; the version is 1 when this mark created the entry."""
        rows = self._sql.exec(
            "INSERT INTO chat_pending_work (queue_key, version) VALUES (?, 1) "
            "ON CONFLICT (queue_key) DO UPDATE SET version = version + 1 RETURNING version",
            key,
        )
        return int(rows[0]["version"])

    def _version(self, key: str) -> int | None:
        rows = self._sql.exec("SELECT version FROM chat_pending_work WHERE queue_key = ?", key)
        return int(rows[0]["version"]) if rows else None

    def _clear(self, key: str, version: int | None) -> None:
        """Forget a conversation, unless it was marked again since `version` was read."""
        if version is not None:
            self._sql.exec(
                "DELETE FROM chat_pending_work WHERE queue_key = ? AND version = ?", key, version
            )


class ShardWorkIndex:
    def __init__(self, list_pending: Callable[[], Awaitable[list[str]]]) -> None:
        self._list_pending = list_pending

    def accepting(self, key: str) -> None:
        return None

    def add_to_accept(self, batch: StateBatch, key: str, queued: Pending[Any]) -> None:
        batch.only_if(queued).mark_pending(key)

    def accepted(self, key: str, before: None, queued: bool) -> None:
        return None

    def finishing(self, key: str) -> None:
        return None

    def add_to_finish(self, batch: StateBatch, key: str) -> None:
        batch.clear_pending_if_idle(key)

    def finished(self, key: str, before: None, idle: bool) -> None:
        return None

    async def pending(self) -> list[str]:
        return await self._list_pending()
