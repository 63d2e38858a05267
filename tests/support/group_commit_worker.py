"""Writes batches 20 at a time (so they share group commits) until it is killed, printing each
batch's number once its call returned: those must survive any kill.

Usage: python -m support.group_commit_worker DIRECTORY FIRST_NUMBER
"""

from __future__ import annotations

import asyncio
import sys

from chatstate import open_local_state


async def write_forever(directory: str, first: int) -> None:
    state = open_local_state(directory)
    await state.connect()

    async def one(number: int) -> None:
        chat = f"telegram:{-1000 - number % 50}"
        batch = state.batch()
        batch.set(f"thread-state:{chat}:{number}", number)
        batch.append_to_list(f"msg-history:{chat}", number, max_length=1000)
        batch.set(f"channel-state:{chat}:{number}", number)
        await batch.run()
        print(number, flush=True)

    number = first
    while True:
        await asyncio.gather(*(one(n) for n in range(number, number + 20)))
        number += 20


if __name__ == "__main__":
    asyncio.run(write_forever(sys.argv[1], int(sys.argv[2])))
