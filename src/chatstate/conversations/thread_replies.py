"""`chat.respond(thread, message)` answered by a conversations responder (a chat-completions
server, Workers AI, or the bot's own): the thread's recent history and memory as its turn."""

from __future__ import annotations

from collections.abc import AsyncIterator

from chatstate.chat.events import Message
from chatstate.chat.runtime import ThreadResponder
from chatstate.chat.thread import Thread
from chatstate.conversations.agents import ChatMessage, Conversation
from chatstate.conversations.responder import AgentTurn, Responder, reply_chunks
from chatstate.state.adapter import StateAdapter
from chatstate.state.stores import NamespacedStore

HISTORY_MESSAGES = 20
INSTRUCTIONS = "You are a helpful assistant in a chat. Answer briefly."


def _as_chat_message(message: Message, thread_id: str) -> ChatMessage:
    role = "assistant" if message.author.is_bot else "user"
    return ChatMessage(message.id, thread_id, role, message.text, message.date_ms, None)


def thread_responder(responder: Responder, state: StateAdapter) -> ThreadResponder:
    async def respond(thread: Thread, message: Message) -> AsyncIterator[str]:
        recent = list(reversed(await thread.history(HISTORY_MESSAGES)))
        if not any(m.id == message.id for m in recent):
            recent.append(message)
        history = [_as_chat_message(m, thread.id) for m in recent if m.text]
        conversation = Conversation(
            thread.id, message.author.user_id, thread.id, "active", "", INSTRUCTIONS, 0, 0
        )
        turn = AgentTurn(
            agent="chat",
            conversation=conversation,
            message=_as_chat_message(message, thread.id),
            history=history,
            memory=await thread.memory.facts(),
            store=NamespacedStore(state, "responder", state.router.for_thread(thread.id)),
        )
        async for chunk in reply_chunks(responder, turn):
            yield chunk

    return respond
