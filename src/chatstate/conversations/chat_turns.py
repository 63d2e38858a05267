"""One chat turn: store the user's message, run the responder, store its reply.

The message and the reply are each stored in one transaction with their events; chunks of the
reply reach the live sockets while the responder runs. With an idempotency key, a retried turn
adds nothing twice: it gets the stored response, or resumes a turn whose responder died.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from chatstate.conversations.agents import Agents, ChatStart
from chatstate.conversations.responder import AgentTurn, Responder, reply_chunks
from chatstate.state.agent_tables import MAX_REPLY_BYTES
from chatstate.state.json_values import JsonValue

# A turn holds its idempotency key this long; a retry after that resumes it.
CHAT_LEASE_MS = 120_000
HISTORY_MESSAGES = 20


class ResponderFailedError(RuntimeError):
    """The responder raised; the user's message is stored, the reply is not."""


class _ChunkSender:
    """Sends reply chunks in order, coalescing those that arrive while one is being sent, so a
    fast stream costs a few shard calls, not one per token."""

    def __init__(self, agents: Agents, agent: str, start: ChatStart) -> None:
        self._agents = agents
        self._agent = agent
        self._start = start
        self._waiting: list[str] = []
        self._sending: asyncio.Task[None] | None = None

    def push(self, text: str) -> None:
        self._waiting.append(text)
        if self._sending is None:
            self._sending = asyncio.ensure_future(self._drain())

    async def _drain(self) -> None:
        try:
            while self._waiting:
                text, self._waiting = "".join(self._waiting), []
                await self._agents.publish_chunk(
                    self._agent,
                    {
                        "type": "reply.chunk",
                        "conversation_id": self._start.conversation.id,
                        "message_id": self._start.message.id,
                        "text": text,
                    },
                )
        finally:
            self._sending = None

    async def flush(self) -> None:
        if self._sending is not None:
            await self._sending


class ChatTurns:
    def __init__(self, agents: Agents, responder: Callable[[], Responder]) -> None:
        self._agents = agents
        # Looked up per turn: the bot may register its responder after this is built.
        self._responder = responder

    async def chat(
        self,
        agent: str,
        conversation_id: str,
        content: str,
        *,
        metadata: JsonValue = None,
        request: tuple[str, str] | None = None,
    ) -> dict[str, Any]:
        """`{"message": user message, "reply": assistant message}`, as JSON values."""
        start = await self._agents.begin_chat(
            agent,
            conversation_id,
            content=content,
            metadata=metadata,
            request=request,
            history=HISTORY_MESSAGES,
            lease_ms=CHAT_LEASE_MS,
        )
        if not isinstance(start, ChatStart):
            return start
        turn = AgentTurn(
            agent,
            start.conversation,
            start.message,
            start.history,
            start.memory,
            self._agents.store(agent),
        )
        sender = _ChunkSender(self._agents, agent, start)
        parts: list[str] = []
        size = 0
        try:
            async for chunk in reply_chunks(self._responder(), turn):
                size += len(chunk.encode())
                if size > MAX_REPLY_BYTES:
                    raise ValueError(f"the reply is over {MAX_REPLY_BYTES} bytes")
                parts.append(chunk)
                sender.push(chunk)
            await sender.flush()
        except Exception as error:
            # The user's message stays stored and the request key released: a retry with the
            # same Idempotency-Key resumes from that message instead of storing it again.
            await self._agents.abandon_chat(agent, request)
            raise ResponderFailedError(f"the responder failed: {error}") from error
        # The reply fits the store's limit for replies (checked above), so this stores it.
        return await self._agents.finish_chat(
            agent, start, "".join(parts), request=request, metadata=None
        )
