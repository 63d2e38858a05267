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

import uvloop

from chatstate import QueueEntry, open_local_state
from chatstate.chat.concurrency import Concurrency
from chatstate.chat.events import Message
from chatstate.chat.runtime import Chat
from chatstate.chat.thread import Thread
from chatstate.chat.work_index import ShardWorkIndex
from chatstate.http.messages import HttpRequest
from chatstate.local.http11_client import Http11Client
from chatstate.platforms.telegram import TelegramPlatform
from chatstate.routes.console.index import ConsoleIndex
from chatstate.state.backends.sqlite_files import LocalStateAdapter

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from measurements import TelegramStub, percentile, process_cpu_s, process_rss_mb

from chatstate.testing.payloads import telegram_message_update
from support.fake_apis import FakeApis
from support.local_server import (
    BOT_USERNAME,
    TELEGRAM_SECRET,
    TELEGRAM_TOKEN,
    LocalServer,
)

THREAD = "telegram:-100123"
TOPIC = "telegram:-100123:7"


def raw_upsert_rate(directory: Path, ops: int, run: int) -> tuple[float, float]:
    """Single-row upserts, each its own transaction, on a file like a shard's."""
    conn = sqlite3.connect(str(directory / f"raw-{run}.sqlite3"), isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("CREATE TABLE kv (key TEXT PRIMARY KEY, value TEXT) WITHOUT ROWID")
    start, cpu = time.perf_counter(), time.process_time()
    for n in range(ops):
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(
            "INSERT INTO kv VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (f"k{n % 100}", f"v{n}"),
        )
        conn.execute("COMMIT")
    elapsed, cpu_ms = time.perf_counter() - start, (time.process_time() - cpu) * 1000 / ops
    conn.close()
    return ops / elapsed, cpu_ms


Timer = Callable[[int, Callable[[int], Awaitable[object]]], Awaitable[tuple[float, float]]]
IN_FLIGHT = 20


async def timed(ops: int, step: Callable[[int], Awaitable[object]]) -> tuple[float, float]:
    """Operations per second and CPU milliseconds per operation, one call at a time."""
    start, cpu = time.perf_counter(), time.process_time()
    for n in range(ops):
        await step(n)
    return ops / (time.perf_counter() - start), (time.process_time() - cpu) * 1000 / ops


async def timed_in_flight(
    ops: int, step: Callable[[int], Awaitable[object]]
) -> tuple[float, float]:
    """The same with IN_FLIGHT calls in flight, as a server's concurrent requests make them."""
    gate = asyncio.Semaphore(IN_FLIGHT)

    async def one(n: int) -> None:
        async with gate:
            await step(n)

    start, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(one(n) for n in range(ops)))
    return ops / (time.perf_counter() - start), (time.process_time() - cpu) * 1000 / ops


async def rows_per_call(state: LocalStateAdapter, call: Callable[[], Awaitable[object]]) -> int:
    before = state.shards.rows_written()
    await call()
    return state.shards.rows_written() - before


async def primitive_rates(
    state: LocalStateAdapter, ops: int, run: str, timer: Timer
) -> dict[str, tuple[float, float]]:
    """Each primitive `ops` times. Callers in flight at once use keys of their own (n % 20),
    as concurrent conversations do."""
    now = state.clock
    topic, thread = f"{TOPIC}{run}", f"{THREAD}{run}"
    locks: dict[int, Any] = {}

    async def acquire(n: int) -> None:
        locks[n] = await state.acquire_lock(f"{thread}:{n}", 30_000)

    def entry(n: int) -> QueueEntry:
        return QueueEntry({"n": n}, now(), now() + 90_000)

    return {
        "set": await timer(ops, lambda n: state.set(f"thread-state:{topic}:{n % 20}", {"n": n})),
        "get": await timer(ops, lambda n: state.get(f"thread-state:{topic}:{n % 20}")),
        "set_if_not_exists": await timer(
            ops, lambda n: state.set_if_not_exists(f"dedupe:{thread}:{n}", True, 600_000)
        ),
        "append_to_list (max 100, TTL)": await timer(
            ops,
            lambda n: state.append_to_list(
                f"msg-history:{topic}:{n % 20}", {"n": n}, max_length=100, ttl_ms=604_800_000
            ),
        ),
        "get_list (100 items)": await timer(
            ops, lambda n: state.get_list(f"msg-history:{topic}:{n % 20}")
        ),
        "acquire_lock": await timer(ops, acquire),
        "release_lock": await timer(ops, lambda n: state.release_lock(locks[n])),
        # A queue holds at most max_size entries; 10 is the reference's default.
        "enqueue (max_size 10)": await timer(
            ops, lambda n: state.enqueue(f"{thread}:{n % 20}", entry(n), 10)
        ),
        "dequeue": await timer(ops, lambda n: state.dequeue(f"{thread}:{n % 20}")),
        "subscribe": await timer(ops, lambda n: state.subscribe(f"{thread}:{n}")),
        "is_subscribed": await timer(ops, lambda n: state.is_subscribed(f"{thread}:{n}")),
    }


