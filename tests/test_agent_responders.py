"""Chat turns and responders: the default, a bot's own (text or chunks), and the streaming
chat-completions responder against a fake OpenAI-compatible server on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from chatstate.chat.memory import ThreadMemory
from chatstate.conversations.agents import Agents, RequestInProgressError
from chatstate.conversations.chat_completions import chat_completions_responder
from chatstate.conversations.chat_turns import CHAT_LEASE_MS, ChatTurns, ResponderFailedError
from chatstate.conversations.responder import AgentTurn, Responder, default_responder
from chatstate.http.client import HttpStatusError
from chatstate.local.http11_client import Http11Client
from chatstate.state.agent_tables import MAX_CONTENT_BYTES, MAX_REPLY_BYTES
from chatstate.state.backends.sqlite_files import LocalStateAdapter
from support.clock import FakeClock
from support.fake_chat_completions import FakeChatCompletions

AGENT = "helper"


@pytest.fixture
def agents(state: LocalStateAdapter) -> Agents:
    return Agents(state)


@pytest.fixture
async def conversation(agents: Agents) -> str:
    created = await agents.create_conversation(
        AGENT, {"user_id": "u1", "instructions": "Answer in French."}
    )
    return str(created["id"])


@pytest.fixture
async def http() -> AsyncIterator[Http11Client]:
    client = Http11Client()
    yield client
    await client.close()


async def messages_of(agents: Agents, conversation: str) -> list[tuple[str, str]]:
    read = await agents.get_conversation(AGENT, conversation, 50)
    return [(m["role"], m["content"]) for m in read["messages"]]


async def test_the_default_responder_answers_from_the_message_and_the_latest_fact(
    agents: Agents, conversation: str
) -> None:
    await agents.add_memory(AGENT, conversation, "likes tea")
    await agents.add_memory(AGENT, conversation, "lives in Porto")
    turn = await ChatTurns(agents, lambda: default_responder).chat(AGENT, conversation, "hello")
    assert turn["reply"]["content"] == "You said: hello (I remember: lives in Porto)"


async def test_a_responder_that_yields_chunks_stores_the_whole_reply(
    agents: Agents, conversation: str
) -> None:
    async def spell(turn: AgentTurn) -> AsyncIterator[str]:
        for letter in turn.message.content:
            yield letter.upper()

    turn = await ChatTurns(agents, lambda: spell).chat(AGENT, conversation, "abc")
    assert turn["reply"]["content"] == "ABC"


async def test_a_failing_responder_keeps_the_message_and_clears_thinking(
    agents: Agents, conversation: str
) -> None:
    async def broken(turn: AgentTurn) -> str:
        raise RuntimeError("model down")

    with pytest.raises(ResponderFailedError, match="model down"):
        await ChatTurns(agents, lambda: broken).chat(
            AGENT, conversation, "hi", request=("k1", "body")
        )
    assert await messages_of(agents, conversation) == [("user", "hi")]
    assert (await agents.status(AGENT))["is_thinking"] is False


async def test_a_retry_after_a_failed_responder_resumes_without_a_second_message(
    agents: Agents, conversation: str
) -> None:
    async def broken(turn: AgentTurn) -> str:
        raise RuntimeError("model down")

    with pytest.raises(ResponderFailedError):
        await ChatTurns(agents, lambda: broken).chat(
            AGENT, conversation, "hi", request=("k1", "body")
        )
    turn = await ChatTurns(agents, lambda: default_responder).chat(
        AGENT, conversation, "hi", request=("k1", "body")
    )
    assert turn["reply"]["content"] == "You said: hi"
    assert await messages_of(agents, conversation) == [
        ("user", "hi"),
        ("assistant", "You said: hi"),
    ]


async def test_a_reply_longer_than_the_input_limit_is_stored(
    agents: Agents, conversation: str
) -> None:
    question = "x" * MAX_CONTENT_BYTES
    turn = await ChatTurns(agents, lambda: default_responder).chat(AGENT, conversation, question)
    assert turn["reply"]["content"] == f"You said: {question}"
    assert await messages_of(agents, conversation) == [
        ("user", question),
        ("assistant", f"You said: {question}"),
    ]


async def test_a_reply_over_the_reply_limit_fails_the_turn_and_a_retry_resumes_it(
    agents: Agents, conversation: str
) -> None:
    async def flood(turn: AgentTurn) -> str:
        return "y" * (MAX_REPLY_BYTES + 1)

    with pytest.raises(ResponderFailedError, match=f"over {MAX_REPLY_BYTES} bytes"):
        await ChatTurns(agents, lambda: flood).chat(AGENT, conversation, "hi", request=("k", "b"))
    assert await messages_of(agents, conversation) == [("user", "hi")]
    turn = await ChatTurns(agents, lambda: default_responder).chat(
        AGENT, conversation, "hi", request=("k", "b")
    )
    assert turn["reply"]["content"] == "You said: hi"


async def test_a_retry_while_the_first_runs_is_refused_until_its_lease_lapses(
    agents: Agents, conversation: str, clock: FakeClock
) -> None:
    started = asyncio.Event()
    never = asyncio.Event()

    async def stuck(turn: AgentTurn) -> str:
        started.set()
        await never.wait()
        return "late"

    first = asyncio.create_task(
        ChatTurns(agents, lambda: stuck).chat(AGENT, conversation, "hi", request=("k", "b"))
    )
    await started.wait()
    with pytest.raises(RequestInProgressError):
        await ChatTurns(agents, lambda: default_responder).chat(
            AGENT, conversation, "hi", request=("k", "b")
        )
    clock.advance(CHAT_LEASE_MS)
    resumed = await ChatTurns(agents, lambda: default_responder).chat(
        AGENT, conversation, "hi", request=("k", "b")
    )
    never.set()
    # The first turn finishes after the resumed one: it gets the stored response, adds nothing.
    assert await first == resumed
    assert await messages_of(agents, conversation) == [
        ("user", "hi"),
        ("assistant", "You said: hi"),
    ]


async def test_chat_completions_streams_chunks_as_the_server_sends_them(
    agents: Agents, conversation: str, http: Http11Client
) -> None:
    server = FakeChatCompletions(["Bon", "jour", "!"]).start()
    server.release_rest.clear()
    responder = chat_completions_responder(
        http, base_url=server.base_url, model="tiny", api_key="sk-test"
    )
    received: list[str] = []
    first_arrived = asyncio.Event()

    async def watching(turn: AgentTurn) -> AsyncIterator[str]:
        async for chunk in responder(turn):  # type: ignore[union-attr]
            received.append(chunk)
            first_arrived.set()
            yield chunk

    chatting = asyncio.create_task(
        ChatTurns(agents, lambda: watching).chat(AGENT, conversation, "hello")
    )
    await asyncio.wait_for(first_arrived.wait(), 10)
    assert received == ["Bon"]  # before the server sent the rest
    server.release_rest.set()
    turn = await chatting
    server.stop()
    assert turn["reply"]["content"] == "Bonjour!"
    headers, body = server.requests[0]
    assert headers["authorization"] == "Bearer sk-test"
    assert body["model"] == "tiny" and body["stream"] is True
    assert body["messages"] == [
        {"role": "system", "content": "Answer in French."},
        {"role": "user", "content": "hello"},
    ]


async def test_chat_completions_sends_memory_facts_in_the_system_prompt(
    agents: Agents, conversation: str, http: Http11Client
) -> None:
    server = FakeChatCompletions(["ok"]).start()
    await agents.add_memory(AGENT, conversation, "likes tea")
    responder = chat_completions_responder(http, base_url=server.base_url, model="m", api_key=None)
    await ChatTurns(agents, lambda: responder).chat(AGENT, conversation, "hi")
    server.stop()
    headers, body = server.requests[0]
    assert "authorization" not in headers
    assert body["messages"][0]["content"] == "Answer in French.\n\nFacts to remember:\n- likes tea"


async def test_a_chat_completions_error_fails_the_turn(
    agents: Agents, conversation: str, http: Http11Client
) -> None:
    server = FakeChatCompletions([], status=503).start()
    responder = chat_completions_responder(http, base_url=server.base_url, model="m", api_key=None)
    with pytest.raises(ResponderFailedError) as failed:
        await ChatTurns(agents, lambda: responder).chat(AGENT, conversation, "hi")
    server.stop()
    assert isinstance(failed.value.__cause__, HttpStatusError)
    assert failed.value.__cause__.status == 503


async def test_cached_chat_completions_call_the_server_once_for_the_same_request(
    agents: Agents, http: Http11Client
) -> None:
    server = FakeChatCompletions(["same answer"]).start()
    responder: Responder = chat_completions_responder(
        http, base_url=server.base_url, model="m", api_key=None, cache_ttl_ms=60_000
    )
    replies = []
    for _ in range(2):
        conversation = await agents.create_conversation(AGENT, {"user_id": "u"})
        turn = await ChatTurns(agents, lambda: responder).chat(AGENT, conversation["id"], "q")
        replies.append(turn["reply"]["content"])
    server.stop()
    assert replies == ["same answer", "same answer"]
    assert len(server.requests) == 1


async def test_thread_memory_keeps_facts_per_thread(state: LocalStateAdapter) -> None:
    tea = ThreadMemory(state, "telegram:-100:1")
    await tea.add("likes tea")
    await ThreadMemory(state, "telegram:-100:2").add("likes coffee")
    assert [f.fact for f in await tea.facts()] == ["likes tea"]
