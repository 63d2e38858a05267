"""Scheduled posts' wake-ups on the local runtime: the shard files are their record.

A restart finds every file's earliest post by asking the files themselves, so nothing beyond
the posts' own rows needs to be kept."""

from __future__ import annotations

from chatstate.state.backends.sqlite_files import LocalShards


class FileWakeups:
    wakes_itself = False

    def __init__(self, shards: LocalShards) -> None:
        self._shards = shards

    async def remember(self, shard: str, at_ms: int) -> None:
        return None

    async def forget(self, shard: str) -> None:
        return None

    async def shards(self) -> list[tuple[str, int]]:
        return await self._shards.scheduled()
