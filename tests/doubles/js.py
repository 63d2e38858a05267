"""The JS globals the glue uses, as workerd presents them to Python (checked on workerd)."""

from __future__ import annotations

from typing import Any


class WebSocket:
    """One end of a WebSocketPair; the tests read what the server end sent."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.closed = False
        self.close_code: int | None = None

    def send(self, text: str) -> None:
        if self.closed:
            raise RuntimeError("WebSocket send() after close")
        self.sent.append(text)

    def close(self, code: int = 1000, reason: str = "") -> None:
        self.closed = True
        self.close_code = code


class _Pair:
    """Not subscriptable from Python, as on workerd: `Object.values` gives its two ends."""

    def __init__(self) -> None:
        self._ends = (WebSocket(), WebSocket())


class WebSocketPair:
    @staticmethod
    def new() -> _Pair:
        return _Pair()


class JsObject(dict):  # type: ignore[type-arg]
    """A plain JS object made from entries."""


class Object:
    @staticmethod
    def fromEntries(entries: Any) -> JsObject:
        return JsObject(entries)

    @staticmethod
    def values(value: Any) -> list[Any]:
        if isinstance(value, _Pair):
            return list(value._ends)
        return list(vars(value).values())
