"""A responder on Workers AI, through the Worker's `ai` binding (`env.AI`).

`env.AI.run(model, {messages, stream: true})` answers a stream of server-sent events, each
`data: {"response": "..."}`, ending with `data: [DONE]`: the same chunks a chat-completions
server streams, from Cloudflare's own models, with no key to keep."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import js
from pyodide.ffi import to_js

from chatstate.cloudflare.conversions import stream_pieces
from chatstate.conversations.chat_completions import completion_messages, server_sent_data
from chatstate.conversations.responder import AgentTurn, Responder

AI_BINDING = "AI"


def workers_ai_model(binding: Any, model: str) -> Responder:
    async def respond(turn: AgentTurn) -> AsyncIterator[str]:
        options = {"messages": completion_messages(turn), "stream": True}
        stream = await binding.run(model, to_js(options, dict_converter=js.Object.fromEntries))
        async for data in server_sent_data(stream_pieces(stream)):
            if data == "[DONE]":
                return
            piece = json.loads(data).get("response")
            if piece:
                yield str(piece)

    return respond
