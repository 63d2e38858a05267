"""CPU per message of each object kind: the ingress Worker, the parent object, the shards.

Locally every object of a Worker runs in one workerd process, so a process's CPU cannot tell
the parent's share from the shards'. This run splits the bot into three Workers from the same
code, each under its own `wrangler dev` (its own workerd process), bound to one another by
wrangler's dev registry as `script_name` bindings: `chatstate-bot` (the ingress; no object
of its own), `chatstate-parent` (ChatMessenger) and `chatstate-state` (ChatSdkStateAgent, the
chats' shards and the console's index shards). Each message is a signed Telegram webhook to
the ingress, handled by the example bot (queue strategy, 50 chats, a reply to a fake Bot API
and a thread-state write). For each window, CPU is read from /proc for each Worker's own
workerd process; medians of `--rounds` windows at 1 and at 20 in flight.

Calls between the three now cross processes, which may cost more than a call inside one
process does, so the same bot also runs whole (one Worker, one process) in the same run, its
windows interleaved with the split one's: the sum of the parts beside the whole shows what the
split adds.

Run: .venv/bin/python scripts/benchmark_per_object.py [--wrangler 4.86.0] [--messages 50]
"""

from __future__ import annotations

import functools
import json
import os
import re
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from benchmark_side_by_side import (
    CHATS,
    Ours,
    object_counts,
    worker_cpu_ms,
    workerd_pids,
    workerd_run,
)
from measurements import process_cpu_s

from support.fake_apis import FakeApis
from support.local_server import (
    BOT_USERNAME,
    SLACK_TOKEN,
    TELEGRAM_TOKEN,
    WranglerServer,
)

INGRESS, PARENT, STATE = "chatstate-bot", "chatstate-parent", "chatstate-state"
ADMIN = "per-object-admin-token-0123456789"
CONSOLE_LISTS = 20


def split_configs(project: Path) -> dict[str, Path]:
    """Three wrangler configs for the project's Worker, one object kind in each."""
    text = (project / "wrangler.jsonc").read_text()
    base = json.loads(re.sub(r"^\s*//.*$", "", text, flags=re.MULTILINE))
    messenger = {"name": "MESSENGER", "class_name": "ChatMessenger"}
    shards = {"name": "STATE_SHARDS", "class_name": "ChatSdkStateAgent"}
    roles = {
        STATE: ([shards], ["ChatSdkStateAgent"]),
        PARENT: ([messenger, {**shards, "script_name": STATE}], ["ChatMessenger"]),
        INGRESS: ([{**messenger, "script_name": PARENT}, {**shards, "script_name": STATE}], []),
    }
    configs = {}
    for name, (bindings, classes) in roles.items():
        config = {
            key: base[key] for key in ("main", "compatibility_date", "compatibility_flags", "vars")
        }
        config |= {"name": name, "durable_objects": {"bindings": bindings}}
        if classes:
            config["migrations"] = [{"tag": "v1", "new_sqlite_classes": classes}]
        configs[name] = project / f"wrangler.{name}.jsonc"
        configs[name].write_text(json.dumps(config, indent=2))
    return configs


class SplitBot(Ours):
    """The example bot as three Workers; `server` (the ingress) takes the webhooks."""

    def __init__(self, directory: Path, apis: FakeApis) -> None:
        super().__init__(directory, apis)
        configs = split_configs(self.server.project)
        self.servers: dict[str, WranglerServer] = {}
        for name, config in configs.items():
            server = WranglerServer(
                directory / name,
                apis.base,
                directory / f"{name}.log",
                CHAT_COUNT_CALLS="1",
                CHAT_ADMIN_TOKEN=ADMIN,
            )
            server.project, server.config = self.server.project, config
            # The three find one another here, and nothing else running does.
            server.env["WRANGLER_REGISTRY_PATH"] = str(directory / "registry")
            self.servers[name] = server
        self.server = self.servers[INGRESS]

    def start(self) -> None:
        for name in (STATE, PARENT, INGRESS):
            self.servers[name].start()
        self.console = httpx.Client(base_url=self.server.url, timeout=60)
        self.console.post("/console/sign-in", data={"token": ADMIN})
        assert "chat_console" in self.console.cookies, "the console did not sign in"

    def console_lists(self, count: int) -> None:
        """What the console's Conversations tab asks while it is open: the first page."""
        for _ in range(count):
            page = self.console.get("/console/api/conversations", params={"limit": 50})
            assert page.status_code == 200, page.text

    def groups(self) -> dict[str, int]:
        return {
            name: os.getpgid(server.process.pid)
            for name, server in self.servers.items()
            if server.process is not None
        }

    def counts(self) -> dict[str, int]:
        total: dict[str, int] = {}
        for name in (STATE, PARENT):
            object_counts(self.servers[name].do_storage, total)
        return total

    def stop(self) -> None:
        for server in self.servers.values():
            server.stop()


