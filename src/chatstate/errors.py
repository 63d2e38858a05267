"""Errors a state adapter user can meet, and how they cross the shard call boundary."""

from __future__ import annotations

from typing import Any


class StateNotConnectedError(RuntimeError):
    """The state adapter was used before connect() or after disconnect()."""


class LockLostError(RuntimeError):
    """A write guarded by a lock was refused: the lock is no longer held with that token."""


class ShardCallError(RuntimeError):
    """A shard refused or failed a call for a reason that is not the caller's input."""


# Exceptions lose their type when they cross Durable Object RPC (they arrive as a JsException
# with a traceback string), so a shard reports the errors a caller must tell apart as values.
_WIRE_TYPES: dict[str, type[Exception]] = {
    "LockLostError": LockLostError,
    "ValueError": ValueError,
    "TypeError": TypeError,
}


def error_to_wire(error: Exception) -> dict[str, Any]:
    name = type(error).__name__ if type(error) in _WIRE_TYPES.values() else "ShardCallError"
    return {"type": name, "message": str(error)}


def error_from_wire(wire: dict[str, Any]) -> Exception:
    return _WIRE_TYPES.get(str(wire.get("type")), ShardCallError)(str(wire.get("message", "")))
