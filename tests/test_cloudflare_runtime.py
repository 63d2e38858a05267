"""The Cloudflare glue (src/entry.py, src/messenger.py, src/state_agent.py) driven through the
Workers test double: the same ingress, parent and shard logic the local runtime hosts."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import workers

from chatstate.cloudflare import state_agent
from chatstate.platforms.slack import signature
from chatstate.routes.console.index import index_shard
from chatstate.testing.payloads import slack_app_mention, slack_event, telegram_message_update
from entry import ChatMessenger, ChatSdkStateAgent, Default
from support.clock import FakeClock

TOKEN = "123456:TEST-token"
SECRET = "webhook-secret_1"
SLACK_SECRET = "slack-signing-secret"
VARS = {
    "TELEGRAM_BOT_TOKEN": TOKEN,
    "TELEGRAM_WEBHOOK_SECRET": SECRET,
    "SLACK_SIGNING_SECRET": SLACK_SECRET,
    "SLACK_BOT_TOKEN": "xoxb-1",
    "CHAT_CONCURRENCY": "queue",
}


class FakeTelegramApi:
    """The Bot API behind the fetch double: getMe, sendMessage, answerCallbackQuery."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    async def __call__(
        self, url: str, method: str, headers: dict[str, str], body: bytes
    ) -> workers.Response:
        assert url.startswith(f"https://api.telegram.org/bot{TOKEN}/"), url
        name = url.rsplit("/", 1)[1]
        payload = json.loads(body or b"{}")
        if name == "getMe":
            return workers.Response.json(
                {
                    "ok": True,
                    "result": {"id": 42, "is_bot": True, "first_name": "Bot", "username": "my_bot"},
                }
            )
        if name == "sendMessage":
            self.sent.append(payload)
            message = {
                "message_id": len(self.sent),
                "chat": {"id": payload["chat_id"], "type": "supergroup"},
                "date": 0,
                "text": payload["text"],
            }
            return workers.Response.json({"ok": True, "result": message})
        return workers.Response.json({"ok": True, "result": True})


@pytest.fixture
def telegram() -> Iterator[FakeTelegramApi]:
    api = FakeTelegramApi()
    workers.route_fetch(api)
    yield api
    workers.route_fetch(None)


def worker_runtime(directory: Path, **more_vars: str) -> workers.Runtime:
    """The Worker's bindings over the double, with VARS and any more vars or secrets."""
    bindings = {"MESSENGER": ChatMessenger, "STATE_SHARDS": ChatSdkStateAgent}
    return workers.Runtime(directory, {**VARS, **more_vars}, bindings)


@pytest.fixture
def runtime(tmp_path: Path, telegram: FakeTelegramApi) -> Iterator[workers.Runtime]:
    runtime = worker_runtime(tmp_path)
    yield runtime
    # What workerd would have logged: work it never ran, proxies destroyed under it.
    assert runtime.dropped == []
    assert runtime.uncaught == []


def telegram_request(update: dict[str, Any], secret: str = SECRET) -> workers.Request:
    return workers.Request(
        "https://bot.example.workers.dev/webhooks/telegram",
        "POST",
        {"content-type": "application/json", "X-Telegram-Bot-Api-Secret-Token": secret},
        json.dumps(update).encode(),
    )


def slack_request(envelope: dict[str, Any]) -> workers.Request:
    body = json.dumps(envelope).encode()
    stamp = str(int(time.time()))
    headers = {
        "content-type": "application/json",
        "x-slack-request-timestamp": stamp,
        "x-slack-signature": signature(SLACK_SECRET, stamp, body),
    }
    return workers.Request("https://bot.example.workers.dev/webhooks/slack", "POST", headers, body)


async def post(runtime: workers.Runtime, request: workers.Request) -> workers.Response:
    response: workers.Response = await runtime.entrypoint(Default).fetch(request)
    return response


async def test_a_signed_telegram_update_is_answered_through_the_shards(
    runtime: workers.Runtime, telegram: FakeTelegramApi
) -> None:
    response = await post(
        runtime, telegram_request(telegram_message_update(-100123, "hello", bot_username="my_bot"))
    )
    assert response.status == 200
    await runtime.settle()
    assert [m["chat_id"] for m in telegram.sent] == [-100123]
    assert "hello" in telegram.sent[0]["text"]
    shards = runtime.namespaces["STATE_SHARDS"]
    # The chat's own shard alone: the console is off, so no index is kept.
    assert {name for name, _ in shards.calls} == {"telegram:-100123"}
    rows = (
        shards.storage("telegram:-100123")
        .sql.exec("SELECT COUNT(*) AS n FROM chat_state_list_items")
        .one()
    )
    assert rows["n"] >= 2  # the inbound message and the reply, in the chat's history


