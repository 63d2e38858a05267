"""End to end on both runtimes: what bots and operators meet beyond the happy path (shared
locks over several threads, edits, failing platform APIs, secrets in logs, streamed bodies)."""

from __future__ import annotations

import json
import resource
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from chatstate.chat.work_index import ParentWorkIndex
from chatstate.http.client import HttpResult
from chatstate.http.messages import HttpRequest
from chatstate.platforms.telegram import TelegramPlatform
from chatstate.state.backends.sqlite_port import SqlitePort
from chatstate.state.schema import migrate
from chatstate.state.store import ShardStore
from chatstate.testing.payloads import (
    body,
    slack_app_mention,
    slack_event,
    telegram_callback_update,
    telegram_edited_update,
    telegram_inline_callback_update,
    telegram_message_update,
)
from support.e2e import TELEGRAM_HEADERS, post_slack, post_telegram, queue_depth
from support.fake_apis import FakeApis
from support.local_server import (
    BOT_USERNAME,
    SLACK_SECRET,
    SLACK_TOKEN,
    TELEGRAM_SECRET,
    TELEGRAM_TOKEN,
    LocalServer,
)

pytestmark = pytest.mark.e2e


class NoHttp:
    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> HttpResult:
        raise AssertionError("parsing makes no call")


def server_log(server: LocalServer) -> str:
    return "".join(p.read_text(errors="replace") for p in server.log_path.parent.glob("*.log"))


def wait_for_log(server: LocalServer, text: str, timeout_s: float = 30.0) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        log = server_log(server)
        if text in log:
            return log
        time.sleep(0.1)
    raise AssertionError(f"{text!r} not in the server log:\n{server_log(server)[-3000:]}")


