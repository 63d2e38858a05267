"""One shard's state: every primitive, run as batches of operations in one transaction each.

Semantics are the reference Durable Object adapter's (strict TTL on read, token-checked release
and extend, FIFO queues with drop-oldest, lazy single-alarm cleanup), except where
docs/architecture.md decides better: one expiry per list, live queue depth, fenced locks,
guarded writes, and batching.

Operations are plain lists, `[name, *args]`, and results plain values, so a batch crosses
Durable Object RPC unchanged. Values arrive already JSON-encoded by the adapter.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chatstate.errors import LockLostError
from chatstate.ports import Clock, SqlPort, SqlValue
from chatstate.state import agent_tables, cleanup, console_tables, operands, scheduled_tables
from chatstate.state.operands import integer as _int
from chatstate.state.operands import key as _key
from chatstate.state.operands import optional_integer as _optional_int
from chatstate.state.operands import text as _text
from chatstate.state.operands import value as _value

MAX_OPERATIONS_PER_BATCH = 256


@dataclass(frozen=True)
class BatchOutcome:
    results: list[Any]
    # An earlier wake-up the shard's alarm must be moved to, once the batch has committed.
    alarm_at: int | None
    # (agent, event) pairs for the agent's live sockets, once the batch has committed.
    broadcast: list[tuple[str, dict[str, Any]]]


class _Batch:
    """The state of one batch while its transaction runs: one `now`, expiries it created."""

    def __init__(self, sql: SqlPort, now: int) -> None:
        self.sql = sql
        self.now = now
        self.expiries: list[int] = []
        self.broadcast: list[tuple[str, dict[str, Any]]] = []
        # Guards found held in this batch: nothing in it can release them before it ends
        # but its own release, so each is checked once; those not yet checked wait in
        # _unverified for a statement that settles them.
        self._held: set[tuple[str, str]] = set()
        self._unverified: set[tuple[str, str]] = set()

    def rows(self, statement: str, *params: SqlValue) -> list[Any]:
        return self.sql.exec(statement, *params)

    def scalar(self, statement: str, *params: SqlValue) -> Any:
        rows = self.sql.exec(statement, *params)
        return next(iter(rows[0].values())) if rows else None

    def ttl_expiry(self, ttl_ms: int | None) -> int | None:
        """The reference's "no TTL" convention: None, 0 or negative never expires."""
        if ttl_ms is None or ttl_ms <= 0:
            return None
        return self.expires(self.now + ttl_ms)

    def expires(self, at: int) -> int:
        self.expiries.append(at)
        return at

    def check_guard(self, guard: Any) -> None:
        """Note a guard the batch's writes depend on. It is verified once, when its lock is
        released in this batch or else at the batch's end: the batch is one transaction, so
        a guard found lost at the end still undoes every write it guarded."""
        if guard is None:
            return
        if not (isinstance(guard, list) and len(guard) == 2):
            raise ValueError("guard must be [lock_key, token]")
        held = (_text(guard[0], "guard lock key"), _text(guard[1], "guard token"))
        if held not in self._held:
            self._unverified.add(held)

    def confirm_guard(self, lock_key: str, token: str) -> None:
        """A statement of the lock's own saw it held: its guard is settled without a read."""
        self._unverified.discard((lock_key, token))
        self._held.add((lock_key, token))

    def verify_guard(self, lock_key: str, token: str) -> None:
        """Settle this lock's guard now, if a write of this batch waits on it."""
        if (lock_key, token) in self._unverified:
            self._verify(lock_key, token)

    def require_held(self, lock_key: str, token: str) -> None:
        """The lock must be held with this token now (LockLostError, undoing the batch)."""
        if (lock_key, token) not in self._held:
            self._verify(lock_key, token)

    def forget_guard(self, lock_key: str, token: str) -> None:
        self._held.discard((lock_key, token))

    def verify_guards(self) -> None:
        """At the batch's end: read each guard no statement has settled yet."""
        for lock_key, token in sorted(self._unverified):
            self._verify(lock_key, token)

    def _verify(self, lock_key: str, token: str) -> None:
        held = self.rows(
            "SELECT 1 FROM chat_state_locks WHERE thread_id = ? AND token = ? AND expires_at > ?",
            lock_key,
            token,
            self.now,
        )
        if not held:
            raise LockLostError(f"lock {lock_key!r} is no longer held with this token")
        self._unverified.discard((lock_key, token))
        self._held.add((lock_key, token))


