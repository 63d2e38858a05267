"""The chat-completions responder inside each runtime, over real HTTP: the bot configured with
CHAT_LLM_* streams a fake OpenAI-compatible server's reply to live sockets, and with
CHAT_LLM_CACHE_TTL_MS the store's cache helper makes 20 racing identical turns one call."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import httpx
import pytest
import websockets

from support.fake_chat_completions import FakeChatCompletions
from support.local_server import API_TOKEN, LocalServer, start_api_server

pytestmark = pytest.mark.e2e

AUTH = {"authorization": f"Bearer {API_TOKEN}"}


@pytest.fixture(scope="module")
def model() -> Iterator[FakeChatCompletions]:
    fake = FakeChatCompletions(["Bon", "jour"]).start()
    yield fake
    fake.stop()


@pytest.fixture(scope="module", params=["local", "workerd"])
def server(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    model: FakeChatCompletions,
) -> Iterator[LocalServer]:
    running = start_api_server(
        request,
        tmp_path_factory.mktemp(f"llm-{request.param}"),
        CHAT_LLM_BASE_URL=model.base_url,
        CHAT_LLM_MODEL="tiny",
        CHAT_LLM_API_KEY="sk-test-key",
        CHAT_LLM_CACHE_TTL_MS="600000",
    )
    yield running
    running.stop()


async def new_conversation(client: httpx.AsyncClient, agent: str) -> str:
    created = await client.post(f"/api/agents/{agent}/conversations", json={"user_id": "u"})
    return str(created.json()["conversation"]["id"])


async def test_the_models_streamed_reply_reaches_the_socket_and_is_stored(
    server: LocalServer, model: FakeChatCompletions
) -> None:
    agent = "streamer"
    async with httpx.AsyncClient(base_url=server.url, headers=AUTH, timeout=30) as client:
        conversation = await new_conversation(client, agent)
        url = server.url.replace("http://", "ws://") + f"/api/agents/{agent}/live?after=2"
        async with websockets.connect(url, additional_headers=AUTH) as socket:
            turn = await client.post(
                f"/api/agents/{agent}/conversations/{conversation}/chat",
                json={"content": "say hello"},
            )
            received = [json.loads(await asyncio.wait_for(socket.recv(), 15)) for _ in range(5)]
    assert turn.status_code == 200, turn.text
    assert turn.json()["reply"]["content"] == "Bonjour"
    chunks = "".join(e["text"] for e in received if e["type"] == "reply.chunk")
    assert chunks == "Bonjour"
    headers, body = model.requests[-1]
    assert headers["authorization"] == "Bearer sk-test-key"
    assert body["messages"][-1] == {"role": "user", "content": "say hello"}


async def test_twenty_racing_identical_turns_call_the_model_once(
    server: LocalServer, model: FakeChatCompletions
) -> None:
    agent = "cached"
    async with httpx.AsyncClient(base_url=server.url, headers=AUTH, timeout=60) as client:
        conversations = [await new_conversation(client, agent) for _ in range(20)]
        before = len(model.requests)
        turns = await asyncio.gather(
            *(
                client.post(f"/api/agents/{agent}/conversations/{c}/chat", json={"content": "same"})
                for c in conversations
            )
        )
    assert [t.json()["reply"]["content"] for t in turns] == ["Bonjour"] * 20
    assert len(model.requests) - before == 1
