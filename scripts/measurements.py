"""What the benchmark scripts read off a run: percentiles, and a process's CPU and memory."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from chatstate.http.client import HttpResult


def percentile(values: list[float], share: float) -> float:
    """The value below which `share` (0-1) of the values lie; NaN when there are none."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else float("nan")


def _stat_fields(pid: int) -> list[str]:
    # After the ")" that closes the command name, which may itself hold spaces.
    return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds the process has used."""
    fields = _stat_fields(pid)
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def group_cpu_s(group: int, name_prefix: str) -> float:
    """CPU seconds of every process in a process group whose name starts with name_prefix."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            name = (entry / "comm").read_text().strip()
            in_group = int(_stat_fields(int(entry.name))[2]) == group
            if in_group and name.startswith(name_prefix):
                total += process_cpu_s(int(entry.name))
        except OSError:
            continue  # the process ended meanwhile
    return total


def process_rss_mb(pid: int) -> float:
    for line in (Path("/proc") / str(pid) / "status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class TelegramStub:
    """In-process Bot API answers, so a pipeline is measured without network."""

    def __init__(self, bot_username: str = "my_bot") -> None:
        self.bot_username = bot_username

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> HttpResult:
        method = url.rsplit("/", 1)[1]
        if method == "getMe":
            result: Any = {
                "id": 1,
                "is_bot": True,
                "first_name": "B",
                "username": self.bot_username,
            }
        else:
            payload = json.loads(body)
            result = {"message_id": 1, "chat": {"id": payload["chat_id"]}, "date": 0, "text": ""}
        return HttpResult(200, json.dumps({"ok": True, "result": result}).encode())
