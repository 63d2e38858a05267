"""The Workers AI responder through the test double of the Workers runtime: the call shape of
`env.AI.run` (workerd cannot run Workers AI offline) and the streamed answer read back."""

from __future__ import annotations

import json
from typing import Any

import js
from pyodide.ffi import JsArray
from workers import ReadableStream

from chatstate.chat.memory import MemoryFact
from chatstate.cloudflare.workers_ai import workers_ai_model
from chatstate.conversations.agents import ChatMessage, Conversation
from chatstate.conversations.responder import AgentTurn, reply_chunks

MODEL = "@cf/meta/llama-3.1-8b-instruct"


class FakeAi:
    """An `ai` binding as Workers AI documents it: run(model, inputs) with stream: true answers
    a ReadableStream of server-sent events, `data: {"response": ...}` then `data: [DONE]`."""

    def __init__(self, pieces: list[str]) -> None:
        self.pieces = pieces
        self.calls: list[tuple[str, Any]] = []

    async def run(self, model: str, inputs: Any) -> ReadableStream:
        self.calls.append((model, inputs))
        events = "".join(f"data: {json.dumps({'response': p})}\n\n" for p in self.pieces)
        body = (events + "data: [DONE]\n\n").encode()
        # Cut mid-event, as a network would.
        return ReadableStream([body[:17], body[17:40], body[40:]])


def turn(text: str) -> AgentTurn:
    conversation = Conversation("telegram:5", "u1", "t", "active", "", "Be brief.", 0, 0)
    message = ChatMessage("m1", "telegram:5", "user", text, 0, None)
    facts = [MemoryFact("mem-1", "telegram:5", "likes tea", 0)]
    return AgentTurn("chat", conversation, message, [message], facts, store=None)  # type: ignore[arg-type]


async def test_the_binding_gets_a_plain_object_with_messages_and_stream() -> None:
    ai = FakeAi(["Hi"])
    [chunk async for chunk in reply_chunks(workers_ai_model(ai, MODEL), turn("hello"))]
    [(model, inputs)] = ai.calls
    assert model == MODEL
    assert isinstance(inputs, js.JsObject)
    assert inputs["stream"] is True
    assert isinstance(inputs["messages"], JsArray)
    assert [dict(m) for m in inputs["messages"]] == [
        {"role": "system", "content": "Be brief.\n\nFacts to remember:\n- likes tea"},
        {"role": "user", "content": "hello"},
    ]


async def test_the_streamed_answer_comes_back_in_order() -> None:
    ai = FakeAi(["Hello", ", ", "world"])
    chunks = [chunk async for chunk in reply_chunks(workers_ai_model(ai, MODEL), turn("hi"))]
    assert "".join(chunks) == "Hello, world"