# --- subscriptions ---------------------------------------------------------------------------


def _subscribe(b: _Batch, thread_id: Any) -> None:
    b.rows("INSERT OR IGNORE INTO chat_state_subscriptions (thread_id) VALUES (?)", _key(thread_id))


def _unsubscribe(b: _Batch, thread_id: Any) -> None:
    b.rows("DELETE FROM chat_state_subscriptions WHERE thread_id = ?", _key(thread_id))


def _is_subscribed(b: _Batch, thread_id: Any) -> bool:
    return bool(
        b.rows("SELECT 1 FROM chat_state_subscriptions WHERE thread_id = ?", _key(thread_id))
    )


# --- locks -----------------------------------------------------------------------------------


def _take_lock(
    b: _Batch, lock_key: str, ttl_ms: Any, returning: str = "", *params: SqlValue
) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """Take the lock if it is free or expired, bumping its fence, in one statement: the lock
    and the row of `returning`'s further columns; None when it is held."""
    # As the reference, the TTL applies literally: a lock taken with ttl <= 0 is born expired.
    expires_at = b.now + _int(ttl_ms, "ttl_ms")
    token = str(uuid.uuid4())
    rows = b.rows(
        f"""INSERT INTO chat_state_locks (thread_id, token, expires_at, fence) VALUES (?, ?, ?, 1)
            ON CONFLICT (thread_id) DO UPDATE
              SET token = excluded.token, expires_at = excluded.expires_at,
                  fence = chat_state_locks.fence + 1
              WHERE chat_state_locks.token IS NULL OR chat_state_locks.expires_at <= ?
            RETURNING fence{returning}""",
        lock_key,
        token,
        expires_at,
        b.now,
        *params,
    )
    if not rows:
        return None
    b.expires(expires_at)
    lock = {
        "thread_id": lock_key,
        "token": token,
        "expires_at": expires_at,
        "fence": _int(rows[0]["fence"], "fence"),
    }
    return lock, rows[0]


def _acquire_lock(b: _Batch, thread_id: Any, ttl_ms: Any) -> dict[str, Any] | None:
    taken = _take_lock(b, _key(thread_id), ttl_ms)
    return None if taken is None else taken[0]


def _release_lock(b: _Batch, thread_id: Any, token: Any) -> None:
    # Token-checked, as the reference: releasing a lock someone else took over is a no-op.
    lock_key, text = _key(thread_id), _text(token, "token")
    # Writes this batch made under the lock are checked while it is still held.
    b.verify_guard(lock_key, text)
    b.forget_guard(lock_key, text)
    b.rows(
        "UPDATE chat_state_locks SET token = NULL, expires_at = NULL "
        "WHERE thread_id = ? AND token = ?",
        lock_key,
        text,
    )


def _release_lock_if_idle(b: _Batch, thread_id: Any, token: Any) -> bool:
    """Release the held lock unless live entries wait in its queue: True when released.

    False means the lock is still held (work waits for its holder); a lock no longer held
    raises LockLostError, undoing the batch. One statement when the conversation goes idle."""
    lock_key, text = _key(thread_id), _text(token, "token")
    released = b.rows(
        """UPDATE chat_state_locks SET token = NULL, expires_at = NULL
           WHERE thread_id = ? AND token = ? AND expires_at > ? AND NOT EXISTS (
             SELECT 1 FROM chat_state_queue WHERE thread_id = ? AND expires_at > ?)
           RETURNING 1""",
        lock_key,
        text,
        b.now,
        lock_key,
        b.now,
    )
    if released:
        b.confirm_guard(lock_key, text)
        b.forget_guard(lock_key, text)
        return True
    b.require_held(lock_key, text)
    return False