def medians(runs: list[dict[str, tuple[float, float]]]) -> dict[str, tuple[float, float]]:
    return {
        name: (
            statistics.median(r[name][0] for r in runs),
            statistics.median(r[name][1] for r in runs),
        )
        for name in runs[0]
    }


async def measure(directory: Path, ops: int) -> list[str]:
    state = open_local_state(directory / "state")
    await state.connect()
    now = state.clock
    runs: list[dict[str, tuple[float, float]]] = []
    runs_in_flight: list[dict[str, tuple[float, float]]] = []
    for run in range(3):
        # The baseline runs inside every round, so both see the same machine.
        rates = {"raw": raw_upsert_rate(directory, ops, run)}
        rates.update(await primitive_rates(state, ops, f"s{run}", timed))
        runs.append(rates)
        runs_in_flight.append(await primitive_rates(state, ops, f"c{run}", timed_in_flight))
    median, median_in_flight = medians(runs), medians(runs_in_flight)
    raw = median.pop("raw")
    rows: dict[str, int] = {
        "append_to_list at max_length=100 (list full)": await rows_per_call(
            state,
            lambda: state.append_to_list(
                f"msg-history:{TOPIC}0", {"n": "x"}, max_length=100, ttl_ms=604_800_000
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

    lines = [
        f"Operations: {ops} per primitive, medians of 3 rounds with the baseline in each; state "
        "in the local files (WAL, synchronous=FULL), on uvloop as the local runtime runs. The "
        "baseline is a raw sqlite3 connection, which commits one transaction at a time.",
        "",
        f"| primitive | one call at a time: ops/s | ratio to raw | CPU ms/op | {IN_FLIGHT} in "
        f"flight: ops/s | ratio to raw | CPU ms/op |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {name} | {rate:,.0f} | {rate / raw[0]:.2f} | {cpu:.3f} | "
        f"{median_in_flight[name][0]:,.0f} | {median_in_flight[name][0] / raw[0]:.2f} | "
        f"{median_in_flight[name][1]:.3f} |"
        for name, (rate, cpu) in median.items()
    ]
    lines += [
        f"| raw sqlite3 single-row upsert (baseline) | {raw[0]:,.0f} | 1.00 | {raw[1]:.3f} | | | |",
        "",
    ]
    lines += ["| operation | rows written |", "|---|---:|"]
    lines += [f"| {name} | {count} |" for name, count in rows.items()]
    lines += ["", "The reference writes about 100 rows per history append at max_length=100."]
    return lines


async def measure_pipeline(directory: Path, messages: int) -> list[str]:
    """Shard calls and rows written per inbound message, uncontended, with an empty handler."""
    state = open_local_state(directory / "pipeline")
    await state.connect()
    calls = notes = 0
    real_call = state.call_shard

    async def counting(shard: str, operations: list[list[Any]]) -> dict[str, Any]:
        nonlocal calls, notes
        if shard.startswith("console"):
            notes += 1
        else:
            calls += 1
        return await real_call(shard, operations)

    state.call_shard = counting
    platform = TelegramPlatform(bot_token="t", secret_token="s", http=TelegramStub(BOT_USERNAME))
    chat = Chat(
        platforms=[platform],
        state=state,
        work_index=ShardWorkIndex(state.shards.pending_work),
        concurrency=Concurrency(strategy="queue"),
        observers=[ConsoleIndex(state)],
    )

    @chat.on_mention
    async def nothing(thread: Thread, message: Message) -> None:
        return None

    for n in range(20):  # warm up: shards exist, alarms planned
        update = telegram_message_update(-100 - n, "warm", bot_username=BOT_USERNAME)
        await chat.accept("telegram", _parse(platform, update))
    await chat.idle()
    calls, notes, rows_before = 0, 0, state.shards.rows_written()
    for n in range(messages):
        update = telegram_message_update(-100 - n % 20, f"m{n}", bot_username=BOT_USERNAME)
        await chat.accept("telegram", _parse(platform, update))
        await chat.idle()
    shard_rows = (state.shards.rows_written() - rows_before) / messages
    per_call = calls / messages
    await state.disconnect()
    return [
        "",
        f"Pipeline, {messages} uncontended Telegram mentions (queue strategy, empty handler):",
        "",
        "| per inbound message | count |",
        "|---|---:|",
        f"| shard calls (the chat's shard) | {per_call:.2f} |",
        f"| console notes (one call each, to the `console` shard, off the reply path) | "
        f"{notes / messages:.2f} |",
        "| shard rows written (2 dedupe, history, enqueue, work mark, lock, ack, release, "
        f"work clear; the console's index row) | {shard_rows:.2f} |",
        "| rows written anywhere else (the work index rides in the shards) | 0 |",
    ]


def _parse(platform: TelegramPlatform, update: dict[str, Any]) -> Any:
    request = HttpRequest("POST", "/webhooks/telegram", {}, json.dumps(update).encode())
    return platform.parse(request)


def measure_webhooks(
    directory: Path,
    webhooks: int,
    concurrency: int,
    chats: int,
    server_kind: type[LocalServer] = LocalServer,
    label: str = "",
) -> str:
    """One row: signed webhooks through a server (by default the local runtime)."""
    apis = FakeApis(TELEGRAM_TOKEN, "xoxb", BOT_USERNAME).start()
    name = f"{server_kind.__name__}-{chats}"
    server = server_kind(directory / name, apis.base, directory / f"{name}.log").start()
    assert server.process is not None
    headers = {
        "content-type": "application/json",
        "x-telegram-bot-api-secret-token": TELEGRAM_SECRET,
    }
    count = max(webhooks, chats)
    updates = [
        telegram_message_update(-200 - n % chats, f"load{n}x", bot_username=BOT_USERNAME)
        for n in range(count)
    ]
    sent_at: dict[str, float] = {}

    async def run() -> tuple[list[float], float]:
        latencies: list[float] = []
        gate = asyncio.Semaphore(concurrency)
        # The cheapest client measured (scripts/benchmark_http_clients.py): the load generator
        # shares the machine's 2 cores with the server.
        client = Http11Client(timeout_s=60)

        async def send(n: int, update: dict[str, Any]) -> None:
            async with gate:
                start = time.perf_counter()
                sent_at[f"load{n}x"] = time.monotonic()
                response = await client.post(
                    f"{server.url}/webhooks/telegram", json.dumps(update).encode(), headers
                )
                latencies.append((time.perf_counter() - start) * 1000)
                assert response.status == 200, response.body

        started = time.perf_counter()
        await asyncio.gather(*(send(n, u) for n, u in enumerate(updates)))
        await client.close()
        return latencies, time.perf_counter() - started

    try:
        cpu_before = process_cpu_s(server.process.pid)
        latencies, total_s = asyncio.run(run())
        # Replies trail the webhooks; CPU counts until the bot is idle again.
        quiet_since, seen = time.monotonic(), len(apis.calls)
        while time.monotonic() - quiet_since < 1.0:
            time.sleep(0.2)
            if len(apis.calls) != seen:
                quiet_since, seen = time.monotonic(), len(apis.calls)
        cpu_ms = (process_cpu_s(server.process.pid) - cpu_before) * 1000 / count
        open_files, rss = server.open_files(), process_rss_mb(server.process.pid)
    finally:
        server.stop()
        apis.stop()
    with apis.lock:
        calls = list(zip(apis.calls, apis.call_times, strict=True))
    replies = [
        (at - sent_at[word]) * 1000
        for (method, payload), at in calls
        if method == "sendMessage"
        for word in payload["text"].split()
        if word in sent_at
    ]
    return (
        f"| {label}{chats:,} | {count / total_s:.0f} | {cpu_ms:.1f} | "
        f"{percentile(latencies, 0.5):.0f} | {percentile(latencies, 0.99):.0f} | "
        f"{percentile(replies, 0.5):.0f} | {percentile(replies, 0.99):.0f} | "
        f"{open_files} | {rss:.0f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ops", type=int, default=2000)
    parser.add_argument("--webhooks", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--chats", type=int, nargs="+", default=[50, 500, 10_000])
    parser.add_argument("--dir", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        directory = args.dir or Path(scratch)
        directory.mkdir(parents=True, exist_ok=True)
        lines = uvloop.run(measure(directory, args.ops))
        lines += uvloop.run(measure_pipeline(directory, 200))
        lines += [
            "",
            f"Webhooks through the local runtime: Telegram mentions ({args.webhooks}, or one per "
            f"chat when there are more chats), {args.concurrency} in flight, the example bot, a "
            "fake Bot API on loopback. CPU, open files and RSS are the server process's.",
            "",
            "| chats | webhooks/s | CPU ms/webhook | webhook p50 ms | webhook p99 ms | "
            "reply p50 ms | reply p99 ms | open files | RSS MB |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for chats in args.chats:
            lines.append(measure_webhooks(directory, args.webhooks, args.concurrency, chats))
        print("\n".join(lines))


if __name__ == "__main__":
    main()
