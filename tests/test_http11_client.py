"""The local runtime's HTTP client against real servers on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest

from chatstate.local.http11_client import Http11Client

Respond = Callable[[bytes], bytes]


@pytest.fixture
async def server() -> AsyncIterator[Callable[[Respond], asyncio.Future[str]]]:
    """Start a raw HTTP/1.1 server answering each request with respond(request body)."""
    started: list[asyncio.Server] = []
    connections: list[int] = []

    async def start(respond: Respond) -> str:
        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            connections.append(1)
            try:
                while True:
                    head = await reader.readuntil(b"\r\n\r\n")
                    length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
                    writer.write(respond(await reader.readexactly(length)))
                    await writer.drain()
            except (asyncio.IncompleteReadError, ConnectionError):
                writer.close()

        listening = await asyncio.start_server(serve, "127.0.0.1", 0)
        started.append(listening)
        return f"http://127.0.0.1:{listening.sockets[0].getsockname()[1]}/bot1:x/sendMessage"

    def launch(respond: Respond) -> asyncio.Future[str]:
        return asyncio.ensure_future(start(respond))

    launch.connections = connections  # type: ignore[attr-defined]
    yield launch
    for listening in started:
        listening.close()


def ok(body: bytes) -> bytes:
    return b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body)


async def test_many_requests_reuse_one_connection(
    server: Callable[..., asyncio.Future[str]],
) -> None:
    url = await server(ok)
    client = Http11Client()
    for n in range(20):
        result = await client.post(url, str(n).encode(), {"content-type": "text/plain"})
        assert (result.status, result.body) == (200, str(n).encode())
    assert len(server.connections) == 1  # type: ignore[attr-defined]
    await client.close()


async def test_a_chunked_response_is_read_whole(server: Callable[..., asyncio.Future[str]]) -> None:
    def chunked(body: bytes) -> bytes:
        return (
            b"HTTP/1.1 429 Too Many Requests\r\ntransfer-encoding: chunked\r\nretry-after: 3\r\n\r\n"
            b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
        )

    client = Http11Client()
    result = await client.post(await server(chunked), b"x", {})
    assert (result.status, result.body, result.headers["retry-after"]) == (429, b"hello world", "3")
    await client.close()


async def test_a_connection_the_server_closes_is_not_reused(
    server: Callable[..., asyncio.Future[str]],
) -> None:
    def closing(body: bytes) -> bytes:
        return b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\nok"

    url = await server(closing)
    client = Http11Client()
    for _ in range(3):
        assert (await client.post(url, b"x", {})).body == b"ok"
    assert len(server.connections) == 3  # type: ignore[attr-defined]
    await client.close()


async def test_a_server_that_does_not_answer_times_out(
    server: Callable[..., asyncio.Future[str]],
) -> None:
    never = asyncio.Event()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await never.wait()
        writer.close()

    listening = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = listening.sockets[0].getsockname()[1]
    client = Http11Client(timeout_s=0.2)
    with pytest.raises(TimeoutError):
        await client.post(f"http://127.0.0.1:{port}/x", b"x", {})
    never.set()
    listening.close()
    await client.close()


async def test_a_relative_url_is_refused() -> None:
    with pytest.raises(ValueError, match="absolute http"):
        await Http11Client().post("/bot1/sendMessage", b"", {})
