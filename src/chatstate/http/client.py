"""The outbound HTTP ports: how platform adapters call the Telegram Bot API and Slack Web API,
and how the KV backend calls the Workers KV REST API."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
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


class HttpApi(HttpClient, HttpRequester, Protocol):
    """POST and any other method: what a REST platform calls its API with."""


class HttpStatusError(Exception):
    """A streamed request answered with a status other than 2xx."""

    def __init__(self, status: int, body: bytes) -> None:
        super().__init__(f"HTTP {status}: {body[:200].decode('utf-8', 'replace')}")
        self.status = status
        self.body = body


class HttpStreamer(Protocol):
    """A POST whose response body is read as it arrives (a model's streamed completion)."""

    def stream_post(
        self, url: str, body: bytes, headers: dict[str, str]
    ) -> AsyncIterator[bytes]: ...


class HttpBoth(HttpClient, HttpRequester, HttpStreamer, Protocol):
    """Any method, and both kinds of POST: what each runtime's client offers."""


class ResponseTooLarge(Exception):
    """A download went past the size it was allowed."""


class HttpDownloader(Protocol):
    async def download(self, url: str, headers: dict[str, str], max_bytes: int) -> bytes:
        """GET a body of at most `max_bytes` (ResponseTooLarge beyond, HttpStatusError for a
        status other than 200)."""
        ...
