"""The bot and the reference (Chat SDK + agents/chat-sdk) side by side on the same workerd.

Both Workers run under one wrangler version (`--wrangler`, default 4.164.0; 4.86.0 too), at
once, queue strategy, 50 chats with one parent each, a reply and a thread-state write per
message. Windows of each Worker alternate (ours, reference, ours, ...) at 1 and at 20 messages
in flight; each figure is the median of `--rounds` windows. CPU is read from /proc for the
workerd process that runs the Worker (wrangler starts two; the other, its proxy, does far less).

Ours is measured end to end (a signed Telegram webhook, verified by the ingress, handled, the
reply sent to a fake Bot API on loopback) and also without its ingress request: the CPU of a
`GET /health` window, one Python request each, is subtracted. The reference gets no webhook and
sends no reply. Ours runs twice: with the console on (CHAT_ADMIN_TOKEN set, as docs/deploy.md
does: a quiet chat's message also notes the console's index) and with it off. Beside CPU, ours
prints what CHAT_COUNT_CALLS=1 counted per message: Durable
Object invocations, SQL statements and rows written; the reference prints its own counters.

Run: .venv/bin/python scripts/benchmark_side_by_side.py [--wrangler 4.86.0] [--messages 100]
Prints a Markdown report; docs/benchmark.md holds the last recorded runs.
"""

from __future__ import annotations

import argparse
import functools
import os
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from measurements import _stat_fields, process_cpu_s

from chatstate.testing.payloads import body, slack_signed_headers, telegram_message_update
from support.fake_apis import FakeApis
from support.local_server import (
    BOT_USERNAME,
    SLACK_SECRET,
    SLACK_TOKEN,
    TELEGRAM_SECRET,
    TELEGRAM_TOKEN,
    WranglerServer,
    prepare_workerd,
)

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "tools" / "reference-chat-sdk"
HEADERS = {"content-type": "application/json", "x-telegram-bot-api-secret-token": TELEGRAM_SECRET}
CHATS = 50
REFERENCE_PORT = 8794
ADMIN = "side-by-side-admin-token-0123456789"


def workerd_pids(group: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            comm = (entry / "comm").read_text().strip()
            if comm.startswith("workerd") and int(_stat_fields(int(entry.name))[2]) == group:
                pids.append(int(entry.name))
        except OSError:
            continue
    return pids


def worker_cpu_ms(group: int, window: Callable[[], None]) -> float:
    """CPU ms the busiest workerd process of the group spent while `window` ran: the Worker."""
    pids = workerd_pids(group)
    before = {pid: process_cpu_s(pid) for pid in pids}
    window()
    return max(process_cpu_s(pid) - before[pid] for pid in pids) * 1000


def object_counts(do_storage: Path, total: dict[str, int] | None = None) -> dict[str, int]:
    """Summed over every object stored there: calls of each kind, statements, rows written."""
    total = {} if total is None else total
    for path in do_storage.glob("*/*.sqlite"):
        if path.name == "metadata.sqlite":
            continue
        with sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True) as db:
            if db.execute("SELECT 1 FROM sqlite_master WHERE name = 'chatstate_counts'").fetchone():
                for what, n in db.execute("SELECT what, n FROM chatstate_counts"):
                    total[what] = total.get(what, 0) + n
    return total


def in_parallel(count: int, in_flight: int, send: Callable[[int], None]) -> None:
    with ThreadPoolExecutor(in_flight) as pool:
        list(pool.map(send, range(count)))


