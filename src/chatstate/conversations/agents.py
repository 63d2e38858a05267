"""Agents, their conversations, messages and memory: calls on the agent's own shard.

An agent, named by its client, is one shard (`agent:<name>`: a Durable Object of its own on
Cloudflare), so everything about it changes in one transaction and its event log has one order.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, TypeVar

from chatstate.chat.memory import MemoryFact
from chatstate.state.adapter import StateAdapter
from chatstate.state.json_values import JsonValue
from chatstate.state.stores import NamespacedStore

AGENT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
AGENT_STORE = "agent"


class UnknownAgentError(LookupError):
    pass


class NotFoundError(LookupError):
    """An unknown conversation (or other record) of a known agent."""


class ConflictError(RuntimeError):
    """The change is not allowed in the record's present state (an archived conversation)."""


class RequestInProgressError(RuntimeError):
    """A request with the same idempotency key is still running."""


class KeyReusedError(ValueError):
    """An idempotency key sent again with a different body."""


def agent_shard(agent: str) -> str:
    return f"agent:{agent}"


def check_agent_name(agent: str) -> str:
    if not isinstance(agent, str) or not AGENT_NAME.match(agent):
        raise ValueError(
            "an agent name is 1-64 letters, digits, '_', '.' or '-', starting with a letter "
            "or digit"
        )
    return agent


@dataclass(frozen=True)
class ChatMessage:
    id: str
    conversation_id: str
    role: str
    content: str
    timestamp: int
    metadata: JsonValue


@dataclass(frozen=True)
class Conversation:
    id: str
    user_id: str
    title: str
    status: str
    personality: str
    instructions: str
    created_at: int
    updated_at: int


Record = TypeVar("Record", ChatMessage, MemoryFact, Conversation)


def from_wire(kind: type[Record], wire: Mapping[str, Any]) -> Record:
    """A record from the JSON object the shard stored for it."""
    values: dict[str, Any] = {f.name: wire.get(f.name) for f in fields(kind)}
    return kind(**values)


@dataclass(frozen=True)
class ChatStart:
    """What `begin_chat` hands the responder, or the stored response of a replayed request."""

    conversation: Conversation
    message: ChatMessage
    history: list[ChatMessage]
    memory: list[MemoryFact]


def _outcome(result: Any) -> Any:
    """Raise the error an operation reported as a value; otherwise return the result."""
    if isinstance(result, dict):
        if "missing" in result:
            raise NotFoundError(result["missing"])
        if "conflict" in result:
            raise ConflictError(result["conflict"])
        if "in_progress" in result:
            raise RequestInProgressError(result["in_progress"])
        if "key_reused" in result:
            raise KeyReusedError(result["key_reused"])
    return result


class Agents:
    """Every agent's records, through the state adapter."""

    def __init__(self, state: StateAdapter) -> None:
        self.state = state

    async def _call(self, agent: str, *operation: Any, must_exist: bool = True) -> Any:
        check_agent_name(agent)
        batch = self.state.batch()
        shard = agent_shard(agent)
        status = batch.on_shard(shard, ["agent_status", agent], lambda raw: raw)
        result = batch.on_shard(shard, list(operation), lambda raw: raw)
        await batch.run()
        if must_exist and status.value is None:
            raise UnknownAgentError(
                f"no agent named {agent!r}: creating a conversation creates its agent"
            )
        return _outcome(result.value)

    def store(self, agent: str) -> NamespacedStore:
        """The agent's own key-value store, in its shard (responders cache calls there)."""
        return self.state.store(AGENT_STORE, shard=agent_shard(check_agent_name(agent)))

    async def create_conversation(self, agent: str, fields: Mapping[str, str]) -> dict[str, Any]:
        result = await self._call(
            agent, "agent_create_conversation", agent, json.dumps(dict(fields)), must_exist=False
        )
        return dict(result["conversation"])

    async def update_conversation(
        self, agent: str, conversation_id: str, changes: Mapping[str, str]
    ) -> dict[str, Any]:
        result = await self._call(
            agent, "agent_update_conversation", agent, conversation_id, json.dumps(dict(changes))
        )
        return dict(result["conversation"])

    async def list_conversations(
        self, agent: str, *, status: str | None, before: int | None, limit: int
    ) -> tuple[list[dict[str, Any]], int | None]:
        result = await self._call(agent, "agent_list_conversations", agent, status, before, limit)
        return list(result["conversations"]), result["next"]

    async def get_conversation(
        self, agent: str, conversation_id: str, recent: int
    ) -> dict[str, Any]:
        return dict(
            await self._call(agent, "agent_get_conversation", agent, conversation_id, recent)
        )

    async def begin_chat(
        self,
        agent: str,
        conversation_id: str,
        *,
        content: str,
        metadata: JsonValue,
        request: tuple[str, str] | None,
        history: int,
        lease_ms: int,
    ) -> ChatStart | dict[str, Any]:
        """Store the user's message and mark the agent thinking: the responder's input. A
        request key seen before gives its stored response (a dict) instead."""
        result = await self._call(
            agent,
            "agent_begin_chat",
            agent,
            conversation_id,
            None if request is None else list(request),
            content,
            metadata,
            history,
            lease_ms,
        )
        if "replay" in result:
            return dict(result["replay"])
        return ChatStart(
            from_wire(Conversation, result["conversation"]),
            from_wire(ChatMessage, result["message"]),
            [from_wire(ChatMessage, m) for m in result["history"]],
            [from_wire(MemoryFact, m) for m in result["memory"]],
        )

    async def finish_chat(
        self,
        agent: str,
        start: ChatStart,
        reply: str,
        *,
        request: tuple[str, str] | None,
        metadata: JsonValue,
    ) -> dict[str, Any]:
        message = {**start.message.__dict__}
        result = await self._call(
            agent,
            "agent_finish_chat",
            agent,
            start.conversation.id,
            None if request is None else list(request),
            message,
            reply,
            metadata,
        )
        return dict(result.get("replay", result))

    async def abandon_chat(self, agent: str, request: tuple[str, str] | None) -> None:
        await self._call(
            agent, "agent_abandon_chat", agent, None if request is None else list(request)
        )

    async def add_memory(self, agent: str, conversation_id: str, fact: str) -> dict[str, Any]:
        result = await self._call(agent, "agent_add_memory", agent, conversation_id, fact)
        return dict(result["memory"])

    async def list_memory(self, agent: str, conversation_id: str) -> list[dict[str, Any]]:
        result = await self._call(agent, "agent_list_memory", agent, conversation_id)
        return list(result["memory"])

    async def status(self, agent: str) -> dict[str, Any]:
        return dict(await self._call(agent, "agent_status", agent))

    async def events_after(self, agent: str, after: int, limit: int) -> list[dict[str, Any]]:
        return list(await self._call(agent, "agent_events_after", agent, after, limit))

    async def publish_chunk(self, agent: str, chunk: Mapping[str, JsonValue]) -> None:
        await self._call(
            agent, "agent_live_chunk", agent, json.dumps(dict(chunk)), must_exist=False
        )