def _begin_turn(
    b: _Batch, queue_key: Any, ttl_ms: Any, thread_id: Any, state_key: Any = None
) -> dict[str, Any] | None:
    """Take the conversation's lock and, if taken, what its handler starts from: the live
    queue entries, whether the thread is subscribed, and its state. One statement."""
    lock_key, thread = _key(queue_key), _key(thread_id)
    state = None if state_key is None else _key(state_key)
    taken = _take_lock(
        b,
        lock_key,
        ttl_ms,
        """,
          (SELECT json_group_array(json_array(seq, value)) FROM chat_state_queue
           WHERE thread_id = ? AND expires_at > ?) AS entries,
          EXISTS (SELECT 1 FROM chat_state_subscriptions WHERE thread_id = ?) AS subscribed,
          (SELECT value FROM chat_state_cache
           WHERE key = ? AND (expires_at IS NULL OR expires_at > ?)) AS state""",
        lock_key,
        b.now,
        thread,
        state,
        b.now,
    )
    if taken is None:
        return None
    lock, row = taken
    return {
        "lock": lock,
        "entries": sorted(json.loads(str(row["entries"]))),
        "subscribed": bool(row["subscribed"]),
        "state": None if row["state"] is None else str(row["state"]),
    }


def _extend_lock(b: _Batch, thread_id: Any, token: Any, ttl_ms: Any) -> bool:
    expires_at = b.now + _int(ttl_ms, "ttl_ms")
    # Never creates or resurrects: an expired lock (expires_at <= now) stays lost.
    rows = b.rows(
        "UPDATE chat_state_locks SET expires_at = ? "
        "WHERE thread_id = ? AND token = ? AND expires_at > ? RETURNING fence",
        expires_at,
        _key(thread_id),
        _text(token, "token"),
        b.now,
    )
    if rows:
        b.expires(expires_at)
    return bool(rows)


def _force_release_lock(b: _Batch, thread_id: Any) -> None:
    b.rows(
        "UPDATE chat_state_locks SET token = NULL, expires_at = NULL "
        "WHERE thread_id = ? AND token IS NOT NULL",
        _key(thread_id),
    )


# --- cache -----------------------------------------------------------------------------------


def _get(b: _Batch, key: Any) -> str | None:
    value = b.scalar(
        "SELECT value FROM chat_state_cache "
        "WHERE key = ? AND (expires_at IS NULL OR expires_at > ?)",
        _key(key),
        b.now,
    )
    return None if value is None else str(value)


def _set(b: _Batch, key: Any, value: Any, ttl_ms: Any = None, guard: Any = None) -> None:
    k = _key(key)
    text = _value(value, k)
    ttl = _optional_int(ttl_ms, "ttl_ms")
    b.check_guard(guard)
    # A set without a TTL removes a previous TTL, as the reference.
    b.rows(
        "INSERT INTO chat_state_cache (key, value, expires_at) VALUES (?, ?, ?) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at",
        k,
        text,
        b.ttl_expiry(ttl),
    )