class Ours:
    """The example bot under `wrangler dev`; with `console`, CHAT_ADMIN_TOKEN is set, as
    docs/deploy.md does, so the console's index is kept (a note per quiet chat's message)."""

    def __init__(self, directory: Path, apis: FakeApis, console: bool = True) -> None:
        self.apis = apis
        # A copy of the project, so the wrangler version this run installs into its
        # node_modules leaves the working tree's alone.
        project = directory / "project"
        shutil.copytree(
            WranglerServer.project,
            project,
            ignore=shutil.ignore_patterns(
                ".git", ".venv", "node_modules", ".wrangler", "tests", "docs", "dist", "*.egg-info"
            ),
        )
        console_on = {"CHAT_ADMIN_TOKEN": ADMIN} if console else {}
        self.server = WranglerServer(
            directory / "state",
            apis.base,
            directory / "server.log",
            CHAT_COUNT_CALLS="1",
            **console_on,
        )
        self.server.project = project
        self.client = httpx.Client(timeout=60)
        self.sequence = 0

    def start(self) -> None:
        self.server.start()
        assert self.server.process is not None
        self.group = os.getpgid(self.server.process.pid)

    def messages(self, count: int, in_flight: int) -> None:
        expected = len(self.apis.sent("sendMessage")) + count
        base = self.sequence
        self.sequence += count

        def send(n: int) -> None:
            # Private chats: Telegram's group pacing (20 a minute) would hold replies back.
            chat = 7_000_000 + (base + n) % CHATS
            update = telegram_message_update(
                chat, f"hi {base + n}", chat_type="private", bot_username=BOT_USERNAME
            )
            response = self.client.post(
                f"{self.server.url}/webhooks/telegram", content=body(update), headers=HEADERS
            )
            assert response.status_code == 200, response.text

        in_parallel(count, in_flight, send)
        deadline = time.monotonic() + 300
        while len(self.apis.sent("sendMessage")) < expected:
            assert time.monotonic() < deadline, "replies did not all arrive"
            time.sleep(0.02)
        time.sleep(0.5)  # each message's finishing call follows its reply

    def health(self, count: int, in_flight: int) -> None:
        def send(_: int) -> None:
            assert self.client.get(f"{self.server.url}/health").status_code == 200

        in_parallel(count, in_flight, send)

    def refused(self, count: int, in_flight: int) -> None:
        """Telegram webhooks with a wrong secret: the ingress reads and refuses them (401)."""

        def send(n: int) -> None:
            update = telegram_message_update(7_000_000, f"x {n}", chat_type="private")
            headers = {**HEADERS, "x-telegram-bot-api-secret-token": "wrong-secret"}
            response = self.client.post(
                f"{self.server.url}/webhooks/telegram", content=body(update), headers=headers
            )
            assert response.status_code == 401

        in_parallel(count, in_flight, send)

    def slack_check(self, count: int, in_flight: int) -> None:
        """Signed Slack url_verification requests: verified, parsed, answered by the ingress."""

        def send(n: int) -> None:
            raw = body({"type": "url_verification", "challenge": f"c{n}", "token": "t"})
            headers = slack_signed_headers(SLACK_SECRET, raw)
            response = self.client.post(
                f"{self.server.url}/webhooks/slack", content=raw, headers=headers
            )
            assert response.status_code == 200

        in_parallel(count, in_flight, send)

    def counts(self) -> dict[str, int]:
        return object_counts(self.server.do_storage)

    def stop(self) -> None:
        self.server.stop()


class Reference:
    def __init__(self, directory: Path, wrangler: str) -> None:
        self.directory = directory / "reference"
        shutil.copytree(REFERENCE, self.directory, ignore=shutil.ignore_patterns("node_modules"))
        self.wrangler = wrangler
        self.client = httpx.Client(timeout=60)
        self.url = f"http://127.0.0.1:{REFERENCE_PORT}"
        self.sequence = 0

    def start(self) -> None:
        # The Node the workerd tooling fetched (recent wranglers need Node 22), as for ours.
        node = Path(os.environ.get("WORKERD_PYTHON_CACHE", Path.home() / ".cache/workerd-python"))
        path = f"{node / 'node' / 'bin'}{os.pathsep}{os.environ['PATH']}"
        env = {**os.environ, "PATH": path, "WRANGLER_SEND_METRICS": "false", "CI": "true"}
        npm = ["npm", "install", "--no-audit", "--no-fund"]
        for command in (npm, [*npm, "--no-save", f"wrangler@{self.wrangler}"], ["./patch-chat.sh"]):
            subprocess.run(command, cwd=self.directory, env=env, check=True, capture_output=True)
        self.process = subprocess.Popen(
            ["npx", "wrangler", "dev", "--port", str(REFERENCE_PORT), "--ip", "127.0.0.1"],
            cwd=self.directory,
            env=env,
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.group = self.process.pid
        deadline = time.monotonic() + 180
        while True:
            try:
                self.client.get(f"{self.url}/stats", params={"host": "warm"})
                return
            except httpx.HTTPError:
                assert time.monotonic() < deadline, "the reference did not start"
                time.sleep(0.5)

    def messages(self, count: int, in_flight: int) -> None:
        base = self.sequence
        self.sequence += count

        def send(n: int) -> None:
            chat = (base + n) % CHATS
            params = {
                "host": f"h{chat}",
                "strategy": "queue",
                "thread": f"test:C{chat}:T1",
                "text": f"hi {base + n}",
                "id": f"m{base + n}",
            }
            answer = self.client.get(f"{self.url}/process", params=params)
            assert answer.status_code == 200, answer.text

        in_parallel(count, in_flight, send)

    def counts(self) -> dict[str, int]:
        """Taken from every host (and cleared there): parent-to-shard calls, SQL statements
        and rows written, in shards and parents."""
        total = {"calls": 0, "statements": 0, "rows_written": 0}
        for chat in range(CHATS):
            stats = self.client.get(f"{self.url}/stats", params={"host": f"h{chat}"}).json()
            total["calls"] += sum(
                sum(methods.values()) for methods in stats["parentCalls"].values()
            )
            for bucket in [stats["parentSql"], *stats["shards"].values()]:
                total["statements"] += bucket["totals"]["statements"]
                total["rows_written"] += bucket["totals"]["rowsWritten"]
        return total

    def stop(self) -> None:
        if hasattr(self, "process"):
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=30)


def per_message(after: dict[str, int], before: dict[str, int], what: str, count: int) -> float:
    return (after.get(what, 0) - before.get(what, 0)) / count


