"""The console's core, in process: its index, a thread's details in one call, handler failures,
sessions and CSRF, and every bad request its routes refuse."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from chatstate.chat.concurrency import Concurrency
from chatstate.chat.content import Markdown
from chatstate.chat.events import Message
from chatstate.chat.runtime import Chat
from chatstate.chat.thread import Thread
from chatstate.chat.work_index import ShardWorkIndex
from chatstate.config import BotConfig, ConfigError
from chatstate.conversations.agents import Agents
from chatstate.http.messages import HttpRequest, HttpResponse
from chatstate.local.serve import console_banner
from chatstate.platforms.web import WebPlatform, web_thread
from chatstate.routes.console.auth import (
    COOKIE,
    CSRF_HEADER,
    new_session,
    session_cookie,
    session_of,
)
from chatstate.routes.console.index import ConsoleIndex, index_shard
from chatstate.routes.console.routes import ConsoleApp
from chatstate.state.adapter import StateAdapter
from chatstate.state.backends.kv import open_kv_state
from chatstate.state.backends.sqlite_files import LocalStateAdapter
from support.clock import FakeClock
from support.fake_platform import FakePlatform, as_inbound, message
from support.kv_double import KvNamespaceDouble

ADMIN = "admin-token-0123456789"
HOST = "console.test"


class CountingCalls:
    """Wraps a state's shard calls to count them per shard."""

    def __init__(self, state: StateAdapter) -> None:
        self.calls: list[str] = []
        inner = state.call_shard

        async def call(shard: str, operations: list[list[Any]]) -> dict[str, Any]:
            self.calls.append(shard)
            return await inner(shard, operations)

        state.call_shard = call


def make_chat(state: LocalStateAdapter, console: ConsoleIndex | None = None) -> Chat:
    return Chat(
        platforms=[FakePlatform(), WebPlatform(state)],
        state=state,
        work_index=ShardWorkIndex(state.shards.pending_work),
        concurrency=Concurrency(strategy="queue"),
        observers=[console if console is not None else ConsoleIndex(state)],
    )


# --- the index -------------------------------------------------------------------------------


async def test_the_index_lists_newest_activity_first_and_pages_by_cursor(
    state: LocalStateAdapter, clock: FakeClock
) -> None:
    chat = make_chat(state)
    for number in range(5):
        clock.advance(1_000)
        await chat.accept("fake", as_inbound(message(f"fake:c{number}", f"hi {number}", "m")))
    await chat.idle()
    index = ConsoleIndex(state)
    first = await index.page(None, 2)
    second = await index.page(first["next"], 2)
    third = await index.page(second["next"], 2)
    listed = [item["id"] for page in (first, second, third) for item in page["items"]]
    assert listed == [f"fake:c{n}" for n in (4, 3, 2, 1, 0)]
    assert third["next"] is None


async def test_a_redelivered_message_is_counted_once(state: LocalStateAdapter) -> None:
    chat = make_chat(state)
    for _ in range(3):
        await chat.accept("fake", as_inbound(message("fake:c1", "hello", "m1")))
    await chat.idle()
    [item] = (await ConsoleIndex(state).page(None, 10))["items"]
    assert (item["messages"], item["last_text"]) == (1, "ann: hello")
    assert item["detail"]["queue_key"] == "fake:c1"


async def test_a_group_is_listed_by_its_name_and_a_direct_message_by_its_user(
    state: LocalStateAdapter,
) -> None:
    chat = make_chat(state)
    group = replace(message("fake:g1", "hi", "m1"), raw={"chat": {"id": 1, "title": "Team"}})
    direct = replace(message("fake:d1", "hi", "m2", author="bob"), is_dm=True)
    unnamed = message("fake:g2", "hi", "m3")
    for event in (group, direct, unnamed):
        await chat.accept("fake", as_inbound(event))
    await chat.idle()
    titles = {
        item["id"]: item["title"] for item in (await ConsoleIndex(state).page(None, 10))["items"]
    }
    assert titles == {"fake:g1": "Team", "fake:d1": "bob", "fake:g2": ""}