def _merge(b: _Batch, key: Any, value: Any, ttl_ms: Any = None, guard: Any = None) -> None:
    """Shallow-merge a JSON object into the object at key, in the shard: one call where a
    read and a write would take two. An absent, expired or non-object value counts as {}."""
    k = _key(key)
    text = _value(value, k)
    patch = json.loads(text)
    if not isinstance(patch, dict):
        raise TypeError(f"merge into {k!r} takes a JSON object")
    ttl = _optional_int(ttl_ms, "ttl_ms")
    b.check_guard(guard)
    if not patch or any(not name or '"' in name or "\\" in name for name in patch):
        # Nothing to set, or keys a JSON path cannot quote: read, merge here, write.
        current = _get(b, k)
        base = json.loads(current) if current is not None else {}
        merged = {**(base if isinstance(base, dict) else {}), **patch}
        _set(b, k, json.dumps(merged, separators=(",", ":")), ttl, None)
        return
    # One statement: the patch as the row when there is none (or it expired, or is not an
    # object), else each of its keys set into the stored object, in place.
    paths = ", ".join("?, json(?)" for _ in patch)
    arguments: list[SqlValue] = []
    for name, item in patch.items():
        arguments += [f'$."{name}"', json.dumps(item, separators=(",", ":"))]
    b.rows(
        f"""INSERT INTO chat_state_cache (key, value, expires_at) VALUES (?, ?, ?)
            ON CONFLICT (key) DO UPDATE SET
              value = json_set(
                CASE WHEN (expires_at IS NULL OR expires_at > ?) AND json_valid(value)
                          AND json_type(value) = 'object' THEN value ELSE '{{}}' END,
                {paths}),
              expires_at = excluded.expires_at""",
        k,
        text,
        b.ttl_expiry(ttl),
        b.now,
        *arguments,
    )


def _set_if_not_exists(
    b: _Batch, key: Any, value: Any, ttl_ms: Any = None, guard: Any = None
) -> bool:
    k = _key(key)
    text = _value(value, k)
    ttl = _optional_int(ttl_ms, "ttl_ms")
    b.check_guard(guard)
    expires_at = None if ttl is None or ttl <= 0 else b.now + ttl
    # An expired row counts as absent and is replaced; a live one (even JSON null) wins.
    rows = b.rows(
        """INSERT INTO chat_state_cache (key, value, expires_at) VALUES (?, ?, ?)
           ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at
             WHERE chat_state_cache.expires_at IS NOT NULL AND chat_state_cache.expires_at <= ?
           RETURNING 1 AS inserted""",
        k,
        text,
        expires_at,
        b.now,
    )
    if rows and expires_at is not None:
        b.expires(expires_at)
    return bool(rows)


def _get_many(b: _Batch, keys: Any) -> list[str | None]:
    if not isinstance(keys, list):
        raise TypeError(f"keys must be a list, not {type(keys).__name__}")
    return [_get(b, k) for k in keys]


def _take(b: _Batch, key: Any) -> str | None:
    """Read and delete in one step: a single-use value (a live-socket ticket) is used once."""
    value = _get(b, key)
    b.rows("DELETE FROM chat_state_cache WHERE key = ?", _key(key))
    return value


def _delete_prefix(b: _Batch, prefix: Any) -> int:
    """Delete every key that starts with `prefix` (a namespaced store's clear)."""
    start = _key(prefix, "prefix")
    if not start:
        raise ValueError("prefix must not be empty")
    # A range on the primary key, not LIKE: no scan, and no wildcards to escape.
    end = start[:-1] + chr(ord(start[-1]) + 1)
    rows = b.rows("DELETE FROM chat_state_cache WHERE key >= ? AND key < ? RETURNING 1", start, end)
    return len(rows)


def _delete(b: _Batch, key: Any, guard: Any = None) -> None:
    k = _key(key)
    b.check_guard(guard)
    b.rows("DELETE FROM chat_state_cache WHERE key = ?", k)


# --- lists -----------------------------------------------------------------------------------


def _live_list(b: _Batch, key: str) -> tuple[int, int | None] | None:
    """(next_seq, expires_at) of a list that exists and has not expired."""
    rows = b.rows("SELECT next_seq, expires_at FROM chat_state_lists WHERE key = ?", key)
    if not rows:
        return None
    expires_at = _optional_int(rows[0]["expires_at"], "expires_at")
    if expires_at is not None and expires_at <= b.now:
        return None
    return _int(rows[0]["next_seq"], "next_seq"), expires_at


