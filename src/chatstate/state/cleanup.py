"""Lazy physical cleanup: one alarm per shard, always for the earliest known expiry.

As the reference (section 4.9): reads enforce TTLs strictly whether or not cleanup has run;
the alarm only reclaims space. The planned wake-up is kept in the metadata row
`next_cleanup_at`, written in the same transaction as the rows that made it necessary, so the
alarm can be re-armed from storage after a crash. Alarms arrive at least once: an alarm that
fires early (superseded) re-arms and cleans nothing; a duplicate finds nothing left to do.

Deliberately unlike the reference, a shard cleans at most once a minute (CLEANUP_SPACING_MS):
a busy chat's dedupe keys expire one per message, and waking for each would cost an alarm
invocation per message. Expired rows wait a little longer; reads never see them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from chatstate.ports import SqlValue

NEXT_CLEANUP_AT = "next_cleanup_at"
CLEANUP_SPACING_MS = 60_000


@dataclass(frozen=True)
class Plan:
    """What a shard knows of its planned wake-up without reading it."""

    # A wake-up at or before this is stored; None when not known.
    planned: int | None = None
    # No wake-up is planned before this: the last cleanup's time plus the spacing.
    not_before: int | None = None


class _Transaction(Protocol):
    now: int

    def rows(self, statement: str, *params: SqlValue) -> list[Any]: ...

    def scalar(self, statement: str, *params: SqlValue) -> Any: ...


def _planned(tx: _Transaction) -> int | None:
    value = tx.scalar("SELECT value FROM chat_state_metadata WHERE key = ?", NEXT_CLEANUP_AT)
    return None if value is None else int(value)


def _plan(tx: _Transaction, at: int | None) -> None:
    if at is None:
        tx.rows("DELETE FROM chat_state_metadata WHERE key = ?", NEXT_CLEANUP_AT)
    else:
        tx.rows(
            "INSERT INTO chat_state_metadata (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            NEXT_CLEANUP_AT,
            str(at),
        )


def note_expiries(tx: _Transaction, expiries: list[int], plan: Plan) -> tuple[int | None, Plan]:
    """After writes with expiries: the earlier wake-up to arm (None if one is pending), and
    the plan now known. No statement when the known plan is already early enough."""
    if not expiries:
        return None, plan
    earliest = max(min(expiries), plan.not_before or 0)
    if plan.planned is not None and plan.planned <= earliest:
        return None, plan
    # One statement: plan `earliest` unless an earlier (or the same) wake-up is planned.
    changed = tx.rows(
        "INSERT INTO chat_state_metadata (key, value) VALUES (?, ?) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value "
        "WHERE CAST(chat_state_metadata.value AS INTEGER) > CAST(excluded.value AS INTEGER) "
        "RETURNING 1",
        NEXT_CLEANUP_AT,
        str(earliest),
    )
    # Either way a wake-up at or before `earliest` is now stored.
    return (earliest if changed else None), Plan(earliest, plan.not_before)


def run(tx: _Transaction) -> tuple[int | None, Plan]:
    """The alarm handler's transaction. Returns the next wake-up (None for no alarm) and the
    plan now known."""
    planned = _planned(tx)
    if planned is not None and planned > tx.now:
        # Stale: a later plan superseded the one this alarm was set for.
        return planned, Plan(planned)
    now = tx.now
    tx.rows("DELETE FROM chat_state_cache WHERE expires_at IS NOT NULL AND expires_at <= ?", now)
    # Lock rows stay for their fencing numbers; only the expired hold is cleared.
    tx.rows(
        "UPDATE chat_state_locks SET token = NULL, expires_at = NULL WHERE expires_at <= ?", now
    )
    tx.rows("DELETE FROM chat_state_queue WHERE expires_at <= ?", now)
    tx.rows(
        """DELETE FROM chat_state_list_items WHERE key IN (
             SELECT key FROM chat_state_lists WHERE expires_at IS NOT NULL AND expires_at <= ?)""",
        now,
    )
    tx.rows("DELETE FROM chat_state_lists WHERE expires_at IS NOT NULL AND expires_at <= ?", now)
    return replan(tx, Plan(not_before=now + CLEANUP_SPACING_MS))


def replan(tx: _Transaction, plan: Plan) -> tuple[int | None, Plan]:
    """Plan the wake-up from the rows: the earliest expiry of anything (not before the plan's
    floor), or none."""
    earliest = tx.scalar(
        """SELECT MIN(expires_at) FROM (
             SELECT MIN(expires_at) AS expires_at FROM chat_state_locks
             UNION ALL SELECT MIN(expires_at) FROM chat_state_cache
             UNION ALL SELECT MIN(expires_at) FROM chat_state_queue
             UNION ALL SELECT MIN(expires_at) FROM chat_state_lists)"""
    )
    at = None if earliest is None else max(int(earliest), plan.not_before or 0)
    if at != _planned(tx):
        _plan(tx, at)
    return at, Plan(at, plan.not_before)
