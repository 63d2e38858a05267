"""A conversation's flow state (current step, slots, history), over pluggable storage.

Shaped like flowkit's storage API: `ConversationStates(storage)` loads, saves and deletes a
`ConversationState`, and reads or sets its slots. A storage is anything with three async
methods, load / save / delete of one JSON document per conversation, so a custom one is a few
lines (README: "Conversation state"). Here: in memory, JSON files, SQLite, the project's shards
(Durable Objects on Cloudflare) and, in chatstate.conversations.redis_state, Redis.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from chatstate.ports import Clock
from chatstate.state.adapter import StateAdapter
from chatstate.state.json_values import JsonValue

if TYPE_CHECKING:
    import sqlite3

FLOW_STORE = "flow-state"
_TABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass
class ConversationState:
    conversation_id: str
    current_step: str | None = None
    slots: dict[str, JsonValue] = field(default_factory=dict)
    history: list[JsonValue] = field(default_factory=list)
    ended: bool = False
    created_at: int = 0
    updated_at: int = 0

    def get_slots(self) -> dict[str, JsonValue]:
        return dict(self.slots)

    def get_slot(self, name: str, default: JsonValue = None) -> JsonValue:
        return self.slots.get(name, default)

    def set_slot(self, name: str, value: JsonValue) -> None:
        self.slots[name] = value

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str | bytes) -> ConversationState:
        wire = json.loads(text)
        return cls(
            conversation_id=str(wire["conversation_id"]),
            current_step=wire.get("current_step"),
            slots=dict(wire.get("slots") or {}),
            history=list(wire.get("history") or []),
            ended=bool(wire.get("ended", False)),
            created_at=int(wire.get("created_at", 0)),
            updated_at=int(wire.get("updated_at", 0)),
        )


class ConversationStorage(Protocol):
    """Where flow states live: one JSON document per conversation id."""

    async def load(self, conversation_id: str) -> str | None: ...

    async def save(self, conversation_id: str, document: str) -> None: ...

    async def delete(self, conversation_id: str) -> None: ...


class ConversationStates:
    """load / save / delete and the slot helpers, over any ConversationStorage."""

    def __init__(self, storage: ConversationStorage, *, clock: Clock = _now_ms) -> None:
        self.storage = storage
        self._clock = clock

    async def load(self, conversation_id: str) -> ConversationState | None:
        document = await self.storage.load(_checked(conversation_id))
        return None if document is None else ConversationState.from_json(document)

    async def load_or_new(self, conversation_id: str) -> ConversationState:
        state = await self.load(conversation_id)
        if state is None:
            now = self._clock()
            state = ConversationState(conversation_id, created_at=now, updated_at=now)
        return state

    async def save(self, state: ConversationState) -> None:
        """Store the state, stamping updated_at (and created_at, on its first save)."""
        now = self._clock()
        state.created_at = state.created_at or now
        state.updated_at = now
        await self.storage.save(_checked(state.conversation_id), state.to_json())

    async def delete(self, conversation_id: str) -> None:
        await self.storage.delete(_checked(conversation_id))

    async def get_slots(self, conversation_id: str) -> dict[str, JsonValue]:
        state = await self.load(conversation_id)
        return {} if state is None else state.get_slots()

    async def get_slot(
        self, conversation_id: str, name: str, default: JsonValue = None
    ) -> JsonValue:
        state = await self.load(conversation_id)
        return default if state is None else state.get_slot(name, default)

    async def set_slot(self, conversation_id: str, name: str, value: JsonValue) -> None:
        """Load, set, save: the last writer wins, as in flowkit."""
        state = await self.load_or_new(conversation_id)
        state.set_slot(name, value)
        await self.save(state)


def _checked(conversation_id: str) -> str:
    if not isinstance(conversation_id, str) or not conversation_id:
        raise ValueError("a conversation id is a non-empty string")
    return conversation_id


class MemoryStorage:
    """In this process only: for tests and throwaway bots."""

    def __init__(self) -> None:
        self._documents: dict[str, str] = {}

    async def load(self, conversation_id: str) -> str | None:
        return self._documents.get(conversation_id)

    async def save(self, conversation_id: str, document: str) -> None:
        self._documents[conversation_id] = document

    async def delete(self, conversation_id: str) -> None:
        self._documents.pop(conversation_id, None)


class JsonFileStorage:
    """One file per conversation under `directory`, replaced atomically on every save: a
    crash leaves the old document or the new one, never half of either."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)

    def path_of(self, conversation_id: str) -> Path:
        # Ids hold ':' and '/' (telegram:-100:7); a digest makes any id a safe file name.
        digest = hashlib.sha256(conversation_id.encode()).hexdigest()[:32]
        return self.directory / f"{digest}.json"

    async def load(self, conversation_id: str) -> str | None:
        return await asyncio.to_thread(self._read, self.path_of(conversation_id))

    async def save(self, conversation_id: str, document: str) -> None:
        await asyncio.to_thread(self._write, self.path_of(conversation_id), document)

    async def delete(self, conversation_id: str) -> None:
        await asyncio.to_thread(self.path_of(conversation_id).unlink, True)

    @staticmethod
    def _read(path: Path) -> str | None:
        try:
            return path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None

    def _write(self, path: Path, document: str) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{os.getpid()}.tmp")
        with partial.open("w", encoding="utf-8") as file:
            file.write(document)
            file.flush()
            os.fsync(file.fileno())
        os.replace(partial, path)