def workerd_run(description: str, messages: int) -> argparse.Namespace:
    """The command line of a run on workerd (--wrangler, --messages, --rounds), and the
    tooling ready for the wrangler version it names."""
    parser = argparse.ArgumentParser(description=description.split("\n\n")[0])
    parser.add_argument("--wrangler", default="4.164.0")
    parser.add_argument("--messages", type=int, default=messages)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    os.environ["WRANGLER_VERSION"] = args.wrangler
    prepare_workerd()
    return args


def main() -> None:
    args = workerd_run(__doc__, messages=100)
    directory = Path(tempfile.mkdtemp(prefix="side-by-side-"))
    apis = FakeApis(TELEGRAM_TOKEN, SLACK_TOKEN, BOT_USERNAME).start()
    ours, reference = Ours(directory / "ours", apis), Reference(directory, args.wrangler)
    quiet = Ours(directory / "quiet", apis, console=False)
    try:
        ours.start()
        quiet.start()
        reference.start()
        # Warm all: every chat's parent and shard exist, and each of our parents has read
        # once what it then keeps in memory, before anything is measured.
        for _ in range(2):
            ours.messages(CHATS, 10)
            quiet.messages(CHATS, 10)
            reference.messages(CHATS, 10)
        reference.counts()
        n = args.messages
        print(f"## Side by side, wrangler {args.wrangler}, {n} messages a window, {CHATS} chats\n")
        print(
            "| in flight | ours end to end | ours without ingress | ours, console off "
            "| reference | like for like |"
        )
        print("|---:|---:|---:|---:|---:|---:|")
        ours_counted: dict[str, float] = {}
        quiet_counted: dict[str, float] = {}
        reference_counted: dict[str, float] = {}
        health: list[float] = []
        for in_flight in (1, 20):
            windows: dict[str, list[float]] = {
                "ours": [],
                "health": [],
                "quiet": [],
                "reference": [],
            }
            for _ in range(args.rounds):
                before = ours.counts()
                windows["ours"].append(
                    worker_cpu_ms(ours.group, functools.partial(ours.messages, n, in_flight)) / n
                )
                after = ours.counts()
                windows["health"].append(
                    worker_cpu_ms(ours.group, functools.partial(ours.health, n, in_flight)) / n
                )
                quiet_before = quiet.counts()
                windows["quiet"].append(
                    worker_cpu_ms(quiet.group, functools.partial(quiet.messages, n, in_flight)) / n
                )
                quiet_after = quiet.counts()
                reference.counts()
                windows["reference"].append(
                    worker_cpu_ms(
                        reference.group, functools.partial(reference.messages, n, in_flight)
                    )
                    / n
                )
                taken = reference.counts()
                if in_flight == 1:
                    for what in ("accept", "run_batch", "alarm", "statements", "rows_written"):
                        ours_counted[what] = per_message(after, before, what, n)
                        quiet_counted[what] = per_message(quiet_after, quiet_before, what, n)
                    reference_counted = {what: c / n for what, c in taken.items()}
            ours_ms = statistics.median(windows["ours"])
            like_ms = ours_ms - statistics.median(windows["health"])
            quiet_ms = statistics.median(windows["quiet"])
            reference_ms = statistics.median(windows["reference"])
            health += windows["health"]
            print(
                f"| {in_flight} | {ours_ms:.1f} ms | {like_ms:.1f} ms | {quiet_ms:.1f} ms "
                f"| {reference_ms:.1f} ms | {like_ms / reference_ms:.2f}x |"
            )
        print(f"\n`GET /health` (the ingress alone): {statistics.median(health):.2f} ms a request.")
        for name, window in (
            ("a Telegram webhook refused (401)", ours.refused),
            ("a signed Slack url_verification", ours.slack_check),
        ):
            alone = [
                worker_cpu_ms(ours.group, functools.partial(window, n, 1)) / n for _ in range(3)
            ]
            print(f"{name}, answered by the ingress alone: {statistics.median(alone):.2f} ms.")
        print("\nPer message, one at a time:\n")
        print("| | invocations | SQL statements | rows written |")
        print("|---|---:|---:|---:|")
        for name, counted in (("ours", ours_counted), ("ours, console off", quiet_counted)):
            calls = counted["accept"] + counted["run_batch"] + counted["alarm"]
            print(
                f"| {name} | 1 ingress + {calls:.2f} Durable Object ({counted['accept']:.2f} "
                f"parent, {counted['run_batch']:.2f} shard, {counted['alarm']:.2f} alarm) "
                f"| {counted['statements']:.1f} | {counted['rows_written']:.1f} |"
            )
        print(
            f"| reference | 1 request + 1 parent + {reference_counted['calls']:.2f} shard calls "
            f"| {reference_counted['statements']:.1f} | {reference_counted['rows_written']:.1f} |"
        )
    finally:
        reference.stop()
        quiet.stop()
        ours.stop()
        apis.stop()


if __name__ == "__main__":
    main()