async def test_a_busy_conversation_is_noted_once_then_once_per_interval(
    state: LocalStateAdapter, clock: FakeClock
) -> None:
    inner = state.call_shard
    notes: list[str] = []

    async def counting(shard: str, operations: list[list[Any]]) -> dict[str, Any]:
        if shard.startswith("console"):
            notes.append(shard)
        return await inner(shard, operations)

    async def sleep(seconds: float) -> None:
        # The interval passes while the other notes arrive (they are accepted meanwhile).
        await asyncio.sleep(0.2)
        clock.advance(int(seconds * 1000))

    state.call_shard = counting
    index = ConsoleIndex(state, sleep=sleep)
    chat = make_chat(state, index)
    for n in range(10):
        await chat.accept("fake", as_inbound(message("fake:c1", f"hi {n}", f"m{n}")))
    await chat.idle()
    # The first message at once, the nine within its interval in one trailing note.
    assert len(notes) == 2 and set(notes) == {index_shard("fake:c1")}
    [row] = (await index.page(None, 10))["items"]
    assert (row["messages"], row["last_text"]) == (10, "ann: hi 9")


async def test_notes_of_many_conversations_spread_over_the_index_shards(
    state: LocalStateAdapter,
) -> None:
    inner = state.call_shard
    notes: Counter[str] = Counter()

    async def counting(shard: str, operations: list[list[Any]]) -> dict[str, Any]:
        if shard.startswith("console"):
            notes[shard] += 1
        return await inner(shard, operations)

    state.call_shard = counting
    index = ConsoleIndex(state)
    chat = make_chat(state, index)
    for n in range(200):
        await chat.accept("fake", as_inbound(message(f"fake:c{n}", "hi", "m")))
    await chat.idle()
    assert sum(notes.values()) == 200
    assert max(notes.values()) <= 10  # no index shard takes more than 5% of the messages
    page = await index.page(None, 100)
    following = await index.page(page["next"], 100)
    listed = [item["id"] for item in page["items"] + following["items"]]
    assert sorted(listed) == sorted(f"fake:c{n}" for n in range(200))
    assert following["next"] is None


async def test_a_failing_note_is_logged_and_the_message_still_handled(
    state: LocalStateAdapter, caplog: pytest.LogCaptureFixture
) -> None:
    inner = state.call_shard

    async def console_down(shard: str, operations: list[list[Any]]) -> dict[str, Any]:
        if shard.startswith("console"):
            raise ConnectionError("console shard unreachable")
        return await inner(shard, operations)

    state.call_shard = console_down
    chat = make_chat(state)
    platform = chat.platforms["fake"]
    assert isinstance(platform, FakePlatform)

    @chat.on_mention
    async def answer(thread: Thread, incoming: Message) -> None:
        await thread.post("answered")

    await chat.accept("fake", as_inbound(message("fake:c1", "hello", "m1")))
    await chat.idle()
    assert [text for _, text in platform.posts] == ["answered"]
    assert "could not note a conversation in the console" in caplog.text


# --- a thread's details ----------------------------------------------------------------------


async def test_a_threads_details_are_one_shard_call(state: LocalStateAdapter) -> None:
    chat = make_chat(state)
    await chat.accept("fake", as_inbound(message("fake:c1:t1", "hello", "m1")))
    await chat.idle()
    counting = CountingCalls(state)
    details = await ConsoleIndex(state).thread("fake:c1:t1", "fake:c1:t1")
    assert counting.calls == ["fake:c1"]
    assert [m["text"] for m in details["messages"]] == ["hello"]