def wait_until_handled(server: LocalServer, queue_key: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while queue_depth(server, queue_key) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert queue_depth(server, queue_key) == 0


def test_messages_of_other_topics_that_waited_behind_a_busy_chat_each_get_handled(
    start_server: Callable[..., LocalServer], apis: FakeApis
) -> None:
    server = start_server()
    apis.gate.clear()  # the first reply hangs, so the chat's lock stays held
    post_telegram(
        server, telegram_message_update(-100555, "a", bot_username=BOT_USERNAME, topic=77)
    )
    apis.wait_for("sendMessage", 1)
    post_telegram(
        server, telegram_message_update(-100555, "b", bot_username=BOT_USERNAME, topic=78)
    )
    post_telegram(
        server, telegram_message_update(-100555, "c", bot_username=BOT_USERNAME, topic=77)
    )
    apis.gate.set()
    replies = apis.wait_for("sendMessage", 3)
    assert sorted(r["message_thread_id"] for r in replies[1:]) == [77, 78]
    assert any("You said: @my_bot b" in r["text"] for r in replies)


def test_no_secret_appears_in_any_log_line_at_debug(
    start_server: Callable[..., LocalServer], apis: FakeApis
) -> None:
    server = start_server(CHAT_LOG_LEVEL="DEBUG")
    apis.fail_next("sendMessage", 502, {"ok": False, "error_code": 502, "description": "Bad"})
    post_telegram(server, telegram_message_update(-100601, "hi", bot_username=BOT_USERNAME))
    post_telegram(server, telegram_callback_update(-100602, "ping"))
    post_slack(server, slack_event(slack_app_mention("C0601", "hi")))
    apis.wait_for("sendMessage", 3)
    apis.wait_for("chat.postMessage", 1)
    log = server_log(server)
    assert "DEBUG" in log
    for secret in (TELEGRAM_TOKEN, TELEGRAM_SECRET, SLACK_SECRET, SLACK_TOKEN):
        assert secret not in log


def test_a_button_press_whose_acknowledgement_fails_still_runs_its_handler(
    start_server: Callable[..., LocalServer], apis: FakeApis
) -> None:
    server = start_server()
    too_old = "Bad Request: query is too old and response timeout expired or query ID is invalid"
    apis.fail_next(
        "answerCallbackQuery", 400, {"ok": False, "error_code": 400, "description": too_old}
    )
    post_telegram(server, telegram_callback_update(-100603, "ping"))
    [reply] = apis.wait_for("sendMessage", 1)
    assert reply["text"] == "pong for Ann"


def test_a_mention_after_an_emoji_is_seen_and_a_longer_username_is_not_ours(
    start_server: Callable[..., LocalServer], apis: FakeApis
) -> None:
    server = start_server()
    someone_else = telegram_message_update(-100604, "@my_bot_two what's up")
    someone_else["message"]["entities"] = [{"type": "mention", "offset": 0, "length": 11}]
    post_telegram(server, someone_else)
    wait_until_handled(server, "telegram:-100604")
    ours = telegram_message_update(-100604, "👋 @my_bot hello")
    # 👋 is two UTF-16 code units: the mention starts at offset 3, as Telegram counts.
    ours["message"]["entities"] = [{"type": "mention", "offset": 3, "length": 7}]
    post_telegram(server, ours)
    [reply] = apis.wait_for("sendMessage", 1)
    assert "You said: 👋 @my_bot hello" in reply["text"]
    wait_until_handled(server, "telegram:-100604")
    assert len(apis.sent("sendMessage")) == 1


def test_a_rate_limited_reply_is_sent_after_telegrams_retry_after(
    start_server: Callable[..., LocalServer], apis: FakeApis
) -> None:
    server = start_server()
    apis.fail_next(
        "sendMessage",
        429,
        {
            "ok": False,
            "error_code": 429,
            "description": "Too Many Requests: retry after 1",
            "parameters": {"retry_after": 1},
        },
    )
    post_telegram(server, telegram_message_update(-100605, "hi", bot_username=BOT_USERNAME))
    first, second = apis.wait_for("sendMessage", 2)
    assert first == second


def test_a_rate_limited_slack_reply_is_sent_after_its_retry_after_header(
    start_server: Callable[..., LocalServer], apis: FakeApis
) -> None:
    server = start_server()
    apis.fail_next(
        "chat.postMessage", 429, {"ok": False, "error": "ratelimited"}, headers={"Retry-After": "1"}
    )
    post_slack(server, slack_event(slack_app_mention("C0605", "hi")))
    first, second = apis.wait_for("chat.postMessage", 2)
    assert first == second


def test_a_reply_that_keeps_failing_is_logged_with_platform_method_and_status(
    start_server: Callable[..., LocalServer], apis: FakeApis
) -> None:
    server = start_server()
    apis.fail_next(
        "sendMessage", 500, {"ok": False, "error_code": 500, "description": "Internal"}, times=4
    )
    post_telegram(server, telegram_message_update(-100606, "hi", bot_username=BOT_USERNAME))
    wait_for_log(server, "telegram sendMessage failed with HTTP 500 after 4 attempt(s)")
    assert len(apis.sent("sendMessage")) == 4


def test_a_button_press_on_an_inline_message_is_answered(
    start_server: Callable[..., LocalServer], apis: FakeApis
) -> None:
    server = start_server()
    post_telegram(server, telegram_inline_callback_update("ping", query_id="inline-7"))
    [answered] = apis.wait_for("answerCallbackQuery", 1)
    assert answered["callback_query_id"] == "inline-7"


def test_an_edited_message_goes_to_the_edit_handler_not_the_message_handlers(
    start_server: Callable[..., LocalServer], apis: FakeApis
) -> None:
    server = start_server()
    original = telegram_message_update(-100607, "typo", bot_username=BOT_USERNAME)
    post_telegram(server, original)
    apis.wait_for("sendMessage", 1)
    post_telegram(server, telegram_edited_update(original, "@my_bot fixed"))
    replies = apis.wait_for("sendMessage", 2)
    assert replies[1]["text"] == "you edited a message to: @my_bot fixed"
    wait_until_handled(server, "telegram:-100607")
    assert len(apis.sent("sendMessage")) == 2


def test_get_me_runs_once_when_updates_race_at_a_fresh_parent(
    start_server: Callable[..., LocalServer], apis: FakeApis
) -> None:
    server = start_server(CHAT_CONCURRENCY="concurrent")
    updates = [
        telegram_message_update(-100608, f"race {n}", bot_username=BOT_USERNAME) for n in range(5)
    ]
    with ThreadPoolExecutor(max_workers=5) as pool:
        assert set(pool.map(lambda u: post_telegram(server, u).status_code, updates)) == {200}
    apis.wait_for("sendMessage", 5)
    assert len(apis.sent("getMe")) == 1


def test_a_duplicate_delivery_is_reported_in_the_runtime_log(
    start_server: Callable[..., LocalServer], apis: FakeApis
) -> None:
    server = start_server()
    update = telegram_message_update(-100609, "twice", bot_username=BOT_USERNAME)
    post_telegram(server, update)
    apis.wait_for("sendMessage", 1)
    post_telegram(server, update)
    wait_for_log(server, "INFO chatstate.chat: duplicate telegram delivery ignored")


def test_a_chunked_body_is_refused_as_soon_as_it_passes_the_limit(
    start_server: Callable[..., LocalServer],
) -> None:
    server = start_server()
    chunk = b"x" * 65_536
    with socket.create_connection(("127.0.0.1", server.port), timeout=60) as sock:
        head = [
            "POST /webhooks/telegram HTTP/1.1",
            f"Host: 127.0.0.1:{server.port}",
            "Transfer-Encoding: chunked",
            *(f"{k}: {v}" for k, v in TELEGRAM_HEADERS.items()),
        ]
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        # Just past 1 MiB, and the body never ends: only a server that counts while it
        # streams can answer.
        for _ in range(17):
            sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        status_line = sock.recv(4096).split(b"\r\n", 1)[0]
    assert b" 413 " in status_line + b" "


# SIGTERM is the local runtime's; Workers stop on their own terms.


@pytest.fixture
def local_server(tmp_path: Path, apis: FakeApis) -> Callable[..., LocalServer]:
    def start(**env: str) -> LocalServer:
        return LocalServer(tmp_path / "data", apis.base, tmp_path / "server.log", **env).start()

    return start


def test_sigterm_lets_a_running_handler_finish_within_its_grace(
    local_server: Callable[..., LocalServer], apis: FakeApis
) -> None:
    server = local_server()
    apis.gate.clear()
    post_telegram(server, telegram_message_update(-100610, "hi", bot_username=BOT_USERNAME))
    apis.wait_for("sendMessage", 1)
    assert server.process is not None
    server.process.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    apis.gate.set()
    # uvicorn re-raises the signal once its graceful shutdown is complete.
    assert server.process.wait(timeout=20) in (0, -signal.SIGTERM)
    assert "Application shutdown complete" in server_log(server)
    assert queue_depth(server, "telegram:-100610") == 0


def test_sigterm_leaves_a_handler_past_its_grace_queued_for_the_next_start(
    local_server: Callable[..., LocalServer], apis: FakeApis
) -> None:
    server = local_server(CHAT_SHUTDOWN_GRACE_MS="300")
    apis.gate.clear()
    post_telegram(server, telegram_message_update(-100611, "hi", bot_username=BOT_USERNAME))
    apis.wait_for("sendMessage", 1)
    assert server.process is not None
    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(timeout=20) in (0, -signal.SIGTERM)
    assert "1 handler(s) still running after 300 ms" in server_log(server)
    assert queue_depth(server, "telegram:-100611") == 1
    apis.gate.set()
    restarted = local_server(CHAT_SHUTDOWN_GRACE_MS="300")
    try:
        apis.wait_for("sendMessage", 2)
    finally:
        restarted.stop()
    # At least once: the interrupted message is handled again after the restart.
    assert "@my_bot hi" in apis.sent("sendMessage")[1]["text"]


def test_ten_thousand_chats_run_under_an_open_files_limit_of_256(
    tmp_path: Path, apis: FakeApis
) -> None:
    server = LocalServer(tmp_path / "data", apis.base, tmp_path / "server.log")
    server.open_files_limit = 256
    server.start()
    try:
        updates = [telegram_message_update(-1_000_000 - n, "hello") for n in range(10_000)]
        with httpx.Client(timeout=60) as client, ThreadPoolExecutor(max_workers=20) as pool:
            statuses = set(
                pool.map(
                    lambda u: (
                        client.post(
                            f"{server.url}/webhooks/telegram",
                            content=body(u),
                            headers=TELEGRAM_HEADERS,
                        ).status_code
                    ),
                    updates,
                )
            )
        assert statuses == {200}
        post_telegram(server, telegram_message_update(-999_999, "hi", bot_username=BOT_USERNAME))
        apis.wait_for("sendMessage", 1)
        assert server.open_files() <= 64
    finally:
        server.stop()


def test_a_data_directory_of_the_first_layout_is_migrated_and_its_queued_update_handled(
    tmp_path: Path, apis: FakeApis
) -> None:
    # As the first layout left it after a crash: the update queued in its chat's own shard
    # file, and marked in the parent's work index file.
    data = tmp_path / "data"
    (data / "shards").mkdir(parents=True)
    update = telegram_message_update(-100777, "left behind", bot_username=BOT_USERNAME)
    platform = TelegramPlatform(bot_token=TELEGRAM_TOKEN, secret_token="s", http=NoHttp())
    [event] = platform.parse(HttpRequest("POST", "/", {}, body(update))).events  # type: ignore[union-attr]
    now = int(time.time() * 1000)
    entry = {"message": event.to_json(), "enqueued_at": now, "expires_at": now + 90_000}
    shard = SqlitePort(data / "shards" / "telegram%3A-100777.sqlite3")
    migrate(shard, lambda: now)
    ShardStore(shard, lambda: now).run_batch(
        [["enqueue", "telegram:-100777", json.dumps(entry), now + 90_000, 10, False]]
    )
    shard.close()
    parent = SqlitePort(data / "chatstate.cloudflare.messenger.sqlite3")
    ParentWorkIndex(parent).accepting("telegram:-100777")
    parent.close()

    server = LocalServer(data, apis.base, tmp_path / "server.log").start()
    try:
        [reply] = apis.wait_for("sendMessage", 1)
        assert "You said: @my_bot left behind" in reply["text"]
    finally:
        server.stop()
    assert not (data / "chatstate.cloudflare.messenger.sqlite3").exists()
    assert not (data / "shards" / "telegram%3A-100777.sqlite3").exists()


def set_immutable(paths: list[Path], on: bool) -> None:
    """chattr +i / -i: even root cannot write an immutable file or add to an immutable
    directory, and the open files refuse writes too (a permission change would not stop root,
    and a read-only remount is refused while the server holds its files)."""
    subprocess.run(["chattr", "+i" if on else "-i", *map(str, paths)], check=True)


def check_a_write_fault(
    server: LocalServer,
    apis: FakeApis,
    chat: int,
    break_writes: Callable[[], None],
    mend_writes: Callable[[], None],
) -> None:
    """An update accepted before the fault; five during it get 503; once writing works again,
    the platform's retries get 200 and each is handled once; the first is still a duplicate."""
    accepted = telegram_message_update(chat, "before", bot_username=BOT_USERNAME)
    assert post_telegram(server, accepted).status_code == 200
    apis.wait_for("sendMessage", 1)
    break_writes()
    during = [
        telegram_message_update(chat - 1 - n, "during", bot_username=BOT_USERNAME) for n in range(5)
    ]
    assert {post_telegram(server, u).status_code for u in during} == {503}
    mend_writes()
    # Writing works again without a restart.
    assert {post_telegram(server, u).status_code for u in during} == {200}
    replies = apis.wait_for("sendMessage", 6)
    assert sorted(r["chat_id"] for r in replies[1:]) == sorted(chat - 1 - n for n in range(5))
    assert post_telegram(server, accepted).status_code == 200  # still a duplicate
    assert len(apis.sent("sendMessage")) == 6


def test_a_data_directory_made_read_only_answers_503_loses_nothing_and_recovers_by_itself(
    tmp_path: Path, apis: FakeApis
) -> None:
    if shutil.which("chattr") is None:
        pytest.skip("needs chattr (e2fsprogs) to make the data directory read-only")
    shards = tmp_path / "data" / "shards"
    server = LocalServer(tmp_path / "data", apis.base, tmp_path / "server.log").start()
    frozen: list[Path] = []

    def freeze() -> None:
        # The shared-memory index stays writable: it is mapped into memory, not written.
        paths = [shards, *(p for p in shards.iterdir() if not p.name.endswith("-shm"))]
        try:
            set_immutable(paths, True)
        except subprocess.CalledProcessError:
            pytest.skip("this filesystem or user cannot set the immutable attribute")
        frozen.extend(paths)

    def thaw() -> None:
        set_immutable(frozen, False)
        frozen.clear()

    try:
        check_a_write_fault(server, apis, -100891, freeze, thaw)
    finally:
        if frozen:
            thaw()
        server.stop()


def test_a_full_disk_answers_503_loses_nothing_accepted_and_recovers_by_itself(
    tmp_path: Path, apis: FakeApis
) -> None:
    server = LocalServer(tmp_path / "data", apis.base, tmp_path / "server.log").start()
    process = server.process
    assert process is not None

    def fill_disk() -> None:
        # Any write that grows a file fails (EFBIG, SQLITE_FULL).
        resource.prlimit(process.pid, resource.RLIMIT_FSIZE, (0, resource.RLIM_INFINITY))

    def free_disk() -> None:
        resource.prlimit(process.pid, resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY,) * 2)

    try:
        check_a_write_fault(server, apis, -100881, fill_disk, free_disk)
    finally:
        server.stop()
