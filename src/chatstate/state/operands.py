"""Checks on the operands of a state operation, shared by every backend.

Operations arrive as plain values (they may have crossed RPC), so each operand is checked
before anything is written; an error names the operand and the rule.
"""

from __future__ import annotations

from typing import Any

MAX_KEY_BYTES = 1024
# Durable Object SQLite refuses rows over 2 MB; a value is refused well before that, on every
# backend, so a bot that runs on one backend runs on the others.
MAX_VALUE_BYTES = 1024 * 1024


def text(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a string, not {type(value).__name__}")
    return value


def key(value: Any, what: str = "key") -> str:
    checked = text(value, what)
    if len(checked.encode()) > MAX_KEY_BYTES:
        raise ValueError(f"{what} is {len(checked.encode())} bytes; the limit is {MAX_KEY_BYTES}")
    return checked


def value(raw: Any, key: str) -> str:
    checked = text(raw, f"value for {key!r}")
    size = len(checked.encode())
    if size > MAX_VALUE_BYTES:
        raise ValueError(
            f"value for {key!r} is {size} bytes of JSON; the limit is {MAX_VALUE_BYTES}"
        )
    return checked


def integer(value: Any, what: str) -> int:
    # Integers read back from Durable Object SQL arrive as floats; a bool is not a number here.
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
        raise TypeError(f"{what} must be an integer, not {value!r}")
    return int(value)


def optional_integer(value: Any, what: str) -> int | None:
    return None if value is None else integer(value, what)


def enqueue(
    thread_id: Any, entry: Any, expires_at: Any, max_size: Any
) -> tuple[str, str, int, int]:
    """(queue key, entry JSON, expiry, max size) of an enqueue, each checked."""
    queue_key = key(thread_id, "thread_id")
    encoded = value(entry, queue_key)
    expiry = integer(expires_at, "expires_at")
    size = integer(max_size, "max_size")
    if size < 1:
        raise ValueError(f"max_size must be at least 1, not {size}")
    return queue_key, encoded, expiry, size
