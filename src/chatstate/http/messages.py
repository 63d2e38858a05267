"""Plain HTTP request and response values shared by both runtimes' glue and the core."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

# Telegram updates and Slack events are a few KiB; a megabyte leaves room for large ones.
MAX_BODY_BYTES = 1024 * 1024


@dataclass(frozen=True)
class HttpRequest:
    method: str
    path: str
    # Lower-cased names.
    headers: Mapping[str, str]
    body: bytes
    # The raw query string, without "?".
    query: str = ""
    scheme: str = "http"

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def query_params(self) -> dict[str, str]:
        """The query's parameters; of a repeated one, the last."""
        return dict(parse_qsl(self.query, keep_blank_values=True))


@dataclass(frozen=True)
class HttpResponse:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def text(cls, status: int, text: str, **headers: str) -> HttpResponse:
        return cls(status, text.encode(), {"content-type": "text/plain; charset=utf-8", **headers})

    @classmethod
    def json(cls, status: int, payload: Any) -> HttpResponse:
        return cls(
            status,
            json.dumps(payload, separators=(",", ":")).encode(),
            {"content-type": "application/json"},
        )
