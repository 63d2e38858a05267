"""Measure the state engine: primitive rates, a raw sqlite3 baseline, rows written.

Run: .venv/bin/python scripts/benchmark.py [--ops N] [--dir PATH]
Prints a Markdown report; docs/benchmark.md holds the last recorded run.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from chatstate import QueueEntry, open_local_state
from chatstate.local_state import LocalStateAdapter

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ops", type=int, default=2000)
    parser.add_argument("--dir", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        directory = args.dir or Path(scratch)
        directory.mkdir(parents=True, exist_ok=True)
        print("\n".join(asyncio.run(measure(directory, args.ops))))


if __name__ == "__main__":
    main()
