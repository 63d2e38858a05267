"""Measure the conversation API over real HTTP and real WebSockets.

- chat POSTs per second with the default responder: N turns from C concurrent clients, spread
  over C conversations of one agent (each turn stores two messages and four events);
- commit to event on a live socket, p50/p99, with 100 sockets open on the agent: for each of
  M memory facts, the time from the event's commit timestamp (`at`, taken in the committing
  transaction) to its arrival on each socket, on the same machine's clock.

Run: .venv/bin/python scripts/benchmark_conversations.py [--runtime local|workerd]
Prints a Markdown report; docs/benchmark.md holds the last recorded run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

import httpx
import websockets

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from measurements import percentile

from support.local_server import LocalServer, WranglerServer, prepare_workerd

TOKEN = "benchmark-api-token-0123456789"
AUTH = {"authorization": f"Bearer {TOKEN}"}
AGENT = "bench"


async def chat_rate(client: httpx.AsyncClient, turns: int, clients: int) -> tuple[float, float]:
    """(turns per second, p99 ms) over `clients` conversations at once."""
    conversations = []
    for n in range(clients):
        created = await client.post(f"/api/agents/{AGENT}/conversations", json={"user_id": f"u{n}"})
        conversations.append(created.json()["conversation"]["id"])
    latencies: list[float] = []

    async def worker(conversation: str, count: int) -> None:
        for index in range(count):
            began = time.perf_counter()
            response = await client.post(
                f"/api/agents/{AGENT}/conversations/{conversation}/chat",
                json={"content": f"message {index}"},
            )
            response.raise_for_status()
            latencies.append((time.perf_counter() - began) * 1000)

    began = time.perf_counter()
    await asyncio.gather(*(worker(c, turns // clients) for c in conversations))
    elapsed = time.perf_counter() - began
    return len(latencies) / elapsed, percentile(latencies, 0.99)


async def commit_to_event(
    server: LocalServer, client: httpx.AsyncClient, sockets: int, facts: int
) -> list[float]:
    conversation = (
        await client.post(f"/api/agents/{AGENT}/conversations", json={"user_id": "watcher"})
    ).json()["conversation"]["id"]
    last = (await client.get(f"/api/agents/{AGENT}/status")).json()["status"]["last_seq"]
    url = server.url.replace("http://", "ws://") + f"/api/agents/{AGENT}/live?after={last}"
    opened = [await websockets.connect(url, additional_headers=AUTH) for _ in range(sockets)]
    delays: list[float] = []

    async def listen(socket: websockets.ClientConnection) -> None:
        seen = 0
        while seen < facts:
            event = json.loads(await socket.recv())
            if event.get("type") == "memory.added":
                delays.append(time.time() * 1000 - event["at"])
                seen += 1

    listeners = [asyncio.create_task(listen(s)) for s in opened]
    for index in range(facts):
        await client.post(
            f"/api/agents/{AGENT}/conversations/{conversation}/memory", json={"fact": f"f{index}"}
        )
    await asyncio.wait_for(asyncio.gather(*listeners), 120)
    for socket in opened:
        await socket.close()
    return delays


async def run(server: LocalServer, turns: int, clients: int, sockets: int, facts: int) -> None:
    async with httpx.AsyncClient(
        base_url=server.url, headers=AUTH, timeout=60, limits=httpx.Limits(max_connections=64)
    ) as client:
        rate, p99 = await chat_rate(client, turns, clients)
        delays = await commit_to_event(server, client, sockets, facts)
    print(f"| chat POSTs/s, default responder ({clients} at once, {turns} turns) | {rate:.0f} |")
    print(f"| chat POST p99 | {p99:.1f} ms |")
    print(
        f"| commit to event, {sockets} sockets ({len(delays)} deliveries) | "
        f"p50 {percentile(delays, 0.5):.1f} ms, p99 {percentile(delays, 0.99):.1f} ms |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runtime", choices=("local", "workerd"), default="local")
    parser.add_argument("--turns", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--sockets", type=int, default=100)
    parser.add_argument("--facts", type=int, default=200)
    options = parser.parse_args()
    kind = LocalServer
    if options.runtime == "workerd":
        prepare_workerd()
        kind = WranglerServer
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        server = kind(
            root / "data",
            "http://127.0.0.1:9",
            root / "server.log",
            CHAT_API_TOKEN=TOKEN,
            CHAT_LOG_LEVEL="WARNING",
        ).start()
        try:
            print(f"| conversation API, {options.runtime} runtime | |\n|---|---|")
            asyncio.run(run(server, options.turns, options.clients, options.sockets, options.facts))
        finally:
            server.stop()


if __name__ == "__main__":
    main()
