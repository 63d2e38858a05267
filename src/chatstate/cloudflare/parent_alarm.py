"""The parent object's one alarm, its time kept in memory.

The object is the only one that sets its alarm, so after one `getAlarm` per instance storage is
asked nothing more: a chat that goes quiet after every message costs a `setAlarm` and a
`deleteAlarm` a message, not a read besides.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class ParentAlarm:
    def __init__(self, storage: Any, on_write: Callable[[], None] | None = None) -> None:
        self._storage = storage
        # Called once per setAlarm or deleteAlarm (CHAT_COUNT_CALLS counts them).
        self._on_write = on_write
        self._at: int | None = None
        self._known = False

    async def at(self) -> int | None:
        if not self._known:
            alarm = await self._storage.getAlarm()
            self._at = None if alarm is None else int(alarm)
            self._known = True
        return self._at

    async def set(self, at_ms: int) -> None:
        await self._storage.setAlarm(at_ms)
        self._at, self._known = at_ms, True
        self._wrote()

    async def no_later_than(self, at_ms: int) -> None:
        """Fire by `at_ms`: a later alarm (a post scheduled for tomorrow) is brought forward."""
        current = await self.at()
        if current is None or current > at_ms:
            await self.set(at_ms)

    async def delete(self) -> None:
        if await self.at() is not None:
            await self._storage.deleteAlarm()
            self._at = None
            self._wrote()

    def fired(self) -> None:
        """The alarm handler runs: the runtime has cleared the alarm it ran for."""
        self._at, self._known = None, True

    def _wrote(self) -> None:
        if self._on_write is not None:
            self._on_write()
