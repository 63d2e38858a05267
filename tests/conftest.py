from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from chatstate.state.backends.sqlite_files import LocalStateAdapter, open_local_state
from support.clock import FakeClock
from support.fake_apis import FakeApis
from support.local_server import (
    BOT_USERNAME,
    SLACK_TOKEN,
    TELEGRAM_TOKEN,
    LocalServer,
    WranglerServer,
    prepare_workerd,
    workerd_skip_reason,
)


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


@pytest.fixture
def apis() -> Iterator[FakeApis]:
    fake = FakeApis(TELEGRAM_TOKEN, SLACK_TOKEN, BOT_USERNAME).start()
    yield fake
    fake.stop()


@pytest.fixture(scope="session")
def workerd_ready() -> None:
    reason = workerd_skip_reason()
    if reason is not None:
        pytest.skip(reason)
    prepare_workerd()


@pytest.fixture(params=["local", "workerd"])
def runtime_kind(request: pytest.FixtureRequest) -> str:
    """Every end-to-end case runs on the local runtime and on the Worker under workerd."""
    if request.param == "workerd":
        request.getfixturevalue("workerd_ready")
    return str(request.param)


@pytest.fixture
def start_server(
    tmp_path: Path, apis: FakeApis, runtime_kind: str
) -> Iterator[Callable[..., LocalServer]]:
    """Start the bot as a user would; a second start reuses the first one's data."""
    servers: list[LocalServer] = []
    kind = WranglerServer if runtime_kind == "workerd" else LocalServer

    def start(**env: str) -> LocalServer:
        log = tmp_path / f"server-{len(servers)}.log"
        server = kind(tmp_path / "data", apis.base, log, **env)
        servers.append(server.start())
        return server

    yield start
    for server in servers:
        server.stop()
