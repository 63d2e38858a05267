"""Which conversations have accepted work not yet handled, kept in the parent's own storage.

Written before the webhook is answered and cleared once a conversation's queue is seen empty,
so after a crash or an eviction the parent re-drives exactly those conversations from storage,
never from memory. It lives beside the parent (its Durable Object's SQLite, or a local file),
so keeping it costs no shard call.
"""

from __future__ import annotations

from ..ports import SqlPort


class WorkIndex:
    def __init__(self, sql: SqlPort) -> None:
        self._sql = sql
        sql.exec(
            "CREATE TABLE IF NOT EXISTS chat_pending_work "
            "(queue_key TEXT PRIMARY KEY, version INTEGER NOT NULL) WITHOUT ROWID"
        )

    def mark(self, queue_key: str) -> int:
        """Record pending work; the version is 1 when this mark created the entry."""
        rows = self._sql.exec(
            "INSERT INTO chat_pending_work (queue_key, version) VALUES (?, 1) "
            "ON CONFLICT (queue_key) DO UPDATE SET version = version + 1 RETURNING version",
            queue_key,
        )
        return int(rows[0]["version"])

    def version(self, queue_key: str) -> int | None:
        rows = self._sql.exec(
            "SELECT version FROM chat_pending_work WHERE queue_key = ?", queue_key
        )
        return int(rows[0]["version"]) if rows else None

    def clear(self, queue_key: str, version: int | None) -> None:
        """Forget a conversation, unless it was marked again since `version` was read."""
        if version is not None:
            self._sql.exec(
                "DELETE FROM chat_pending_work WHERE queue_key = ? AND version = ?",
                queue_key,
                version,
            )

    def pending(self) -> list[str]:
        rows = self._sql.exec("SELECT queue_key FROM chat_pending_work ORDER BY queue_key")
        return [str(row["queue_key"]) for row in rows]
