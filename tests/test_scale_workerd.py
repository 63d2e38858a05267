"""No Durable Object takes every message: on the real workerd, 200 messages in 200 chats, each
object's calls counted by itself (CHAT_COUNT_CALLS=1), and the console still lists every chat,
newest first. And an uncontended message's cost in calls and statements, counted likewise."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from chatstate.testing.payloads import telegram_message_update
from support.e2e import post_telegram
from support.fake_apis import FakeApis
from support.local_server import BOT_USERNAME, SLACK_TOKEN, TELEGRAM_TOKEN, WranglerServer

pytestmark = pytest.mark.e2e

ADMIN = "scale-admin-token-0123456789"
CHATS = 200
# Measured: the chat's shard and parent together (the console's note is counted apart).
STATEMENTS_PER_MESSAGE = 12
CONSOLE_STATEMENTS_PER_NOTE = 2


@pytest.fixture(scope="module")
def apis() -> Iterator[FakeApis]:
    fake = FakeApis(TELEGRAM_TOKEN, SLACK_TOKEN, BOT_USERNAME).start()
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, apis: FakeApis
) -> Iterator[WranglerServer]:
    request.getfixturevalue("workerd_ready")
    directory = tmp_path_factory.mktemp("scale")
    running = WranglerServer(
        directory / "data",
        apis.base,
        directory / "server.log",
        CHAT_COUNT_CALLS="1",
        CHAT_ADMIN_TOKEN=ADMIN,
    )
    running.start()
    yield running
    running.stop()


def counts(server: WranglerServer, cls: str) -> dict[str, dict[str, int]]:
    """Each object's own counts, by its storage file."""
    found = {}
    for path in sorted((server.do_storage / f"chatstate-bot-{cls}").glob("*.sqlite")):
        if path.name == "metadata.sqlite":
            continue
        with sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True) as db:
            tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master")}
            if "chatstate_counts" in tables:
                found[path.name] = dict(db.execute("SELECT what, n FROM chatstate_counts"))
    return found


def wait_for_replies(apis: FakeApis, count: int) -> None:
    deadline = time.monotonic() + 180
    while len(apis.sent("sendMessage")) < count:
        assert time.monotonic() < deadline, f"{len(apis.sent('sendMessage'))} of {count} replies"
        time.sleep(0.1)


def test_no_object_but_a_chats_own_takes_more_than_5_percent_of_the_messages(
    server: WranglerServer, apis: FakeApis
) -> None:
    chats = [-300_000 - n for n in range(CHATS)]

    def mention(chat: int) -> int:
        update = telegram_message_update(chat, "hello", bot_username=BOT_USERNAME)
        return post_telegram(server, update).status_code

    with ThreadPoolExecutor(max_workers=10) as pool:
        assert set(pool.map(mention, chats)) == {200}
    wait_for_replies(apis, CHATS)
    time.sleep(3)  # trailing console notes, if any
    shards = counts(server, "ChatSdkStateAgent")
    calls = {name: c.get("run_batch", 0) for name, c in shards.items()}
    assert len(calls) > CHATS  # each chat's shard, and the console's index shards
    assert max(calls.values()) <= CHATS * 5 // 100, sorted(calls.values())[-5:]
    parents = counts(server, "ChatMessenger")
    assert len(parents) == CHATS and {c["accept"] for c in parents.values()} == {1}

    with httpx.Client(base_url=server.url, timeout=60) as console:
        console.post("/console/sign-in", data={"token": ADMIN})
        assert "chat_console" in console.cookies
        first = console.get("/console/api/conversations?limit=100").json()
        second = console.get(
            "/console/api/conversations", params={"limit": 100, "cursor": first["next"]}
        ).json()
    listed = first["items"] + second["items"]
    assert sorted(item["id"] for item in listed) == sorted(f"telegram:{c}" for c in chats)
    times = [item["last_activity"] for item in listed]
    assert times == sorted(times, reverse=True)


def test_an_uncontended_message_costs_two_shard_calls_one_parent_call_and_12_statements(
    server: WranglerServer, apis: FakeApis
) -> None:
    chat = -400_001
    # Two first messages: the parent reads once per instance what it then keeps in memory
    # (its alarm's time, its earliest scheduled post).
    for text in ("hello", "again"):
        expected = len(apis.sent("sendMessage")) + 1
        update = telegram_message_update(chat, text, bot_username=BOT_USERNAME)
        assert post_telegram(server, update).status_code == 200
        wait_for_replies(apis, expected)
        time.sleep(2.2)  # a message's finishing call comes after its reply is sent
    before_shards = counts(server, "ChatSdkStateAgent")
    before_parents = counts(server, "ChatMessenger")
    follow_ups = 5
    for n in range(follow_ups):
        expected = len(apis.sent("sendMessage")) + 1
        assert post_telegram(server, telegram_message_update(chat, f"more {n}")).status_code == 200
        wait_for_replies(apis, expected)
        time.sleep(2.2)  # past the console's note interval: each message noted as it comes
    time.sleep(2)
    after_shards = counts(server, "ChatSdkStateAgent")
    after_parents = counts(server, "ChatMessenger")

    def grown(
        after: dict[str, dict[str, int]], before: dict[str, dict[str, int]], what: str
    ) -> dict[str, int]:
        return {
            name: c.get(what, 0) - before.get(name, {}).get(what, 0)
            for name, c in after.items()
            if c.get(what, 0) != before.get(name, {}).get(what, 0)
        }

    shard_calls = grown(after_shards, before_shards, "run_batch")
    parent_calls = grown(after_parents, before_parents, "accept")
    # The chat's own shard: accept and finish per message; its state rides with both.
    # (Objects are known here by their storage files: the chat's shard is the busiest.)
    own_shard = max(shard_calls, key=lambda name: shard_calls[name])
    assert shard_calls[own_shard] == 2 * follow_ups
    assert list(parent_calls.values()) == [follow_ups]
    # Python invocations: ingress, parent, two shard calls, and at most one console note a
    # message (at most one per conversation per 2 s); no alarm of the chat's for them.
    notes = sum(c for n, c in shard_calls.items() if n != own_shard)
    assert notes <= follow_ups
    # (The other test's 200 chats clean up meanwhile: their shards' alarms are not ours.)
    assert own_shard not in grown(after_shards, before_shards, "alarm")
    assert not set(parent_calls) & set(grown(after_parents, before_parents, "alarm"))
    # The chat goes idle after each message: its parent sets its re-check alarm and deletes it
    # again, and reads it no more.
    assert grown(after_parents, before_parents, "alarm_writes") == {
        name: 2 * follow_ups for name in parent_calls
    }
    statements = grown(after_shards, before_shards, "statements")
    own = statements.pop(own_shard)
    own += sum(grown(after_parents, before_parents, "statements").values())
    assert own <= STATEMENTS_PER_MESSAGE * follow_ups, own
    noted = sum(n for name, n in statements.items() if name in shard_calls)
    assert noted <= CONSOLE_STATEMENTS_PER_NOTE * notes, statements