async def test_details_list_scheduled_posts_and_edited_messages_at_their_latest(
    state: LocalStateAdapter,
) -> None:
    chat = make_chat(state)

    @chat.on_mention
    async def later(thread: Thread, incoming: Message) -> None:
        sent = await thread.post("draft")
        await sent.edit("final")
        await thread.schedule(Markdown("**stand-up**"), after=timedelta(minutes=5))

    await chat.accept("fake", as_inbound(message("fake:c1:t1", "hello", "m1")))
    await chat.idle()
    details = await ConsoleIndex(state).thread("fake:c1:t1", "fake:c1:t1")
    assert [m["text"] for m in details["messages"]] == ["hello", "final"]
    [post] = details["scheduled"]
    assert post["content"] == {"markdown": "**stand-up**"}
    assert post["at"] == state.clock() + 5 * 60_000
    await chat.stop(0)


async def test_details_show_the_lock_and_the_queue_while_a_handler_runs_then_neither(
    state: LocalStateAdapter,
) -> None:
    chat = make_chat(state)
    running, finish = asyncio.Event(), asyncio.Event()

    @chat.on_mention
    async def slow(thread: Thread, incoming: Message) -> None:
        running.set()
        await finish.wait()

    await chat.accept("fake", as_inbound(message("fake:c1", "first", "m1")))
    await running.wait()
    await chat.accept("fake", as_inbound(message("fake:c1", "second", "m2")))
    index = ConsoleIndex(state)
    during = await index.thread("fake:c1", "fake:c1")
    assert during["lock"]["fence"] == 1 and len(during["lock"]["holder"]) == 8
    assert during["queue"]["depth"] == 2
    assert during["queue"]["oldest"]["message"]["text"] == "first"
    finish.set()
    await chat.idle()
    after = await index.thread("fake:c1", "fake:c1")
    assert (after["lock"], after["queue"]) == (None, {"depth": 0, "oldest": None})


async def test_a_failing_handler_is_the_threads_last_error_and_flagged_in_the_list(
    state: LocalStateAdapter, clock: FakeClock
) -> None:
    chat = make_chat(state)

    @chat.on_mention
    async def broken(thread: Thread, incoming: Message) -> None:
        raise KeyError("no such order")

    await chat.accept("fake", as_inbound(message("fake:c1", "hello", "m1")))
    await chat.idle()
    index = ConsoleIndex(state)
    details = await index.thread("fake:c1", "fake:c1")
    assert details["last_error"] == {
        "event_id": "c1:m1",
        "error": "KeyError: 'no such order'",
        "at": clock(),
    }
    [item] = (await index.page(None, 10))["items"]
    assert item["error"] == "KeyError: 'no such order'"


# --- sessions and CSRF -----------------------------------------------------------------------


def request(
    method: str = "GET",
    path: str = "/console/api/setup",
    body: bytes = b"",
    query: str = "",
    scheme: str = "http",
    headers: dict[str, str] | None = None,
) -> HttpRequest:
    return HttpRequest(method, path, {"host": HOST, **(headers or {})}, body, query, scheme)


def cookie_for(token: str, now: int) -> tuple[str, str]:
    session, value = new_session(token, now)
    return f"{COOKIE}={value}", session.csrf_token


def test_a_session_signed_with_another_token_is_refused() -> None:
    cookie, _ = cookie_for("another-admin-token-000", 0)
    assert session_of(request(headers={"cookie": cookie}), ADMIN, 0) is None


def test_a_session_expires() -> None:
    cookie, _ = cookie_for(ADMIN, 0)
    assert session_of(request(headers={"cookie": cookie}), ADMIN, 1_000) is not None
    assert session_of(request(headers={"cookie": cookie}), ADMIN, 13 * 3600 * 1000) is None


def test_the_session_cookie_is_secure_over_https_only() -> None:
    assert "Secure" in session_cookie(request(scheme="https"), "v", 60)
    plain = session_cookie(request(), "v", 60)
    assert "Secure" not in plain and "HttpOnly" in plain and "SameSite=Strict" in plain


# --- the routes ------------------------------------------------------------------------------


