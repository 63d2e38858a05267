from __future__ import annotations

import pytest

from chatstate.state.sharding import ShardRouter, default_key_shard, default_thread_shard


@pytest.mark.parametrize(
    ("thread_id", "shard"),
    [
        ("telegram:-100123:456", "telegram:-100123"),
        ("telegram:-100123", "telegram:-100123"),
        ("telegram", "telegram"),
        ("a:b:c:d", "a:b"),
        (":x", ":x"),
        ("", "default"),
        ("slack:C123:1355517523.000005", "slack:C123"),
    ],
)
def test_default_thread_shard_takes_the_first_two_segments(thread_id: str, shard: str) -> None:
    assert default_thread_shard(thread_id) == shard


@pytest.mark.parametrize(
    ("key", "shard"),
    [
        ("thread-state:telegram:123:456", "telegram:123"),
        ("channel-state:telegram:123", "telegram:123"),
        ("msg-history:telegram:123:456", "telegram:123"),
        ("transcripts:user:acme:user-123", "acme:user-123"),
        ("chat:callback:opaque", None),
        ("modal-context:slack:ctx", None),
    ],
)
def test_default_key_shard_routes_recognised_prefixes_by_their_remainder(
    key: str, shard: str | None
) -> None:
    assert default_key_shard(key) == shard


@pytest.mark.parametrize(
    ("key", "shard"),
    [
        ("dedupe:telegram:123:999", "telegram:123"),
        ("dedupe:telegram:-100123:42", "telegram:-100123"),
        ("dedupe:slack:C123:1355517523.000005", "slack:C123"),
        ("dedupe:telegram", None),
        ("dedupe:telegram:", None),
    ],
)
def test_dedupe_keys_live_with_their_chat(key: str, shard: str | None) -> None:
    assert default_key_shard(key) == shard


def test_default_key_shard_uses_the_given_thread_mapping() -> None:
    assert default_key_shard("thread-state:a:b:c", lambda t: t.upper()) == "A:B:C"


def test_router_sends_empty_thread_ids_to_its_named_shard() -> None:
    assert ShardRouter(name="main").for_thread("") == "main"


def test_router_sends_unrecognised_keys_to_its_named_shard() -> None:
    assert ShardRouter(name="main").for_key("chat:callback:x") == "main"


def test_router_shard_key_hook_maps_threads_and_recognised_keys() -> None:
    router = ShardRouter(shard_key=lambda t: "one")
    assert router.for_thread("telegram:1:2") == "one"
    assert router.for_key("thread-state:telegram:1:2") == "one"


def test_router_key_shard_hook_wins_over_the_default_routing() -> None:
    router = ShardRouter(key_shard=lambda k: "custom" if k.startswith("thread-") else None)
    assert router.for_key("thread-state:telegram:1") == "custom"
    assert router.for_key("msg-history:telegram:1") == "telegram:1"


def test_router_key_shard_hook_returning_empty_string_is_used_as_is() -> None:
    assert ShardRouter(key_shard=lambda k: "").for_key("thread-state:a:b") == ""
