"""The outbound HTTP ports: how platform adapters call the Telegram Bot API and Slack Web API,
and how the KV backend calls the Workers KV REST API."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class HttpResult:
    status: int
    body: bytes
    # Lower-cased names; the adapters read only a few (retry-after).
    headers: Mapping[str, str] = field(default_factory=dict)


class HttpClient(Protocol):
    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> HttpResult: ...


class HttpRequester(Protocol):
    """Any method: the KV REST client reads, writes, deletes and lists."""

    async def request(
        self, method: str, url: str, body: bytes, headers: dict[str, str]
    ) -> HttpResult: ...