def cpu_ms_by_worker(groups: dict[str, int], window: Callable[[], None]) -> dict[str, float]:
    """CPU ms each Worker's workerd process (the busiest of its group) spent during `window`."""
    pids = {name: workerd_pids(group) for name, group in groups.items()}
    before = {pid: process_cpu_s(pid) for found in pids.values() for pid in found}
    window()
    return {
        name: max(process_cpu_s(pid) - before[pid] for pid in found) * 1000
        for name, found in pids.items()
    }


def main() -> None:
    args = workerd_run(__doc__, messages=50)
    directory = Path(tempfile.mkdtemp(prefix="per-object-"))
    apis = FakeApis(TELEGRAM_TOKEN, SLACK_TOKEN, BOT_USERNAME).start()
    bot, whole = SplitBot(directory / "split", apis), Ours(directory / "whole", apis)
    try:
        bot.start()
        whole.start()
        groups = bot.groups()
        # Every chat's parent and shard exist, and each parent has read once what it then
        # keeps in memory, before anything counts; the warm-up's console notes are out too.
        for _ in range(2):
            bot.messages(CHATS, 10)
            whole.messages(CHATS, 10)
        time.sleep(2.5)
        n = args.messages
        print(f"## CPU per message by object, wrangler {args.wrangler}, {n} messages a window\n")
        print(
            "| in flight | ingress | parent | shards | sum | whole, one process | `GET /health` |"
        )
        print("|---:|---:|---:|---:|---:|---:|---:|")
        counted: dict[str, float] = {}
        for in_flight in (1, 20):
            windows: dict[str, list[float]] = {
                INGRESS: [],
                PARENT: [],
                STATE: [],
                "whole": [],
                "health": [],
            }
            for _ in range(args.rounds):
                windows["whole"].append(
                    worker_cpu_ms(whole.group, functools.partial(whole.messages, n, in_flight)) / n
                )
                before = bot.counts()
                spent = cpu_ms_by_worker(groups, functools.partial(bot.messages, n, in_flight))
                after = bot.counts()
                for name, ms in spent.items():
                    windows[name].append(ms / n)
                health = cpu_ms_by_worker(groups, functools.partial(bot.health, n, in_flight))
                windows["health"].append(health[INGRESS] / n)
                if in_flight == 1:
                    counted = {what: (after[what] - before.get(what, 0)) / n for what in after}
            median = {name: statistics.median(values) for name, values in windows.items()}
            total = median[INGRESS] + median[PARENT] + median[STATE]
            print(
                f"| {in_flight} | {median[INGRESS]:.1f} ms | {median[PARENT]:.1f} ms "
                f"| {median[STATE]:.1f} ms | {total:.1f} ms | {median['whole']:.1f} ms "
                f"| {median['health']:.1f} ms |"
            )
        lists: dict[str, list[float]] = {INGRESS: [], PARENT: [], STATE: []}
        for _ in range(args.rounds):
            before = bot.counts()
            spent = cpu_ms_by_worker(groups, functools.partial(bot.console_lists, CONSOLE_LISTS))
            shard_calls = (bot.counts()["run_batch"] - before["run_batch"]) / CONSOLE_LISTS
            for name, ms in spent.items():
                lists[name].append(ms / CONSOLE_LISTS)
        median = {name: statistics.median(values) for name, values in lists.items()}
        print(
            f"\nA console list request (first page of 50, one at a time): ingress "
            f"{median[INGRESS]:.1f} ms, parent {median[PARENT]:.1f} ms, shards "
            f"{median[STATE]:.1f} ms; {shard_calls:.0f} shard calls a request."
        )
        print("\nPer message, one at a time (CHAT_COUNT_CALLS=1):\n")
        for what in ("accept", "run_batch", "alarm", "statements", "rows_written", "alarm_writes"):
            print(f"- {what}: {counted.get(what, 0):.2f}")
    finally:
        whole.stop()
        bot.stop()
        apis.stop()


if __name__ == "__main__":
    main()
