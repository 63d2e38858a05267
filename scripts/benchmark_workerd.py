"""Measure the Worker on the real workerd (wrangler dev through ../shared/tools/workerd-python).

Queue strategy, the example bot, signed Telegram mentions, a fake Bot API on loopback:
- start to the first `GET /health` 200;
- 20 chats at 1 and at 20 webhooks in flight: webhooks/s, p50/p99 of the webhook and of
  POST -> reply (a reply names the message it answers; coalesced messages have none);
- CPU ms per message: the workerd processes' CPU time over the 20-in-flight run;
- chat B's reply p99 while chat A is flooded (20 in flight), against chat B alone, with one
  parent object per bot and with one per channel.

Run: .venv/bin/python scripts/benchmark_workerd.py [--messages N]
Prints a Markdown report; docs/benchmark.md holds the last recorded run.
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from measurements import group_cpu_s, percentile

from chatstate.testing.payloads import body, telegram_message_update
from support.fake_apis import FakeApis
from support.local_server import (
    BOT_USERNAME,
    SLACK_TOKEN,
    TELEGRAM_SECRET,
    TELEGRAM_TOKEN,
    WranglerServer,
    prepare_workerd,
)

# Unique across every load of a run, so a reply is never matched to another run's message.
_tokens = itertools.count(1)
HEADERS = {"content-type": "application/json", "x-telegram-bot-api-secret-token": TELEGRAM_SECRET}


def workerd_cpu_s(server: WranglerServer) -> float:
    """CPU seconds of every workerd process of the server (wrangler's own are not counted)."""
    assert server.process is not None
    return group_cpu_s(os.getpgid(server.process.pid), "workerd")


class Load:
    """Signed mentions with unique texts; replies matched back to the message they name."""

    def __init__(self, server: WranglerServer, apis: FakeApis) -> None:
        self.server = server
        self.apis = apis
        self.client = httpx.Client(timeout=60)
        self.sent_at: dict[str, float] = {}
        self.webhook_ms: list[float] = []
        self.last_token = ""
        self.lock = threading.Lock()

    def post(self, chat_id: int) -> None:
        with self.lock:
            token = f"m{next(_tokens)}x"
            self.last_token = token
        # Private chats: the bot paces its sends as Telegram asks (1 a second per chat, 20 a
        # minute per group), and a group's pace would hold most replies past the run.
        update = telegram_message_update(
            chat_id, token, chat_type="private", bot_username=BOT_USERNAME
        )
        started = time.monotonic()
        self.sent_at[token] = started
        response = self.client.post(
            f"{self.server.url}/webhooks/telegram", content=body(update), headers=HEADERS
        )
        assert response.status_code == 200, response.text
        self.webhook_ms.append((time.monotonic() - started) * 1000)

    def reply_ms(self, tokens: set[str] | None = None) -> list[float]:
        latencies = []
        with self.apis.lock:
            calls = list(zip(self.apis.calls, self.apis.call_times, strict=True))
        for (method, payload), at in calls:
            if method != "sendMessage":
                continue
            for word in payload["text"].replace("(", " ").split():
                if word in self.sent_at and (tokens is None or word in tokens):
                    latencies.append((at - self.sent_at[word]) * 1000)
        return latencies

    def wait_replies(self, count: int, timeout_s: float = 120) -> None:
        deadline = time.monotonic() + timeout_s
        while len(self.apis.sent("sendMessage")) < count and time.monotonic() < deadline:
            time.sleep(0.05)


def start(directory: Path, apis: FakeApis, **env: str) -> tuple[WranglerServer, float]:
    directory.mkdir(parents=True)
    server = WranglerServer(directory / "state", apis.base, directory / "server.log", **env)
    started = time.monotonic()
    server.start()
    return server, time.monotonic() - started


def run_throughput(directory: Path, messages: int) -> list[str]:
    apis = FakeApis(TELEGRAM_TOKEN, SLACK_TOKEN, BOT_USERNAME).start()
    server, startup_s = start(directory, apis)
    lines = [
        f"Start to first `GET /health` 200: {startup_s:.1f} s (wrangler, then Pyodide start).",
        "",
    ]
    lines += [
        "| in flight | webhooks/s | webhook p50 ms | webhook p99 ms | reply p50 ms | reply p99 ms | CPU ms/message |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    try:
        chats = [9000 + n for n in range(20)]
        for in_flight in (1, 20):
            load = Load(server, apis)
            before_replies = len(apis.sent("sendMessage"))
            cpu_before = workerd_cpu_s(server)
            started = time.monotonic()
            with ThreadPoolExecutor(max_workers=in_flight) as pool:
                list(pool.map(load.post, [chats[n % 20] for n in range(messages)]))
            elapsed = time.monotonic() - started
            # Replies trail the webhooks; CPU counts until the bot is idle again.
            settle_deadline = time.monotonic() + 120
            while time.monotonic() < settle_deadline:
                count = len(apis.sent("sendMessage"))
                time.sleep(3.0)  # longer than the per-chat pace between two replies
                if len(apis.sent("sendMessage")) == count:
                    break
            cpu_ms = (workerd_cpu_s(server) - cpu_before) * 1000 / messages
            replies = load.reply_ms()
            lines.append(
                f"| {in_flight} | {messages / elapsed:.0f} | {statistics.median(load.webhook_ms):.0f} "
                f"| {percentile(load.webhook_ms, 0.99):.0f} | {statistics.median(replies):.0f} "
                f"| {percentile(replies, 0.99):.0f} | {cpu_ms:.1f} |"
            )
            assert len(apis.sent("sendMessage")) > before_replies
    finally:
        server.stop()
        apis.stop()
    return lines


def chat_b_reply_ms(load: Load, count: int) -> list[float]:
    tokens: set[str] = set()
    for _ in range(count):
        before = len(load.apis.sent("sendMessage"))
        load.post(8002)
        tokens.add(load.last_token)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if any(t in m["text"] for m in load.apis.sent("sendMessage")[before:] for t in tokens):
                break
            time.sleep(0.01)
        time.sleep(0.1)
    return load.reply_ms(tokens)


def run_flood(directory: Path, per_channel: bool, flood: int) -> str:
    apis = FakeApis(TELEGRAM_TOKEN, SLACK_TOKEN, BOT_USERNAME).start()
    server, _ = start(directory, apis, MESSENGER_PER_CHANNEL=str(per_channel).lower())
    try:
        alone = chat_b_reply_ms(Load(server, apis), 20)
        flooding = Load(server, apis)
        stop = threading.Event()

        def flood_chat_a() -> None:
            with ThreadPoolExecutor(max_workers=20) as pool:
                for _ in range(flood):
                    if stop.is_set():
                        break
                    pool.submit(flooding.post, 8001)

        flooder = threading.Thread(target=flood_chat_a)
        flooder.start()
        time.sleep(1.0)
        under_flood = chat_b_reply_ms(Load(server, apis), 20)
        stop.set()
        flooder.join()
    finally:
        server.stop()
        apis.stop()
    alone_p99, flood_p99 = percentile(alone, 0.99), percentile(under_flood, 0.99)
    routing = "one per channel" if per_channel else "one per bot"
    return f"| {routing} | {alone_p99:.0f} | {flood_p99:.0f} | {flood_p99 / alone_p99:.1f}x |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=400)
    parser.add_argument("--flood", type=int, default=600)
    args = parser.parse_args()
    prepare_workerd()
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        lines = [
            f"Worker on workerd (wrangler dev, shared tooling), queue strategy, the example bot, "
            f"{args.messages} Telegram mentions over 20 chats per row:",
            "",
            *run_throughput(directory / "throughput", args.messages),
            "",
            f"Chat B's reply p99 (20 sequential messages) alone and while chat A gets {args.flood} "
            "webhooks, 20 in flight:",
            "",
            "| parent objects | B alone p99 ms | B under flood p99 ms | ratio |",
            "|---|---:|---:|---:|",
            run_flood(directory / "per-bot", False, args.flood),
            run_flood(directory / "per-channel", True, args.flood),
        ]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
