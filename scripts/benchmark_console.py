"""Measure what the web console costs the bot it watches.

Signed Telegram webhooks (20 in flight, 50 chats, a fake Bot API on loopback) go through the
runtime twice per round, interleaved: once with nobody looking, once with 5 consoles open on
the Conversations tab, each polling as the page does (the list every 2 s, one thread's details
every second). Reported: webhooks/s and webhook p99 either way (medians of 3 rounds), and the
console's own reads under that load (list and thread details, p50/p99).

Run: .venv/bin/python scripts/benchmark_console.py [--runtime local|workerd] [--webhooks N]
Prints a Markdown report; docs/benchmark.md holds the last recorded run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from measurements import percentile

from chatstate.local.http11_client import Http11Client
from chatstate.testing.payloads import telegram_message_update
from support.fake_apis import FakeApis
from support.local_server import (
    BOT_USERNAME,
    SLACK_TOKEN,
    TELEGRAM_SECRET,
    TELEGRAM_TOKEN,
    LocalServer,
    WranglerServer,
    prepare_workerd,
)

ADMIN = "benchmark-admin-token-0123456789"
CONSOLES = 5
CHATS = 50
IN_FLIGHT = 20
HEADERS = {"content-type": "application/json", "x-telegram-bot-api-secret-token": TELEGRAM_SECRET}


async def send_webhooks(server: LocalServer, count: int, first: int) -> tuple[float, list[float]]:
    """(webhooks per second, latencies in ms)."""
    client = Http11Client(timeout_s=120)
    gate = asyncio.Semaphore(IN_FLIGHT)
    latencies: list[float] = []

    async def send(n: int) -> None:
        update = telegram_message_update(
            -300 - n % CHATS, f"load {n}", bot_username=BOT_USERNAME, update_id=first + n
        )
        async with gate:
            began = time.perf_counter()
            answer = await client.post(
                f"{server.url}/webhooks/telegram", json.dumps(update).encode(), HEADERS
            )
            latencies.append((time.perf_counter() - began) * 1000)
            assert answer.status == 200, answer.body

    began = time.perf_counter()
    await asyncio.gather(*(send(n) for n in range(count)))
    elapsed = time.perf_counter() - began
    await client.close()
    return count / elapsed, latencies


async def signed_in(server: LocalServer) -> httpx.AsyncClient:
    client = httpx.AsyncClient(base_url=server.url, timeout=120)
    await client.get(f"/?token={ADMIN}")
    assert "chat_console" in client.cookies, "signing in failed"
    return client


async def poll(
    client: httpx.AsyncClient, stop: asyncio.Event, reads: dict[str, list[float]]
) -> None:
    """What an open Conversations tab does: the list every 2 s, the selected thread every
    second."""
    listed: list[dict[str, Any]] = []
    for tick in itertools.count():
        if stop.is_set():
            return
        if tick % 2 == 0:
            began = time.perf_counter()
            listed = (await client.get("/console/api/conversations?limit=50")).json()["items"]
            reads["list"].append((time.perf_counter() - began) * 1000)
        if listed:
            detail = listed[0]["detail"]
            began = time.perf_counter()
            answer = await client.get(
                "/console/api/thread",
                params={"id": detail["thread_id"], "queue": detail["queue_key"]},
            )
            answer.raise_for_status()
            reads["thread"].append((time.perf_counter() - began) * 1000)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 1.0)


async def round_with_consoles(
    server: LocalServer, count: int, first: int, reads: dict[str, list[float]]
) -> tuple[float, list[float]]:
    consoles = [await signed_in(server) for _ in range(CONSOLES)]
    stop = asyncio.Event()
    pollers = [asyncio.create_task(poll(c, stop, reads)) for c in consoles]
    try:
        return await send_webhooks(server, count, first)
    finally:
        stop.set()
        await asyncio.gather(*pollers)
        for client in consoles:
            await client.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runtime", choices=["local", "workerd"], default="local")
    parser.add_argument("--webhooks", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    kind = WranglerServer if args.runtime == "workerd" else LocalServer
    if args.runtime == "workerd":
        prepare_workerd()
    apis = FakeApis(TELEGRAM_TOKEN, SLACK_TOKEN, BOT_USERNAME).start()
    directory = Path(tempfile.mkdtemp(prefix="bench-console-"))
    server = kind(directory / "data", apis.base, directory / "server.log", CHAT_ADMIN_TOKEN=ADMIN)
    server.start()
    alone: list[tuple[float, float]] = []
    watched: list[tuple[float, float]] = []
    reads: dict[str, list[float]] = {"list": [], "thread": []}
    try:
        asyncio.run(send_webhooks(server, 100, 0))  # warm up: shards exist
        first = 1000
        for _ in range(args.rounds):
            rate, latencies = asyncio.run(send_webhooks(server, args.webhooks, first))
            alone.append((rate, percentile(latencies, 0.99)))
            first += args.webhooks
            rate, latencies = asyncio.run(round_with_consoles(server, args.webhooks, first, reads))
            watched.append((rate, percentile(latencies, 0.99)))
            first += args.webhooks
    finally:
        server.stop()
        apis.stop()
    log = server.log_path.read_text()
    assert not re.search(r"\bERROR\b", log), log[-2000:]

    def median(rows: list[tuple[float, float]], column: int) -> float:
        return statistics.median(row[column] for row in rows)

    print(
        f"Console cost on the {args.runtime} runtime: {args.webhooks} signed Telegram webhooks "
        f"per run, {IN_FLIGHT} in flight, {CHATS} chats; medians of {args.rounds} interleaved "
        f"rounds\n"
    )
    print("| | webhooks/s | webhook p99 ms |")
    print("|---|---:|---:|")
    print(f"| nobody looking | {median(alone, 0):.0f} | {median(alone, 1):.0f} |")
    print(f"| {CONSOLES} consoles polling | {median(watched, 0):.0f} | {median(watched, 1):.0f} |")
    print()
    print("| console read, under that load | count | p50 ms | p99 ms |")
    print("|---|---:|---:|---:|")
    for name, label in (("list", "list (50 a page)"), ("thread", "a thread's details")):
        values = reads[name]
        print(
            f"| {label} | {len(values)} | {percentile(values, 0.5):.0f} | "
            f"{percentile(values, 0.99):.0f} |"
        )


if __name__ == "__main__":
    main()
