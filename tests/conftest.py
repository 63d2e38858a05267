from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from chatstate.local_state import LocalStateAdapter, open_local_state
from support.clock import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def state(clock: FakeClock) -> AsyncIterator[LocalStateAdapter]:
    adapter = open_local_state(clock=clock)
    await adapter.connect()
    yield adapter
    await adapter.disconnect()


@pytest.fixture
def open_disk_state(tmp_path: Path, clock: FakeClock) -> Callable[..., LocalStateAdapter]:
    def open_state(**options: object) -> LocalStateAdapter:
        return open_local_state(tmp_path / "state", clock=clock, **options)  # type: ignore[arg-type]

    return open_state
