"""Dies (os._exit, no cleanup at all) in the middle of a batch's transaction.

Usage: python -m support.crash_worker DIRECTORY STATEMENTS_BEFORE_DEATH
"""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any

from chatstate import QueueEntry, open_local_state


async def crash(directory: str, statements_before_death: int) -> None:
    state = open_local_state(directory)
    await state.connect()
    await state.set("thread-state:telegram:1", "before")
    shard = state.shards.opened()["telegram:1"]
    real_exec = shard.sql.exec
    count = 0

    def dying_exec(sql: str, *params: Any) -> list[Any]:
        nonlocal count
        count += 1
        if count > statements_before_death:
            os._exit(17)
        return real_exec(sql, *params)

    shard.sql.exec = dying_exec  # type: ignore[method-assign]
    batch = state.batch()
    batch.set("thread-state:telegram:1", "during")
    batch.subscribe("telegram:1:2")
    batch.append_to_list("msg-history:telegram:1", "during", ttl_ms=60_000)
    batch.enqueue("telegram:1", QueueEntry("during", 0, 2**52), 10)
    await batch.run()
    os._exit(0)


if __name__ == "__main__":
    asyncio.run(crash(sys.argv[1], int(sys.argv[2])))
