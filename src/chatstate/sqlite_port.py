"""The SQL port over a sqlite3 database file: the local runtime's shard storage."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from .ports import Row, SqlValue

T = TypeVar("T")

# Another process may hold the write lock on the same file; wait for it rather than fail.
BUSY_TIMEOUT_MS = 30_000


class SqlitePort:
    """`exec` and `transaction` on one sqlite3 connection, counting rows written.

    Transactions are BEGIN IMMEDIATE, so a check-then-write stays atomic across processes that
    open the same file, as Durable Object's transactionSync is within one object.
    """

    def __init__(self, path: Path | None) -> None:
        self._conn = sqlite3.connect(
            ":memory:" if path is None else str(path),
            isolation_level=None,
            timeout=BUSY_TIMEOUT_MS / 1000,
        )
        self._conn.row_factory = sqlite3.Row
        if path is not None:
            self._enable_wal()
            self._conn.execute("PRAGMA synchronous = FULL")

    def _enable_wal(self) -> None:
        # Switching the journal mode skips SQLite's busy handler, so processes opening a new
        # file at once can see "database is locked" here; wait for the other one instead.
        deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
        while True:
            try:
                self._conn.execute("PRAGMA journal_mode = WAL")
                return
            except sqlite3.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.01)

    @property
    def rows_written(self) -> int:
        """Rows inserted, updated or deleted so far: the unit Durable Object SQLite bills."""
        return self._conn.total_changes

    def exec(self, sql: str, *params: SqlValue) -> list[Row]:
        return [dict(row) for row in self._conn.execute(sql, params).fetchall()]

    def transaction(self, fn: Callable[[], T]) -> T:
        if self._conn.in_transaction:
            return fn()
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            result = fn()
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")
        return result

    def close(self) -> None:
        self._conn.close()
