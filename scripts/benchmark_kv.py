"""State traffic and cost per inbound message: Durable Objects beside Workers KV, per strategy.

Runs the example bot (`src/bot.py`) in-process, wired as on Cloudflare (the parent's work index
in its own SQLite), with each backend, over uncontended Telegram messages in 20 chats:
- Durable Objects: shard calls (one RPC, one billed request each) and SQLite rows written,
  counted on the same store code the Durable Object runs;
- KV: reads, writes, deletes and lists, counted by a KV double that keeps KV's rules; its write
  rate limit is counted, not enforced, so the run measures our code, not a 1 s wait.
Prices are Cloudflare's list prices; Durable Object duration (GB-s) is left out on both sides.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from chatstate.chat.concurrency import Concurrency
from chatstate.chat.events import Inbound
from chatstate.chat.runtime import Chat
from chatstate.chat.work_index import ParentWorkIndex
from chatstate.http.messages import HttpRequest
from chatstate.platforms.telegram import TelegramPlatform
from chatstate.state.adapter import StateAdapter
from chatstate.state.backends.kv import open_kv_state
from chatstate.state.backends.sqlite_files import LocalStateAdapter, open_local_state, wall_clock_ms
from chatstate.state.backends.sqlite_port import SqlitePort

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests")]
from measurements import TelegramStub  # noqa: E402

import bot  # noqa: E402
from chatstate.testing.payloads import telegram_message_update  # noqa: E402
from support.kv_double import KvNamespaceDouble  # noqa: E402
from support.local_server import BOT_USERNAME  # noqa: E402

STRATEGIES = ("queue", "debounce", "burst", "concurrent", "drop")
CHATS = 20
# $ per million: KV reads; KV writes, deletes and lists; DO requests; DO SQLite rows written.
KV_READ, KV_WRITE, DO_REQUEST, DO_ROW = 0.50, 5.00, 0.15, 1.00


async def run(
    backend: str, strategy: str, messages: int, *, chats: int = CHATS, enforce: bool = False
) -> dict[str, float]:
    kv_counts: Counter[str] = Counter()
    state: StateAdapter
    if backend == "kv":
        kv = KvNamespaceDouble(wall_clock_ms, interleave=False, enforce_write_rate=enforce)
        kv_counts = kv.counts
        state = open_kv_state(kv.location(), clock=wall_clock_ms)
    else:
        state = open_local_state()
    shard_calls = 0
    real_call = state.call_shard

    async def counting(shard: str, operations: list[list[Any]]) -> dict[str, Any]:
        nonlocal shard_calls
        shard_calls += 1
        return await real_call(shard, operations)

    state.call_shard = counting
    await state.connect()
    parent = SqlitePort(None)
    platform = TelegramPlatform(bot_token="t", secret_token="s", http=TelegramStub(BOT_USERNAME))
    # Debounce's wait is time, not traffic: 1 ms keeps the run short and the counts the same.
    concurrency = Concurrency(strategy=strategy, debounce_ms=1)  # type: ignore[arg-type]
    chat = Chat(
        platforms=[platform],
        state=state,
        work_index=ParentWorkIndex(parent),
        concurrency=concurrency,
    )
    bot.setup(chat)

    async def send(n: int) -> None:
        mention = n < chats  # the first message in each chat subscribes the bot
        update = telegram_message_update(
            -100 - n % chats,
            f"m{n}",
            bot_username=BOT_USERNAME if mention else None,
            update_id=n + 1,
        )
        request = HttpRequest("POST", "/webhooks/telegram", {}, json.dumps(update).encode())
        inbound = platform.parse(request)
        assert isinstance(inbound, Inbound)
        await chat.accept("telegram", inbound)
        await chat.idle()

    for n in range(chats):  # warm up: every chat subscribed
        await send(n)
    kv_counts.clear()
    shard_calls = 0
    rows_before, parent_before = _rows(state), parent.rows_written
    started = time.perf_counter()
    for n in range(chats, chats + messages):
        await send(n)
    elapsed = time.perf_counter() - started
    parent_rows = parent.rows_written - parent_before
    rows = _rows(state) - rows_before + parent_rows
    await state.disconnect()
    per = {name: count / messages for name, count in kv_counts.items()}
    return {
        "messages_per_s": messages / elapsed,
        "shard_calls": shard_calls / messages,
        "rows_written": rows / messages,
        "parent_rows": parent_rows / messages,
        "reads": per.get("reads", 0.0),
        "writes": per.get("writes", 0.0) + per.get("deletes", 0.0),
        "lists": per.get("lists", 0.0),
        "rate_limited": per.get("rate_limited", 0.0),
    }


def _rows(state: StateAdapter) -> int:
    return state.shards.rows_written() if isinstance(state, LocalStateAdapter) else 0


def cost_do(result: dict[str, float]) -> float:
    # The parent's accept is a request too, on both backends.
    return (result["shard_calls"] + 1) * DO_REQUEST + result["rows_written"] * DO_ROW


def cost_kv(result: dict[str, float]) -> float:
    parent = 1 * DO_REQUEST + result["parent_rows"] * DO_ROW
    return parent + result["reads"] * KV_READ + (result["writes"] + result["lists"]) * KV_WRITE


async def measure(messages: int) -> list[str]:
    lines = [
        f"{messages} uncontended Telegram messages in {CHATS} chats, the example bot, per "
        "inbound message:",
        "",
        "| strategy | DO msgs/s | shard calls | rows written | $ per M msgs | KV msgs/s | "
        "KV reads | KV writes+deletes | KV lists | of those writes, within 1 s of the last to "
        "their key | parent rows | $ per M msgs |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for strategy in STRATEGIES:
        do = await run("durable-objects", strategy, messages)
        kv = await run("kv", strategy, messages)
        lines.append(
            f"| {strategy} | {do['messages_per_s']:.0f} | {do['shard_calls']:.2f} | "
            f"{do['rows_written']:.2f} | {cost_do(do):.2f} | {kv['messages_per_s']:.0f} | "
            f"{kv['reads']:.2f} | {kv['writes']:.2f} | {kv['lists']:.2f} | "
            f"{kv['rate_limited']:.2f} | {kv['parent_rows']:.2f} | {cost_kv(kv):.2f} |"
        )
    paced = await run("kv", "queue", 10, chats=1, enforce=True)
    lines += [
        "",
        "One chat, 10 messages back to back, queue strategy, the KV double refusing a second "
        f"write to a key within 1 s as KV does: {paced['messages_per_s']:.2f} messages/s "
        f"({paced['rate_limited']:.1f} refused writes per message, each retried 1 s later).",
        "",
        "Rows written count the shards' and the parent's (its work index). Costs: $ per million "
        f"inbound messages at list prices (KV ${KV_READ:.2f}/M reads, ${KV_WRITE:.2f}/M writes, "
        f"deletes or lists; Durable Objects ${DO_REQUEST:.2f}/M requests, ${DO_ROW:.2f}/M rows "
        "written); both include the parent object's request and rows; DO duration is left out.",
    ]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=400)
    args = parser.parse_args()
    print("\n".join(asyncio.run(measure(args.messages))))


if __name__ == "__main__":
    main()
