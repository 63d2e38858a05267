"""Scheduled posts in their thread's shard: add, cancel, list, claim what is due, finish.

A due post is claimed with a lease before it is sent and removed after: a sender that dies
between the two leaves it to be claimed again once the lease lapses (at least once); a post
removed or cancelled is never claimed again.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Protocol

from chatstate.ports import SqlValue
from chatstate.state.operands import integer, key, text

MAX_SCHEDULED_PER_CALL = 50


class _Transaction(Protocol):
    now: int

    def rows(self, statement: str, *params: SqlValue) -> list[Any]: ...

    def expires(self, at: int) -> int: ...


def _row(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "thread_id": row["thread_id"],
        "at": int(row["at"]),
        "content": json.loads(row["content"]),
    }


def schedule_post(tx: _Transaction, id: Any, thread_id: Any, at: Any, content: Any) -> None:
    tx.rows(
        "INSERT INTO chat_state_scheduled (id, thread_id, at, content) VALUES (?, ?, ?, ?)",
        key(id, "id"),
        key(thread_id, "thread_id"),
        # The shard's alarm wakes for it as it does for an expiry.
        tx.expires(integer(at, "at")),
        text(content, "content"),
    )


def cancel_scheduled(tx: _Transaction, id: Any) -> bool:
    return bool(tx.rows("DELETE FROM chat_state_scheduled WHERE id = ? RETURNING 1", key(id, "id")))


def list_scheduled(tx: _Transaction, thread_id: Any) -> list[dict[str, Any]]:
    rows = tx.rows(
        "SELECT id, thread_id, at, content FROM chat_state_scheduled WHERE thread_id = ? "
        "ORDER BY at, id",
        key(thread_id, "thread_id"),
    )
    return [_row(row) for row in rows]


def claim_due(tx: _Transaction, lease_ms: Any) -> list[dict[str, Any]]:
    """Due posts not claimed by a live lease, claimed now for `lease_ms`, oldest first."""
    rows = tx.rows(
        """UPDATE chat_state_scheduled SET claimed_until = ?
           WHERE id IN (SELECT id FROM chat_state_scheduled
                        WHERE at <= ? AND claimed_until <= ? ORDER BY at, id LIMIT ?)
           RETURNING id, thread_id, at, content""",
        tx.now + integer(lease_ms, "lease_ms"),
        tx.now,
        tx.now,
        MAX_SCHEDULED_PER_CALL,
    )
    return sorted((_row(row) for row in rows), key=lambda r: (r["at"], r["id"]))


def finish_scheduled(tx: _Transaction, id: Any) -> None:
    tx.rows("DELETE FROM chat_state_scheduled WHERE id = ?", key(id, "id"))


def next_scheduled(tx: _Transaction) -> int | None:
    rows = tx.rows("SELECT MIN(at) AS at FROM chat_state_scheduled")
    return None if not rows or rows[0]["at"] is None else int(rows[0]["at"])


OPERATIONS: dict[str, Callable[..., Any]] = {
    "schedule_post": schedule_post,
    "cancel_scheduled": cancel_scheduled,
    "list_scheduled": list_scheduled,
    "claim_due": claim_due,
    "finish_scheduled": finish_scheduled,
    "next_scheduled": next_scheduled,
}
