"""Durable chat state for chat bots: the Chat SDK state contract over sharded SQLite."""

from typing import TYPE_CHECKING, Any

from chatstate.errors import LockLostError, ShardCallError, StateNotConnectedError
from chatstate.state.adapter import Lock, QueueEntry, StateAdapter, StateBatch

if TYPE_CHECKING:
    from chatstate.state.backends.sqlite_files import open_local_state

__all__ = [
    "Lock",
    "LockLostError",
    "QueueEntry",
    "ShardCallError",
    "StateAdapter",
    "StateBatch",
    "StateNotConnectedError",
    "open_local_state",
]


def __getattr__(name: str) -> Any:
    # Imported on first use: the Worker never opens local SQLite files, so it never pays
    # for (or depends on) the local runtime's modules.
    if name == "open_local_state":
        from chatstate.state.backends.sqlite_files import open_local_state

        return open_local_state
    raise AttributeError(f"module 'chatstate' has no attribute {name!r}")