@pytest.fixture
async def app(state: LocalStateAdapter) -> AsyncIterator[tuple[ConsoleApp, Chat]]:
    index = ConsoleIndex(state)
    chat = make_chat(state, index)
    config = BotConfig.from_env({"CHAT_ADMIN_TOKEN": ADMIN})
    console = ConsoleApp(
        config,
        admin_token=ADMIN,
        index=index,
        agents=Agents(state),
        accept=chat.accept,
        on_cloudflare=False,
        commands=[("remind", "Remind me later")],
    )
    yield console, chat
    await chat.idle()


def signed_in(state: LocalStateAdapter) -> dict[str, str]:
    cookie, csrf = cookie_for(ADMIN, state.clock())
    return {"cookie": cookie, CSRF_HEADER: csrf, "origin": f"http://{HOST}"}


async def post_web(app: ConsoleApp, headers: dict[str, str], payload: Any) -> HttpResponse:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return await app.handle(request("POST", "/console/api/web/messages", body, headers=headers))


def error_of(response: HttpResponse) -> tuple[int, str]:
    return response.status, json.loads(response.body)["error"]["message"]


async def test_the_setup_view_lists_the_commands_and_the_slash_command_url(
    app: tuple[ConsoleApp, Chat], state: LocalStateAdapter
) -> None:
    response = await app[0].handle(request(path="/console/api/setup", headers=signed_in(state)))
    setup = json.loads(response.body)
    assert setup["commands"] == [{"name": "remind", "description": "Remind me later"}]
    slack = next(p for p in setup["platforms"] if p["name"] == "slack")
    assert slack["commands_url"] == f"http://{HOST}/webhooks/slack"
    assert "commands" in slack["scopes"]


async def test_the_setup_view_says_where_github_delivers_and_what_is_missing(
    app: tuple[ConsoleApp, Chat], state: LocalStateAdapter
) -> None:
    response = await app[0].handle(request(path="/console/api/setup", headers=signed_in(state)))
    github = next(p for p in json.loads(response.body)["platforms"] if p["name"] == "github")
    assert github["copy"][0]["value"] == f"http://{HOST}/webhooks/github"
    assert "Issue comments" in github["copy"][1]["value"]
    assert github["missing"] == [
        "GITHUB_WEBHOOK_SECRET",
        "GITHUB_TOKEN (or GITHUB_APP_ID and GITHUB_APP_PRIVATE_KEY)",
        "GITHUB_BOT_LOGIN",
    ]


async def test_the_setup_view_gives_whatsapps_callback_url_and_field(
    app: tuple[ConsoleApp, Chat], state: LocalStateAdapter
) -> None:
    response = await app[0].handle(request(path="/console/api/setup", headers=signed_in(state)))
    whatsapp = next(p for p in json.loads(response.body)["platforms"] if p["name"] == "whatsapp")
    copied = {item["label"]: item["value"] for item in whatsapp["copy"]}
    assert copied["Callback URL"] == f"http://{HOST}/webhooks/whatsapp"
    assert copied["Webhook field to subscribe"] == "messages"
    assert copied["Verify token"] == "<WHATSAPP_VERIFY_TOKEN>"  # a placeholder, never the secret


async def test_the_setup_view_gives_discords_endpoint_and_says_what_does_not_reach_it(
    app: tuple[ConsoleApp, Chat], state: LocalStateAdapter
) -> None:
    response = await app[0].handle(request(path="/console/api/setup", headers=signed_in(state)))
    discord = next(p for p in json.loads(response.body)["platforms"] if p["name"] == "discord")
    copied = {item["label"]: item["value"] for item in discord["copy"]}
    assert copied["Interactions Endpoint URL"] == f"http://{HOST}/webhooks/discord"
    assert any("Gateway" in note for note in discord["notes"])


async def test_the_token_in_the_url_signs_in_and_redirects_to_a_clean_url(
    app: tuple[ConsoleApp, Chat],
) -> None:
    response = await app[0].handle(request(path="/", query=f"token={ADMIN}"))
    assert (response.status, response.headers["location"]) == (303, "/")
    assert response.headers["set-cookie"].startswith(f"{COOKIE}=")
    assert ADMIN not in response.headers["set-cookie"]


