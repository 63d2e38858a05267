"""The SQL port over a sqlite3 database file: the local runtime's shard storage."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from chatstate.ports import Row, SqlValue

T = TypeVar("T")

# Another process may hold the write lock on the same file; wait for it rather than fail.
BUSY_TIMEOUT_MS = 30_000


class SqlitePort:
    """`exec` and `transaction` on one sqlite3 connection, counting rows written.

    Transactions are BEGIN IMMEDIATE, so a check-then-write stays atomic across processes that
    open the same file, as Durable Object's transactionSync is within one object.
    """

    def __init__(self, path: Path | None) -> None:
        # Opened here, then used by one writer thread at a time (the local runtime's files).
        self._conn = sqlite3.connect(
            ":memory:" if path is None else str(path),
            isolation_level=None,
            timeout=BUSY_TIMEOUT_MS / 1000,
            check_same_thread=False,
        )
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
            except sqlite3.OperationalError as error:
                if "locked" not in str(error) or time.monotonic() > deadline:
                    raise
                time.sleep(0.01)

    @property
    def rows_written(self) -> int:
        """Rows inserted, updated or deleted so far: the unit Durable Object SQLite bills."""
        return self._conn.total_changes

    def exec(self, sql: str, *params: SqlValue) -> list[Row]:
        cursor = self._conn.execute(sql, params)
        rows = cursor.fetchall()
        if not rows:
            return []
        # Plain tuples named here cost half of sqlite3.Row turned into dicts (a history read
        # turns up to its whole length into rows).
        names = [column[0] for column in cursor.description]
        if len(names) == 1:
            (name,) = names
            return [{name: value} for (value,) in rows]
        return [dict(zip(names, row, strict=True)) for row in rows]

    def transaction(self, fn: Callable[[], T]) -> T:
        if self._conn.in_transaction:
            # Inside a group commit: all or nothing still holds, by a savepoint of its own.
            self._conn.execute("SAVEPOINT batch")
            try:
                nested = fn()
            except BaseException:
                self._conn.execute("ROLLBACK TO batch")
                self._conn.execute("RELEASE batch")
                raise
            self._conn.execute("RELEASE batch")
            return nested
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            result = fn()
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")
        return result

    def run_group(self, works: list[Callable[[], Any]]) -> list[tuple[bool, Any]]:
        """Group commit: run each work in its own savepoint of one transaction, so each applies
        all or nothing, and commit them with one fsync. Returns (True, result) or
        (False, exception) per work; when the commit itself fails, every work failed."""
        try:
            self._conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as error:
            return [(False, error)] * len(works)
        if len(works) == 1:
            return self._run_alone(works[0])
        outcomes: list[tuple[bool, Any]] = []
        for work in works:
            self._conn.execute("SAVEPOINT work")
            try:
                value = work()
            except Exception as error:
                self._conn.execute("ROLLBACK TO work")
                self._conn.execute("RELEASE work")
                outcomes.append((False, error))
            else:
                self._conn.execute("RELEASE work")
                outcomes.append((True, value))
        return self._commit(outcomes)

    def _run_alone(self, work: Callable[[], Any]) -> list[tuple[bool, Any]]:
        """A group of one needs no savepoint: its failure rolls back the whole transaction."""
        try:
            value = work()
        except Exception as error:
            if self._conn.in_transaction:  # SQLite may have rolled back already (a full disk)
                self._conn.execute("ROLLBACK")
            return [(False, error)]
        return self._commit([(True, value)])

    def _commit(self, outcomes: list[tuple[bool, Any]]) -> list[tuple[bool, Any]]:
        """Commit the group; when the commit itself fails, every work in it failed."""
        try:
            self._conn.execute("COMMIT")
        except sqlite3.Error as error:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
            return [(False, error)] * len(outcomes)
        return outcomes

    def copy_tables_from(self, other: Path, tables: list[str]) -> None:
        """Copy every row of these tables from another database file, in one transaction;
        a row already here with the same key is replaced."""
        self._conn.execute("ATTACH DATABASE ? AS other", (f"{other.as_uri()}?mode=ro",))
        try:
            present = {r[0] for r in self._conn.execute("SELECT name FROM other.sqlite_master")}
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                for table in tables:
                    if table in present:
                        self._conn.execute(
                            f"INSERT OR REPLACE INTO main.{table} SELECT * FROM other.{table}"
                        )
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")
        finally:
            self._conn.execute("DETACH DATABASE other")

    def close(self) -> None:
        self._conn.close()
