"""The example bot end to end with CHAT_STATE=kv: on workerd with wrangler's local KV (the
commented block of wrangler.jsonc, uncommented), and on the local runtime over the KV REST API
(a fake Cloudflare API on loopback)."""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from chatstate.testing.payloads import telegram_message_update
from support.e2e import post_telegram, shard_files
from support.fake_apis import FakeApis
from support.fake_kv_api import ACCOUNT_ID, API_TOKEN, NAMESPACE_ID, FakeKvApi
from support.local_server import BOT_USERNAME, REPO, LocalServer, WranglerServer

pytestmark = pytest.mark.e2e

KV_CONFIG = REPO / "wrangler.kv-test.jsonc"
CHAT = -100123


def uncomment_kv_block(config: str) -> str:
    """wrangler.jsonc with its kv_namespaces block uncommented, as the README tells users."""
    lines = config.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip().startswith('// "kv_namespaces"'))
    for i in range(start, start + 3):
        lines[i] = lines[i].replace("// ", "", 1)
    return "\n".join(lines).replace("<your KV namespace id>", "chat-kv-local") + "\n"


@pytest.fixture
def kv_api() -> Iterator[FakeKvApi]:
    fake = FakeKvApi().start()
    yield fake
    fake.stop()


@pytest.fixture
def start_kv_server(
    tmp_path: Path, apis: FakeApis, kv_api: FakeKvApi, runtime_kind: str
) -> Iterator[Callable[..., LocalServer]]:
    servers: list[LocalServer] = []

    def start(**env: str) -> LocalServer:
        log = tmp_path / f"server-{len(servers)}.log"
        settings = {"CHAT_STATE": "kv", **env}
        server: LocalServer
        if runtime_kind == "workerd":
            KV_CONFIG.write_text(uncomment_kv_block((REPO / "wrangler.jsonc").read_text()))
            server = WranglerServer(tmp_path / "data", apis.base, log, **settings)
            server.config = KV_CONFIG
        else:
            settings = {
                "CLOUDFLARE_ACCOUNT_ID": ACCOUNT_ID,
                "CHAT_KV_NAMESPACE_ID": NAMESPACE_ID,
                "CLOUDFLARE_API_TOKEN": API_TOKEN,
                "CLOUDFLARE_API_BASE": kv_api.base,
                **settings,
            }
            server = LocalServer(tmp_path / "data", apis.base, log, **settings)
        servers.append(server.start())
        return server

    yield start
    for server in servers:
        server.stop()
    KV_CONFIG.unlink(missing_ok=True)


def mention(text: str, update_id: int) -> dict[str, object]:
    return telegram_message_update(CHAT, text, bot_username=BOT_USERNAME, update_id=update_id)


def kv_holds_the_state(server: LocalServer, kv_api: FakeKvApi) -> bool:
    """The subscription is in KV, and no state shard exists."""
    if isinstance(server, WranglerServer):
        kv_files = list((server.data_dir / "v3" / "kv").rglob("*"))
        return bool(kv_files) and not shard_files(server)
    return f"chat-sdk:sub:telegram:{CHAT}" in kv_api.namespace.names() and not shard_files(server)


def work_left(server: LocalServer, kv_api: FakeKvApi) -> bool:
    """Whether a handled message is still unacknowledged: the parent object's work index on
    workerd, the queue and its pending mark in KV locally."""
    if isinstance(server, WranglerServer):
        parents = (server.do_storage / "chatstate-bot-ChatMessenger").glob("*.sqlite")
        for path in (p for p in parents if p.name != "metadata.sqlite"):
            with sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True) as conn:
                tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
                if (
                    "chat_pending_work" in tables
                    and conn.execute("SELECT COUNT(*) FROM chat_pending_work").fetchone()[0]
                ):
                    return True
        return False
    return any(
        name.startswith(("chat-sdk:queue:", "chat-sdk:pending:"))
        for name in kv_api.namespace.names()
    )


def wait_until_idle(server: LocalServer, kv_api: FakeKvApi) -> None:
    deadline = time.monotonic() + 30
    while work_left(server, kv_api):
        assert time.monotonic() < deadline, "the handled message was never acknowledged"
        time.sleep(0.1)


def test_the_bot_keeps_its_state_in_kv(
    start_kv_server: Callable[..., LocalServer], apis: FakeApis, kv_api: FakeKvApi
) -> None:
    server = start_kv_server()
    assert post_telegram(server, mention("hello", 1)).status_code == 200
    apis.wait_for("sendMessage", 1)
    assert (
        post_telegram(server, telegram_message_update(CHAT, "again", update_id=2)).status_code
        == 200
    )
    replies = apis.wait_for("sendMessage", 2)
    assert "(2 in this thread)" in replies[1]["text"]
    assert kv_holds_the_state(server, kv_api)


def test_the_conversations_api_on_kv_says_it_needs_sqlite(
    start_kv_server: Callable[..., LocalServer],
) -> None:
    server = start_kv_server(CHAT_API_TOKEN="api-token-0123456789")
    response = httpx.get(
        f"{server.url}/api/agents/helper/status",
        headers={"authorization": "Bearer api-token-0123456789"},
    )
    assert response.status_code == 501
    assert "CHAT_STATE=sqlite" in response.json()["error"]["message"]


def test_a_redelivered_update_is_handled_once_on_kv(
    start_kv_server: Callable[..., LocalServer], apis: FakeApis
) -> None:
    server = start_kv_server()
    for _ in range(2):
        assert post_telegram(server, mention("once", 7)).status_code == 200
    apis.wait_for("sendMessage", 1)
    assert (
        post_telegram(server, telegram_message_update(CHAT, "next", update_id=8)).status_code == 200
    )
    replies = apis.wait_for("sendMessage", 2)
    assert "(2 in this thread)" in replies[1]["text"]


def test_kv_state_survives_a_restart(
    start_kv_server: Callable[..., LocalServer], apis: FakeApis, kv_api: FakeKvApi
) -> None:
    first = start_kv_server()
    post_telegram(first, mention("hello", 1))
    apis.wait_for("sendMessage", 1)
    # Stopped mid-acknowledgement, the message would rightly be handled again (at least once).
    wait_until_idle(first, kv_api)
    first.stop()
    second = start_kv_server()
    post_telegram(second, telegram_message_update(CHAT, "after restart", update_id=2))
    replies = apis.wait_for("sendMessage", 2)
    assert "latest: after restart (2 in this thread)" in replies[1]["text"]


def test_kv_without_its_binding_answers_a_configuration_error(
    tmp_path: Path, apis: FakeApis, workerd_ready: None
) -> None:
    server = WranglerServer(tmp_path / "data", apis.base, tmp_path / "server.log", CHAT_STATE="kv")
    server.healthy_status = 500
    server.start()
    try:
        response = post_telegram(server, mention("hello", 1))
    finally:
        server.stop()
    assert response.status_code == 500
    assert re.search(r"CHAT_STATE=kv needs a KV namespace bound as CHAT_KV", response.text)


def test_kv_without_rest_settings_locally_says_what_to_set(tmp_path: Path, apis: FakeApis) -> None:
    server = LocalServer(tmp_path / "data", apis.base, tmp_path / "server.log", CHAT_STATE="kv")
    with pytest.raises(AssertionError, match="server exited"):
        server.start()
    log = (tmp_path / "server.log").read_text()
    assert "set CLOUDFLARE_ACCOUNT_ID, CHAT_KV_NAMESPACE_ID, CLOUDFLARE_API_TOKEN" in log, log[
        -500:
    ]
