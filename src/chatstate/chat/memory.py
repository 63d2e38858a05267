"""A thread's memory facts: `await thread.memory.add("likes tea")`, `await thread.memory.facts()`.

Kept in the thread's own shard, in the tables agents' conversations keep theirs in
(chatstate/state/agent_tables.py), so a responder reads them the same way for both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chatstate.state.adapter import StateAdapter
from chatstate.state.agent_tables import THREAD_SCOPE


@dataclass(frozen=True)
class MemoryFact:
    id: str
    conversation_id: str
    fact: str
    created_at: int

    @classmethod
    def from_json(cls, wire: dict[str, Any]) -> MemoryFact:
        return cls(
            str(wire["id"]),
            str(wire["conversation_id"]),
            str(wire["fact"]),
            int(wire["created_at"]),
        )


class ThreadMemory:
    """A chat-platform thread's memory facts, in the thread's shard (`thread.memory`)."""

    def __init__(self, state: StateAdapter, thread_id: str) -> None:
        self._state = state
        self._thread_id = thread_id

    async def _call(self, *operation: Any) -> Any:
        batch = self._state.batch()
        shard = self._state.router.for_thread(self._thread_id)
        result = batch.on_shard(shard, list(operation), lambda raw: raw)
        await batch.run()
        return result.value

    async def add(self, fact: str) -> MemoryFact:
        result = await self._call("agent_add_memory", THREAD_SCOPE, self._thread_id, fact)
        return MemoryFact.from_json(result["memory"])

    async def facts(self) -> list[MemoryFact]:
        result = await self._call("agent_list_memory", THREAD_SCOPE, self._thread_id)
        return [MemoryFact.from_json(m) for m in result["memory"]]