def _append_to_list(
    b: _Batch,
    key: Any,
    value: Any,
    max_length: Any = None,
    ttl_ms: Any = None,
    guard: Any = None,
) -> None:
    k = _key(key)
    text = _value(value, k)
    limit = _optional_int(max_length, "max_length")
    ttl = _optional_int(ttl_ms, "ttl_ms")
    b.check_guard(guard)
    new_expiry = b.ttl_expiry(ttl)
    # One upsert takes the next sequence number. An append with a TTL sets the list's expiry,
    # one without keeps it; a list that expired starts again at 1 with only the new expiry.
    # (In SET, column names are the row's values before the update.)
    [row] = b.rows(
        """INSERT INTO chat_state_lists (key, expires_at, next_seq) VALUES (?, ?, 2)
           ON CONFLICT (key) DO UPDATE SET
             next_seq = CASE WHEN expires_at <= ? THEN 2 ELSE next_seq + 1 END,
             expires_at = CASE WHEN expires_at <= ? THEN ? ELSE COALESCE(?, expires_at) END
           RETURNING next_seq""",
        k,
        new_expiry,
        b.now,
        b.now,
        new_expiry,
        new_expiry,
    )
    seq = _int(row["next_seq"], "next_seq") - 1
    if seq == 1:
        # A new list, or one that expired: its old items are never resurrected. The alarm
        # usually removed them already; this covers an append that beats the alarm.
        b.rows("DELETE FROM chat_state_list_items WHERE key = ?", k)
    b.rows("INSERT INTO chat_state_list_items (key, seq, value) VALUES (?, ?, ?)", k, seq, text)
    if limit is not None and 0 < limit < seq:
        # Items hold consecutive sequence numbers, so the overflow is exactly this range.
        b.rows("DELETE FROM chat_state_list_items WHERE key = ? AND seq <= ?", k, seq - limit)


def _get_list(b: _Batch, key: Any, newest: Any = None) -> list[str]:
    """The list's items, oldest first; with `newest`, only that many of the latest, read by
    the primary key from the end (a short read of a long list stays short)."""
    k = _key(key)
    limit = _optional_int(newest, "newest")
    if limit is not None and limit < 0:
        raise ValueError(f"newest must be at least 0, not {limit}")
    if _live_list(b, k) is None:
        return []
    if limit is None:
        rows = b.rows("SELECT value FROM chat_state_list_items WHERE key = ? ORDER BY seq", k)
    else:
        rows = b.rows(
            "SELECT value FROM chat_state_list_items WHERE key = ? ORDER BY seq DESC LIMIT ?",
            k,
            limit,
        )[::-1]
    return [str(row["value"]) for row in rows]


# --- queues ----------------------------------------------------------------------------------


def _enqueue(
    b: _Batch,
    thread_id: Any,
    entry: Any,
    expires_at: Any,
    max_size: Any,
    drop_newest: Any = False,
) -> int:
    queue_key, text, expiry, size = operands.enqueue(thread_id, entry, expires_at, max_size)
    # Sequence numbers never restart, even when the queue empties or entries expire, so an
    # acknowledgement of an old entry can never hit a newer one. An empty queue restarts from
    # the clock: later than any number it handed out before. Expired entries are not counted
    # (reads never see them) and are removed by the alarm, not here: one statement fewer.
    if expiry > b.now:
        # One statement: the entry takes the next number, unless drop_newest finds the queue
        # full; the depth is the live entries before it, plus itself.
        rows = b.rows(
            """INSERT INTO chat_state_queue (thread_id, seq, value, expires_at)
               SELECT ?, COALESCE(MAX(seq) + 1, ? * 1000), ?, ? FROM chat_state_queue
               WHERE thread_id = ? HAVING NOT ? OR COALESCE(SUM(expires_at > ?), 0) < ?
               RETURNING 1 + (
                 SELECT COUNT(*) FROM chat_state_queue AS ahead
                 WHERE ahead.thread_id = chat_state_queue.thread_id
                   AND ahead.expires_at > ? AND ahead.seq < chat_state_queue.seq) AS depth""",
            queue_key,
            b.now,
            text,
            b.expires(expiry),
            queue_key,
            bool(drop_newest),
            b.now,
            size,
            b.now,
        )
        depth = _int(rows[0]["depth"], "count") if rows else _queue_depth(b, queue_key)
    else:
        # An entry that is already stale could never be dequeued, so it is not stored.
        depth = _queue_depth(b, queue_key)
    if depth > size:
        # Drop-oldest beyond max_size, as the reference; the depth never exceeds max_size.
        b.rows(
            """DELETE FROM chat_state_queue WHERE thread_id = ? AND seq <= (
                 SELECT seq FROM chat_state_queue WHERE thread_id = ? AND expires_at > ?
                 ORDER BY seq DESC LIMIT 1 OFFSET ?)""",
            queue_key,
            queue_key,
            b.now,
            size,
        )
        depth = size
    # Every stored entry is live now that the expired ones are gone.
    return depth


