"""A responder backed by an OpenAI-compatible chat-completions server, streamed.

Workers AI's OpenAI endpoint, Ollama, vLLM and OpenAI itself speak this API: POST
`{base_url}/chat/completions` with `stream: true` answers server-sent events, each
`data: {"choices": [{"delta": {"content": "..."}}]}`, ending with `data: [DONE]`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from typing import Any

from chatstate.conversations.responder import AgentTurn, Responder
from chatstate.http.client import HttpStreamer

ROLE_OF = {"user": "user", "assistant": "assistant", "system": "system"}


def completion_messages(turn: AgentTurn) -> list[dict[str, str]]:
    """The conversation as chat-completions messages: instructions, memory, then history."""
    system = [turn.conversation.instructions, turn.conversation.personality]
    if turn.memory:
        system.append("Facts to remember:\n" + "\n".join(f"- {m.fact}" for m in turn.memory))
    prompt = "\n\n".join(part for part in system if part)
    messages = [{"role": "system", "content": prompt}] if prompt else []
    messages += [{"role": ROLE_OF[m.role], "content": m.content} for m in turn.history]
    return messages


async def server_sent_data(pieces: AsyncIterator[bytes]) -> AsyncIterator[str]:
    """The `data:` payloads of an event stream, whatever the pieces' boundaries."""
    buffer = b""
    async for piece in pieces:
        buffer += piece
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            text = line.decode("utf-8").rstrip("\r")
            if text.startswith("data:"):
                yield text[5:].strip()


def chat_completions_responder(
    http: HttpStreamer,
    *,
    base_url: str,
    model: str,
    api_key: str | None,
    cache_ttl_ms: int | None = None,
) -> Responder:
    """A responder that streams each reply from `{base_url}/chat/completions`.

    With `cache_ttl_ms`, identical requests (same model and messages) are answered from the
    agent's store for that long, computed once even when they race; a cached reply arrives
    whole rather than streamed.
    """
    url = base_url.rstrip("/") + "/chat/completions"
    headers = {"content-type": "application/json", "accept": "text/event-stream"}
    if api_key:
        headers["authorization"] = f"Bearer {api_key}"

    async def stream(body: bytes) -> AsyncIterator[str]:
        async for data in server_sent_data(http.stream_post(url, body, headers)):
            if data == "[DONE]":
                return
            event: Any = json.loads(data)
            for choice in event.get("choices") or []:
                content = (choice.get("delta") or {}).get("content")
                if content:
                    yield str(content)

    async def respond(turn: AgentTurn) -> AsyncIterator[str]:
        request = {"model": model, "stream": True, "messages": completion_messages(turn)}
        body = json.dumps(request, sort_keys=True).encode()
        if cache_ttl_ms is None:
            async for chunk in stream(body):
                yield chunk
            return

        async def complete() -> str:
            return "".join([chunk async for chunk in stream(body)])

        key = "chat-completions:" + hashlib.sha256(body).hexdigest()
        yield str(await turn.store.cached(key, complete, cache_ttl_ms))

    return respond
