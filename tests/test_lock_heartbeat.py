"""The optional adapter-side lock heartbeat (reference 4.4)."""

from __future__ import annotations

import asyncio

from chatstate import open_local_state
from support.clock import FakeClock


class Ticks:
    """A sleep the test releases one tick at a time, moving the clock by the slept time."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.waiting: asyncio.Queue[asyncio.Future[None]] = asyncio.Queue()
        self.slept: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        await self.waiting.put(done)
        await done
        self.clock.advance(int(seconds * 1000))

    async def tick(self) -> None:
        (await self.waiting.get()).set_result(None)
        await asyncio.sleep(0.01)


async def test_heartbeat_keeps_a_lock_past_its_ttl(clock: FakeClock) -> None:
    state = open_local_state(clock=clock, lock_heartbeat=True)
    ticks = Ticks(clock)
    state._sleep = ticks.sleep
    await state.connect()
    lock = await state.acquire_lock("telegram:1", 3_000)
    for _ in range(5):
        await ticks.tick()
    assert ticks.slept[0] == 1.0
    assert await state.acquire_lock("telegram:1", 3_000) is None
    assert lock is not None
    await state.release_lock(lock)
    await state.disconnect()


async def test_heartbeat_stops_on_release(clock: FakeClock) -> None:
    state = open_local_state(clock=clock, lock_heartbeat=True)
    ticks = Ticks(clock)
    state._sleep = ticks.sleep
    await state.connect()
    lock = await state.acquire_lock("telegram:1", 3_000)
    assert lock is not None
    await state.release_lock(lock)
    await asyncio.sleep(0.01)
    assert state._heartbeats == {}
    await state.disconnect()


async def test_without_heartbeat_a_lock_lapses_at_its_ttl(clock: FakeClock) -> None:
    state = open_local_state(clock=clock)
    await state.connect()
    await state.acquire_lock("telegram:1", 3_000)
    clock.advance(3_000)
    assert await state.acquire_lock("telegram:1", 3_000) is not None
    await state.disconnect()
