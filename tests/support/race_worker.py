"""One contender in the multi-process test: races for a lock per round, appends to a list.

Usage: python -m support.race_worker DIRECTORY ROUNDS WORKER_ID START_AT_EPOCH_S
Prints the rounds it won, one per line.
"""

from __future__ import annotations

import asyncio
import sys
import time

from chatstate import open_local_state


async def race(directory: str, rounds: int, worker: str, start_at: float) -> None:
    state = open_local_state(directory)
    await state.connect()
    await asyncio.sleep(max(0.0, start_at - time.time()))
    for round_number in range(rounds):
        lock = await state.acquire_lock(f"telegram:race:{round_number}", 60_000)
        if lock is not None:
            print(round_number, flush=True)
        await state.append_to_list("msg-history:telegram:race", f"{worker}:{round_number}")
    await state.disconnect()


if __name__ == "__main__":
    directory, rounds, worker, start_at = sys.argv[1:5]
    asyncio.run(race(directory, int(rounds), worker, float(start_at)))