def _mark_pending(b: _Batch, thread_id: Any) -> None:
    b.rows(
        "INSERT INTO chat_state_pending_work (queue_key) VALUES (?) ON CONFLICT DO NOTHING",
        _key(thread_id, "thread_id"),
    )


def _clear_pending_if_idle(b: _Batch, thread_id: Any) -> bool:
    """Forget the conversation's mark if no live entry is left in its queue; whether it did."""
    queue_key = _key(thread_id, "thread_id")
    return bool(
        b.rows(
            """DELETE FROM chat_state_pending_work WHERE queue_key = ? AND NOT EXISTS (
                 SELECT 1 FROM chat_state_queue WHERE thread_id = ? AND expires_at > ?)
               RETURNING 1""",
            queue_key,
            queue_key,
            b.now,
        )
    )


def _pending_work(b: _Batch) -> list[str]:
    rows = b.rows("SELECT queue_key FROM chat_state_pending_work ORDER BY queue_key")
    return [str(row["queue_key"]) for row in rows]


def _dequeue(b: _Batch, thread_id: Any) -> str | None:
    queue_key = _key(thread_id, "thread_id")
    # Expired entries are never returned; the alarm removes them physically.
    value = b.scalar(
        """DELETE FROM chat_state_queue WHERE thread_id = ? AND seq = (
             SELECT MIN(seq) FROM chat_state_queue WHERE thread_id = ? AND expires_at > ?)
           RETURNING value""",
        queue_key,
        queue_key,
        b.now,
    )
    return None if value is None else str(value)


def _peek_queue(b: _Batch, thread_id: Any) -> list[list[Any]]:
    """Every live entry as [seq, value], oldest first, without removing any.

    With ack_queue this gives at-least-once handling: an entry leaves the queue only once its
    handler has finished, so a crash during the handler leaves it there to be handled again.
    """
    rows = b.rows(
        "SELECT seq, value FROM chat_state_queue WHERE thread_id = ? AND expires_at > ? "
        "ORDER BY seq",
        _key(thread_id, "thread_id"),
        b.now,
    )
    return [[_int(row["seq"], "seq"), str(row["value"])] for row in rows]


def _ack_queue(b: _Batch, thread_id: Any, seqs: Any, guard: Any = None) -> None:
    queue_key = _key(thread_id, "thread_id")
    if not isinstance(seqs, list):
        raise TypeError("seqs must be a list of sequence numbers")
    b.check_guard(guard)
    for seq in seqs:
        b.rows(
            "DELETE FROM chat_state_queue WHERE thread_id = ? AND seq = ?",
            queue_key,
            _int(seq, "seq"),
        )


def _queue_depth(b: _Batch, thread_id: Any) -> int:
    return _int(
        b.scalar(
            "SELECT COUNT(*) FROM chat_state_queue WHERE thread_id = ? AND expires_at > ?",
            _key(thread_id, "thread_id"),
            b.now,
        ),
        "count",
    )


