"""Conversation flow state: one contract, passed by every storage adapter (memory, JSON files,
SQLite, Redis on a real redis-server, and the project's shards)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from chatstate.conversations.flow_state import (
    ConversationState,
    ConversationStates,
    ConversationStorage,
    JsonFileStorage,
    MemoryStorage,
    ShardStorage,
    SqliteStorage,
)
from chatstate.conversations.redis_state import RedisStorage
from chatstate.state.backends.sqlite_files import open_local_state
from support.clock import FakeClock
from support.redis_server import RedisServer

ADAPTERS = ["memory", "json-files", "sqlite", "redis", "shards"]


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


@pytest.fixture
async def redis_client(redis_server: RedisServer) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_server.url)
    await client.flushdb()
    yield client
    await client.aclose()


@pytest.fixture(params=ADAPTERS)
async def storage(
    request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock
) -> AsyncIterator[ConversationStorage]:
    kind = request.param
    if kind == "memory":
        yield MemoryStorage()
    elif kind == "json-files":
        yield JsonFileStorage(tmp_path / "states")
    elif kind == "sqlite":
        sqlite = SqliteStorage(tmp_path / "states.sqlite3", table="flows")
        yield sqlite
        sqlite.close()
    elif kind == "redis":
        server: RedisServer = request.getfixturevalue("redis_server")
        client = Redis.from_url(server.url)
        await client.flushdb()
        yield RedisStorage(client, key_prefix="test:")
        await client.aclose()
    else:
        state = open_local_state(tmp_path / "shards", clock=clock)
        await state.connect()
        yield ShardStorage(state)
        await state.disconnect()


@pytest.fixture
def states(storage: ConversationStorage, clock: FakeClock) -> ConversationStates:
    return ConversationStates(storage, clock=clock)


async def test_an_unknown_conversation_loads_as_none(states: ConversationStates) -> None:
    assert await states.load("telegram:-100:7") is None


async def test_a_saved_state_loads_back_whole(states: ConversationStates) -> None:
    saved = ConversationState(
        "telegram:-100:7/ü",
        current_step="ask_city",
        slots={"name": "Ada", "party": 2},
        history=[{"step": "greet"}],
        ended=False,
    )
    await states.save(saved)
    assert await states.load("telegram:-100:7/ü") == saved


async def test_save_keeps_created_at_and_moves_updated_at(
    states: ConversationStates, clock: FakeClock
) -> None:
    state = await states.load_or_new("c1")
    await states.save(state)
    created = state.created_at
    clock.advance(5_000)
    state.current_step = "next"
    await states.save(state)
    loaded = await states.load("c1")
    assert loaded is not None
    assert (loaded.created_at, loaded.updated_at) == (created, created + 5_000)


async def test_delete_removes_only_that_conversation(states: ConversationStates) -> None:
    await states.save(ConversationState("a"))
    await states.save(ConversationState("b"))
    await states.delete("a")
    await states.delete("never-saved")
    assert await states.load("a") is None
    assert await states.load("b") is not None


async def test_slots_are_set_and_read_through_the_storage(states: ConversationStates) -> None:
    await states.set_slot("c1", "city", "Lisbon")
    await states.set_slot("c1", "nights", 3)
    assert await states.get_slots("c1") == {"city": "Lisbon", "nights": 3}
    assert await states.get_slot("c1", "city") == "Lisbon"
    assert await states.get_slot("c1", "absent", "default") == "default"
    assert await states.get_slots("other") == {}


async def test_an_empty_conversation_id_is_refused(states: ConversationStates) -> None:
    with pytest.raises(ValueError, match="conversation id"):
        await states.load("")


def test_json_files_are_replaced_atomically_leaving_no_partial_file(tmp_path: Path) -> None:
    storage = JsonFileStorage(tmp_path)
    storage._write(storage.path_of("c1"), '{"v": 1}')
    storage._write(storage.path_of("c1"), '{"v": 2}')
    assert [p.name for p in tmp_path.iterdir()] == [storage.path_of("c1").name]
    assert storage.path_of("c1").read_text() == '{"v": 2}'


def test_a_sqlite_table_name_that_is_not_a_plain_name_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="table"):
        SqliteStorage(tmp_path / "x.sqlite3", table="flows; DROP TABLE x")


async def test_redis_keys_carry_the_prefix_and_the_ttl(redis_client: Redis) -> None:
    states = ConversationStates(RedisStorage(redis_client, key_prefix="bot:", ttl_s=3600))
    await states.save(ConversationState("c1"))
    assert await redis_client.exists("bot:c1") == 1
    assert 3500 < await redis_client.ttl("bot:c1") <= 3600
