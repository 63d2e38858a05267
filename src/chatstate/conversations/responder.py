"""The agent's responder: what answers a user's message in a conversation.

A bot registers one with `@chat.on_agent_message`; it receives an `AgentTurn` and returns the
reply's text, or yields it in chunks (streamed to live sockets as they come). With none
registered, `default_responder` answers deterministically, so the whole flow works offline.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from chatstate.chat.memory import MemoryFact
from chatstate.conversations.agents import ChatMessage, Conversation
from chatstate.state.stores import NamespacedStore


@dataclass(frozen=True)
class AgentTurn:
    agent: str
    conversation: Conversation
    # The user's new message.
    message: ChatMessage
    # Recent messages, oldest first, ending with `message`.
    history: list[ChatMessage]
    memory: list[MemoryFact]
    # The agent's store: `await turn.store.cached(key, call, ttl_ms)` makes a call replayable.
    store: NamespacedStore


Responder = Callable[[AgentTurn], "Awaitable[str] | AsyncIterator[str]"]


async def default_responder(turn: AgentTurn) -> str:
    """Echo the message, and the latest remembered fact when there is one."""
    reply = f"You said: {turn.message.content}"
    if turn.memory:
        reply += f" (I remember: {turn.memory[-1].fact})"
    return reply


async def reply_chunks(responder: Responder, turn: AgentTurn) -> AsyncIterator[str]:
    """The reply as chunks, whether the responder returns text or yields it."""
    produced = responder(turn)
    if inspect.isasyncgen(produced) or isinstance(produced, AsyncIterator):
        async for chunk in produced:
            if not isinstance(chunk, str):
                raise TypeError(f"a responder yields str chunks, not {type(chunk).__name__}")
            if chunk:
                yield chunk
        return
    text = await produced
    if not isinstance(text, str):
        raise TypeError(f"a responder returns str, not {type(text).__name__}")
    yield text