async def test_with_the_console_on_a_new_conversation_is_noted_in_one_index_shard(
    tmp_path: Path, telegram: FakeTelegramApi
) -> None:
    runtime = worker_runtime(tmp_path, CHAT_ADMIN_TOKEN="console-admin-token-0123")
    update = telegram_message_update(-100125, "hello", bot_username="my_bot")
    await post(runtime, telegram_request(update))
    await runtime.settle()
    shards = runtime.namespaces["STATE_SHARDS"]
    assert {name for name, _ in shards.calls} == {
        "telegram:-100125",
        index_shard("telegram:-100125"),
    }


async def test_a_follow_up_with_state_makes_two_calls_to_its_shard_and_at_most_one_note(
    tmp_path: Path, telegram: FakeTelegramApi
) -> None:
    runtime = worker_runtime(tmp_path, CHAT_ADMIN_TOKEN="console-admin-token-0123")
    await post(
        runtime, telegram_request(telegram_message_update(-100124, "first", bot_username="my_bot"))
    )
    await runtime.settle()
    shards = runtime.namespaces["STATE_SHARDS"]
    shards.calls.clear()
    # The example bot's follow-up reads and writes the thread's state and replies: its state
    # comes with the accept call, its write and reply go with the finishing call.
    await post(runtime, telegram_request(telegram_message_update(-100124, "more")))
    await runtime.settle()
    names = [name for name, _ in shards.calls]
    assert names.count("telegram:-100124") == 2
    # The console's index: one trailing note for the conversation, in one of its shards.
    assert [name for name in names if name.startswith("console")] in (
        [],
        [index_shard("telegram:-100124")],
    )
    assert "2 in this thread" in telegram.sent[-1]["text"]


def counted(namespace: Any, what: str) -> dict[str, int]:
    """Each object's CHAT_COUNT_CALLS count of `what` (calls, or statements)."""
    names = {name for name, _ in namespace.calls}
    return {
        name: sum(
            int(row["n"])
            for row in namespace.storage(name)
            .sql.exec("SELECT n FROM chatstate_counts WHERE what = ?", what)
            .toArray()
        )
        for name in names
    }


