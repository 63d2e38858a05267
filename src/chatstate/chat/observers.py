"""What features above the chat runtime (the web console) learn of its work.

The runtime knows observers only through this protocol; the runtimes' composition decides
which ones a bot has. An observer must not slow or stop the bot: the runtime runs its
notes in the background and logs what they raise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from chatstate.chat.events import Event
from chatstate.state.adapter import StateBatch


@dataclass(frozen=True)
class HandlerFailure:
    """A handler that raised, with the thread and event it ran for."""

    thread_id: str
    event_id: str
    error: str
    at: int

    def to_json(self) -> dict[str, Any]:
        return {"event_id": self.event_id, "error": self.error, "at": self.at}


class ChatObserver(Protocol):
    async def event_accepted(self, event: Event, queue_key: str) -> None:
        """An event was recorded durably in its conversation's queue (in the background)."""

    def round_finishing(self, batch: StateBatch, failures: list[HandlerFailure]) -> None:
        """Add writes to a handler round's finishing batch: one shard call with its
        acknowledgement. `failures` holds the round's last failure per thread."""

    async def handler_failed(self, platform: str, failure: HandlerFailure) -> None:
        """A handler raised (in the background, after its round finished)."""
