"""The conversation API over real HTTP and real WebSockets, on the local runtime and on the
Worker under workerd: the REST flow, idempotent chat, live sockets, tickets and bad input.

One server per runtime serves the whole module (workerd takes seconds to start); each test
works on an agent of its own, so tests do not see each other's events.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from websockets.asyncio.client import ClientConnection

from support.local_server import API_TOKEN, LocalServer, start_api_server

pytestmark = pytest.mark.e2e

AUTH = {"authorization": f"Bearer {API_TOKEN}"}


@pytest.fixture(scope="module", params=["local", "workerd"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalServer]:
    running = start_api_server(request, tmp_path_factory.mktemp(f"api-{request.param}"))
    yield running
    running.stop()


@pytest.fixture
async def client(server: LocalServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.url, headers=AUTH, timeout=30) as http:
        yield http


@pytest.fixture
def agent() -> str:
    return f"agent-{uuid.uuid4().hex[:8]}"


async def create_conversation(client: httpx.AsyncClient, agent: str, **fields: str) -> str:
    response = await client.post(
        f"/api/agents/{agent}/conversations", json={"user_id": "u1", **fields}
    )
    assert response.status_code == 201, response.text
    return str(response.json()["conversation"]["id"])


async def all_events(client: httpx.AsyncClient, agent: str, after: int = 0) -> list[Any]:
    response = await client.get(f"/api/agents/{agent}/events", params={"after": after})
    return list(response.json()["events"])


def live_url(server: LocalServer, path: str) -> str:
    return server.url.replace("http://", "ws://") + path


async def open_live(server: LocalServer, agent: str, after: int = 0) -> ClientConnection:
    return await websockets.connect(
        live_url(server, f"/api/agents/{agent}/live?after={after}"), additional_headers=AUTH
    )


async def receive_events(socket: ClientConnection, count: int) -> list[Any]:
    """The next `count` sequenced events (reply chunks are skipped)."""
    events: list[Any] = []
    while len(events) < count:
        event = json.loads(await asyncio.wait_for(socket.recv(), 15))
        if "seq" in event:
            events.append(event)
    return events


# --- the REST flow ---------------------------------------------------------------------------


async def test_a_conversation_is_created_chatted_in_remembered_and_archived(
    client: httpx.AsyncClient, agent: str
) -> None:
    base = f"/api/agents/{agent}"
    conversation = await create_conversation(client, agent, title="Trip", instructions="Be brief")
    memory = await client.post(
        f"{base}/conversations/{conversation}/memory", json={"fact": "likes tea"}
    )
    assert memory.status_code == 201
    chat = await client.post(f"{base}/conversations/{conversation}/chat", json={"content": "hi"})
    assert chat.status_code == 200
    turn = chat.json()
    assert turn["message"]["role"] == "user" and turn["message"]["content"] == "hi"
    assert turn["reply"] == {
        **turn["reply"],
        "role": "assistant",
        "content": "You said: hi (I remember: likes tea)",
    }
    read = (await client.get(f"{base}/conversations/{conversation}")).json()
    assert read["conversation"]["title"] == "Trip"
    assert [m["id"] for m in read["messages"]] == [turn["message"]["id"], turn["reply"]["id"]]
    status = (await client.get(f"{base}/status")).json()["status"]
    assert status["total_messages"] == 2 and status["active_conversations"] == 1
    assert status["is_thinking"] is False
    archived = await client.post(f"{base}/conversations/{conversation}/archive")
    assert archived.json()["conversation"]["status"] == "archived"
    assert (await client.get(f"{base}/status")).json()["status"]["active_conversations"] == 0


async def test_conversations_list_newest_first_by_cursor_and_filter_by_status(
    client: httpx.AsyncClient, agent: str
) -> None:
    ids = [await create_conversation(client, agent, title=str(n)) for n in range(5)]
    await client.patch(f"/api/agents/{agent}/conversations/{ids[1]}", json={"status": "paused"})
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await client.get(f"/api/agents/{agent}/conversations", params=params)).json()
        seen += [c["id"] for c in page["conversations"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(ids))
    paused = await client.get(f"/api/agents/{agent}/conversations", params={"status": "paused"})
    assert [c["id"] for c in paused.json()["conversations"]] == [ids[1]]


async def test_every_change_is_one_event_in_sequence(client: httpx.AsyncClient, agent: str) -> None:
    conversation = await create_conversation(client, agent)
    await client.post(
        f"/api/agents/{agent}/conversations/{conversation}/chat", json={"content": "x"}
    )
    events = await all_events(client, agent)
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert [e["type"] for e in events] == [
        "conversation.created",
        "status.changed",
        "message.added",
        "status.changed",  # thinking
        "message.added",
        "status.changed",  # done
    ]
    assert [e["data"]["is_thinking"] for e in events if e["type"] == "status.changed"] == [
        False,
        True,
        False,
    ]
    later = await client.get(f"/api/agents/{agent}/events", params={"after": 4, "limit": 1})
    assert [e["seq"] for e in later.json()["events"]] == [5]


async def test_a_retried_chat_post_with_the_same_key_adds_one_message(
    client: httpx.AsyncClient, agent: str
) -> None:
    conversation = await create_conversation(client, agent)
    url = f"/api/agents/{agent}/conversations/{conversation}/chat"
    headers = {"idempotency-key": "retry-1"}
    first = await client.post(url, json={"content": "once"}, headers=headers)
    second = await client.post(url, json={"content": "once"}, headers=headers)
    assert first.status_code == second.status_code == 200
    assert second.json() == first.json()
    read = await client.get(f"/api/agents/{agent}/conversations/{conversation}")
    assert [m["content"] for m in read.json()["messages"]] == ["once", "You said: once"]


async def test_a_reused_key_with_another_body_is_refused(
    client: httpx.AsyncClient, agent: str
) -> None:
    conversation = await create_conversation(client, agent)
    url = f"/api/agents/{agent}/conversations/{conversation}/chat"
    headers = {"idempotency-key": "k"}
    await client.post(url, json={"content": "one"}, headers=headers)
    reused = await client.post(url, json={"content": "two"}, headers=headers)
    assert reused.status_code == 422
    assert reused.json()["error"]["field"] == "Idempotency-Key"


# --- live sockets ----------------------------------------------------------------------------


async def test_two_live_clients_see_the_same_events_in_the_same_order(
    server: LocalServer, client: httpx.AsyncClient, agent: str
) -> None:
    conversation = await create_conversation(client, agent)
    async with await open_live(server, agent) as one, await open_live(server, agent) as two:
        await client.post(
            f"/api/agents/{agent}/conversations/{conversation}/chat", json={"content": "a"}
        )
        await client.post(
            f"/api/agents/{agent}/conversations/{conversation}/memory", json={"fact": "f"}
        )
        expected = await all_events(client, agent)
        assert await receive_events(one, len(expected)) == expected
        assert await receive_events(two, len(expected)) == expected


async def test_reply_chunks_reach_the_socket_while_the_responder_runs(
    server: LocalServer, client: httpx.AsyncClient, agent: str
) -> None:
    conversation = await create_conversation(client, agent)
    async with await open_live(server, agent, after=2) as socket:
        await client.post(
            f"/api/agents/{agent}/conversations/{conversation}/chat", json={"content": "yo"}
        )
        received = [json.loads(await asyncio.wait_for(socket.recv(), 15)) for _ in range(5)]
    kinds = [e["type"] for e in received]
    assert kinds == [
        "message.added",
        "status.changed",
        "reply.chunk",
        "message.added",
        "status.changed",
    ]
    assert received[2]["text"] == "You said: yo"
    assert received[2]["message_id"] == received[0]["data"]["id"]


async def test_a_client_reconnecting_mid_reply_gets_exactly_the_missed_events(
    server: LocalServer, client: httpx.AsyncClient, agent: str
) -> None:
    conversation = await create_conversation(client, agent)
    async with await open_live(server, agent) as socket:
        await client.post(
            f"/api/agents/{agent}/conversations/{conversation}/chat", json={"content": "a"}
        )
        # Gone after the user's message, before the reply: 2 creation events, then it.
        before = await receive_events(socket, 3)
    last = before[-1]["seq"]
    await client.post(
        f"/api/agents/{agent}/conversations/{conversation}/chat", json={"content": "b"}
    )
    everything = await all_events(client, agent)
    missed = [e for e in everything if e["seq"] > last]
    async with await open_live(server, agent, after=last) as again:
        assert await receive_events(again, len(missed)) == missed
        await client.post(
            f"/api/agents/{agent}/conversations/{conversation}/memory", json={"fact": "new"}
        )
        [fresh] = await receive_events(again, 1)
    assert fresh["seq"] == everything[-1]["seq"] + 1
    assert before + missed + [fresh] == await all_events(client, agent)


async def test_a_ticket_opens_one_socket_once(
    server: LocalServer, client: httpx.AsyncClient, agent: str
) -> None:
    await create_conversation(client, agent)
    ticket = (await client.post(f"/api/agents/{agent}/live-tickets")).json()
    async with websockets.connect(live_url(server, ticket["path"])) as socket:
        [first] = await receive_events(socket, 1)
        assert first["type"] == "conversation.created"
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with websockets.connect(live_url(server, ticket["path"])):
            pass
    assert refused.value.response.status_code == 401


async def test_a_socket_without_ticket_or_token_is_refused(
    server: LocalServer, client: httpx.AsyncClient, agent: str
) -> None:
    await create_conversation(client, agent)
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with websockets.connect(live_url(server, f"/api/agents/{agent}/live")):
            pass
    assert refused.value.response.status_code == 401


async def test_a_socket_for_an_unknown_agent_is_refused(server: LocalServer, agent: str) -> None:
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with await open_live(server, agent):
            pass
    assert refused.value.response.status_code == 404


# --- security and bad input ------------------------------------------------------------------


async def test_a_request_without_the_token_gets_401(server: LocalServer, agent: str) -> None:
    async with httpx.AsyncClient(base_url=server.url) as anonymous:
        response = await anonymous.get(f"/api/agents/{agent}/status")
        wrong = await anonymous.get(
            f"/api/agents/{agent}/status", headers={"authorization": "Bearer wrong"}
        )
    assert response.status_code == wrong.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        (b"{not json", 400, None),
        (b"[]", 400, None),
        (b"{}", 422, "user_id"),
        (b'{"user_id": 7}', 422, "user_id"),
        (b'{"user_id": "u", "colour": "red"}', 422, "colour"),
        (b'{"user_id": "u", "title": "' + b"t" * 600 + b'"}', 413, "title"),
    ],
)
async def test_a_bad_conversation_body_is_refused_naming_the_field(
    client: httpx.AsyncClient, agent: str, body: bytes, status: int, field: str | None
) -> None:
    response = await client.post(f"/api/agents/{agent}/conversations", content=body)
    assert response.status_code == status
    assert response.json()["error"].get("field") == field
    assert (await client.get(f"/api/agents/{agent}/status")).status_code == 404


async def test_message_content_over_32_kib_gets_413_and_stores_nothing(
    client: httpx.AsyncClient, agent: str
) -> None:
    conversation = await create_conversation(client, agent)
    url = f"/api/agents/{agent}/conversations/{conversation}/chat"
    response = await client.post(url, json={"content": "x" * (32 * 1024 + 1)})
    assert response.status_code == 413
    assert response.json()["error"]["field"] == "content"
    assert len(await all_events(client, agent)) == 2


async def test_content_of_exactly_32_kib_gets_a_reply_longer_than_the_input_limit(
    client: httpx.AsyncClient, agent: str
) -> None:
    conversation = await create_conversation(client, agent)
    url = f"/api/agents/{agent}/conversations/{conversation}/chat"
    content = "x" * (32 * 1024)
    headers = {"idempotency-key": "turn-32k"}
    first = await client.post(url, json={"content": content}, headers=headers)
    assert first.status_code == 200, first.text
    assert first.json()["reply"]["content"] == f"You said: {content}"
    again = await client.post(url, json={"content": content}, headers=headers)
    assert again.json() == first.json()
    stored = (await client.get(f"/api/agents/{agent}/conversations/{conversation}")).json()
    assert [m["role"] for m in stored["messages"]] == ["user", "assistant"]


async def test_a_body_over_the_limit_gets_413(client: httpx.AsyncClient, agent: str) -> None:
    conversation = await create_conversation(client, agent)
    url = f"/api/agents/{agent}/conversations/{conversation}/memory"
    response = await client.post(url, content=b'{"fact": "' + b"x" * 70_000 + b'"}')
    assert response.status_code == 413


async def test_unknown_agents_and_conversations_get_404(
    client: httpx.AsyncClient, agent: str
) -> None:
    assert (await client.get(f"/api/agents/{agent}/status")).status_code == 404
    await create_conversation(client, agent)
    for path in ("conv-999", "conv-999/chat", "nonsense"):
        method = "POST" if path.endswith("chat") else "GET"
        response = await client.request(
            method, f"/api/agents/{agent}/conversations/{path}", json={"content": "x"}
        )
        assert response.status_code == 404, path


async def test_an_invalid_agent_name_gets_400(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/agents/bad%20name/status")
    assert response.status_code == 400


async def test_an_invalid_status_change_gets_409_and_changes_nothing(
    client: httpx.AsyncClient, agent: str
) -> None:
    conversation = await create_conversation(client, agent)
    url = f"/api/agents/{agent}/conversations/{conversation}"
    await client.post(f"{url}/archive")
    reopened = await client.patch(url, json={"status": "active"})
    chat = await client.post(f"{url}/chat", json={"content": "still there?"})
    assert reopened.status_code == chat.status_code == 409
    assert (await client.get(url)).json()["conversation"]["status"] == "archived"
    assert (await client.get(url)).json()["messages"] == []


async def test_a_wrong_method_gets_405(client: httpx.AsyncClient, agent: str) -> None:
    response = await client.delete(f"/api/agents/{agent}/conversations")
    assert response.status_code == 405


async def test_the_api_is_off_without_a_token_and_says_what_to_set(
    tmp_path: Path, request: pytest.FixtureRequest, server: LocalServer
) -> None:
    kind = type(server)
    off = kind(tmp_path / "data", "http://127.0.0.1:9", tmp_path / "off.log", CHAT_API_TOKEN="")
    off.start()
    try:
        response = httpx.get(f"{off.url}/api/agents/a/status", headers=AUTH)
    finally:
        off.stop()
    assert response.status_code == 404
    assert "CHAT_API_TOKEN" in response.text
