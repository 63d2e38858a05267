"""A clock the tests move by hand: TTLs are tested without sleeping."""

from __future__ import annotations


class FakeClock:
    def __init__(self, now_ms: int = 1_700_000_000_000) -> None:
        self.now_ms = now_ms

    def __call__(self) -> int:
        return self.now_ms

    def advance(self, ms: int) -> None:
        self.now_ms += ms

    async def sleep(self, seconds: float) -> None:
        """A sleep that lets the time pass at once: for code that waits out a limit."""
        self.advance(int(seconds * 1000))
