"""A thread's history as readers see it: each message at its latest version, deleted ones gone.

History is an append-only list (one expiry per list, a constant number of rows per append), so
an edit, a reaction or a deletion of a sent message is appended as a new version of it."""

from __future__ import annotations

from typing import Any


def latest_versions(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Stored messages (oldest first) collapsed by id: the last version of each, in the order
    of its first appearance; a version marked deleted removes the message."""
    order: list[str] = []
    latest: dict[str, dict[str, Any]] = {}
    for item in items:
        key = str(item.get("id"))
        if key not in latest:
            order.append(key)
        latest[key] = item
    return [latest[key] for key in order if not latest[key].get("deleted")]