class SqliteStorage:
    """A table (named by `table`) in one SQLite file."""

    def __init__(self, path: str | Path, *, table: str = "conversation_states") -> None:
        if not _TABLE_NAME.match(table):
            raise ValueError(f"table must be a plain SQL name (letters, digits, _), not {table!r}")
        self.table = table
        # Imported here: Pyodide ships sqlite3 apart, and a Worker using ShardStorage from this
        # module must not need it.
        import sqlite3

        self._connection: sqlite3.Connection = sqlite3.connect(
            path, check_same_thread=False, isolation_level=None
        )
        self._connection.execute("PRAGMA journal_mode=WAL")
        self._connection.execute(
            f"CREATE TABLE IF NOT EXISTS {table} "
            "(conversation_id TEXT PRIMARY KEY, document TEXT NOT NULL) WITHOUT ROWID"
        )
        self._lock = asyncio.Lock()

    async def _run(self, statement: str, *params: Any) -> list[Any]:
        async with self._lock:  # one statement at a time on the shared connection
            return await asyncio.to_thread(
                lambda: self._connection.execute(statement, params).fetchall()
            )

    async def load(self, conversation_id: str) -> str | None:
        rows = await self._run(
            f"SELECT document FROM {self.table} WHERE conversation_id = ?", conversation_id
        )
        return str(rows[0][0]) if rows else None

    async def save(self, conversation_id: str, document: str) -> None:
        await self._run(
            f"INSERT INTO {self.table} (conversation_id, document) VALUES (?, ?) "
            "ON CONFLICT (conversation_id) DO UPDATE SET document = excluded.document",
            conversation_id,
            document,
        )

    async def delete(self, conversation_id: str) -> None:
        await self._run(f"DELETE FROM {self.table} WHERE conversation_id = ?", conversation_id)

    def close(self) -> None:
        self._connection.close()


class ShardStorage:
    """In the project's shards, beside the conversation's chat state: a Durable Object on
    Cloudflare, a local SQLite file otherwise. A thread's flow state lives in its shard."""

    def __init__(self, state: StateAdapter, *, ttl_ms: int | None = None) -> None:
        self._state = state
        self._ttl_ms = ttl_ms

    def _store(self, conversation_id: str) -> Any:
        return self._state.store(FLOW_STORE, shard=self._state.router.for_thread(conversation_id))

    async def load(self, conversation_id: str) -> str | None:
        document = await self._store(conversation_id).get(conversation_id)
        return None if document is None else str(document)

    async def save(self, conversation_id: str, document: str) -> None:
        await self._store(conversation_id).set(conversation_id, document, self._ttl_ms)

    async def delete(self, conversation_id: str) -> None:
        await self._store(conversation_id).remove(conversation_id)
