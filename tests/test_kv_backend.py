"""The Workers KV backend keeps KV's rules where they bite, and says what it cannot hold."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from chatstate import ShardCallError
from chatstate.conversations.agents import Agents
from chatstate.local.http11_client import Http11Client
from chatstate.state.backends.kv import KvError, KvRateLimitedError, KvStateAdapter, open_kv_state
from chatstate.state.backends.kv.client import MAX_KEY_BYTES
from chatstate.state.backends.kv.rest_client import KvRestClient
from support.clock import FakeClock
from support.fake_kv_api import ACCOUNT_ID, API_TOKEN, NAMESPACE_ID, FakeKvApi
from support.kv_double import KvNamespaceDouble

CHAT = "telegram:-100123"


@pytest.fixture
def kv(clock: FakeClock) -> KvNamespaceDouble:
    return KvNamespaceDouble(clock)


def open_state(kv: KvNamespaceDouble, clock: FakeClock, **options: Any) -> KvStateAdapter:
    return open_kv_state(kv.location(), clock=clock, **{"sleep": clock.sleep, **options})


async def no_time_passes(_: float) -> None:
    """A sleep after which the key is still rate-limited: every retry is refused too."""


@pytest.fixture
async def state(kv: KvNamespaceDouble, clock: FakeClock) -> AsyncIterator[KvStateAdapter]:
    adapter = open_state(kv, clock)
    await adapter.connect()
    yield adapter
    await adapter.disconnect()


# --- KV's rules ------------------------------------------------------------------------------


async def test_a_ttl_under_a_minute_stays_exact_while_kv_keeps_the_key_a_minute(
    state: KvStateAdapter, kv: KvNamespaceDouble, clock: FakeClock
) -> None:
    start = clock()
    await state.set("k", 1, 1_000)
    assert kv.expires_at("chat-sdk:cache:k") == start + 60_000
    clock.advance(1_000)
    assert await state.get("k") is None


async def test_a_ttl_over_a_minute_is_kvs_own_rounded_up(
    state: KvStateAdapter, kv: KvNamespaceDouble, clock: FakeClock
) -> None:
    start = clock()
    await state.set("k", 1, 90_500)
    assert kv.expires_at("chat-sdk:cache:k") == start + 91_000


async def test_a_value_set_without_ttl_gets_the_default_of_360_minutes(
    state: KvStateAdapter, kv: KvNamespaceDouble, clock: FakeClock
) -> None:
    start = clock()
    await state.set("k", 1)
    assert kv.expires_at("chat-sdk:cache:k") == start + 360 * 60_000


async def test_no_default_ttl_keeps_a_value_set_without_ttl_forever(
    kv: KvNamespaceDouble, clock: FakeClock
) -> None:
    state = open_state(kv, clock, default_ttl_ms=None)
    await state.connect()
    await state.set("k", 1)
    assert kv.expires_at("chat-sdk:cache:k") is None


async def test_a_key_too_long_for_kv_is_hashed_stably(
    kv: KvNamespaceDouble, clock: FakeClock
) -> None:
    long_key = "thread-state:" + "é" * 300  # 613 bytes
    first = open_state(kv, clock)
    await first.connect()
    await first.set(long_key, "v")
    second = open_state(kv, clock)
    await second.connect()
    assert await second.get(long_key) == "v"
    [name] = kv.names()
    assert len(name.encode()) <= MAX_KEY_BYTES and name.startswith("chat-sdk:cache:#")


async def test_pending_work_lists_a_thread_whose_key_was_hashed(
    state: KvStateAdapter, clock: FakeClock
) -> None:
    thread = "slack:T1:" + "x" * 600
    batch = state.batch()
    batch.mark_pending(thread)
    batch.mark_pending("telegram:1")
    await batch.run()
    assert await state.kv_store.pending_work() == sorted([thread, "telegram:1"])


async def test_a_list_that_would_outgrow_a_kv_value_is_refused(state: KvStateAdapter) -> None:
    item = "x" * (1024 * 1024 - 100)
    with pytest.raises(ValueError, match="at most 26214400 bytes"):
        for _ in range(30):
            await state.append_to_list("transcript", item)
    assert len(await state.get_list("transcript")) == 25


async def test_keys_live_under_the_prefix_and_two_prefixes_share_a_namespace(
    kv: KvNamespaceDouble, clock: FakeClock
) -> None:
    blue, green = (
        open_state(kv, clock, key_prefix="blue"),
        open_state(kv, clock, key_prefix="green"),
    )
    for state in (blue, green):
        await state.connect()
    await blue.set("k", "blue")
    await green.set("k", "green")
    await blue.subscribe(CHAT)
    assert (await blue.get("k"), await green.get("k")) == ("blue", "green")
    assert not await green.is_subscribed(CHAT)
    assert all(name.startswith(("blue:", "green:")) for name in kv.names())


async def test_a_second_write_within_a_second_waits_and_rereads(
    state: KvStateAdapter, kv: KvNamespaceDouble, clock: FakeClock
) -> None:
    start = clock()
    await state.append_to_list("l", 1)
    await state.append_to_list("l", 2)
    assert kv.counts["rate_limited"] == 1
    assert clock() - start == 1_000
    assert await state.get_list("l") == [1, 2]


async def test_a_key_written_every_instant_gives_up_after_four_attempts(
    kv: KvNamespaceDouble, clock: FakeClock
) -> None:
    state = open_state(kv, clock, sleep=no_time_passes)
    await state.connect()
    await state.set("k", 1)
    with pytest.raises(ShardCallError, match="Workers KV failed"):
        await state.set("k", 2)
    assert kv.counts["rate_limited"] == 4


# --- what a batch can and cannot promise on KV -----------------------------------------------


async def test_a_lost_guard_applies_nothing_of_its_batch(
    state: KvStateAdapter, kv: KvNamespaceDouble, clock: FakeClock
) -> None:
    lost = await state.acquire_lock(CHAT, 1_000)
    clock.advance(1_000)
    writes = kv.counts["writes"]
    batch = state.batch()
    batch.set(f"thread-state:{CHAT}", 1)
    batch.set(f"channel-state:{CHAT}", 2, guard=lost)
    with pytest.raises(Exception, match="no longer held"):
        await batch.run()
    assert kv.counts["writes"] == writes


async def test_a_kv_failure_midway_leaves_earlier_operations_applied(
    kv: KvNamespaceDouble, clock: FakeClock
) -> None:
    state = open_state(kv, clock, sleep=no_time_passes)
    await state.connect()
    await state.set("b", 0)  # b's next write within the second is refused, four times
    batch = state.batch()
    batch.set("a", 1)
    batch.set("b", 2)
    with pytest.raises(ShardCallError):
        await batch.run()
    assert await state.get("a") == 1


# --- eventual consistency between locations --------------------------------------------------


async def test_another_location_sees_a_write_only_after_the_visibility_delay(
    clock: FakeClock,
) -> None:
    kv = KvNamespaceDouble(clock, visibility_delay_ms=1_000)
    here, there = kv.location("here"), kv.location("there")
    await here.put("k", "v", None)
    assert (await here.get("k"), await there.get("k")) == ("v", None)
    clock.advance(1_000)
    assert await there.get("k") == "v"


async def test_the_double_refuses_what_kv_refuses(kv: KvNamespaceDouble) -> None:
    location = kv.location()
    with pytest.raises(KvError, match="at least 60"):
        await location.put("k", "v", 59)
    with pytest.raises(KvError, match="exceeds 512"):
        await location.get("k" * 513)
    with pytest.raises(KvError, match="invalid key"):
        await location.put("..", "v", None)
    await location.put("k", "v", None)
    with pytest.raises(KvRateLimitedError):
        await location.put("k", "w", None)


async def test_the_double_lists_by_prefix_in_pages_of_a_thousand(
    kv: KvNamespaceDouble, clock: FakeClock
) -> None:
    location = kv.location()
    for n in range(1_500):
        await location.put(f"p:{n:05d}", "v", None)
    await location.put("q:other", "v", None)
    first = await location.list_keys("p:", None)
    second = await location.list_keys("p:", first.cursor)
    assert (len(first.names), len(second.names), second.cursor) == (1_000, 500, None)
    assert first.names + second.names == sorted(f"p:{n:05d}" for n in range(1_500))


# --- the REST client against the Cloudflare API's KV endpoints -------------------------------


@pytest.fixture
def kv_api(clock: FakeClock) -> Iterator[FakeKvApi]:
    fake = FakeKvApi(KvNamespaceDouble(clock, interleave=False)).start()
    yield fake
    fake.stop()


@pytest.fixture
async def rest(kv_api: FakeKvApi) -> AsyncIterator[KvRestClient]:
    http = Http11Client()
    yield KvRestClient(
        http,
        account_id=ACCOUNT_ID,
        namespace_id=NAMESPACE_ID,
        api_token=API_TOKEN,
        api_base=kv_api.base,
    )
    await http.close()


async def test_rest_client_round_trips_a_value_with_its_ttl(
    rest: KvRestClient, kv_api: FakeKvApi
) -> None:
    await rest.put("chat-sdk:cache:a/b c", "vâlue", 120)
    assert await rest.get("chat-sdk:cache:a/b c") == "vâlue"
    method, path, headers = kv_api.requests[0]
    assert (method, path.split("?")[1]) == ("PUT", "expiration_ttl=120")
    assert "a%2Fb%20c" in path
    assert headers["authorization"] == f"Bearer {API_TOKEN}"


async def test_rest_client_reads_a_missing_key_as_none(rest: KvRestClient) -> None:
    assert await rest.get("absent") is None


async def test_rest_client_deletes(rest: KvRestClient, clock: FakeClock) -> None:
    await rest.put("k", "v", None)
    clock.advance(1_000)
    await rest.delete("k")
    assert await rest.get("k") is None


async def test_rest_client_lists_every_page(rest: KvRestClient, kv_api: FakeKvApi) -> None:
    for n in range(1_001):
        kv_api.namespace.write("api", f"p:{n:04d}", "v", None)
    first = await rest.list_keys("p:", None)
    assert first.cursor is not None
    second = await rest.list_keys("p:", first.cursor)
    assert (len(first.names), second.names, second.cursor) == (1_000, ["p:1000"], None)


async def test_rest_client_reports_a_rate_limited_write(rest: KvRestClient) -> None:
    await rest.put("k", "v", None)
    with pytest.raises(KvRateLimitedError):
        await rest.put("k", "w", None)


async def test_rest_client_error_names_the_failure_but_never_the_token(
    kv_api: FakeKvApi,
) -> None:
    http = Http11Client()
    client = KvRestClient(
        http,
        account_id=ACCOUNT_ID,
        namespace_id=NAMESPACE_ID,
        api_token="wrong-token-123",
        api_base=kv_api.base,
    )
    with pytest.raises(KvError, match="HTTP 403") as raised:
        await client.get("k")
    await http.close()
    assert "wrong-token-123" not in str(raised.value)


async def test_the_state_api_runs_over_rest(rest: KvRestClient, clock: FakeClock) -> None:
    state = open_kv_state(rest, clock=clock)
    await state.connect()
    assert await state.set_if_not_exists("dedupe:1", True, 60_000)
    assert not await state.set_if_not_exists("dedupe:1", True, 60_000)
    lock = await state.acquire_lock(CHAT, 30_000)
    assert lock is not None and await state.acquire_lock(CHAT, 30_000) is None
    await state.subscribe(CHAT)
    assert await state.is_subscribed(CHAT)


async def test_a_namespaced_store_reads_and_writes_on_kv(state: KvStateAdapter) -> None:
    store = state.store("profile")
    await store.set_many({"a": 1, "b": None})
    assert await store.get_many(["a", "b", "c"]) == {"a": 1, "b": None}


async def test_what_needs_transactions_is_refused_on_kv_saying_what_to_use(
    state: KvStateAdapter,
) -> None:
    with pytest.raises(ValueError, match="CHAT_STATE=sqlite"):
        await state.store("profile").clear()
    with pytest.raises(ValueError, match="CHAT_STATE=sqlite"):
        await Agents(state).create_conversation("helper", {"user_id": "u"})