OPERATIONS: dict[str, Callable[..., Any]] = {
    "subscribe": _subscribe,
    "unsubscribe": _unsubscribe,
    "is_subscribed": _is_subscribed,
    "acquire_lock": _acquire_lock,
    "release_lock": _release_lock,
    "release_lock_if_idle": _release_lock_if_idle,
    "begin_turn": _begin_turn,
    "extend_lock": _extend_lock,
    "force_release_lock": _force_release_lock,
    "get": _get,
    "set": _set,
    "mark_pending": _mark_pending,
    "clear_pending_if_idle": _clear_pending_if_idle,
    "pending_work": _pending_work,
    "merge": _merge,
    "set_if_not_exists": _set_if_not_exists,
    "delete": _delete,
    "get_many": _get_many,
    "take": _take,
    "delete_prefix": _delete_prefix,
    "append_to_list": _append_to_list,
    "get_list": _get_list,
    "enqueue": _enqueue,
    "dequeue": _dequeue,
    "queue_depth": _queue_depth,
    "peek_queue": _peek_queue,
    "ack_queue": _ack_queue,
    **agent_tables.OPERATIONS,
    **console_tables.OPERATIONS,
    **scheduled_tables.OPERATIONS,
}


class ShardStore:
    """The state of one shard over the SQL port. Synchronous, like Durable Object SQL.

    It remembers the cleanup wake-up it planned last, so a batch whose expiries come later
    writes no plan of its own: one instance per shard sees every write (a Durable Object runs
    one, a local shard file has one), and a fresh instance starts by writing it once more.
    """

    def __init__(self, sql: SqlPort, clock: Clock) -> None:
        self.sql = sql
        self.clock = clock
        self._plan = cleanup.Plan()

    def run_batch(self, operations: list[list[Any]]) -> BatchOutcome:
        """Run every operation in one transaction; results in order. One failure applies none."""
        if not isinstance(operations, list) or not operations:
            raise ValueError("a batch is a non-empty list of operations")
        if len(operations) > MAX_OPERATIONS_PER_BATCH:
            raise ValueError(
                f"a batch holds at most {MAX_OPERATIONS_PER_BATCH} operations, "
                f"not {len(operations)}"
            )
        calls = [self._resolve(operation, index) for index, operation in enumerate(operations)]

        def run() -> tuple[BatchOutcome, cleanup.Plan]:
            batch = _Batch(self.sql, self.clock())
            results: list[Any] = []
            for condition, fn, args in calls:
                # ["when", i, op] runs op only if the result of operation i was truthy, so one
                # batch can say "claim the dedupe key, and only if it was new, enqueue".
                if condition is not None and not results[condition]:
                    results.append(None)
                else:
                    results.append(fn(batch, *args))
            batch.verify_guards()
            alarm_at, plan = cleanup.note_expiries(batch, batch.expiries, self._plan)
            return BatchOutcome(results, alarm_at, batch.broadcast), plan

        outcome, self._plan = self.sql.transaction(run)
        return outcome

    def run_cleanup(self) -> int | None:
        """The alarm's work: remove expired rows; return the next wake-up, if any."""
        at, self._plan = self.sql.transaction(lambda: cleanup.run(_Batch(self.sql, self.clock())))
        return at

    def earliest_expiry(self) -> int | None:
        """Re-plan the alarm from the rows themselves (on start, to repair a lost alarm)."""
        at, self._plan = self.sql.transaction(
            lambda: cleanup.replan(_Batch(self.sql, self.clock()), cleanup.Plan())
        )
        return at

    @staticmethod
    def _resolve(operation: Any, index: int) -> tuple[int | None, Callable[..., Any], list[Any]]:
        if not isinstance(operation, list) or not operation or not isinstance(operation[0], str):
            raise ValueError(f"an operation is [name, *args], not {operation!r}")
        condition = None
        if operation[0] == "when":
            if len(operation) != 3:
                raise ValueError("a conditional operation is ['when', index, operation]")
            condition = _int(operation[1], "condition index")
            if not 0 <= condition < index:
                raise ValueError(f"operation {index} can only depend on an earlier operation")
            operation = operation[2]
            if not isinstance(operation, list) or not operation or operation[0] == "when":
                raise ValueError(f"a conditional operation wraps one plain operation at {index}")
        name, *args = operation
        fn = OPERATIONS.get(name)
        if fn is None:
            raise ValueError(f"unknown operation {name!r}")
        return condition, fn, args
