"""What the console reads and writes inside shards, each inside the shard's transaction.

The console's index of conversations is spread over index shards by a hash of each
conversation's id (chatstate/routes/console/index.py): a row per chat thread or agent
conversation, newest activity first, so listing never visits the shards the conversations live
in. A thread's lock and queue are read where they live, beside its
history, in the same call.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Protocol

from chatstate.ports import SqlValue
from chatstate.state.operands import integer, key, text

# Rows idle this long leave the index, a few at a time as new activity is noted.
INDEX_RETENTION_MS = 30 * 24 * 3600 * 1000
EXPIRED_ROWS_PER_NOTE = 20
MAX_LIST_PAGE = 100
PREVIEW_CHARS = 200
KINDS = ("thread", "agent")
HOLDER_CHARS = 8


class _Transaction(Protocol):
    now: int

    def rows(self, statement: str, *params: SqlValue) -> list[Any]: ...

    def scalar(self, statement: str, *params: SqlValue) -> Any: ...


def _preview(value: Any, what: str) -> str:
    return text(value, what)[:PREVIEW_CHARS]


def note_activity(tx: _Transaction, entry: Any) -> None:
    """Upsert a conversation's row: `entry` is {id, kind, platform, title, text, at, count,
    detail}; `count` adds to its message count, `error` (optional) records a handler failure."""
    if not isinstance(entry, dict):
        raise TypeError("an activity entry is a JSON object")
    kind = text(entry.get("kind"), "kind")
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
    at = integer(entry.get("at"), "at")
    error = entry.get("error")
    tx.rows(
        """INSERT INTO console_conversations
             (id, kind, platform, title, last_text, last_activity, messages, detail,
              error, error_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (id) DO UPDATE SET
             title = CASE WHEN excluded.title = '' THEN title ELSE excluded.title END,
             last_text = CASE WHEN excluded.last_text = '' THEN last_text
                              ELSE excluded.last_text END,
             last_activity = MAX(last_activity, excluded.last_activity),
             messages = messages + excluded.messages,
             error = COALESCE(excluded.error, error),
             error_at = COALESCE(excluded.error_at, error_at)""",
        key(entry.get("id"), "id"),
        kind,
        text(entry.get("platform"), "platform"),
        _preview(entry.get("title", ""), "title"),
        _preview(entry.get("text", ""), "text"),
        at,
        integer(entry.get("count", 0), "count"),
        json.dumps(entry.get("detail") or {}, separators=(",", ":")),
        None if error is None else _preview(error, "error"),
        None if error is None else at,
    )
    tx.rows(
        "DELETE FROM console_conversations WHERE id IN (SELECT id FROM console_conversations "
        "WHERE last_activity < ? ORDER BY last_activity LIMIT ?)",
        tx.now - INDEX_RETENTION_MS,
        EXPIRED_ROWS_PER_NOTE,
    )


def list_activity(tx: _Transaction, before: Any, limit: Any) -> dict[str, Any]:
    """A page of the index, newest activity first; `before` is the previous page's cursor,
    [last_activity, id], or None for the first page."""
    size = integer(limit, "limit")
    if not 1 <= size <= MAX_LIST_PAGE:
        raise ValueError(f"limit must be between 1 and {MAX_LIST_PAGE}, not {size}")
    if before is None:
        rows = tx.rows(
            "SELECT * FROM console_conversations ORDER BY last_activity DESC, id DESC LIMIT ?",
            size + 1,
        )
    else:
        if not isinstance(before, list) or len(before) != 2:
            raise ValueError("before is [last_activity, id]")
        rows = tx.rows(
            "SELECT * FROM console_conversations WHERE (last_activity, id) < (?, ?) "
            "ORDER BY last_activity DESC, id DESC LIMIT ?",
            integer(before[0], "before[0]"),
            key(before[1], "before[1]"),
            size + 1,
        )
    page = [
        {
            "id": row["id"],
            "kind": row["kind"],
            "platform": row["platform"],
            "title": row["title"],
            "last_text": row["last_text"],
            "last_activity": row["last_activity"],
            "messages": row["messages"],
            "detail": json.loads(row["detail"]),
            "error": row["error"],
            "error_at": row["error_at"],
        }
        for row in rows[:size]
    ]
    more = len(rows) > size
    return {"items": page, "next": [page[-1]["last_activity"], page[-1]["id"]] if more else None}


def lock_holder(tx: _Transaction, queue_key: Any) -> dict[str, Any] | None:
    """Who holds the conversation's lock now: {holder, fence, expires_at}, or None. The holder
    is the token's first characters: enough to tell holders apart, not to release the lock."""
    rows = tx.rows(
        "SELECT token, fence, expires_at FROM chat_state_locks "
        "WHERE thread_id = ? AND token IS NOT NULL AND expires_at > ?",
        key(queue_key, "queue_key"),
        tx.now,
    )
    if not rows:
        return None
    row = rows[0]
    return {
        "holder": str(row["token"])[:HOLDER_CHARS],
        "fence": row["fence"],
        "expires_at": row["expires_at"],
    }


def queue_summary(tx: _Transaction, queue_key: Any) -> dict[str, Any]:
    """The live depth of a conversation's queue and its oldest waiting entry."""
    queue = key(queue_key, "queue_key")
    depth = tx.scalar(
        "SELECT COUNT(*) FROM chat_state_queue WHERE thread_id = ? AND expires_at > ?",
        queue,
        tx.now,
    )
    oldest = tx.rows(
        "SELECT value FROM chat_state_queue WHERE thread_id = ? AND expires_at > ? "
        "ORDER BY seq LIMIT 1",
        queue,
        tx.now,
    )
    return {"depth": int(depth), "oldest": json.loads(oldest[0]["value"]) if oldest else None}


OPERATIONS: dict[str, Callable[..., Any]] = {
    "console_note": note_activity,
    "console_list": list_activity,
    "lock_holder": lock_holder,
    "queue_summary": queue_summary,
}
