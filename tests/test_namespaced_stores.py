"""Namespaced stores: `state.store(id)` keys live under `id:` in one shard, with strict TTLs,
and `cached()` computes once per key while the entry lives."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from chatstate.state.backends.sqlite_files import LocalStateAdapter, open_local_state
from support.clock import FakeClock


async def test_stores_sharing_a_shard_keep_their_keys_apart(state: LocalStateAdapter) -> None:
    profile, settings = state.store("profile", shard="s1"), state.store("settings", shard="s1")
    await profile.set("lang", "en")
    await settings.set("lang", "fr")
    assert await profile.get("lang") == "en"
    assert await settings.get("lang") == "fr"


async def test_clear_removes_only_the_stores_own_keys(state: LocalStateAdapter) -> None:
    a, ab = state.store("a", shard="s1"), state.store("ab", shard="s1")
    await a.set_many({"x": 1, "y": 2})
    await ab.set("x", 3)
    await state.set("a", "plain key")
    assert await a.clear() == 2
    assert await a.get_many(["x", "y"]) == {}
    assert await ab.get("x") == 3
    assert await state.get("a") == "plain key"


async def test_get_many_leaves_out_absent_keys_and_keeps_stored_nulls(
    state: LocalStateAdapter,
) -> None:
    store = state.store("s")
    await store.set_many({"one": 1, "nothing": None})
    assert await store.get_many(["one", "nothing", "absent"]) == {"one": 1, "nothing": None}


async def test_get_returns_the_default_only_for_an_absent_key(state: LocalStateAdapter) -> None:
    store = state.store("s")
    await store.set("null", None)
    assert await store.get("null", "default") is None
    assert await store.get("absent", "default") == "default"


async def test_ttl_is_strict_on_read(state: LocalStateAdapter, clock: FakeClock) -> None:
    store = state.store("s")
    await store.set("k", "v", ttl_ms=1000)
    clock.advance(999)
    assert await store.get("k") == "v"
    clock.advance(1)
    assert await store.get("k") is None


async def test_remove_deletes_one_key(state: LocalStateAdapter) -> None:
    store = state.store("s")
    await store.set_many({"a": 1, "b": 2})
    await store.remove("a")
    assert await store.get_many(["a", "b"]) == {"b": 2}


async def test_set_many_writes_nothing_when_one_value_is_refused(
    state: LocalStateAdapter,
) -> None:
    store = state.store("s")
    with pytest.raises(ValueError, match="limit"):
        await store.set_many({"small": 1, "huge": "x" * (1024 * 1024 + 1)})
    assert await store.get("small") is None


@pytest.mark.parametrize("store_id", ["", "a:b"])
def test_a_store_id_that_could_collide_is_refused(state: LocalStateAdapter, store_id: str) -> None:
    with pytest.raises(ValueError, match="store id"):
        state.store(store_id)


async def test_cached_runs_compute_once_under_20_concurrent_callers(
    state: LocalStateAdapter,
) -> None:
    store = state.store("llm")
    runs = 0

    async def compute() -> str:
        nonlocal runs
        runs += 1
        await asyncio.sleep(0.01)
        return "answer"

    results = await asyncio.gather(*(store.cached("q", compute, 60_000) for _ in range(20)))
    assert results == ["answer"] * 20
    assert runs == 1


async def test_cached_computes_again_once_the_entry_expired(
    state: LocalStateAdapter, clock: FakeClock
) -> None:
    store = state.store("llm")
    values = iter(["first", "second"])

    async def compute() -> str:
        return next(values)

    assert await store.cached("q", compute, 1000) == "first"
    assert await store.cached("q", compute, 1000) == "first"
    clock.advance(1000)
    assert await store.cached("q", compute, 1000) == "second"


async def test_cached_stores_nothing_when_compute_raises(state: LocalStateAdapter) -> None:
    store = state.store("llm")

    async def fail() -> str:
        raise RuntimeError("model down")

    async def succeed() -> str:
        return "ok"

    with pytest.raises(RuntimeError, match="model down"):
        await store.cached("q", fail, 1000)
    assert await store.cached("q", succeed, 1000) == "ok"


async def test_cached_computes_once_across_two_processes_sharing_state(
    tmp_path: Path, clock: FakeClock
) -> None:
    # Two adapters over the same files stand for two processes: the shard lock decides.
    first = open_local_state(tmp_path, clock=clock)
    second = open_local_state(tmp_path, clock=clock)
    await first.connect()
    await second.connect()
    runs = 0
    release = asyncio.Event()

    async def compute() -> str:
        nonlocal runs
        runs += 1
        await release.wait()
        return "shared"

    one = asyncio.create_task(first.store("llm").cached("q", compute, 60_000))
    await asyncio.sleep(0.05)
    two = asyncio.create_task(second.store("llm").cached("q", compute, 60_000))
    await asyncio.sleep(0.1)
    release.set()
    assert list(await asyncio.gather(one, two)) == ["shared", "shared"]
    assert runs == 1
    await first.disconnect()
    await second.disconnect()