def grown(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    return {name: n - before.get(name, 0) for name, n in after.items() if n != before.get(name, 0)}


async def test_an_uncontended_message_costs_twelve_statements_and_three_invocations(
    tmp_path: Path, telegram: FakeTelegramApi
) -> None:
    runtime = worker_runtime(tmp_path, CHAT_COUNT_CALLS="1")
    chat = "telegram:-100127"
    await post(
        runtime, telegram_request(telegram_message_update(-100127, "first", bot_username="my_bot"))
    )
    await runtime.settle()
    # The parent reads once per instance what it then keeps in memory (its alarm's time, its
    # earliest scheduled post): a second message leaves only what each message costs.
    await post(runtime, telegram_request(telegram_message_update(-100127, "second")))
    await runtime.settle()
    shards, parents = runtime.namespaces["STATE_SHARDS"], runtime.namespaces["MESSENGER"]
    before = {
        what: (counted(shards, what), counted(parents, what))
        for what in ("statements", "run_batch", "accept", "alarm", "alarm_writes")
    }
    # The example bot's follow-up reads and writes the thread's state and replies.
    await post(runtime, telegram_request(telegram_message_update(-100127, "more")))
    await runtime.settle()
    after = {
        what: (counted(shards, what), counted(parents, what))
        for what in ("statements", "run_batch", "accept", "alarm", "alarm_writes")
    }
    shard_statements = grown(after["statements"][0], before["statements"][0])
    parent_statements = grown(after["statements"][1], before["statements"][1])
    # Dedupe 1, history 2, enqueue 1, the turn 1; history 2, state 1, ack 1, release 1;
    # the parent's work index 2. The console's note, if due, goes to an index shard.
    assert shard_statements[chat] + sum(parent_statements.values()) == 12
    assert grown(after["run_batch"][0], before["run_batch"][0])[chat] == 2
    assert sum(grown(after["accept"][1], before["accept"][1]).values()) == 1
    assert grown(after["alarm"][0], before["alarm"][0]) == {}
    assert grown(after["alarm"][1], before["alarm"][1]) == {}
    # Its work done, the parent drops the re-check alarm that would have woken it for nothing:
    # a setAlarm and a deleteAlarm a message, and no getAlarm besides.
    [parent] = {name for name, _ in parents.calls}
    assert grown(after["alarm_writes"][1], before["alarm_writes"][1]) == {parent: 2}
    assert await parents.storage(parent).getAlarm() is None
    assert "3 in this thread" in telegram.sent[-1]["text"]


async def test_a_wrong_secret_is_refused_before_any_object_is_reached(
    runtime: workers.Runtime,
) -> None:
    response = await post(
        runtime, telegram_request(telegram_message_update(-1, "x"), secret="wrong")
    )
    assert response.status == 401
    assert runtime.namespaces["MESSENGER"].calls == []


async def test_slack_url_verification_is_answered_by_the_ingress(runtime: workers.Runtime) -> None:
    request = slack_request({"type": "url_verification", "challenge": "abc", "token": "t"})
    response = await post(runtime, request)
    assert (response.status, json.loads(await response.text())) == (200, {"challenge": "abc"})
    assert runtime.namespaces["MESSENGER"].calls == []


async def test_a_body_over_the_limit_is_refused_unread(runtime: workers.Runtime) -> None:
    request = workers.Request(
        "https://bot.example.workers.dev/webhooks/telegram",
        "POST",
        {"content-length": str(2 * 1024 * 1024), "x-telegram-bot-api-secret-token": SECRET},
        b"",
    )
    assert (await post(runtime, request)).status == 413


async def test_unknown_routes_and_methods_get_404_and_405(runtime: workers.Runtime) -> None:
    assert (await post(runtime, workers.Request("https://b.example/nope"))).status == 404
    assert (
        await post(runtime, workers.Request("https://b.example/webhooks/telegram"))
    ).status == 405


async def test_a_redelivered_update_is_handled_once(
    runtime: workers.Runtime, telegram: FakeTelegramApi
) -> None:
    update = telegram_message_update(-100126, "again", bot_username="my_bot")
    for _ in range(3):
        assert (await post(runtime, telegram_request(update))).status == 200
    await runtime.settle()
    assert len(telegram.sent) == 1


async def test_work_of_an_evicted_parent_is_redriven_by_its_alarm(
    runtime: workers.Runtime, telegram: FakeTelegramApi
) -> None:
    parent = runtime.namespaces["MESSENGER"]
    messenger = parent._instance("bot:telegram:-100127")  # one parent per channel
    messenger._chat._keep_alive = lambda task: task.cancel()  # evicted before its handler ran
    await post(
        runtime,
        telegram_request(telegram_message_update(-100127, "evicted", bot_username="my_bot")),
    )
    assert telegram.sent == []
    await (
        runtime.namespaces["STATE_SHARDS"]
        .getByName("telegram:-100127")
        .run_batch([["force_release_lock", "telegram:-100127"]])
    )  # its lock lapses after the eviction
    parent.evict("bot:telegram:-100127")
    assert await parent.storage("bot:telegram:-100127").getAlarm() is not None
    await parent.fire_due_alarms(float("inf"))
    await runtime.settle()
    assert [m["chat_id"] for m in telegram.sent] == [-100127]


async def test_the_shard_alarm_cleans_expired_rows_through_the_glue(
    runtime: workers.Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FakeClock()
    monkeypatch.setattr(state_agent, "wall_clock_ms", clock)
    shards = runtime.namespaces["STATE_SHARDS"]
    stub = shards.getByName("telegram:5")
    reply = await stub.run_batch([["set", "thread-state:telegram:5", '"x"', 1, None]])
    assert reply == {"results": [None]}
    alarm = await shards.storage("telegram:5").getAlarm()
    assert alarm is not None
    clock.advance(1)
    await shards.fire_due_alarms(alarm)
    count = (
        shards.storage("telegram:5").sql.exec("SELECT COUNT(*) AS n FROM chat_state_cache").one()
    )
    assert count["n"] == 0


async def test_shard_errors_cross_rpc_as_values(runtime: workers.Runtime) -> None:
    stub = runtime.namespaces["STATE_SHARDS"].getByName("telegram:6")
    reply = await stub.run_batch([["enqueue", "telegram:6", "{}", 1, 0]])
    assert reply["error"]["type"] == "ValueError"


async def test_a_failing_alarm_rearms_itself_on_its_last_retry(
    runtime: workers.Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    shards = runtime.namespaces["STATE_SHARDS"]
    agent = shards._instance("telegram:7")

    async def broken() -> None:
        raise RuntimeError("storage hiccup")

    monkeypatch.setattr(agent._host, "on_alarm", broken)

    class Retry:
        retryCount = 5

    await agent.alarm(Retry())
    assert await shards.storage("telegram:7").getAlarm() is not None
    with pytest.raises(RuntimeError):
        await agent.alarm(None)


async def test_a_slack_mention_is_accepted_with_its_event_id(
    runtime: workers.Runtime,
) -> None:
    calls: list[str] = []

    async def slack_api(
        url: str, method: str, headers: dict[str, str], raw: bytes
    ) -> workers.Response:
        calls.append(url)
        return workers.Response.json({"ok": True, "ts": "1.000001", "message": {}})

    workers.route_fetch(slack_api)
    request = slack_request(slack_event(slack_app_mention("C1", "hi")))
    assert (await post(runtime, request)).status == 200
    await runtime.settle()
    assert calls == ["https://slack.com/api/chat.postMessage"]


async def test_each_channel_gets_its_own_parent_object_by_default(
    runtime: workers.Runtime, telegram: FakeTelegramApi
) -> None:
    for chat in (-100131, -100132):
        update = telegram_message_update(chat, "hi", bot_username="my_bot")
        assert (await post(runtime, telegram_request(update))).status == 200
    await runtime.settle()
    parents = {name for name, _ in runtime.namespaces["MESSENGER"].calls}
    assert parents == {"bot:telegram:-100131", "bot:telegram:-100132"}


async def test_the_live_socket_is_hibernatable_and_gets_events_after_an_eviction(
    tmp_path: Path,
) -> None:
    token = "api-token-0123456789"
    runtime = worker_runtime(tmp_path, CHAT_API_TOKEN=token)
    shards = runtime.namespaces["STATE_SHARDS"]
    agent = shards.getByName("agent:helper")
    await agent.run_batch([["agent_create_conversation", "helper", '{"user_id": "u"}']])
    upgrade = workers.Request(
        "https://bot.example/api/agents/helper/live?after=0",
        headers={"upgrade": "websocket", "authorization": f"Bearer {token}"},
    )
    response = await agent.fetch(upgrade)
    assert response.status == 101
    [server_end] = shards.accepted_sockets("agent:helper")
    shards.evict("agent:helper")  # hibernation: the object goes, the accepted socket stays
    await agent.run_batch([["agent_add_memory", "helper", "conv-1", "likes tea"]])
    sent = [json.loads(text) for text in server_end.sent]
    assert [(e["seq"], e["type"]) for e in sent] == [
        (1, "conversation.created"),
        (2, "status.changed"),
        (3, "memory.added"),
    ]


CONSOLE = "https://bot.example.workers.dev"


async def test_the_console_is_off_until_the_admin_secret_exists(runtime: workers.Runtime) -> None:
    response = await post(runtime, workers.Request(f"{CONSOLE}/", "GET", {}, b""))
    assert response.status == 404
    assert "set the CHAT_ADMIN_TOKEN secret" in await response.text()
    assert runtime.namespaces["MESSENGER"].calls == []


async def test_a_console_chat_box_message_runs_in_its_web_threads_parent(
    tmp_path: Path, telegram: FakeTelegramApi
) -> None:
    admin = "console-admin-token-0123"
    runtime = worker_runtime(tmp_path, CHAT_ADMIN_TOKEN=admin)
    in_url = await post(runtime, workers.Request(f"{CONSOLE}/?token={admin}", "GET", {}, b""))
    assert in_url.status == 400 and in_url.headers.get("set-cookie") is None
    form = {"content-type": "application/x-www-form-urlencoded", "origin": CONSOLE}
    signed = await post(
        runtime,
        workers.Request(
            f"{CONSOLE}/console/sign-in",
            "POST",
            {**form, "host": CONSOLE[8:]},
            f"token={admin}".encode(),
        ),
    )
    assert signed.status == 303
    cookie = signed.headers.get("set-cookie").split(";")[0]
    assert "Secure" in signed.headers.get("set-cookie")
    page = await post(runtime, workers.Request(f"{CONSOLE}/", "GET", {"cookie": cookie}, b""))
    csrf = (await page.text()).split('name="console-csrf" content="')[1].split('"')[0]
    headers = {"cookie": cookie, "x-console-csrf": csrf, "origin": CONSOLE, "host": CONSOLE[8:]}
    sent = await post(
        runtime,
        workers.Request(
            f"{CONSOLE}/console/api/web/messages",
            "POST",
            headers,
            json.dumps({"client_id": "c1", "text": "hello"}).encode(),
        ),
    )
    assert sent.status == 202
    await runtime.settle()
    thread = json.loads(await sent.text())["thread_id"]
    parents = {name for name, _ in runtime.namespaces["MESSENGER"].calls}
    assert parents == {"bot", f"bot:{thread}"}  # signing in, then the web thread's own parent
    transcript = await post(
        runtime, workers.Request(f"{CONSOLE}/console/api/web", "GET", headers, b"")
    )
    texts = [m["text"] for m in json.loads(await transcript.text())["messages"]]
    assert texts[0] == "hello" and texts[1].startswith("hi Console user!")
    assert runtime.dropped == [] and runtime.uncaught == []
