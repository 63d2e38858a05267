"""Measure the state engine and the pipeline: primitive rates against a raw sqlite3 baseline,
rows written per primitive and per inbound message, shard calls per inbound message, and webhook
latency percentiles through the local runtime under concurrent load.

Run: .venv/bin/python scripts/benchmark.py [--ops N] [--webhooks N] [--dir PATH]
Prints a Markdown report; docs/benchmark.md holds the last recorded run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

from chatstate import QueueEntry, open_local_state
from chatstate.chat.concurrency import Concurrency
from chatstate.chat.events import Message
from chatstate.chat.runtime import Chat
from chatstate.chat.thread import Thread
from chatstate.chat.work_index import ParentWorkIndex
from chatstate.http import HttpRequest
from chatstate.http_client import HttpResult
from chatstate.local_state import LocalStateAdapter
from chatstate.platforms.telegram import TelegramPlatform
from chatstate.sqlite_port import SqlitePort

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from support.fake_apis import FakeApis
from support.local_server import (
    BOT_USERNAME,
    TELEGRAM_SECRET,
    TELEGRAM_TOKEN,
    LocalServer,
)
from support.payloads import telegram_message_update

THREAD = "telegram:-100123"
TOPIC = "telegram:-100123:7"


def raw_upsert_rate(directory: Path, ops: int) -> float:
    """Single-row upserts, each its own transaction, on a file like a shard's."""
    conn = sqlite3.connect(str(directory / "raw.sqlite3"), isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("CREATE TABLE kv (key TEXT PRIMARY KEY, value TEXT) WITHOUT ROWID")
    start = time.perf_counter()
    for n in range(ops):
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(
            "INSERT INTO kv VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (f"k{n % 100}", f"v{n}"),
        )
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - start
    conn.close()
    return ops / elapsed


async def timed(ops: int, step: Callable[[int], Awaitable[object]]) -> float:
    start = time.perf_counter()
    for n in range(ops):
        await step(n)
    return ops / (time.perf_counter() - start)


async def rows_per_call(state: LocalStateAdapter, call: Callable[[], Awaitable[object]]) -> int:
    before = state.shards.rows_written()
    await call()
    return state.shards.rows_written() - before


async def measure(directory: Path, ops: int) -> list[str]:
    state = open_local_state(directory / "state")
    await state.connect()
    now = state.clock
    rates: dict[str, float] = {}
    rates["set"] = await timed(ops, lambda n: state.set(f"thread-state:{TOPIC}", {"n": n}))
    rates["get"] = await timed(ops, lambda n: state.get(f"thread-state:{TOPIC}"))
    rates["set_if_not_exists"] = await timed(
        ops, lambda n: state.set_if_not_exists(f"dedupe:telegram:-100123:{n}", True, 600_000)
    )
    rates["append_to_list (max 100, TTL)"] = await timed(
        ops,
        lambda n: state.append_to_list(
            f"msg-history:{TOPIC}", {"n": n}, max_length=100, ttl_ms=604_800_000
        ),
    )
    rates["get_list (100 items)"] = await timed(
        ops, lambda n: state.get_list(f"msg-history:{TOPIC}")
    )

    async def lock_cycle(n: int) -> None:
        lock = await state.acquire_lock(THREAD, 30_000)
        assert lock is not None
        await state.release_lock(lock)

    rates["acquire_lock + release_lock"] = await timed(ops // 2, lock_cycle)
    rates["enqueue"] = await timed(
        ops, lambda n: state.enqueue(THREAD, QueueEntry({"n": n}, now(), now() + 90_000), 10**6)
    )
    rates["dequeue"] = await timed(ops, lambda n: state.dequeue(THREAD))
    rates["subscribe"] = await timed(ops, lambda n: state.subscribe(f"{THREAD}:{n}"))
    rates["is_subscribed"] = await timed(ops, lambda n: state.is_subscribed(f"{THREAD}:{n}"))

    rows: dict[str, int] = {
        "append_to_list at max_length=100 (list full)": await rows_per_call(
            state,
            lambda: state.append_to_list(
                f"msg-history:{TOPIC}", {"n": "x"}, max_length=100, ttl_ms=604_800_000
            ),
        ),
        "set": await rows_per_call(state, lambda: state.set(f"thread-state:{TOPIC}", 1)),
        "set_if_not_exists (new key)": await rows_per_call(
            state, lambda: state.set_if_not_exists("dedupe:telegram:-100123:new", True, 600_000)
        ),
        "enqueue": await rows_per_call(
            state, lambda: state.enqueue(THREAD, QueueEntry(1, now(), now() + 90_000), 10)
        ),
        "dequeue": await rows_per_call(state, lambda: state.dequeue(THREAD)),
        "subscribe (new)": await rows_per_call(state, lambda: state.subscribe(f"{THREAD}:new")),
        "get / get_list / queue_depth": await rows_per_call(
            state, lambda: state.get_list(f"msg-history:{TOPIC}")
        ),
    }
    lock = await state.acquire_lock(THREAD, 30_000)
    assert lock is not None
    rows["extend_lock"] = await rows_per_call(state, lambda: state.extend_lock(lock, 30_000))
    rows["release_lock"] = await rows_per_call(state, lambda: state.release_lock(lock))
    await state.disconnect()

    raw = raw_upsert_rate(directory, ops)
    lines = [
        f"Operations: {ops} per primitive, one SQLite file per shard (WAL, synchronous=FULL).",
        "",
        "| primitive | ops/s through the adapter | ratio to raw sqlite3 upsert |",
        "|---|---:|---:|",
    ]
    lines += [f"| {name} | {rate:,.0f} | {rate / raw:.2f} |" for name, rate in rates.items()]
    lines += [f"| raw sqlite3 single-row upsert (baseline) | {raw:,.0f} | 1.00 |", ""]
    lines += ["| operation | rows written |", "|---|---:|"]
    lines += [f"| {name} | {count} |" for name, count in rows.items()]
    lines += ["", "The reference writes about 100 rows per history append at max_length=100."]
    return lines


class _TelegramStub:
    """In-process Bot API answers, so the pipeline is measured without network."""

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> HttpResult:
        method = url.rsplit("/", 1)[1]
        if method == "getMe":
            result: Any = {"id": 1, "is_bot": True, "first_name": "B", "username": BOT_USERNAME}
        else:
            payload = json.loads(body)
            result = {"message_id": 1, "chat": {"id": payload["chat_id"]}, "date": 0, "text": ""}
        return HttpResult(200, json.dumps({"ok": True, "result": result}).encode())


async def measure_pipeline(directory: Path, messages: int) -> list[str]:
    """Shard calls and rows written per inbound message, uncontended, with an empty handler."""
    state = open_local_state(directory / "pipeline")
    await state.connect()
    calls = 0
    real_call = state.call_shard

    async def counting(shard: str, operations: list[list[Any]]) -> dict[str, Any]:
        nonlocal calls
        calls += 1
        return await real_call(shard, operations)

    state.call_shard = counting
    index_sql = SqlitePort(directory / "messenger.sqlite3")
    platform = TelegramPlatform(bot_token="t", secret_token="s", http=_TelegramStub())
    chat = Chat(
        platforms=[platform],
        state=state,
        work_index=ParentWorkIndex(index_sql),
        concurrency=Concurrency(strategy="queue"),
    )

    @chat.on_mention
    async def nothing(thread: Thread, message: Message) -> None:
        return None

    for n in range(20):  # warm up: shards exist, alarms planned
        update = telegram_message_update(-100 - n, "warm", bot_username=BOT_USERNAME)
        await chat.accept("telegram", _parse(platform, update))
    await chat.idle()
    calls, rows_before, parent_before = 0, state.shards.rows_written(), index_sql.rows_written
    for n in range(messages):
        update = telegram_message_update(-100 - n % 20, f"m{n}", bot_username=BOT_USERNAME)
        await chat.accept("telegram", _parse(platform, update))
        await chat.idle()
    shard_rows = (state.shards.rows_written() - rows_before) / messages
    parent_rows = (index_sql.rows_written - parent_before) / messages
    per_call = calls / messages
    await state.disconnect()
    index_sql.close()
    return [
        "",
        f"Pipeline, {messages} uncontended Telegram mentions (queue strategy, empty handler):",
        "",
        "| per inbound message | count |",
        "|---|---:|",
        f"| shard calls | {per_call:.2f} |",
        f"| shard rows written (2 dedupe, history, enqueue, lock, ack, release) | {shard_rows:.2f} |",
        f"| parent rows written (work index) | {parent_rows:.2f} |",
    ]


def _parse(platform: TelegramPlatform, update: dict[str, Any]) -> Any:
    request = HttpRequest("POST", "/webhooks/telegram", {}, json.dumps(update).encode())
    return platform.parse(request)


def measure_webhooks(directory: Path, webhooks: int, concurrency: int) -> list[str]:
    """Latency of POST /webhooks/telegram (answered after the durable accept) under load."""
    apis = FakeApis(TELEGRAM_TOKEN, "xoxb", BOT_USERNAME).start()
    server = LocalServer(directory / "server", apis.base, directory / "server.log").start()
    headers = {
        "content-type": "application/json",
        "x-telegram-bot-api-secret-token": TELEGRAM_SECRET,
    }
    updates = [
        telegram_message_update(-200 - n % 50, f"load {n}", bot_username=BOT_USERNAME)
        for n in range(webhooks)
    ]

    async def run() -> list[float]:
        latencies: list[float] = []
        gate = asyncio.Semaphore(concurrency)
        async with httpx.AsyncClient(timeout=30) as client:

            async def send(update: dict[str, Any]) -> None:
                async with gate:
                    start = time.perf_counter()
                    response = await client.post(
                        f"{server.url}/webhooks/telegram",
                        content=json.dumps(update),
                        headers=headers,
                    )
                    latencies.append((time.perf_counter() - start) * 1000)
                    assert response.status_code == 200, response.text

            started = time.perf_counter()
            await asyncio.gather(*(send(u) for u in updates))
            latencies.append(-(time.perf_counter() - started))  # total, marked negative
        return latencies

    try:
        results = asyncio.run(run())
    finally:
        server.stop()
        apis.stop()
    total_s = -results.pop()
    ordered = sorted(results)

    def pct(p: float) -> float:
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]

    return [
        "",
        f"Webhooks through the local runtime: {webhooks} Telegram mentions over 50 chats, "
        f"{concurrency} in flight, fake Bot API on loopback:",
        "",
        "| p50 ms | p90 ms | p99 ms | max ms | mean ms | webhooks/s |",
        "|---:|---:|---:|---:|---:|---:|",
        f"| {pct(50):.1f} | {pct(90):.1f} | {pct(99):.1f} | {ordered[-1]:.1f} | "
        f"{statistics.mean(ordered):.1f} | {webhooks / total_s:.0f} |",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ops", type=int, default=2000)
    parser.add_argument("--webhooks", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--dir", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        directory = args.dir or Path(scratch)
        directory.mkdir(parents=True, exist_ok=True)
        lines = asyncio.run(measure(directory, args.ops))
        lines += asyncio.run(measure_pipeline(directory, 200))
        lines += measure_webhooks(directory, args.webhooks, args.concurrency)
        print("\n".join(lines))


if __name__ == "__main__":
    main()