async def test_a_wrong_token_gets_401_and_no_cookie(app: tuple[ConsoleApp, Chat]) -> None:
    response = await app[0].handle(request(path="/", query="token=wrong-token-000000000"))
    assert response.status == 401 and "set-cookie" not in response.headers
    assert b"That token is not the admin token." in response.body


async def test_signing_out_clears_the_cookie_and_needs_the_csrf_token(
    app: tuple[ConsoleApp, Chat], state: LocalStateAdapter
) -> None:
    headers = signed_in(state)
    forged = {**headers, CSRF_HEADER: ""}
    refused = await app[0].handle(request("POST", "/console/sign-out", headers=forged))
    assert refused.status == 403 and "set-cookie" not in refused.headers
    response = await app[0].handle(request("POST", "/console/sign-out", headers=headers))
    assert response.status == 204
    assert response.headers["set-cookie"].startswith(f"{COOKIE}=; Path=/; Max-Age=0;")


async def test_the_api_needs_a_session(app: tuple[ConsoleApp, Chat]) -> None:
    assert error_of(await app[0].handle(request())) == (401, "sign in at / first")


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({CSRF_HEADER: ""}, "no CSRF header"),
        ({CSRF_HEADER: "0" * 32}, "another session's CSRF token"),
        ({"origin": "http://evil.test"}, "another origin"),
        ({"sec-fetch-site": "same-site"}, "a sibling site"),
    ],
)
async def test_a_post_without_proof_of_the_consoles_own_page_gets_403(
    app: tuple[ConsoleApp, Chat], state: LocalStateAdapter, change: dict[str, str], why: str
) -> None:
    headers = {**signed_in(state), **change}
    response = await post_web(app[0], headers, {"client_id": "c1", "text": "hi"})
    assert response.status == 403, why
    assert await ConsoleIndex(state).page(None, 10) == {"items": [], "next": None}


@pytest.mark.parametrize(
    ("payload", "status", "message"),
    [
        (b"{", 400, "the body is not valid JSON"),
        ({"client_id": "c1"}, 422, "text is required"),
        ({"client_id": "c1", "text": "hi", "extra": 1}, 422, "unknown field 'extra'"),
        ({"client_id": "c 1", "text": "hi"}, 422, "client_id must be letters, digits, - and _"),
        ({"client_id": "café", "text": "hi"}, 422, "client_id must be letters, digits, - and _"),
        ({"client_id": "c1", "text": "x" * 4097}, 413, "text is longer than 4096 characters"),
    ],
)
async def test_bad_chat_box_messages_get_their_status(
    app: tuple[ConsoleApp, Chat],
    state: LocalStateAdapter,
    payload: Any,
    status: int,
    message: str,
) -> None:
    response = await post_web(app[0], signed_in(state), payload)
    assert error_of(response) == (status, message)


async def test_a_chat_box_message_runs_the_bots_handlers_as_a_direct_message(
    app: tuple[ConsoleApp, Chat], state: LocalStateAdapter
) -> None:
    console, chat = app
    seen: list[Message] = []

    @chat.on_direct_message
    async def record(thread: Thread, incoming: Message) -> None:
        seen.append(incoming)
        await thread.post("hello back")

    headers = signed_in(state)
    response = await post_web(console, headers, {"client_id": "c1", "text": "hi"})
    assert response.status == 202
    await chat.idle()
    assert [(m.platform, m.is_dm, m.text) for m in seen] == [("web", True, "hi")]
    transcript = await console.handle(request(path="/console/api/web", headers=headers))
    texts = [m["text"] for m in json.loads(transcript.body)["messages"]]
    assert texts == ["hi", "hello back"]
    assert json.loads(response.body)["thread_id"] == web_thread(
        headers["cookie"].split("=")[1].split(".")[0]
    )


