"""Which conversations have accepted work not yet handled, so a restart re-drives them.

Two ways to keep it, one per runtime:

- ParentWorkIndex, on Cloudflare: a table in the parent object's own SQLite. After an eviction
  the parent must find its pending work without knowing which shards hold it. A mark is written
  before the accept batch (so a crash between the two still finds the entry), and cleared when
  the conversation goes idle, unless an accept began or queued work since the finisher looked:
  the object is the table's only writer, so it tells that from memory, one statement each.
- ShardWorkIndex, locally: a table in the shards' own files, written by the same transactions
  as the queue. The mark commits with the enqueue and the clear ("only if no live entry is
  left") with the acknowledgement, so neither costs a write of its own, and recovery lists the
  table of the few local files.
"""

from __future__ import annotations

from collections import Counter
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

    async def finished(self, key: str, before: Any, idle: bool) -> None: ...

    async def pending(self) -> list[str]: ...


class ParentWorkIndex:
    def __init__(self, sql: SqlPort, on_idle: Callable[[], Awaitable[None]] | None = None) -> None:
        self._sql = sql
        # Called when the last known mark is cleared: the parent's re-check alarm can go.
        self._on_idle = on_idle
        # The keys marked in the table, as far as this object knows (all of them once
        # pending() has read the table, as recovery does on start).
        self._marked: set[str] = set()
        sql.exec(
            "CREATE TABLE IF NOT EXISTS chat_pending_work "
            "(queue_key TEXT PRIMARY KEY, version INTEGER NOT NULL) WITHOUT ROWID"
        )
        # Per key: accepts in flight, and a count of the events a finisher must not miss
        # (an accept starting or queueing), so a clear never forgets newer work.
        self._in_flight: Counter[str] = Counter()
        self._changes: Counter[str] = Counter()

    def accepting(self, key: str) -> bool:
        # Marked before the batch: if we crash after it commits but before answering, the
        # platform's retry is deduped, and only this mark leads back to the queued entry.
        rows = self._sql.exec(
            "INSERT INTO chat_pending_work (queue_key, version) VALUES (?, 1) "
            "ON CONFLICT (queue_key) DO UPDATE SET version = version + 1 RETURNING version",
            key,
        )
        self._marked.add(key)
        self._in_flight[key] += 1
        self._changes[key] += 1
        # Whether this mark created the entry: only then may nothing queued take it away.
        return int(rows[0]["version"]) == 1

    def add_to_accept(self, batch: StateBatch, key: str, queued: Pending[Any]) -> None:
        return None

    def accepted(self, key: str, created: bool, queued: bool) -> None:
        self._in_flight[key] -= 1
        if queued:
            self._changes[key] += 1
        elif created:
            self._clear_unless_changed(key, self._changes[key])
        if not self._in_flight[key]:
            del self._in_flight[key]

    def finishing(self, key: str) -> int:
        return self._changes[key]

    def add_to_finish(self, batch: StateBatch, key: str) -> None:
        return None

    async def finished(self, key: str, before: int, idle: bool) -> None:
        cleared = idle and self._clear_unless_changed(key, before)
        if cleared and not self._marked and self._on_idle is not None:
            await self._on_idle()

    @property
    def idle(self) -> bool:
        """Whether no conversation has known unhandled work."""
        return not self._marked

    async def pending(self) -> list[str]:
        return self.pending_now()

    def pending_now(self) -> list[str]:
        rows = self._sql.exec("SELECT queue_key FROM chat_pending_work ORDER BY queue_key")
        keys = [str(row["queue_key"]) for row in rows]
        self._marked = set(keys)
        return keys

    def _clear_unless_changed(self, key: str, seen: int) -> bool:
        if self._in_flight[key] or self._changes[key] != seen:
            return False
        self._sql.exec("DELETE FROM chat_pending_work WHERE queue_key = ?", key)
        self._marked.discard(key)
        return True


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

    async def finished(self, key: str, before: None, idle: bool) -> None:
        return None

    async def pending(self) -> list[str]:
        return await self._list_pending()
