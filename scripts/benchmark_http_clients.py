"""Measure the local runtime's outbound HTTP clients: client CPU per request and requests/s for
small JSON POSTs to one keep-alive server on loopback (the shape of Bot API replies).

Run: .venv/bin/python scripts/benchmark_http_clients.py [--requests N] [--in-flight N]
The server runs in another process, so the CPU measured is the client's alone.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable

import httpx

sys.path.insert(0, "src")
from chatstate.http.client import HttpResult
from chatstate.local.http11_client import Http11Client


class HttpxClient:
    """The client the local runtime used before: httpx's AsyncClient, one pool."""

    def __init__(self) -> None:
        self._client = httpx.AsyncClient(timeout=15.0)

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> HttpResult:
        response = await self._client.post(url, content=body, headers=headers)
        return HttpResult(response.status_code, response.content, dict(response.headers))

    async def close(self) -> None:
        await self._client.aclose()


SERVER = """
import asyncio, sys
BODY = b'{"ok":true,"result":{"message_id":1}}'
async def serve(reader, writer):
    try:
        while True:
            head = await reader.readuntil(b"\\r\\n\\r\\n")
            length = int([l for l in head.split(b"\\r\\n") if l.lower().startswith(b"content-length")][0].split(b":")[1])
            await reader.readexactly(length)
            writer.write(b"HTTP/1.1 200 OK\\r\\ncontent-type: application/json\\r\\ncontent-length: %d\\r\\n\\r\\n%s" % (len(BODY), BODY))
    except (asyncio.IncompleteReadError, ConnectionError):
        writer.close()
async def main():
    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()
asyncio.run(main())
"""


async def run(
    post: Callable[[str, bytes, dict[str, str]], Awaitable[HttpResult]],
    url: str,
    requests: int,
    in_flight: int,
) -> tuple[float, float]:
    body = b'{"chat_id": -100123, "text": "hello there"}'
    headers = {"content-type": "application/json"}
    queue = list(range(requests))

    async def worker() -> None:
        while queue:
            queue.pop()
            assert (await post(url, body, headers)).status == 200

    started, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(worker() for _ in range(in_flight)))
    return requests / (time.perf_counter() - started), (time.process_time() - cpu) * 1000 / requests


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--in-flight", type=int, default=20)
    args = parser.parse_args()
    server = subprocess.Popen([sys.executable, "-c", SERVER], stdout=subprocess.PIPE)
    assert server.stdout is not None
    url = f"http://127.0.0.1:{int(server.stdout.readline())}/bot1:x/sendMessage"
    results: dict[str, list[tuple[float, float]]] = {"httpx": [], "http11 (stdlib)": []}
    try:
        for _ in range(3):  # interleaved, medians of 3
            for name in results:
                client = HttpxClient() if name == "httpx" else Http11Client()
                results[name].append(await run(client.post, url, args.requests, args.in_flight))
                await client.close()
    finally:
        server.kill()
    print(f"{args.requests} POSTs, {args.in_flight} in flight, medians of 3 interleaved runs:\n")
    print("| client | requests/s | client CPU ms/request |\n|---|---:|---:|")
    for name, runs in results.items():
        rate = statistics.median(r for r, _ in runs)
        cpu = statistics.median(c for _, c in runs)
        print(f"| {name} | {rate:,.0f} | {cpu:.3f} |")


if __name__ == "__main__":
    asyncio.run(main())