@pytest.mark.parametrize(
    ("method", "path", "query", "status"),
    [
        ("GET", "/console/api/web/messages", "", 405),
        ("POST", "/console/api/setup", "", 405),
        ("GET", "/console/api/nothing", "", 404),
        ("GET", "/console/api/conversations", "cursor=yesterday", 400),
        ("GET", "/console/api/conversations", "limit=1000", 400),
        ("GET", "/console/api/thread", "", 400),
        ("GET", "/console/api/thread", "id=" + "x" * 513, 400),
        ("GET", "/console/api/agent-conversation", "agent=no%20such&id=conv-1", 400),
        ("GET", "/console/api/agent-conversation", "agent=nobody&id=conv-1", 404),
    ],
)
async def test_bad_console_requests_get_their_status(
    app: tuple[ConsoleApp, Chat],
    state: LocalStateAdapter,
    method: str,
    path: str,
    query: str,
    status: int,
) -> None:
    response = await app[0].handle(request(method, path, b"{}", query, headers=signed_in(state)))
    assert response.status == status


async def test_without_the_index_the_conversations_view_answers_501(
    state: LocalStateAdapter,
) -> None:
    console = ConsoleApp(
        BotConfig.from_env({"CHAT_STATE": "kv"}),
        admin_token=ADMIN,
        index=None,
        agents=Agents(state),
        accept=make_chat(state).accept,
        on_cloudflare=True,
    )
    response = await console.handle(
        request(path="/console/api/conversations", headers=signed_in(state))
    )
    assert error_of(response) == (
        501,
        "the conversations view needs CHAT_STATE=sqlite (Durable Objects on Cloudflare)",
    )


async def test_on_workers_kv_the_chat_box_still_runs_and_shows_its_history(
    clock: FakeClock,
) -> None:
    state = open_kv_state(KvNamespaceDouble(clock).location(), clock=clock, sleep=clock.sleep)
    await state.connect()
    chat = Chat(
        platforms=[WebPlatform(state)],
        state=state,
        work_index=ShardWorkIndex(state.kv_store.pending_work),
        concurrency=Concurrency(strategy="queue"),
    )

    @chat.on_direct_message
    async def answer(thread: Thread, incoming: Message) -> None:
        await thread.post("hello from KV")

    console = ConsoleApp(
        BotConfig.from_env({"CHAT_STATE": "kv"}),
        admin_token=ADMIN,
        index=None,
        agents=Agents(state),
        accept=chat.accept,
        on_cloudflare=False,
    )
    cookie, csrf = cookie_for(ADMIN, clock())
    headers = {"cookie": cookie, CSRF_HEADER: csrf}
    assert (await post_web(console, headers, {"client_id": "c1", "text": "hi"})).status == 202
    await chat.idle()
    transcript = await console.handle(request(path="/console/api/web", headers=headers))
    texts = [m["text"] for m in json.loads(transcript.body)["messages"]]
    assert texts == ["hi", "hello from KV"]
    await state.disconnect()


async def test_the_page_carries_no_admin_token_and_forbids_framing(
    app: tuple[ConsoleApp, Chat], state: LocalStateAdapter
) -> None:
    response = await app[0].handle(request(path="/", headers=signed_in(state)))
    assert response.status == 200 and ADMIN.encode() not in response.body
    assert response.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]


# --- configuration and start -----------------------------------------------------------------


def test_a_short_admin_token_is_refused_and_a_set_one_is_a_secret() -> None:
    with pytest.raises(ConfigError, match="CHAT_ADMIN_TOKEN must be at least 16 characters"):
        BotConfig.from_env({"CHAT_ADMIN_TOKEN": "short"})
    assert ADMIN in BotConfig.from_env({"CHAT_ADMIN_TOKEN": ADMIN}).secrets


def test_the_start_banner_carries_a_made_token_and_never_a_configured_one() -> None:
    config = BotConfig.from_env({"CHAT_ADMIN_TOKEN": ADMIN, "HOST": "0.0.0.0", "PORT": "9000"})
    assert f"http://127.0.0.1:9000/?token={ADMIN}" in console_banner(config, made_token=True)
    assert ADMIN not in console_banner(config, made_token=False)
