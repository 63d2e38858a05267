"""Races on the three guarantees a chat bot leans on, run against each backend, counted.

Each race: two bot instances contend for one thing (a lock, a dedupe key, one chat's queue),
the second starting a uniformly random 0-2 s after the first (seeded, so every run gives the
same counts). Setups:
- Durable Objects: both instances call the same object, as on Cloudflare.
- KV, one location: two separate stores in one location, racing concurrently.
- KV, two locations: one store per location, each seeing the other's writes 1 s late.

README.md's table of KV guarantees is `render_table(run_all())`; tests/test_kv_guarantees.py
keeps the two equal, and `scripts/kv_guarantees.py --write` rewrites it.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from chatstate import QueueEntry, StateAdapter, open_local_state
from chatstate.state.backends.kv import open_kv_state
from support.clock import FakeClock
from support.kv_double import KvNamespaceDouble

RACES = 1_000
MAX_GAP_MS = 2_000
VISIBILITY_DELAY_MS = 1_000
SEED = 2026
SETUPS = ("Durable Objects", "KV, one location", "KV, two locations, 1 s delay")
TABLE_START = "<!-- kv-guarantees:start -->"
TABLE_END = "<!-- kv-guarantees:end -->"

# One contender's move in race n; returns what the race counts (grants, claims, entries).
Move = Callable[[StateAdapter, int, str], Awaitable[object]]


@dataclass(frozen=True)
class RaceResult:
    failures: int
    out_of: int

    @property
    def rate(self) -> float:
        return self.failures / self.out_of


async def _lock(state: StateAdapter, n: int, _: str) -> object:
    return await state.acquire_lock(f"telegram:{n}", 30_000) is not None


async def _dedupe(state: StateAdapter, n: int, _: str) -> object:
    return await state.set_if_not_exists(f"dedupe:telegram:{n}:1", True, 600_000)


async def _enqueue(state: StateAdapter, n: int, message: str) -> object:
    now = state.clock()
    return await state.enqueue(f"telegram:{n}", QueueEntry(message, now, now + 90_000), 10)


def _pair(setup: str, clock: FakeClock) -> tuple[StateAdapter, StateAdapter]:
    if setup == SETUPS[0]:
        shared = open_local_state(clock=clock)
        return shared, shared
    delay = VISIBILITY_DELAY_MS if setup == SETUPS[2] else 0
    kv = KvNamespaceDouble(clock, visibility_delay_ms=delay)
    where = ("a", "b") if setup == SETUPS[2] else ("a", "a")
    first, second = (
        open_kv_state(kv.location(name), clock=clock, sleep=clock.sleep) for name in where
    )
    return first, second


Count = Callable[[StateAdapter, int, list[object]], Awaitable[int]]


async def race(setup: str, move: Move, count_failure: Count) -> RaceResult:
    clock = FakeClock()
    first, second = _pair(setup, clock)
    for state in {id(first): first, id(second): second}.values():
        await state.connect()
    gaps = random.Random(SEED)
    failures = 0
    for n in range(RACES):
        gap = gaps.randrange(MAX_GAP_MS)
        if setup == SETUPS[1]:
            # One location: both at once, interleaving call by call.
            outcomes = list(await asyncio.gather(move(first, n, "m1"), move(second, n, "m2")))
        else:
            one = await move(first, n, "m1")
            clock.advance(gap)
            outcomes = [one, await move(second, n, "m2")]
        clock.advance(MAX_GAP_MS + 60_000)  # everything visible everywhere again
        failures += await count_failure(first, n, outcomes)
    for state in {id(first): first, id(second): second}.values():
        await state.disconnect()
    return RaceResult(failures, RACES * (2 if move is _enqueue else 1))


async def _both_won(_: StateAdapter, __: int, outcomes: list[object]) -> int:
    return int(all(outcomes))


async def _lost_messages(state: StateAdapter, n: int, _: list[object]) -> int:
    kept = 0
    while await state.dequeue(f"telegram:{n}") is not None:
        kept += 1
    return 2 - kept


GUARANTEES: list[tuple[str, str, Move, Count]] = [
    ("A lock has one holder", "races granted it twice", _lock, _both_won),
    ("A delivery is handled once (dedupe key)", "races both claimed it", _dedupe, _both_won),
    ("An accepted message is never lost (queue)", "messages lost", _enqueue, _lost_messages),
]


async def run_all() -> dict[tuple[str, str], RaceResult]:
    results = {}
    for name, _, move, count in GUARANTEES:
        for setup in SETUPS:
            results[(name, setup)] = await race(setup, move, count)
    return results


def render_table(results: dict[tuple[str, str], RaceResult]) -> str:
    lines = [
        TABLE_START,
        f"| guarantee ({RACES:,} races each) | " + " | ".join(SETUPS) + " |",
        "|---" * (len(SETUPS) + 1) + "|",
    ]
    for name, unit, _, _ in GUARANTEES:
        cells = []
        for setup in SETUPS:
            result = results[(name, setup)]
            if result.failures:
                cells.append(f"⚠️ {result.rate:.1%} {unit} ({result.failures}/{result.out_of})")
            else:
                cells.append(f"✅ 0/{result.out_of}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines.append(TABLE_END)
    return "\n".join(lines)
