"""One writer thread per SQLite file, committing whatever is waiting as one transaction.

A caller on the event loop queues its work and awaits a future; the thread takes everything
queued, runs it as one group (one fsync, each work in a savepoint of its own) and settles the
group's futures with one wake-up of the loop. Work that arrives during a commit forms the next
group, so the busier the file, the more batches share each fsync.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Callable
from typing import Any

from chatstate.state.backends.sqlite_port import SqlitePort

_Job = tuple[Callable[[], Any], asyncio.Future[Any]]


class GroupCommitWriter:
    def __init__(self, sql: SqlitePort, name: str) -> None:
        self._sql = sql
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._write, name=name, daemon=True)
        self._thread.start()

    def submit(self, work: Callable[[], Any]) -> asyncio.Future[Any]:
        """Run `work` on the writer thread inside the next group commit; the future resolves
        with its result (or exception) once that group has committed."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._jobs.put((work, future))
        return future

    def close(self) -> None:
        """Finish what is queued, then stop the thread."""
        self._jobs.put(None)
        self._thread.join()

    def _write(self) -> None:
        stopping = False
        while not stopping:
            first = self._jobs.get()
            if first is None:
                return
            group = [first]
            # Everything queued behind the first job shares its commit.
            while True:
                try:
                    job = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if job is None:
                    stopping = True
                    break
                group.append(job)
            try:
                outcomes = self._sql.run_group([work for work, _ in group])
            except BaseException as error:
                outcomes = [(False, error)] * len(group)
            self._settle(group, outcomes)

    @staticmethod
    def _settle(group: list[_Job], outcomes: list[tuple[bool, Any]]) -> None:
        loop = group[0][1].get_loop()

        def settle() -> None:
            for (_, future), (ok, value) in zip(group, outcomes, strict=True):
                if future.cancelled():
                    continue
                if ok:
                    future.set_result(value)
                else:
                    future.set_exception(value)

        # A closed loop has nobody waiting any more.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(settle)
