"""The outbound HTTP port: how platform adapters call the Telegram Bot API and Slack Web API."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class HttpResult:
    status: int
    body: bytes


class HttpClient(Protocol):
    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> HttpResult: ...
